import { disposeParams, importParams, type NetworkSpec, type ParamMap } from '@rnas/nas';
import type { TaskModelSpec, TaskNetwork } from '@rnas/tasks';
import { taskSpecOf, validateArtifact, type ModelArtifact, type Preprocessing } from './artifact';

/** A model on the tensor backend, ready for inference. It owns its parameters: call `dispose`. */
export interface Model {
  /** The network (a detector's backbone). */
  readonly spec: NetworkSpec;
  /** The task and its head. */
  readonly task: TaskModelSpec;
  readonly network: TaskNetwork;
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
    task: taskSpecOf(artifact),
    network,
    params,
    labels: artifact.labels,
    preprocessing: artifact.preprocessing,
    dispose: () => disposeParams(params),
  };
}
