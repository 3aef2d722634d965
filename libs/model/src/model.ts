import { disposeParams, importParams, type Network, type NetworkSpec, type ParamMap } from '@rnas/nas';
import { validateArtifact, type ModelArtifact, type Preprocessing } from './artifact';

/** A model on the tensor backend, ready for inference. It owns its parameters: call `dispose`. */
export interface Model {
  readonly spec: NetworkSpec;
  readonly network: Network;
  readonly params: ParamMap;
  readonly labels: readonly string[];
  readonly preprocessing: Preprocessing;
  dispose(): void;
}

/** Validates an artifact and makes its tensors (tfjs layouts). */
export function loadModel(artifact: ModelArtifact, source = 'model'): Model {
  const network = validateArtifact(artifact, source);
  const params = importParams(network.params, artifact.weights, `${source}: weights`);
  return {
    spec: artifact.spec,
    network,
    params,
    labels: artifact.labels,
    preprocessing: artifact.preprocessing,
    dispose: () => disposeParams(params),
  };
}
