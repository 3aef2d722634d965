import { initBackend } from '@rnas/engine';
import { CandidateJob as CandidateJobProto, CandidateResult as CandidateResultProto } from '@rnas/proto';
import { evaluateCandidate, type CandidateJob, type SearchData } from './candidate';
import {
  candidateJobFromProto,
  candidateJobToProto,
  candidateResultFromProto,
  candidateResultToProto,
  EvaluationMessageError,
  evaluationSetupFromProto,
  evaluationSetupToProto,
} from './candidate-proto';
import { STUDENT, TINY_NETWORK, tinyData } from './test-fixtures';
import { WeightSet } from './weight-set';

const RECIPE = { batchSize: 8, momentum: 0.9, weightDecay: 3e-4, gradClip: 5, cutout: 4 };
let data: SearchData;
let job: CandidateJob;

beforeAll(async () => {
  await initBackend();
  data = await tinyData();
  job = {
    network: TINY_NETWORK,
    recipe: RECIPE,
    genotype: STUDENT,
    params: WeightSet.initialise(TINY_NETWORK, 1).paramsFor(STUDENT),
    lr: 0.1,
    dropPath: 0.2,
    trainIndices: Int32Array.from([3, 1, 4, 0, 5, 9, 2, 6]),
    valIndices: Int32Array.from([0, 1, 2, 3, 4, 5]),
    augmentSeed: 11,
    valAugmentSeed: null,
    dropPathSeed: 2 ** 40 + 3,
  };
});

/** Through the wire format: encoded, decoded as bytes, and back. */
function overTheWire<T>(
  codec: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T },
  m: T,
): T {
  return codec.decode(codec.encode(m).finish());
}

describe('candidate evaluations as protobuf messages', () => {
  it('gives the same job back, so that a remote evaluation equals a local one bit for bit', () => {
    const setup = evaluationSetupToProto({
      datasetUri: 'synthetic:shapes',
      config: { trainPortion: 0.5, seed: 7 },
      network: TINY_NETWORK,
      recipe: RECIPE,
      data,
    });
    const side = evaluationSetupFromProto(setup, data);
    expect(side.network).toEqual(TINY_NETWORK);
    expect(side.recipe).toEqual(RECIPE);
    const back = candidateJobFromProto(
      overTheWire(CandidateJobProto, candidateJobToProto(job)),
      'candidates[0]',
      {
        ...side,
        data,
      },
    );
    expect(back).toEqual({ ...job, validateOnly: false });
    const local = evaluateCandidate(job, data);
    const remote = candidateResultFromProto(
      overTheWire(CandidateResultProto, candidateResultToProto(evaluateCandidate(back, data))),
      'results[0]',
    );
    expect({ ...remote, seconds: 0 }).toEqual({ ...local, seconds: 0 });
  });

  it('keeps a diverged candidate NaN and a validation seed of 0', () => {
    const result = { ...evaluateCandidate(job, data), valLoss: NaN };
    expect(
      candidateResultFromProto(overTheWire(CandidateResultProto, candidateResultToProto(result)), 'r')
        .valLoss,
    ).toBeNaN();
    const seeded = candidateJobToProto({ ...job, valAugmentSeed: 0 });
    const side = { network: TINY_NETWORK, recipe: RECIPE, data };
    expect(candidateJobFromProto(overTheWire(CandidateJobProto, seeded), 'c', side).valAugmentSeed).toBe(0);
  });

  it('refuses what does not fit, naming the field', () => {
    const side = { network: TINY_NETWORK, recipe: RECIPE, data };
    const good = candidateJobToProto(job);
    const refuse = (message: CandidateJobProto, field: string): void => {
      try {
        candidateJobFromProto(message, 'candidates[1]', side);
      } catch (error) {
        expect(error).toBeInstanceOf(EvaluationMessageError);
        expect((error as EvaluationMessageError).field).toBe(field);
        return;
      }
      throw new Error(`expected ${field} to be refused`);
    };
    refuse({ ...good, genotype: undefined }, 'candidates[1].genotype');
    refuse({ ...good, lr: NaN }, 'candidates[1].lr');
    refuse({ ...good, dropPath: 2 }, 'candidates[1].drop_path');
    refuse({ ...good, augmentSeed: -1 }, 'candidates[1].augment_seed');
    refuse({ ...good, trainIndices: Buffer.alloc(5) }, 'candidates[1].train_indices');
    refuse(
      { ...good, valIndices: Buffer.from(Int32Array.from([0, data.val.size]).buffer) },
      'candidates[1].val_indices[1]',
    );
    const [first, ...rest] = good.params;
    refuse(
      { ...good, params: [{ ...first, data: first.data.subarray(4) }, ...rest] },
      'candidates[1].params[0].data',
    );
    refuse({ ...good, params: [first, first, ...rest] }, 'candidates[1].params[1].name');
    const setup = evaluationSetupToProto({
      datasetUri: 'x',
      config: { trainPortion: 0.5, seed: 7 },
      network: TINY_NETWORK,
      recipe: RECIPE,
      data,
    });
    expect(() => evaluationSetupFromProto({ ...setup, dataCrc32: setup.dataCrc32 ^ 1 }, data)).toThrow(
      /setup.data_crc32: .*must read the same dataset/,
    );
    expect(() => evaluationSetupFromProto({ ...setup, primitives: ['conv_9x9'] }, data)).toThrow(
      /setup.primitives\[0\]/,
    );
  });
});
