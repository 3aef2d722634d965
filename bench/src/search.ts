// Search benchmark: RelativeNAS against random search at equal budget (the same number of
// candidates, evaluated with the same weight-shared procedure, each choosing its final genotype
// the same way: its final candidates re-evaluated under its final weight set) on Fashion-MNIST;
// both chosen genotypes retrained from scratch with one recipe for 3 seeds, paired (seed s gives
// both the same images, order and augmentation), two retrainings at a time, one per core; the
// verdict by a stated rule; and the search's images per second with 1 and 2 evaluator workers.
// Prints a markdown section and, with --write, puts it in docs/benchmarks.md under "## Search"
// (leaving the other sections alone).
//
//   npx tsc -b && node bench/dist/search.js [--quick] [--write] [--dataset URI] [--out DIR]
//
// The full budget is sized to finish in about 30 minutes on the 2-core development machine (wasm
// backend); --quick runs the same steps at a toy size in a minute or two, to check the script.
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { initBackend, tf, wasmThreadsPerEngine, type BackendInfo } from '@rnas/engine';
import {
  dataRootsFromEnv,
  deriveSeed,
  hostBatches,
  openDataset,
  subset,
  toTensors,
  type Dataset,
} from '@rnas/data';
import {
  disposeParams,
  evaluatorSetup,
  genotypeFromJson,
  initParams,
  InProcessEvaluator,
  Network,
  resolveSearchConfig,
  runSearch,
  searchSplits,
  Sgd,
  trainStep,
  WorkerPoolEvaluator,
  type Evaluator,
  type Genotype,
  type SearchConfig,
  type SearchResult,
} from '@rnas/nas';
import { BENCHMARKS_DOC, REPO_ROOT, writeDocSection } from './docs-section';
import { remoteSearch, remoteTable, type RemoteRun } from './search-remote';

interface Budget {
  name: string;
  search: Partial<SearchConfig>;
  /** Search-throughput measurement: one short search with 1 and with 2 workers. */
  throughput: Partial<SearchConfig>;
  retrain: RetrainRecipe;
}

/**
 * One fixed recipe for training a discovered cell from scratch (RELATIVENAS.md section 7, shortened):
 * SGD, momentum 0.9, weight decay 3e-4, clip 5, cosine to 0 per step, random crop + flip.
 */
interface RetrainRecipe {
  layers: number;
  channels: number;
  epochs: number;
  /** A seeded subset of the training split of this size (the seed is the retraining's). */
  trainImages: number;
  /** The first test images; the whole test split when it has fewer. */
  testImages: number;
  batchSize: number;
  lr: number;
  seeds: number[];
}

const FULL: Budget = {
  name: 'full',
  search: {
    population: 8,
    generations: 5,
    layers: 5,
    channels: 8,
    batchSize: 64,
    trainImages: 512,
    valImages: 256,
    cutout: 8,
  },
  throughput: {
    population: 4,
    generations: 3,
    layers: 5,
    channels: 8,
    batchSize: 64,
    trainImages: 256,
    valImages: 256,
    cutout: 8,
  },
  retrain: {
    layers: 5,
    channels: 8,
    epochs: 5,
    trainImages: 10_000,
    testImages: 10_000,
    batchSize: 128,
    lr: 0.05,
    seeds: [0, 1, 2],
  },
};

/** The quick budget's search, measured once for the comparison and once for throughput. */
const QUICK_SEARCH: Partial<SearchConfig> = {
  population: 4,
  generations: 2,
  layers: 3,
  channels: 4,
  batchSize: 32,
  trainImages: 64,
  valImages: 64,
  cutout: 8,
};

const QUICK: Budget = {
  name: 'quick',
  search: QUICK_SEARCH,
  throughput: QUICK_SEARCH,
  retrain: {
    layers: 3,
    channels: 4,
    epochs: 2,
    trainImages: 256,
    testImages: 256,
    batchSize: 32,
    lr: 0.05,
    seeds: [0, 1, 2],
  },
};

interface Args {
  /** Only the search on 1, 2 and 3 evaluator processes (its own section of the doc). */
  evaluatorsOnly: boolean;
  quick: boolean;
  /** Only the search-throughput rows (1 and 2 evaluator workers), printed. */
  throughputOnly: boolean;
  write: boolean;
  dataset: string;
  out: string;
  seed: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    quick: false,
    throughputOnly: false,
    evaluatorsOnly: false,
    write: false,
    dataset: 'fashion-mnist:/usr/share/datasets/fashion-mnist',
    out: path.join(REPO_ROOT, '.bench', 'search'),
    seed: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: expected a value`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--evaluators-only') args.evaluatorsOnly = true;
    else if (a === '--throughput-only') args.throughputOnly = true;
    else if (a === '--write') args.write = true;
    else if (a === '--dataset') args.dataset = value();
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--seed') {
      const v = value();
      if (!/^\d{1,9}$/.test(v)) throw new Error(`--seed: expected a non-negative integer, got "${v}"`);
      args.seed = Number(v);
    } else
      throw new Error(
        `unknown argument ${JSON.stringify(a)} (expected --quick, --write, --evaluators-only, --throughput-only, --dataset URI, --out DIR, --seed N)`,
      );
  }
  return args;
}

async function search(
  dataset: Dataset,
  config: SearchConfig,
  workers: number,
  backend: BackendInfo,
  outDir: string | undefined,
): Promise<{ result: SearchResult; seconds: number; imagesPerSecond: number }> {
  const data = searchSplits(dataset.train, config);
  const setup = evaluatorSetup(config, data);
  const evaluator: Evaluator =
    workers === 1
      ? new InProcessEvaluator(setup)
      : await WorkerPoolEvaluator.start(setup, { workers, backend: backend.name });
  const started = performance.now();
  try {
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
    const result = await runSearch({
      config,
      data,
      dataSource: dataset.uri,
      evaluator,
      outDir,
      onEvent: (e) => {
        if (e.type === 'generation') {
          const r = e.record;
          console.error(
            `  ${config.strategy} generation ${r.generation + 1}/${config.generations}: best val loss ` +
              `${r.best.valLoss.toFixed(4)}, ${r.timing.imagesPerSecond.toFixed(0)} img/s`,
          );
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    // Throughput after the first generation: a fresh worker's first candidate pays for compiling
    // the wasm kernels, which says nothing about a long search.
    const steady = result.history.generations.slice(result.history.generations.length > 1 ? 1 : 0);
    const images = steady.reduce((n, g) => n + g.candidates.length * (g.trainImages + g.valImages), 0);
    const steadySeconds = steady.reduce((n, g) => n + g.timing.seconds, 0);
    return { result, seconds, imagesPerSecond: images / steadySeconds };
  } finally {
    await evaluator.close();
  }
}

export interface RetrainResult {
  accuracy: number;
  /** Mean training loss of each epoch: the last ones show whether the run has levelled off. */
  epochLosses: number[];
  seconds: number;
}

/**
 * Trains a genotype from scratch with the fixed recipe and tests it. Everything random comes from
 * `seed` alone (the training subset, the initial weights' stream, each epoch's order and
 * augmentation), so two genotypes retrained with the same seed see the same data.
 */
function retrain(genotype: Genotype, dataset: Dataset, recipe: RetrainRecipe, seed: number): RetrainResult {
  const started = performance.now();
  const network = new Network({
    variant: 'cifar',
    genotype,
    channels: recipe.channels,
    layers: recipe.layers,
    classes: dataset.classNames.length,
    inChannels: dataset.imageShape[2],
    auxiliary: false,
  });
  const params = initParams(network.params, seed);
  const train = subset(dataset.train, { count: Math.min(recipe.trainImages, dataset.train.size), seed });
  const test = subset(dataset.test, { count: Math.min(recipe.testImages, dataset.test.size) });
  const stepsPerEpoch = Math.ceil(train.size / recipe.batchSize);
  const totalSteps = stepsPerEpoch * recipe.epochs;
  const sgd = new Sgd({ lr: recipe.lr, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
  const epochLosses: number[] = [];
  try {
    let step = 0;
    for (let epoch = 0; epoch < recipe.epochs; epoch++) {
      let lossSum = 0;
      let seen = 0;
      for (const host of hostBatches(train, {
        batchSize: recipe.batchSize,
        shuffleSeed: deriveSeed(seed, epoch),
        augment: { seed: deriveSeed(seed, epoch, 1), cutout: 0 },
      })) {
        // Cosine from lr to 0 over the steps (the evaluation recipe's schedule, per step).
        sgd.lr = (recipe.lr * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
        const batch = toTensors(host);
        try {
          const result = trainStep(network, params, batch.images, batch.labels, sgd);
          result.logits.dispose();
          lossSum += result.loss * host.size;
          seen += host.size;
        } finally {
          batch.images.dispose();
          batch.labels.dispose();
        }
        step++;
      }
      epochLosses.push(lossSum / seen);
    }
    let correct = 0;
    for (const host of hostBatches(test, { batchSize: 256 })) {
      const batch = toTensors(host);
      try {
        const { logits } = network.forward(params, batch.images);
        const predicted = tf.tidy(() => tf.argMax(logits, 1).dataSync());
        logits.dispose();
        for (let i = 0; i < host.size; i++) if (predicted[i] === host.labels[i]) correct++;
      } finally {
        batch.images.dispose();
        batch.labels.dispose();
      }
    }
    return { accuracy: correct / test.size, epochLosses, seconds: (performance.now() - started) / 1000 };
  } finally {
    sgd.dispose();
    disposeParams(params);
  }
}

/** One retraining, as this script runs it in a child process (`--retrain JOB`): one per core. */
interface RetrainJob {
  genotype: unknown;
  dataset: string;
  recipe: RetrainRecipe;
  seed: number;
}

async function retrainInChild(job: RetrainJob): Promise<RetrainResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [__filename, '--retrain', JSON.stringify(job)],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RetrainResult;
}

/** Runs `jobs` at most `parallel` at a time; results in the order of `jobs`. */
async function pool<T, R>(jobs: readonly T[], parallel: number, run: (job: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
    while (next < jobs.length) {
      const k = next++;
      results[k] = await run(jobs[k]);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * The verdict on paired differences d (one per seed): a winner only when every difference has the
 * same sign and the mean is more than 2 standard errors from 0; otherwise no detectable difference.
 */
export function verdict(
  differences: readonly number[],
  names: readonly [string, string],
): { winner: string | null; mean: number; standardError: number; text: string } {
  const m = mean(differences);
  const se = std(differences) / Math.sqrt(differences.length);
  const sameSign = differences.every((d) => d > 0) || differences.every((d) => d < 0);
  const winner = sameSign && Math.abs(m) > 2 * se ? (m > 0 ? names[0] : names[1]) : null;
  const text =
    winner === null
      ? `no detectable difference (mean ${pct(m)}, standard error ${pct(se)}; the rule asks for every difference of one sign and |mean| > 2 standard errors)`
      : `${winner} is better by ${pct(Math.abs(m))} (standard error ${pct(se)}; every difference of one sign and |mean| > 2 standard errors)`;
  return { winner, mean: m, standardError: se, text };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function std(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
}

/** Images/s of candidate evaluation of the throughput search with 1 and 2 evaluator workers. */
async function measureThroughput(
  dataset: Awaited<ReturnType<typeof openDataset>>,
  budget: Budget,
  args: Args,
  backend: BackendInfo,
): Promise<Record<number, number>> {
  const throughput: Record<number, number> = {};
  for (const workers of [1, 2]) {
    const config = resolveSearchConfig({ ...budget.throughput, seed: args.seed });
    throughput[workers] = (await search(dataset, config, workers, backend, undefined)).imagesPerSecond;
    console.error(`  throughput with ${workers} worker(s): ${throughput[workers].toFixed(1)} images/s`);
  }
  return throughput;
}

function throughputCaption(budget: Budget): string {
  const t = budget.throughput;
  return (
    `Search throughput (training + validation images per second of a search of population ${t.population}, ` +
    `${t.layers} cells x ${t.channels} channels, batch ${t.batchSize}, ${t.trainImages} + ${t.valImages} images per ` +
    `comparison, over generations 2 to ${t.generations}; the first one warms the workers up)`
  );
}

/** The rows, with the wasm threads of each engine (the in-process one; each worker's share). */
function throughputTable(throughput: Record<number, number>, backend: BackendInfo): string[] {
  const workerThreads = backend.name === 'wasm' ? wasmThreadsPerEngine(2) : 1;
  return [
    '| evaluator workers | threads per engine | images/s | speed-up |',
    '| --- | ---: | --- | --- |',
    `| 1 (in process) | ${backend.threads} | ${throughput[1].toFixed(1)} | 1.00x |`,
    `| 2 (worker threads) | ${workerThreads} | ${throughput[2].toFixed(1)} | ${(throughput[2] / throughput[1]).toFixed(2)}x |`,
  ];
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--retrain') {
    const job = JSON.parse(argv[1] ?? '') as RetrainJob;
    await initBackend();
    const dataset = await openDataset(job.dataset, { dataRoots: dataRootsFromEnv() });
    console.log(JSON.stringify(retrain(genotypeFromJson(job.genotype), dataset, job.recipe, job.seed)));
    return;
  }
  const args = parseArgs(argv);
  const budget = args.quick ? QUICK : FULL;
  const backend = await initBackend();
  console.error(`search benchmark (${budget.name} budget) on ${backend.name}: ${backend.detail}`);
  const dataset = await openDataset(args.dataset, { dataRoots: dataRootsFromEnv() });
  await mkdir(args.out, { recursive: true });
  const started = performance.now();
  if (args.evaluatorsOnly) {
    await evaluatorsSection(args, budget, backend);
    return;
  }
  if (args.throughputOnly) {
    const rows = throughputTable(await measureThroughput(dataset, budget, args, backend), backend);
    console.log(`${throughputCaption(budget)}\n\n${rows.join('\n')}`);
    return;
  }

  const strategies = ['relativenas', 'random'] as const;
  const searches: Record<string, { result: SearchResult; seconds: number; imagesPerSecond: number }> = {};
  for (const strategy of strategies) {
    const config = resolveSearchConfig({ ...budget.search, strategy, seed: args.seed });
    console.error(`${strategy} search: ${config.population} members x ${config.generations} generations`);
    searches[strategy] = await search(dataset, config, 2, backend, path.join(args.out, strategy));
  }

  const retrainJobs = budget.retrain.seeds.flatMap((seed) =>
    strategies.map((strategy) => ({
      strategy,
      seed,
      job: {
        genotype: searches[strategy].result.best.genotype,
        dataset: args.dataset,
        recipe: budget.retrain,
        seed,
      } satisfies RetrainJob,
    })),
  );
  const retrainStarted = performance.now();
  const retrained = await pool(retrainJobs, 2, async ({ strategy, seed, job }) => {
    const r = await retrainInChild(job);
    console.error(
      `  retrained ${strategy}'s genotype, seed ${seed}: test accuracy ${pct(r.accuracy)}, ` +
        `epoch losses ${r.epochLosses.map((l) => l.toFixed(3)).join(' ')}, ${(r.seconds / 60).toFixed(1)} min`,
    );
    return r;
  });
  const retrainMinutes = (performance.now() - retrainStarted) / 60000;
  const resultOf = (strategy: string, seed: number): RetrainResult =>
    retrained[retrainJobs.findIndex((j) => j.strategy === strategy && j.seed === seed)];
  const differences = budget.retrain.seeds.map(
    (seed) => resultOf('relativenas', seed).accuracy - resultOf('random', seed).accuracy,
  );
  const decision = verdict(differences, ['relativenas', 'random']);

  const throughput = await measureThroughput(dataset, budget, args, backend);
  const totalMinutes = (performance.now() - started) / 60000;

  const s = budget.search;
  const r = budget.retrain;
  const lines = [
    `Produced by \`node bench/dist/search.js${args.quick ? ' --quick' : ''}\` on ${new Date().toISOString().slice(0, 10)}, ` +
      `backend ${backend.name}, dataset \`${dataset.uri}\`, search seed ${args.seed}; whole run ${totalMinutes.toFixed(1)} min.`,
    '',
    `Search budget (both strategies, 2 workers): population ${s.population}, ${s.generations} generations ` +
      `(${(s.population ?? 0) * (s.generations ?? 0)} candidate evaluations each), search network ${s.layers} cells x ` +
      `${s.channels} channels, batch ${s.batchSize}, ${s.trainImages} training and ${s.valImages} validation images per ` +
      `comparison, cutout ${s.cutout}; every other knob at the paper's default.`,
    '',
    `Each strategy chooses its genotype the same way: its final candidates (RelativeNAS: the final population; ` +
      `random: every candidate it evaluated) re-evaluated under its final weight set on the same validation images.`,
    '',
    '| strategy | search time | final candidates | chosen genotype: val loss under the final weight set |',
    '| --- | --- | --- | --- |',
    ...strategies.map((strategy) => {
      const run = searches[strategy];
      return (
        `| ${strategy} | ${(run.seconds / 60).toFixed(1)} min | ${run.result.history.final?.candidates.length ?? 0} | ` +
        `${run.result.best.valLoss.toFixed(4)} |`
      );
    }),
    '',
    `Retraining (the same for both genotypes, paired by seed): CIFAR network ${r.layers} cells x ${r.channels} channels, ` +
      `batch ${r.batchSize}, a seeded ${r.trainImages}-image subset of the training split for ${r.epochs} epochs ` +
      `(${Math.ceil(r.trainImages / r.batchSize) * r.epochs} steps), SGD lr ${r.lr} cosine to 0, momentum 0.9, weight decay 3e-4, ` +
      `clip 5, random crop + flip; tested on ${r.testImages} test images; seeds ${r.seeds.join(', ')}; two retrainings at a ` +
      `time, one per core (${retrainMinutes.toFixed(1)} min in all).`,
    '',
    '| seed | relativenas accuracy | random accuracy | difference | final training loss (relativenas / random) | training loss per epoch (relativenas; random) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.seeds.map((seed, k) => {
      const a = resultOf('relativenas', seed);
      const b = resultOf('random', seed);
      const losses = (x: RetrainResult): string => x.epochLosses.map((l) => l.toFixed(3)).join(' ');
      return (
        `| ${seed} | ${pct(a.accuracy)} | ${pct(b.accuracy)} | ${differences[k] >= 0 ? '+' : ''}${pct(differences[k])} | ` +
        `${a.epochLosses.at(-1)?.toFixed(3)} / ${b.epochLosses.at(-1)?.toFixed(3)} | ${losses(a)}; ${losses(b)} |`
      );
    }),
    '',
    `**Verdict** (paired differences relativenas − random): ${decision.text}.`,
    '',
    `${throughputCaption(budget)}:`,
    '',
    ...throughputTable(throughput, backend),
    '',
    'Chosen genotypes:',
    '',
    ...strategies.map(
      (strategy) => `- ${strategy}: \`${JSON.stringify(searches[strategy].result.best.genotype)}\``,
    ),
  ];
  const body = lines.join('\n');
  console.log(`## Search\n\n${body}`);
  if (args.write) {
    await writeDocSection('Search', body);
    console.error(`wrote the Search section of ${BENCHMARKS_DOC}`);
  }
  await evaluatorsSection(args, budget, backend);
}

/**
 * The search on 1, 2 and 3 evaluator processes (training services, `--evaluators`), each with
 * every pair of a generation at once; its own section of the doc.
 */
async function evaluatorsSection(args: Args, budget: Budget, backend: BackendInfo): Promise<void> {
  const t = budget.throughput;
  const size = {
    population: t.population ?? 4,
    generations: t.generations ?? 2,
    layers: t.layers ?? 3,
    channels: t.channels ?? 4,
    batchSize: t.batchSize ?? 32,
    trainImages: t.trainImages ?? 64,
    valImages: t.valImages ?? 64,
    cutout: t.cutout ?? 8,
  };
  const load = loadavg()[0];
  const started = performance.now();
  const runs: RemoteRun[] = [];
  for (const evaluators of [1, 2, 3]) {
    const run = await remoteSearch(evaluators, size, {
      datasetUri: args.dataset,
      dataRoots: dataRootsFromEnv(),
      seed: args.seed,
    });
    console.error(`  ${evaluators} evaluator process(es): ${run.imagesPerSecond.toFixed(1)} images/s`);
    runs.push(run);
  }
  const body = [
    `Produced by \`node bench/dist/search.js${args.quick ? ' --quick' : ''} --evaluators-only\` (also part of \`make bench-search\`) on ` +
      `${new Date().toISOString().slice(0, 10)}, backend ${backend.name}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ` +
      `load average ${load.toFixed(1)} at the start; ${((performance.now() - started) / 60000).toFixed(1)} min.`,
    '',
    `The search service (its own process) with \`--evaluators\` naming N training services (each its own process, ` +
      `\`EvaluatePair\`) on loopback; a search of population ${size.population}, ${size.generations} generations, ` +
      `${size.layers} cells x ${size.channels} channels, batch ${size.batchSize}, ${size.trainImages} + ${size.valImages} ` +
      `images per comparison, \`pairs_per_wave\` ${size.population / 2} (every pair of a generation at once, so up to ` +
      `${size.population} evaluations in flight); images per second of candidate evaluation over generations 2 to ` +
      `${size.generations}. Bytes per pair: the EvaluatePair requests of both members (the tensors each loads from the ` +
      `weight set as raw float32, its image indices, the setup); the answers carry the trained tensors, about as many bytes. ` +
      `On this machine the evaluators share its ${cpus().length} cores: past that the rows show the ceiling, not the scaling.`,
    '',
    ...remoteTable(runs),
  ].join('\n');
  console.log(`## Search on evaluator processes\n\n${body}`);
  if (args.write) {
    await writeDocSection('Search on evaluator processes', body);
    console.error(`wrote the Search on evaluator processes section of ${BENCHMARKS_DOC}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`search benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  });
}
