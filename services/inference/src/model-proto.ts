// The repository's records as the protobuf messages GetModel and ListModels answer with.
import { Task } from '@rnas/proto';
import {
  detectionConfigToProto,
  keypointConfigToProto,
  segmentationConfigToProto,
  taskToProto,
} from '@rnas/tasks';
import { networkSpecToProto } from '@rnas/nas';
import { ModelVersionState, type Model, type ModelVersion } from '@rnas/proto';
import { servingVersion, type ModelRecord, type VersionRecord, type VersionState } from './repository';

const STATES: Record<VersionState, ModelVersionState> = {
  loading: ModelVersionState.MODEL_VERSION_STATE_LOADING,
  ready: ModelVersionState.MODEL_VERSION_STATE_READY,
  failed: ModelVersionState.MODEL_VERSION_STATE_FAILED,
};

export interface ModelProtoOptions {
  /** Whether versions carry their class labels (GetModel does; ListModels leaves them out to stay small). */
  labels: boolean;
}

export function versionToProto(record: VersionRecord, options: ModelProtoOptions): ModelVersion {
  const info = record.info;
  const pre = info?.preprocessing;
  return {
    version: record.version,
    state: STATES[record.state],
    error: record.error,
    spec: info && pre ? networkSpecToProto(info.spec, pre.inputHeight) : undefined,
    labels: info && options.labels ? [...info.labels] : [],
    inputShape: pre ? { height: pre.inputHeight, width: pre.inputWidth, channels: pre.channels } : undefined,
    preprocessing: pre ? { mean: [...pre.mean], std: [...pre.std] } : undefined,
    parameterCount: info?.parameterCount ?? 0,
    publishedUnixMs: record.publishedUnixMs,
    loadedUnixMs: record.state === 'ready' ? record.loadedUnixMs : 0,
    trainingId: info?.trainingId ?? '',
    task: info ? taskToProto(info.task.task) : Task.TASK_UNSPECIFIED,
    detection: info?.task.detection === undefined ? undefined : detectionConfigToProto(info.task.detection),
    segmentation:
      info?.task.segmentation === undefined ? undefined : segmentationConfigToProto(info.task.segmentation),
    keypoints: info?.task.keypoints === undefined ? undefined : keypointConfigToProto(info.task.keypoints),
  };
}

export function modelToProto(model: ModelRecord, options: ModelProtoOptions): Model {
  return {
    name: model.name,
    servingVersion: servingVersion(model)?.version ?? 0,
    versions: [...model.versions.values()]
      .sort((a, b) => a.version - b.version)
      .map((record) => versionToProto(record, options)),
  };
}
