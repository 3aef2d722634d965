// Trainings belong to the subject that started them. Over gRPC, with principals fabricated from
// test metadata (testPrincipals) and a worker that keeps trainings unfinished: a user gets,
// watches, cancels and lists only their own trainings (another's is NOT_FOUND, worded as for an
// unknown id), an admin all of them; --max-jobs-per-subject holds under concurrent starts and is
// checked before the request is validated.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { collectStream, ConfigError } from '@rnas/grpc';
import { callerOptions, testPrincipals, writeIdleWorker } from '@rnas/jobs';
import { TrainingState, type Training } from '@rnas/proto';
import { loadTrainingServiceConfig } from './config';
import { startTrainingService, type RunningService } from './service';
import {
  buildService,
  failure,
  memoryLogger,
  serviceArgs,
  tinyDataRoot,
  tinyRequest,
  trainingClient,
  type TrainingClient,
} from './test-util';

let dir: string;
let datasetUri: string;
let workerScript: string;
let service: RunningService;
let client: TrainingClient;

type Caller = { metadata: Record<string, string> };
const alice = callerOptions('alice');
const bob = callerOptions('bob');
const admin = callerOptions('root', 'admin');

beforeAll(async () => {
  buildService();
  let dataRoot: string;
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  workerScript = writeIdleWorker(mkdtempSync(path.join(tmpdir(), 'rnas-training-owner-')));
  const config = loadTrainingServiceConfig(
    [...serviceArgs(dir, dataRoot), '--max-jobs-per-subject', '2'],
    {},
  );
  service = await startTrainingService(config, {
    logger: memoryLogger().logger,
    shutdownSignals: [],
    workerScript,
    authenticate: testPrincipals,
  });
  client = trainingClient(service.port);
}, 300_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(path.dirname(workerScript), { recursive: true, force: true });
});

async function start(caller: Caller): Promise<Training> {
  return (await client.startTraining(tinyRequest(datasetUri), caller)).training as Training;
}

async function refusals(id: string, caller: Caller): Promise<[number, string][]> {
  const errors: ServiceError[] = [
    await failure(client.getTraining({ trainingId: id }, caller)),
    await failure(collectStream(client.watchTraining({ trainingId: id, afterSequence: '0' }, caller))),
    await failure(client.cancelTraining({ trainingId: id }, caller)),
  ];
  return errors.map((e) => [e.code, e.details]);
}

const list = async (caller: Caller): Promise<Training[]> =>
  (await client.listTrainings({ pageSize: 0, pageToken: '', state: 0 }, caller)).trainings;

describe('training ownership', () => {
  it('shows a user only their own trainings; another’s answers as an unknown id; an admin sees all', async () => {
    const alices = await start(alice);
    expect(alices.owner).toBe('alice');
    const unknown = randomUUID();
    const asUnknown = (await refusals(unknown, bob)).map(([code, details]): [number, string] => [
      code,
      details.replace(unknown, alices.id),
    ]);
    expect(asUnknown.map(([code]) => code)).toEqual([status.NOT_FOUND, status.NOT_FOUND, status.NOT_FOUND]);
    expect(await refusals(alices.id, bob)).toEqual(asUnknown);

    expect((await list(alice)).map((t) => t.id)).toEqual([alices.id]);
    expect(await list(bob)).toEqual([]);
    expect((await list(admin)).map((t) => [t.id, t.owner])).toEqual([[alices.id, 'alice']]);
    expect((await client.getTraining({ trainingId: alices.id }, admin)).training?.owner).toBe('alice');
    const cancelled = (await client.cancelTraining({ trainingId: alices.id }, admin)).training;
    expect([TrainingState.TRAINING_STATE_CANCELLING, TrainingState.TRAINING_STATE_CANCELLED]).toContain(
      cancelled?.state,
    );
  });

  it('accepts exactly --max-jobs-per-subject of concurrent starts, checked before the request', async () => {
    const carol = callerOptions('carol');
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => start(carol)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(2);
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ServiceError] : []));
    expect(refused.map((e) => [e.code, e.details])).toEqual(
      Array.from({ length: 10 }, () => [
        status.RESOURCE_EXHAUSTED,
        'subject "carol" has 2 unfinished training jobs (queued, running or cancelling); ' +
          '--max-jobs-per-subject (RNAS_MAX_JOBS_PER_SUBJECT) is 2: wait for one to finish or cancel one',
      ]),
    );
    // A caller over quota learns that before anything about its request.
    const invalid = await failure(client.startTraining(tinyRequest('no-such-scheme:/x'), carol));
    expect(invalid.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await failure(client.startTraining(tinyRequest('no-such-scheme:/x'), bob))).code).toBe(
      status.INVALID_ARGUMENT,
    );
  });

  it('refuses a malformed --max-jobs-per-subject, naming the flag and the value', () => {
    let error: unknown;
    try {
      loadTrainingServiceConfig(['--state-dir', dir], { RNAS_MAX_JOBS_PER_SUBJECT: '-3' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([expect.stringMatching(/RNAS_MAX_JOBS_PER_SUBJECT.*"-3"/)]);
  });
});
