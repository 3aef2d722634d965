import { tf, type Tensor4D } from '@rnas/engine';
import { Network, type ParamMap } from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '../task';

/** Classification: the network of RELATIVENAS.md section 4; its serving record is the softmax. */
export class ClassificationNetwork implements TaskNetwork {
  readonly network: Network;
  readonly params;
  readonly outputSize: number;
  constructor(readonly spec: TaskModelSpec) {
    this.network = new Network(spec.network);
    this.params = this.network.params;
    this.outputSize = spec.network.classes;
  }
  countParams(): number {
    return this.network.countParams();
  }
  checkInput(height: number, width: number): void {
    this.network.trace(height, width);
  }
  infer(params: ParamMap, input: Tensor4D): Float32Array {
    return tf.tidy(() => {
      const { logits } = this.network.forward(params, input);
      // A copy: some backends hand out their own storage, which the tidy frees.
      return Float32Array.from(tf.softmax(logits).dataSync());
    });
  }
}
