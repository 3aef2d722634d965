import { initBackend } from '@rnas/engine';
import { openDataset } from '@rnas/data';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  createLogger,
  createServer,
  InvalidArgumentError,
  makeCa,
  makeCert,
  newToken,
  PeerCredentials,
  startFakeService,
  tokenEntryLine,
  UnavailableError,
  UnimplementedError,
  type FakeService,
  type GrpcServer,
  type ServiceHandlers,
} from '@rnas/grpc';
import {
  candidateJobFromProto,
  candidateResultToProto,
  evaluatorSetup,
  evaluateCandidate,
  evaluationSetupFromProto,
  InProcessEvaluator,
  resolveSearchConfig,
  searchSplits,
  WeightSet,
  type EvaluatorSetup,
  type Genotype,
  type PairContext,
  type SearchData,
} from '@rnas/nas';
import { TrainingServiceService, type EvaluatePairRequest } from '@rnas/proto';
import { RemoteEvaluator, type EvaluatorStats } from './remote-evaluator';

const CONFIG = resolveSearchConfig({
  population: 4,
  generations: 1,
  layers: 3,
  channels: 4,
  steps: 2,
  batchSize: 8,
  trainImages: 8,
  valImages: 8,
  primitives: ['max_pool_3x3', 'skip_connect', 'sep_conv_3x3'],
  seed: 3,
});
const URI = 'synthetic:shapes?classes=3&size=8&channels=1&train=48&test=8&seed=5';
const A: Genotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['skip_connect', 1],
    ['max_pool_3x3', 0],
    ['sep_conv_3x3', 2],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['max_pool_3x3', 0],
    ['sep_conv_3x3', 1],
    ['skip_connect', 2],
    ['max_pool_3x3', 1],
  ],
  reduceConcat: [2, 3],
};
const B: Genotype = {
  ...A,
  normal: [
    ['skip_connect', 0],
    ['skip_connect', 1],
    ['sep_conv_3x3', 0],
    ['max_pool_3x3', 2],
  ],
};

let data: SearchData;
let setup: EvaluatorSetup;
let ctx: PairContext;
const fakes: FakeService[] = [];

/** An evaluator that does what a training service's EvaluatePair does, in this process. */
function evaluatePair(request: EvaluatePairRequest): {
  results: ReturnType<typeof candidateResultToProto>[];
} {
  const side = {
    ...evaluationSetupFromProto(request.setup as NonNullable<EvaluatePairRequest['setup']>, data),
    data,
  };
  return {
    results: request.candidates.map((job, i) =>
      candidateResultToProto(evaluateCandidate(candidateJobFromProto(job, `candidates[${i}]`, side), data)),
    ),
  };
}

async function fake(handler: (request: EvaluatePairRequest) => unknown): Promise<string> {
  const service = await startFakeService(TrainingServiceService, { evaluatePair: handler as never });
  fakes.push(service);
  return service.address;
}

function start(
  targets: string[],
  extra: Partial<Parameters<typeof RemoteEvaluator.start>[0]> = {},
): Promise<RemoteEvaluator> {
  return RemoteEvaluator.start({
    targets,
    setup: { ...setup, datasetUri: URI, config: CONFIG },
    searchId: 's',
    maxMessageBytes: 4 * 1024 * 1024,
    deadlineMs: 2000,
    ...extra,
  });
}

beforeAll(async () => {
  await initBackend();
  data = searchSplits((await openDataset(URI)).train, CONFIG);
  setup = evaluatorSetup(CONFIG, data);
  ctx = {
    generation: 0,
    pair: 0,
    lr: 0.05,
    dropPath: 0,
    trainIndices: [Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), Int32Array.from([7, 6, 5, 4, 3, 2, 1, 0])],
    valIndices: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    augmentSeeds: [1, 2],
    valAugmentSeeds: [null, null],
    dropPathSeeds: [3, 4],
  };
});

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.server.shutdown()));
});

describe('RemoteEvaluator', () => {
  it('answers what the in-process evaluator answers, passing a hung and a failing evaluator by', async () => {
    const snapshot = WeightSet.initialise(setup.network, 9);
    const expected = await new InProcessEvaluator(setup).evaluatePair(snapshot, [A, B], ctx);
    let calls = 0;
    const hung = await fake(() => new Promise(() => undefined));
    const down = await fake(() => {
      calls++;
      throw new UnavailableError('going away');
    });
    const good = await fake(evaluatePair);
    const stats: EvaluatorStats[] = [];
    const evaluator = await start([hung, down, good], { onStats: (s) => stats.push(s) });
    try {
      const results = await evaluator.evaluatePair(snapshot, [A, B], ctx);
      expect(results.map((r) => ({ ...r, seconds: 0 }))).toEqual(expected.map((r) => ({ ...r, seconds: 0 })));
    } finally {
      await evaluator.close();
    }
    const retries = (target: string): number =>
      stats.filter((s) => s.target === target).reduce((n, s) => n + s.retries, 0);
    expect(retries(hung)).toBeGreaterThan(0);
    expect(retries(good)).toBe(0);
    expect(stats.filter((s) => s.target === good).reduce((n, s) => n + s.bytesSent, 0)).toBeGreaterThan(
      10_000,
    );
    expect(calls).toBeGreaterThan(0);
    expect(retries(down)).toBe(calls);
  }, 60_000);

  it('fails the search at once on an answer that says the request is wrong', async () => {
    const refusing = await fake(() => {
      throw new InvalidArgumentError(
        'setup.data_crc32',
        1,
        'the search and its evaluators must read the same dataset',
      );
    });
    const evaluator = await start([refusing]);
    try {
      await expect(
        evaluator.evaluatePair(WeightSet.initialise(setup.network, 9), [A, B], ctx),
      ).rejects.toThrow(/evaluator .*: 3 INVALID_ARGUMENT: invalid setup.data_crc32=1/);
    } finally {
      await evaluator.close();
    }
  });

  it('calls evaluators over TLS with the peer token, re-read when it changes; a refused token fails at once, saying so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rnas-remote-tls-'));
    const ca = makeCa(dir, 'ca');
    const cert = makeCert(dir, 'training', ca, { cn: 'localhost', usage: 'server' });
    const good = newToken();
    const tokens = path.join(dir, 'tokens.jsonl');
    writeFileSync(tokens, `${tokenEntryLine(good, 'rnas-search', 'admin')}\n`);
    const handlers: Record<string, unknown> = { evaluatePair };
    for (const method of Object.keys(TrainingServiceService)) {
      handlers[method] ??= () => {
        throw new UnimplementedError(method);
      };
    }
    const server: GrpcServer = createServer({
      host: '127.0.0.1',
      port: 0,
      metricsPort: null,
      shutdownSignals: [],
      logger: createLogger({ service: 'fake-training', level: 'silent' }),
      tls: { certFile: cert.cert, keyFile: cert.key },
      auth: { tokensFile: tokens },
    });
    server.addService(TrainingServiceService, handlers as ServiceHandlers<typeof TrainingServiceService>);
    const target = `127.0.0.1:${(await server.start()).port}`;
    const tokenFile = path.join(dir, 'peer-token');
    writeFileSync(tokenFile, `${newToken()}\n`);
    const peer = new PeerCredentials({ tls: true, caFile: ca.cert, tokenFile });
    const snapshot = WeightSet.initialise(setup.network, 9);
    const retries: string[] = [];
    try {
      const refused = await start([target], { peer, onRetry: (m) => retries.push(m) });
      try {
        await expect(refused.evaluatePair(snapshot, [A, B], ctx)).rejects.toThrow(
          `evaluator ${target} (a training service, --evaluators) answered UNAUTHENTICATED: unknown bearer token; ` +
            "the training service refused the search service's credentials: give --peer-token-file a token of an " +
            "admin subject in the training service's --auth-tokens",
        );
      } finally {
        await refused.close();
      }
      // Not sent again: no evaluator takes credentials one refused.
      expect(retries).toEqual([]);

      rmSync(tokenFile);
      writeFileSync(tokenFile, `${good}\n`);
      const expected = await new InProcessEvaluator(setup).evaluatePair(snapshot, [A, B], ctx);
      const evaluator = await start([target], { peer });
      try {
        const results = await evaluator.evaluatePair(snapshot, [A, B], ctx);
        expect(results.map((r) => ({ ...r, seconds: 0 }))).toEqual(
          expected.map((r) => ({ ...r, seconds: 0 })),
        );
      } finally {
        await evaluator.close();
      }
    } finally {
      await server.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a request larger than --max-message-bytes, naming the flag', async () => {
    const evaluator = await start([await fake(evaluatePair)], { maxMessageBytes: 1000 });
    try {
      await expect(
        evaluator.evaluatePair(WeightSet.initialise(setup.network, 9), [A, B], ctx),
      ).rejects.toThrow(/takes \d+ bytes, more than --max-message-bytes \(1000\)/);
    } finally {
      await evaluator.close();
    }
  });
});
