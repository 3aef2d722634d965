import { Task } from '@rnas/proto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { CIFAR_RECIPE } from '@rnas/train';
import { searchGenotype } from './search-lookup';
import { resolveStartTraining } from './training-request';
import { TINY_GENOTYPE } from './test-util';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-training-request-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveStartTraining', () => {
  it('takes the paper’s CIFAR network and recipe for absent fields and picks a seed', async () => {
    const resolved = await resolveStartTraining(
      {
        architecture: { $case: 'genotype', value: TINY_GENOTYPE },
        datasetUri: 'synthetic:shapes',
        modelName: 'm',
        task: Task.TASK_UNSPECIFIED,
      },
      { dataRoots: [], searchStateDir: dir },
    );
    expect(resolved.spec).toEqual({
      variant: 'cifar',
      channels: 36,
      layers: 20,
      classes: 0,
      inChannels: 0,
      inputSize: 0,
      auxiliary: false,
    });
    expect(resolved.recipe).toEqual({ ...CIFAR_RECIPE, seed: resolved.recipe.seed });
    expect(resolved.searchId).toBe('');
    expect(resolved.genotype.normal[0]).toEqual(['sep_conv_3x3', 0]);
  });
});

describe('searchGenotype', () => {
  it('reads genotype.json of a search directory when there is no search database', async () => {
    const stateDir = path.join(dir, 'copied');
    mkdirSync(path.join(stateDir, 'searches', 's1'), { recursive: true });
    const genotype = {
      normal: TINY_GENOTYPE.normal.map((e) => [e.op, e.input]),
      normalConcat: [2, 3],
      reduce: TINY_GENOTYPE.reduce.map((e) => [e.op, e.input]),
      reduceConcat: [2, 3],
    };
    writeFileSync(path.join(stateDir, 'searches', 's1', 'genotype.json'), JSON.stringify(genotype));
    expect(await searchGenotype(stateDir, 's1')).toEqual(genotype);
    await expect(searchGenotype(stateDir, 's2')).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(searchGenotype(stateDir, '')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('refuses a damaged or oversized genotype file as FAILED_PRECONDITION, naming the file', async () => {
    const stateDir = path.join(dir, 'damaged');
    for (const [id, contents] of [
      ['bad-json', '{"normal": ['],
      ['bad-genotype', '{"normal": [], "normalConcat": [], "reduce": [], "reduceConcat": []}'],
      ['huge', ' '.repeat(2 * 1024 * 1024)],
    ]) {
      mkdirSync(path.join(stateDir, 'searches', id), { recursive: true });
      writeFileSync(path.join(stateDir, 'searches', id, 'genotype.json'), contents);
      const error = (await searchGenotype(stateDir, id).catch((e: unknown) => e)) as {
        code: number;
        message: string;
      };
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.message).toContain(id);
    }
  });
});
