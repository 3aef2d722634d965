// task.json: what a model does and its head's config. Every task's config round-trips through the
// version directory; a malformed file is refused naming the file, the field and the value.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend } from '@rnas/engine';
import { BISENET_CONFIG, SSDLITE_CONFIG } from '@rnas/tasks';
import {
  loadModelArtifact,
  parseTaskFile,
  taskFileJson,
  taskSpecOf,
  TASK_FILE,
  writeArtifactFiles,
  type ModelArtifact,
} from './artifact';
import { ModelError } from './errors';
import { SYNTHETIC_KEYPOINTS, syntheticArtifact } from './synthetic';

const KEYPOINTS = {
  inputHeight: 64,
  inputWidth: 32,
  ...SYNTHETIC_KEYPOINTS,
  skeleton: SYNTHETIC_KEYPOINTS.skeleton.map((p) => [...p]),
  flipPairs: SYNTHETIC_KEYPOINTS.flipPairs.map((p) => [...p]),
};

function refusal(value: unknown): string {
  try {
    parseTaskFile(value, '/m/1/task.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('INVALID_ARGUMENT');
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('parseTaskFile', () => {
  it('reads every task, filling the defaults of absent config fields', () => {
    expect(parseTaskFile({ task: 'classification' })).toEqual({ task: 'classification' });
    expect(parseTaskFile({ task: 'detection' })).toEqual({ task: 'detection', detection: SSDLITE_CONFIG });
    expect(parseTaskFile({ task: 'segmentation', segmentation: { inputHeight: 64 } })).toEqual({
      task: 'segmentation',
      segmentation: { ...BISENET_CONFIG, inputHeight: 64 },
    });
    const keypoints = parseTaskFile({ task: 'keypoints', keypoints: KEYPOINTS });
    expect(keypoints.task).toBe('keypoints');
    expect(keypoints.keypoints).toMatchObject({
      inputHeight: 64,
      inputWidth: 32,
      flipTest: true,
      keypointNames: SYNTHETIC_KEYPOINTS.keypointNames,
      skeleton: SYNTHETIC_KEYPOINTS.skeleton,
      flipPairs: SYNTHETIC_KEYPOINTS.flipPairs,
    });
    // What it wrote reads back the same, and the network spec carries only the task's own config.
    expect(parseTaskFile(JSON.parse(JSON.stringify(taskFileJson(keypoints))))).toEqual(keypoints);
    const spec = { classes: 5 } as ModelArtifact['spec'];
    expect(taskSpecOf({ spec, ...keypoints })).toEqual({
      task: 'keypoints',
      network: spec,
      keypoints: keypoints.keypoints,
    });
    expect(taskSpecOf({ spec })).toEqual({ task: 'classification', network: spec });
  });

  it('refuses malformed contents naming the file, the field and the value', () => {
    const cases: [unknown, RegExp][] = [
      [null, /^\/m\/1\/task\.json: expected an object, got null$/],
      [[], /expected an object, got an array/],
      ['segmentation', /expected an object, got "segmentation"/],
      [{}, /task: expected one of classification, detection, segmentation, keypoints, got undefined/],
      [{ task: 'pose' }, /task: expected one of .*got "pose"/],
      [{ task: 'segmentation', colour: 1 }, /unknown field "colour"/],
      [{ task: 'segmentation' }, /segmentation: required for a segmentation model/],
      [{ task: 'keypoints' }, /keypoints: required for a keypoints model/],
      [{ task: 'segmentation', segmentation: 'big' }, /segmentation: expected an object, got "big"/],
      [
        { task: 'segmentation', segmentation: { inputHeight: 100 } },
        /segmentation\.inputHeight: expected a multiple of 32 in \[64, 2048\], got 100/,
      ],
      [{ task: 'segmentation', segmentation: { scales: [0] } }, /segmentation\.scales/],
      [{ task: 'segmentation', segmentation: { depth: 3 } }, /segmentation\.depth: expected a known field/],
      [
        { task: 'segmentation', segmentation: {}, keypoints: KEYPOINTS },
        /keypoints: only a keypoints model has it/,
      ],
      [{ task: 'classification', segmentation: {} }, /segmentation: only a segmentation model has it/],
      [{ task: 'detection', keypoints: KEYPOINTS }, /keypoints: only a keypoints model has it/],
      [
        { task: 'keypoints', keypoints: { ...KEYPOINTS, keypointNames: [] } },
        /keypoints\.keypointNames: expected the names of the keypoints, got \[\]/,
      ],
      [
        { task: 'keypoints', keypoints: { ...KEYPOINTS, skeleton: [[0, 9]] } },
        /keypoints\.skeleton: expected pairs of distinct indices below 5/,
      ],
      [{ task: 'keypoints', keypoints: { ...KEYPOINTS, skeleton: [0, 1] } }, /keypoints\.skeleton/],
      [
        { task: 'keypoints', keypoints: { ...KEYPOINTS, oksSigmas: [1] } },
        /keypoints\.oksSigmas: expected 5/,
      ],
      [{ task: 'keypoints', keypoints: { ...KEYPOINTS, flipTest: 'yes' } }, /keypoints\.flipTest/],
      [{ task: 'keypoints', keypoints: { ...KEYPOINTS, inputWidth: 40 } }, /keypoints\.inputWidth: .*got 40/],
    ];
    for (const [value, message] of cases) expect(refusal(value)).toMatch(message);
  });
});

describe('task.json in a version directory', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(path.join(tmpdir(), 'rnas-task-file-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([
    ['detection', {}],
    ['segmentation', { inputHeight: 64, inputWidth: 96 }],
    ['keypoints', { inputHeight: 64, inputWidth: 32 }],
  ] as const)('round-trips a synthetic %s model', async (task, size) => {
    const artifact = syntheticArtifact({ task, classes: 3, channels: 4, layers: 3, seed: 1, ...size });
    const dir = await mkdtemp(path.join(root, `${task}-`));
    await writeArtifactFiles(dir, artifact);
    const loaded = await loadModelArtifact(dir);
    expect(loaded.task).toBe(task);
    expect(loaded[task]).toEqual(artifact[task]);
    expect(loaded.labels).toEqual(artifact.labels);
    expect(loaded.preprocessing).toEqual(artifact.preprocessing);
    if (task !== 'detection') {
      expect(loaded.preprocessing).toMatchObject({
        inputHeight: 64,
        inputWidth: size.inputWidth,
        channels: 3,
      });
    }
    if (task === 'keypoints') expect(loaded.labels).toEqual(SYNTHETIC_KEYPOINTS.keypointNames);

    // A broken task.json makes the version FAILED_PRECONDITION, naming the file and the field.
    const file = path.join(dir, TASK_FILE);
    const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, unknown>>;
    const field = task === 'detection' ? 'inputSize' : 'inputHeight';
    json[task] = { ...json[task], [field]: 65 };
    await writeFile(file, JSON.stringify(json));
    const error = await loadModelArtifact(dir).then(
      () => null,
      (err: unknown) => err as ModelError,
    );
    expect(error?.code).toBe('FAILED_PRECONDITION');
    expect(error?.message).toContain(`${file}: ${task}.${field}`);
    expect(error?.message).toContain('got 65');
  });

  it('refuses a segmentation model whose preprocessing is not its config input size', async () => {
    const artifact = syntheticArtifact({ task: 'segmentation', classes: 3, seed: 1 });
    const wrong: ModelArtifact = {
      ...artifact,
      preprocessing: { ...artifact.preprocessing, inputWidth: 96 },
    };
    await expect(writeArtifactFiles(await mkdtemp(path.join(root, 'bad-')), wrong)).rejects.toThrow(
      ModelError,
    );
  });
});
