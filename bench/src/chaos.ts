// `make chaos`: the durability promise of the job services under repeated kill -9. For each job
// service (search, training), the same small deterministic jobs run twice from empty state: once
// uninterrupted (the reference), and once while the service process is killed with SIGKILL at
// seeded random moments and restarted on the same state directory, `--kills` times. Then: every
// acknowledged job is still there and succeeded (0 lost), its result is the reference's
// (searches: the chosen genotype and every generation's population losses; trainings: every
// epoch's losses and the published weights byte for byte), and nothing was published twice (one
// event per generation or epoch, one terminal state, one model version per training). Bounded by
// `--timeout-min`; prints a table and exits 1 on any loss, difference or duplicate.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { temporaryDataRoot } from '@rnas/data';
import { decodeSafetensors } from '@rnas/engine';
import {
  collectStream,
  createClient,
  spawnServiceProcess,
  type PromiseClient,
  type ServiceProcess,
} from '@rnas/grpc';
import { listModels, WEIGHTS_FILE } from '@rnas/model';
import {
  SearchServiceService,
  SearchState,
  SearchStrategy,
  Task,
  TrainingServiceService,
  TrainingState,
  type Genotype,
  type Search,
  type Training,
  type WatchSearchResponse,
  type WatchTrainingResponse,
} from '@rnas/proto';
import { REPO_ROOT } from './docs-section';

const MAINS = {
  search: path.join(REPO_ROOT, 'services', 'search', 'dist', 'main.js'),
  training: path.join(REPO_ROOT, 'services', 'training', 'dist', 'main.js'),
};

export interface ChaosOptions {
  seed: number;
  /** SIGKILLs per service. */
  kills: number;
  searches: number;
  trainings: number;
  /** Random wait after a (re)start before the next kill, in ms: [min, max). */
  minDelayMs: number;
  maxDelayMs: number;
  timeoutMin: number;
  services: ('search' | 'training')[];
}

export const HELP = `Usage: node bench/dist/chaos.js [options]

Runs small searches and trainings uninterrupted, then again while their service is killed with
SIGKILL at seeded random moments and restarted on the same state directory; checks 0 jobs lost,
results identical to the uninterrupted run and no duplicate publication; prints a table.

  --seed N           seed of the kill moments [1]
  --kills N          SIGKILLs per service [20]
  --searches N       searches run [3]
  --trainings N      trainings run (each publishes a model) [3]
  --min-delay-ms N   shortest wait from a (re)start to the next kill [300]
  --max-delay-ms N   longest wait from a (re)start to the next kill [4000]
  --timeout-min N    the whole run's bound, in minutes [15]
  --services LIST    search,training [both]
  --help             this text
`;

export function parseChaosArgs(argv: readonly string[]): ChaosOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string', default: '1' },
      kills: { type: 'string', default: '20' },
      searches: { type: 'string', default: '3' },
      trainings: { type: 'string', default: '3' },
      'min-delay-ms': { type: 'string', default: '300' },
      'max-delay-ms': { type: 'string', default: '4000' },
      'timeout-min': { type: 'string', default: '15' },
      services: { type: 'string', default: 'search,training' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const int = (flag: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${flag} ${JSON.stringify(text)}: expected an integer >= ${min}`);
    return n;
  };
  const services = values.services.split(',').map((s) => s.trim());
  for (const s of services)
    if (s !== 'search' && s !== 'training')
      throw new Error(`--services: unknown service ${JSON.stringify(s)}`);
  const options: ChaosOptions = {
    seed: int('seed', values.seed, 0),
    kills: int('kills', values.kills, 0),
    searches: int('searches', values.searches, 1),
    trainings: int('trainings', values.trainings, 1),
    minDelayMs: int('min-delay-ms', values['min-delay-ms'], 0),
    maxDelayMs: int('max-delay-ms', values['max-delay-ms'], 1),
    timeoutMin: int('timeout-min', values['timeout-min'], 1),
    services: services as ChaosOptions['services'],
  };
  if (options.maxDelayMs <= options.minDelayMs)
    throw new Error('--max-delay-ms must be above --min-delay-ms');
  return options;
}

/** mulberry32: the seeded kill moments. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosRow {
  service: string;
  kills: number;
  /** Kills that landed while a job of the service was running. */
  killsWhileRunning: number;
  jobs: number;
  lost: number;
  identical: number;
  duplicates: number;
  wallMs: number;
}

/** The printed table. */
export function chaosTable(rows: readonly ChaosRow[]): string {
  const header = [
    'service',
    'kills',
    'kills while running',
    'jobs',
    'lost',
    'identical',
    'duplicates',
    'wall time',
  ];
  const body = rows.map((r) => [
    r.service,
    String(r.kills),
    String(r.killsWhileRunning),
    String(r.jobs),
    String(r.lost),
    `${r.identical}/${r.jobs}`,
    String(r.duplicates),
    `${(r.wallMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Two-step cells with cheap ops, one parametric op per cell type (the training tests' genotype). */
const GENOTYPE: Genotype = {
  normal: [
    { op: 'sep_conv_3x3', input: 0 },
    { op: 'skip_connect', input: 1 },
    { op: 'max_pool_3x3', input: 0 },
    { op: 'skip_connect', input: 2 },
  ],
  normalConcat: [2, 3],
  reduce: [
    { op: 'max_pool_3x3', input: 0 },
    { op: 'dil_conv_3x3', input: 1 },
    { op: 'skip_connect', input: 2 },
    { op: 'avg_pool_3x3', input: 0 },
  ],
  reduceConcat: [2, 3],
};

/** One client of the service on `port` for the calls of `f`, closed after them. */
async function withClient<S extends ServiceDefinition, T>(
  definition: S,
  port: number,
  f: (client: PromiseClient<S>) => Promise<T>,
): Promise<T> {
  const client = createClient(definition, `127.0.0.1:${port}`, { defaultDeadlineMs: 30_000 });
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

/** What a job service looks like to the chaos run. */
interface JobKind<Result> {
  name: 'search' | 'training';
  args(stateDir: string, runDir: string): string[];
  /** Starts job `i`; resolves with its id once acknowledged. */
  start(port: number, i: number): Promise<string>;
  /** Whether any job is running now (for the count of kills that hit work in progress). */
  running(port: number): Promise<boolean>;
  /** The ids the service lists, and whether every one has finished. */
  list(port: number): Promise<{ ids: string[]; done: boolean }>;
  /** The job's result and how many times it published something it must publish once. */
  result(
    port: number,
    id: string,
    runDir: string,
  ): Promise<{ ok: boolean; value: Result; duplicates: number }>;
}

function searchKind(datasetUri: string, dataRoot: string): JobKind<unknown> {
  const use = <T>(
    port: number,
    f: (c: PromiseClient<typeof SearchServiceService>) => Promise<T>,
  ): Promise<T> => withClient(SearchServiceService, port, f);
  const list = (port: number): Promise<Search[]> =>
    use(port, async (c) => (await c.listSearches({ pageSize: 1000, pageToken: '', state: 0 })).searches);
  return {
    name: 'search',
    args: (stateDir) => ['--state-dir', stateDir, '--data-root', dataRoot, '--max-running-searches', '1'],
    start: (port, i) =>
      use(port, async (c) => {
        const { search } = await c.startSearch({
          datasetUri,
          seed: 100 + i,
          config: {
            strategy: SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
            population: 4,
            generations: 4,
            layers: 3,
            channels: 4,
            batchSize: 8,
            trainImages: 16,
            valImages: 8,
            cutout: 4,
            primitives: ['max_pool_3x3', 'skip_connect', 'sep_conv_3x3'],
            workers: 1,
          },
        });
        return search?.id ?? '';
      }),
    running: async (port) => (await list(port)).some((s) => s.state === SearchState.SEARCH_STATE_RUNNING),
    list: async (port) => {
      const searches = await list(port);
      const terminal = [
        SearchState.SEARCH_STATE_SUCCEEDED,
        SearchState.SEARCH_STATE_FAILED,
        SearchState.SEARCH_STATE_CANCELLED,
      ];
      return { ids: searches.map((s) => s.id), done: searches.every((s) => terminal.includes(s.state)) };
    },
    result: (port, id) =>
      use(port, async (c) => {
        const search = (await c.getSearch({ searchId: id })).search;
        const events: WatchSearchResponse[] = await collectStream(
          c.watchSearch({ searchId: id, afterSequence: '0' }),
        );
        const reports = events.flatMap((m) => (m.event?.$case === 'generationReport' ? [m.event.value] : []));
        const terminal = events.filter(
          (m) =>
            m.event?.$case === 'stateChange' && m.event.value.state === SearchState.SEARCH_STATE_SUCCEEDED,
        );
        const generations = reports.map((r) => r.generation);
        const duplicates =
          generations.length -
          new Set(generations).size +
          Math.max(0, terminal.length - 1) +
          sequenceGaps(events);
        return {
          ok: search?.state === SearchState.SEARCH_STATE_SUCCEEDED,
          value: { best: search?.best, losses: reports.map((r) => r.population.map((p) => p.valLoss)) },
          duplicates,
        };
      }),
  };
}

function trainingKind(datasetUri: string, dataRoot: string): JobKind<unknown> {
  const use = <T>(
    port: number,
    f: (c: PromiseClient<typeof TrainingServiceService>) => Promise<T>,
  ): Promise<T> => withClient(TrainingServiceService, port, f);
  const list = (port: number): Promise<Training[]> =>
    use(port, async (c) => (await c.listTrainings({ pageSize: 1000, pageToken: '', state: 0 })).trainings);
  return {
    name: 'training',
    args: (stateDir, runDir) => [
      ...['--state-dir', stateDir, '--model-repo', path.join(runDir, 'models')],
      ...['--search-addr', '127.0.0.1:1', '--data-root', dataRoot, '--max-running-trainings', '1'],
    ],
    start: (port, i) =>
      use(port, async (c) => {
        const { training } = await c.startTraining({
          architecture: { $case: 'genotype', value: GENOTYPE },
          spec: {
            variant: 0,
            channels: 4,
            layers: 3,
            classes: 0,
            inputChannels: 0,
            inputSize: 0,
            auxiliary: false,
          },
          datasetUri,
          recipe: {
            epochs: 5,
            batchSize: 8,
            learningRate: 0.05,
            cutout: 4,
            learningRateSchedule: 0,
            seed: 200 + i,
          },
          modelName: `chaos-${i}`,
          task: Task.TASK_UNSPECIFIED,
          detection: undefined,
        });
        return training?.id ?? '';
      }),
    running: async (port) => (await list(port)).some((t) => t.state === TrainingState.TRAINING_STATE_RUNNING),
    list: async (port) => {
      const trainings = await list(port);
      const terminal = [
        TrainingState.TRAINING_STATE_SUCCEEDED,
        TrainingState.TRAINING_STATE_FAILED,
        TrainingState.TRAINING_STATE_CANCELLED,
      ];
      return { ids: trainings.map((t) => t.id), done: trainings.every((t) => terminal.includes(t.state)) };
    },
    result: (port, id, runDir) =>
      use(port, async (c) => {
        const training = (await c.getTraining({ trainingId: id })).training;
        const events: WatchTrainingResponse[] = await collectStream(
          c.watchTraining({ trainingId: id, afterSequence: '0' }),
        );
        const reports = events.flatMap((m) => (m.event?.$case === 'epochReport' ? [m.event.value] : []));
        const terminal = events.filter(
          (m) =>
            m.event?.$case === 'stateChange' &&
            m.event.value.state === TrainingState.TRAINING_STATE_SUCCEEDED,
        );
        const epochs = reports.map((r) => r.epoch);
        const models = await listModels(path.join(runDir, 'models'));
        const versions = models.find((m) => m.name === training?.modelName)?.versions ?? [];
        const weights = training?.model?.path
          ? weightsHash(path.join(training.model.path, WEIGHTS_FILE))
          : '';
        const duplicates =
          epochs.length -
          new Set(epochs).size +
          Math.max(0, terminal.length - 1) +
          Math.max(0, versions.length - 1) +
          sequenceGaps(events);
        return {
          ok: training?.state === TrainingState.TRAINING_STATE_SUCCEEDED && versions.length === 1,
          value: {
            epochs: reports.map((r) => [r.epoch, r.trainLoss, r.trainAccuracy, r.evalLoss, r.evalAccuracy]),
            version: training?.model?.version,
            weights,
          },
          duplicates,
        };
      }),
  };
}

/**
 * SHA-256 of a published model's tensors (names, dtypes, shapes and bytes, in name order): the
 * file's metadata names the training that made it, which differs from run to run.
 */
function weightsHash(file: string): string {
  const { tensors } = decodeSafetensors(readFileSync(file), file);
  const hash = createHash('sha256');
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    hash.update(`${name}:${t.dtype}:${t.shape.join('x')}:`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/** Events whose sequence is not the next one (a replayed or duplicated entry of the log). */
function sequenceGaps(events: readonly { sequence: number }[]): number {
  return events.filter((m, i) => m.sequence !== i + 1).length;
}

interface Run {
  ids: string[];
  results: Map<string, { ok: boolean; value: unknown; duplicates: number }>;
  kills: number;
  killsWhileRunning: number;
  lost: number;
  wallMs: number;
}

const children = new Set<ServiceProcess>();

async function startService(
  kind: JobKind<unknown>,
  stateDir: string,
  runDir: string,
): Promise<ServiceProcess> {
  const service = await spawnServiceProcess(MAINS[kind.name], [
    ...['--port', '0', '--metrics-port', '0'],
    ...kind.args(stateDir, runDir),
  ]);
  children.add(service);
  void service.exited.then(() => children.delete(service));
  return service;
}

/** Runs `jobs` jobs of `kind` to the end, killing the service `kills` times at random moments. */
async function run(
  kind: JobKind<unknown>,
  runDir: string,
  jobs: number,
  kills: number,
  delay: () => number,
  log: (line: string) => void,
): Promise<Run> {
  const began = Date.now();
  const stateDir = path.join(runDir, 'state');
  let service = await startService(kind, stateDir, runDir);
  const ids: string[] = [];
  for (let i = 0; i < jobs; i++) ids.push(await kind.start(service.port, i));
  let killed = 0;
  let killsWhileRunning = 0;
  let lost = 0;
  while (killed < kills) {
    await sleep(delay());
    const busy = await kind.running(service.port).catch(() => false);
    service.child.kill('SIGKILL');
    await service.exited;
    killed++;
    if (busy) killsWhileRunning++;
    service = await startService(kind, stateDir, runDir);
    // Every acknowledged job is there after each restart.
    const { ids: listed } = await kind.list(service.port);
    const missing = ids.filter((id) => !listed.includes(id));
    lost = Math.max(lost, missing.length);
    log(
      `${kind.name}: kill ${killed}/${kills}${busy ? ' (a job was running)' : ''}; restarted, ${listed.length} jobs listed`,
    );
  }
  for (;;) {
    const { ids: listed, done } = await kind.list(service.port);
    lost = Math.max(lost, ids.filter((id) => !listed.includes(id)).length);
    if (done) break;
    await sleep(250);
  }
  const results = new Map<string, { ok: boolean; value: unknown; duplicates: number }>();
  for (const id of ids) results.set(id, await kind.result(service.port, id, runDir));
  service.child.kill('SIGTERM');
  await service.exited;
  return { ids, results, kills: killed, killsWhileRunning, lost, wallMs: Date.now() - began };
}

export async function chaos(options: ChaosOptions, log: (line: string) => void): Promise<ChaosRow[]> {
  {
    const { dir, dataRoot, datasetUri } = await temporaryDataRoot('rnas-chaos-data-', {
      train: 96,
      test: 16,
      seed: 3,
    });
    const random = seededRandom(options.seed);
    const delay = (): number =>
      options.minDelayMs + Math.floor(random() * (options.maxDelayMs - options.minDelayMs));
    const rows: ChaosRow[] = [];
    try {
      for (const name of options.services) {
        const kind =
          name === 'search' ? searchKind(datasetUri, dataRoot) : trainingKind(datasetUri, dataRoot);
        const jobs = name === 'search' ? options.searches : options.trainings;
        const base = path.join(dir, `${name}-`);
        log(`${name}: ${jobs} jobs uninterrupted (the reference)`);
        const reference = await run(kind, `${base}reference`, jobs, 0, delay, log);
        log(`${name}: the same ${jobs} jobs with ${options.kills} SIGKILLs (seed ${options.seed})`);
        const chaotic = await run(kind, `${base}chaos`, jobs, options.kills, delay, log);
        let identical = 0;
        let duplicates = 0;
        chaotic.ids.forEach((id, i) => {
          const got = chaotic.results.get(id);
          const want = reference.results.get(reference.ids[i]);
          duplicates += got?.duplicates ?? 0;
          if (got?.ok && want?.ok && JSON.stringify(got.value) === JSON.stringify(want.value)) identical++;
          else
            log(
              `${name}: job ${i} (${id}) differs from the reference: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`,
            );
        });
        rows.push({
          service: name,
          kills: chaotic.kills,
          killsWhileRunning: chaotic.killsWhileRunning,
          jobs,
          lost: chaotic.lost,
          identical,
          duplicates,
          wallMs: chaotic.wallMs,
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return rows;
  }
}

async function main(): Promise<number> {
  let options: ChaosOptions | 'help';
  try {
    options = parseChaosArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const minutes = options.timeoutMin;
  const timer = setTimeout(() => {
    process.stderr.write(
      `chaos: FAILED: not finished within --timeout-min ${minutes} minutes; stopping the services\n`,
    );
    for (const child of children) child.child.kill('SIGKILL');
    process.exit(1);
  }, minutes * 60_000);
  timer.unref();
  const began = Date.now();
  const rows = await chaos(options, (line) => process.stdout.write(`${line}\n`));
  clearTimeout(timer);
  process.stdout.write(`\n${chaosTable(rows)}\n`);
  process.stdout.write(`chaos: seed ${options.seed}, total ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
  const failed = rows.filter((r) => r.lost > 0 || r.identical !== r.jobs || r.duplicates > 0);
  if (failed.length > 0) {
    process.stderr.write(`chaos: FAILED for ${failed.map((r) => r.service).join(', ')}\n`);
    return 1;
  }
  process.stdout.write(
    'chaos: OK: 0 jobs lost, every result identical to the uninterrupted run, no duplicate publication\n',
  );
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
      for (const child of children) child.child.kill('SIGKILL');
      process.exit(1);
    },
  );
}
