import { ClassificationNetwork } from './classification/network';
import type { TaskModelSpec, TaskNetwork } from './task';

/** The network of a task's model spec. */
export function taskNetwork(spec: TaskModelSpec): TaskNetwork {
  if (spec.task === 'classification') return new ClassificationNetwork(spec);
  throw new Error(`task ${spec.task}: not built yet`);
}
