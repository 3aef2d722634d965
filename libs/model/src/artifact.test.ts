import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { encodeSafetensors, initBackend, type HostTensor } from '@rnas/engine';
import { parseSpecFile } from '@rnas/nas';
import {
  LABELS_FILE,
  loadModelArtifact,
  PREPROCESSING_FILE,
  SPEC_FILE,
  validateArtifact,
  WEIGHTS_FILE,
  writeArtifactFiles,
  type ModelArtifact,
} from './artifact';
import { ModelError } from './errors';
import { tinyArtifact } from './test-fixtures';

let artifact: ModelArtifact;
let root: string;
let dir: string;

beforeAll(async () => {
  await initBackend();
  ({ artifact } = await tinyArtifact());
  root = await mkdtemp(path.join(tmpdir(), 'rnas-artifact-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(root, 'v-'));
  await writeArtifactFiles(dir, artifact);
});

async function rejection(p: Promise<unknown>): Promise<ModelError> {
  try {
    await p;
  } catch (err) {
    return err as ModelError;
  }
  throw new Error('expected a rejection');
}

async function editJson(file: string, edit: (v: Record<string, unknown>) => unknown): Promise<void> {
  const value = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, file), JSON.stringify(edit(value)));
}

function withWeights(edit: (w: Record<string, HostTensor>) => void): () => Promise<void> {
  return async () => {
    const weights = { ...artifact.weights };
    edit(weights);
    await writeFile(path.join(dir, WEIGHTS_FILE), encodeSafetensors(weights));
  };
}

describe('model artifacts', () => {
  it('round-trips through the version directory', async () => {
    const loaded = await loadModelArtifact(dir);
    expect(loaded.spec).toEqual(artifact.spec);
    expect(loaded.labels).toEqual(artifact.labels);
    expect(loaded.preprocessing).toEqual(artifact.preprocessing);
    expect(loaded.metadata).toEqual(artifact.metadata);
    expect(Object.keys(loaded.weights).sort()).toEqual(Object.keys(artifact.weights).sort());
    for (const [name, t] of Object.entries(artifact.weights)) {
      expect(loaded.weights[name].shape).toEqual(t.shape);
      expect(Array.from(loaded.weights[name].data as Float32Array)).toEqual(
        Array.from(t.data as Float32Array),
      );
    }
  });

  it('writes spec.json in the parity spec format the CLI and parseSpecFile read', async () => {
    const spec = JSON.parse(await readFile(path.join(dir, SPEC_FILE), 'utf8')) as Record<string, unknown>;
    expect(spec).toMatchObject({
      variant: 'cifar',
      channels: 4,
      layers: 3,
      classes: 3,
      in_channels: 1,
      input_hw: 8,
    });
    expect(parseSpecFile(spec).network).toEqual(artifact.spec);
    expect(JSON.parse(await readFile(path.join(dir, PREPROCESSING_FILE), 'utf8'))).toEqual({
      inputHeight: 8,
      inputWidth: 8,
      channels: 1,
      mean: artifact.preprocessing.mean,
      std: artifact.preprocessing.std,
    });
  });

  const float = (shape: number[], n: number, v = 0): HostTensor => ({
    dtype: 'F32',
    shape,
    data: new Float32Array(n).fill(v),
  });
  it.each([
    ['a missing spec.json', () => rm(path.join(dir, SPEC_FILE)), `${SPEC_FILE}: missing`],
    ['an empty labels.json', () => writeFile(path.join(dir, LABELS_FILE), ''), `${LABELS_FILE}: empty`],
    [
      'spec.json that is not JSON',
      () => writeFile(path.join(dir, SPEC_FILE), '{"variant": '),
      'not valid JSON',
    ],
    [
      'a 2 MiB spec.json',
      () => writeFile(path.join(dir, SPEC_FILE), ' '.repeat(2 ** 21)),
      'more than the limit',
    ],
    [
      'spec.json that is a directory',
      async () => {
        await rm(path.join(dir, SPEC_FILE));
        await mkdir(path.join(dir, SPEC_FILE));
      },
      'expected a regular file',
    ],
    [
      'an unknown op in the genotype',
      () =>
        editJson(SPEC_FILE, (s) => ({
          ...s,
          genotype: {
            ...(s.genotype as object),
            normal: [
              ['rm_rf', 0],
              ['skip_connect', 1],
              ['skip_connect', 0],
              ['skip_connect', 2],
            ],
          },
        })),
      'rm_rf',
    ],
    ['an unknown spec field', () => editJson(SPEC_FILE, (s) => ({ ...s, evil: true })), 'evil'],
    ['negative channels', () => editJson(SPEC_FILE, (s) => ({ ...s, channels: -4 })), 'channels'],
    [
      'input_hw that contradicts preprocessing',
      () => editJson(SPEC_FILE, (s) => ({ ...s, input_hw: 16 })),
      'input_hw is 16',
    ],
    ['too few labels', () => writeFile(path.join(dir, LABELS_FILE), '["a","b"]'), 'expected 3 class names'],
    [
      'duplicate labels',
      () => writeFile(path.join(dir, LABELS_FILE), '["a","b","a"]'),
      '[2]: duplicate class name "a"',
    ],
    [
      'a non-string label',
      () => writeFile(path.join(dir, LABELS_FILE), '["a",{},"c"]'),
      '[1]: expected a name',
    ],
    [
      'labels that are an object',
      () => writeFile(path.join(dir, LABELS_FILE), '{"0":"a"}'),
      'expected an array',
    ],
    [
      'a zero std',
      () => editJson(PREPROCESSING_FILE, (p) => ({ ...p, std: [0] })),
      'std[0]: expected a positive number',
    ],
    [
      'a mean per wrong channel count',
      () => editJson(PREPROCESSING_FILE, (p) => ({ ...p, mean: [0.5, 0.5] })),
      'mean: expected 1 values',
    ],
    [
      'a huge input size',
      () => editJson(PREPROCESSING_FILE, (p) => ({ ...p, inputHeight: 1e9 })),
      'inputHeight: expected an integer in [1, 4096], got 1000000000',
    ],
    [
      'an unknown preprocessing field',
      () => editJson(PREPROCESSING_FILE, (p) => ({ ...p, resize: 'x' })),
      'resize',
    ],
    [
      'channels the network does not take',
      () => editJson(PREPROCESSING_FILE, (p) => ({ ...p, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] })),
      'network takes 1 input channels',
    ],
    [
      'an input size the network cannot take',
      async () => {
        await editJson(SPEC_FILE, ({ input_hw: _hw, ...s }) => s);
        await editJson(PREPROCESSING_FILE, (p) => ({ ...p, inputWidth: 7 }));
      },
      'input 8x7',
    ],
    [
      'truncated weights',
      async () => {
        const bytes = await readFile(path.join(dir, WEIGHTS_FILE));
        await writeFile(path.join(dir, WEIGHTS_FILE), bytes.subarray(0, bytes.length - 10));
      },
      WEIGHTS_FILE,
    ],
    ['a missing tensor', withWeights((w) => delete w['classifier.bias']), "missing tensor 'classifier.bias'"],
    [
      'a foreign tensor',
      withWeights((w) => (w['backdoor.weight'] = float([1], 1))),
      'unexpected tensor "backdoor.weight"',
    ],
    [
      'a wrong shape',
      withWeights((w) => (w['classifier.bias'] = float([4], 4))),
      "'classifier.bias' has shape [4], expected [3]",
    ],
    [
      'a NaN weight',
      withWeights((w) => (w['classifier.bias'] = float([3], 3, NaN))),
      "'classifier.bias' holds NaN at index 0",
    ],
    [
      'integer weights',
      withWeights((w) => (w['classifier.bias'] = { dtype: 'I32', shape: [3], data: new Int32Array(3) })),
      'dtype I32',
    ],
    [
      'weights that are a symbolic link',
      async () => {
        await writeFile(path.join(root, 'elsewhere'), await readFile(path.join(dir, WEIGHTS_FILE)));
        await rm(path.join(dir, WEIGHTS_FILE));
        await symlink(path.join(root, 'elsewhere'), path.join(dir, WEIGHTS_FILE));
      },
      'symbolic link',
    ],
    [
      'labels.json that is a FIFO (a read would block)',
      async () => {
        await rm(path.join(dir, LABELS_FILE));
        execFileSync('mkfifo', [path.join(dir, LABELS_FILE)]);
      },
      `${LABELS_FILE}: expected a regular file, got another kind of file`,
    ],
  ] as [string, () => Promise<unknown>, string][])(
    'refuses %s, naming the problem',
    async (_what, damage, message) => {
      await damage();
      const err = await rejection(loadModelArtifact(dir));
      expect(err).toBeInstanceOf(ModelError);
      expect(err.code).toBe('FAILED_PRECONDITION');
      expect(err.message).toContain(message);
    },
  );

  it('refuses weights over the size limit', async () => {
    const err = await rejection(loadModelArtifact(dir, { maxWeightsBytes: 1000 }));
    expect(err.message).toMatch(/weights\.safetensors: \d+ bytes, more than the limit of 1000/);
  });

  it('refuses a directory that is not there', async () => {
    const err = await rejection(loadModelArtifact(path.join(root, 'nope')));
    expect(err.message).toContain('missing');
  });

  it('validates an in-memory artifact with INVALID_ARGUMENT', () => {
    expect(() => validateArtifact({ ...artifact, labels: ['a'] })).toThrow(/labels: expected 3 class names/);
    expect(() => validateArtifact({ ...artifact, spec: { ...artifact.spec, layers: 0 } })).toThrow(
      /layers must be/,
    );
    try {
      validateArtifact({ ...artifact, preprocessing: { ...artifact.preprocessing, mean: [NaN] } });
      throw new Error('expected an error');
    } catch (err) {
      expect((err as ModelError).code).toBe('INVALID_ARGUMENT');
      expect((err as ModelError).message).toContain('mean[0]: expected a finite number, got NaN');
    }
  });
});
