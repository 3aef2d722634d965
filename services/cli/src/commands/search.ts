// `rnas search`: a RelativeNAS (or random) search on a dataset, resumable, with a progress bar on
// a terminal and one log line per comparison otherwise. Logs and progress go to stderr; stdout
// gets exactly one line, the best genotype as JSON, at the end.
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { initBackend } from '@rnas/engine';
import { dataRootsFromEnv, openDataset } from '@rnas/data';
import {
  resolveSearchConfig,
  SEARCH_STRATEGIES,
  searchArtifacts,
  searchFromDataset,
  type SearchConfig,
  type SearchEvent,
} from '@rnas/nas';
import { onOff } from '../args';
import { processIo, type CliIo } from '../io';

export interface SearchCommandOptions {
  dataset: string;
  out: string;
  strategy?: string;
  population?: number;
  generations?: number;
  layers?: number;
  channels?: number;
  steps?: number;
  batchSize?: number;
  trainImages?: number;
  valImages?: number;
  seed?: number;
  workers?: number;
  lrMax?: number;
  lrMin?: number;
  momentum?: number;
  weightDecay?: number;
  gradClip?: number;
  dropPath?: number;
  cutout?: number;
  trainPortion?: number;
  primitives?: string[];
  pairsPerWave?: number;
  valAugment?: boolean;
  pairedData?: boolean;
  resume?: boolean;
}

function integer(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim()))
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return Number(value);
}

function decimal(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** Follows the search's events: a bar on a terminal, log lines elsewhere. */
class Progress {
  private bar: SingleBar | null = null;
  private total = 0;
  private done = 0;
  private startedAt = 0;
  private doneAtStart = 0;

  constructor(
    private readonly io: CliIo,
    private readonly config: SearchConfig,
  ) {}

  private log(line: string): void {
    if (this.bar !== null) this.bar.stop();
    this.io.stderr.write(`${line}\n`);
    if (this.bar !== null) {
      this.bar = this.makeBar();
      this.bar.start(this.total, this.done, this.payload(0, 0, 0));
    }
  }

  private makeBar(): SingleBar {
    return new SingleBar({
      stream: this.io.stderr as NodeJS.WritableStream,
      format: 'generation {generation}/{generations} [{bar}] pair {pair}/{pairs} | {ips} img/s | ETA {eta}',
      hideCursor: true,
      clearOnComplete: false,
    });
  }

  private payload(generation: number, pair: number, ips: number): Record<string, string | number> {
    return {
      generation,
      generations: this.config.generations,
      pair,
      pairs: this.config.population / 2,
      ips: ips.toFixed(0),
      eta: duration(this.eta()),
    };
  }

  private eta(): number {
    const since = this.done - this.doneAtStart;
    if (since === 0) return NaN;
    const perPair = (performance.now() - this.startedAt) / 1000 / since;
    return perPair * (this.total - this.done);
  }

  onEvent(e: SearchEvent): void {
    switch (e.type) {
      case 'start': {
        this.total = this.config.generations * e.pairsPerGeneration;
        this.done = e.generationsDone * e.pairsPerGeneration;
        this.doneAtStart = this.done;
        this.startedAt = performance.now();
        this.io.stderr.write(
          e.resumed
            ? `resuming after generation ${e.generationsDone} of ${this.config.generations}\n`
            : `starting a ${this.config.strategy} search: ${this.config.population} members, ${this.config.generations} generations\n`,
        );
        if (this.io.stderr.isTTY === true) {
          this.bar = this.makeBar();
          this.bar.start(this.total, this.done, this.payload(e.generationsDone + 1, 0, 0));
        }
        return;
      }
      case 'pair': {
        this.done++;
        const { record, candidates } = e;
        const [a, b] = candidates;
        if (this.bar !== null) {
          this.bar.update(
            this.done,
            this.payload(e.generation + 1, e.pairsDone, record.timing.imagesPerSecond),
          );
          return;
        }
        const fmt = (c: typeof a): string =>
          `${c.index} (loss ${c.valLoss.toFixed(4)}, acc ${(100 * c.valAccuracy).toFixed(1)}%)`;
        this.io.stderr.write(
          `generation ${e.generation + 1}/${this.config.generations} pair ${e.pairsDone}/${e.pairs}: ` +
            `teacher ${fmt(record.teacher === a.index ? a : b)}, student ${fmt(record.student === a.index ? a : b)}, ` +
            `${record.timing.imagesPerSecond.toFixed(0)} img/s, ETA ${duration(this.eta())}\n`,
        );
        return;
      }
      case 'generation': {
        const r = e.record;
        this.log(
          `generation ${r.generation + 1}/${this.config.generations} done in ${duration(r.timing.seconds)}: ` +
            `lr ${r.learningRate.toPrecision(3)}, drop path ${r.dropPath.toFixed(3)}, diversity ${r.diversity.toFixed(3)}, ` +
            `best val loss ${r.best.valLoss.toFixed(4)} (acc ${(100 * r.best.valAccuracy).toFixed(1)}%), ` +
            `best so far ${r.bestSoFar.valLoss.toFixed(4)}`,
        );
        return;
      }
      case 'done':
        this.stop();
        return;
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** Runs the command; returns the process exit code. */
export async function runSearchCommand(options: SearchCommandOptions, io: CliIo): Promise<number> {
  const config = resolveSearchConfig({
    strategy: options.strategy,
    population: options.population,
    generations: options.generations,
    layers: options.layers,
    channels: options.channels,
    steps: options.steps,
    batchSize: options.batchSize,
    trainImages: options.trainImages,
    valImages: options.valImages,
    seed: options.seed,
    lrMax: options.lrMax,
    lrMin: options.lrMin,
    momentum: options.momentum,
    weightDecay: options.weightDecay,
    gradClip: options.gradClip,
    dropPath: options.dropPath,
    cutout: options.cutout,
    trainPortion: options.trainPortion,
    primitives: options.primitives,
    pairsPerWave: options.pairsPerWave,
    valAugment: options.valAugment,
    pairedData: options.pairedData,
  });
  const requested = options.workers ?? 1;
  const workers = requested === 0 ? availableParallelism() : requested;
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw new Error(`--workers: expected an integer in [0, 256], got ${requested}`);
  }
  const backend = await initBackend();
  io.stderr.write(`engine backend: ${backend.name} (${backend.detail})\n`);
  const dataset = await openDataset(options.dataset, { dataRoots: dataRootsFromEnv(io.env) });
  const progress = new Progress(io, config);
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await searchFromDataset({
      config,
      dataset,
      workers,
      backend: backend.name,
      outDir: options.out,
      resume: options.resume === true,
      signal: controller.signal,
      onEvent: (e) => progress.onEvent(e),
      onSplits: (data) =>
        io.stderr.write(
          `dataset ${dataset.uri}: ${data.train.size} search-training and ${data.val.size} search-validation images ` +
            `of ${dataset.imageShape.join('x')}, ${dataset.classNames.length} classes\n`,
        ),
    });
    const files = searchArtifacts(options.out);
    io.stderr.write(
      `best genotype (generation ${result.best.generation + 1}, member ${result.best.index}, ` +
        `val loss ${result.best.valLoss.toFixed(4)}, val accuracy ${(100 * result.best.valAccuracy).toFixed(1)}%) ` +
        `written to ${files.genotype}; history in ${files.history}, cell diagrams in ${files.cells}\n`,
    );
    io.stdout.write(`${JSON.stringify(result.best.genotype)}\n`);
    return 0;
  } catch (err) {
    progress.stop();
    if (controller.signal.aborted) {
      io.stderr.write(
        `${(err as Error).message}; the last checkpoint is in ${options.out}, continue with --resume\n`,
      );
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The `search` subcommand, ready to add to the program. */
export function searchCommand(io: CliIo = processIo): Command {
  return (
    new Command('search')
      .description('search for a cell with RelativeNAS slow-fast learning (or the random-search baseline)')
      // addCommand does not pass the program's output settings down; usage errors go to io as well.
      .configureOutput({
        writeOut: (text) => io.stdout.write(text),
        writeErr: (text) => io.stderr.write(text),
      })
      .requiredOption('--dataset <uri>', 'dataset URI, e.g. fashion-mnist:/usr/share/datasets/fashion-mnist')
      .requiredOption('--out <dir>', 'output directory: genotype.json, history.json, cells/, checkpoint/')
      .addOption(
        new Option('--strategy <name>', 'search strategy (default relativenas)').choices(SEARCH_STRATEGIES),
      )
      .option('--population <n>', 'population size, even (default 20)', integer)
      .option('--generations <n>', 'generations (default 50)', integer)
      .option('--layers <n>', 'cells of the search network (default 8)', integer)
      .option('--channels <n>', 'initial channels of the search network (default 16)', integer)
      .option('--steps <n>', 'intermediate nodes per cell (default 4)', integer)
      .option('--batch-size <n>', 'mini-batch size (default 256)', integer)
      .option(
        '--train-images <n>',
        'training images per candidate and comparison; 0: the whole split (default 0)',
        integer,
      )
      .option(
        '--val-images <n>',
        'validation images a pair is compared on; 0: the whole split (default 0)',
        integer,
      )
      .option('--seed <n>', 'seed that drives everything random (default 0)', integer)
      .option('--workers <n>', 'evaluator threads; 0: one per CPU core (default 1)', integer)
      .option('--lr-max <x>', 'learning rate of the first generation (default 0.1)', decimal)
      .option('--lr-min <x>', 'learning rate the cosine schedule ends at (default 0.001)', decimal)
      .option('--momentum <x>', 'SGD momentum (default 0.9)', decimal)
      .option('--weight-decay <x>', 'SGD weight decay (default 3e-4)', decimal)
      .option('--grad-clip <x>', 'gradient-norm clip, 0 disables (default 5)', decimal)
      .option('--drop-path <x>', 'final drop-path probability (default 0.3)', decimal)
      .option('--cutout <n>', 'cutout side in pixels, 0 disables (default 16)', integer)
      .option('--train-portion <x>', 'share of the training split candidates train on (default 0.5)', decimal)
      .option(
        '--primitives <ops>',
        'comma-separated candidate ops in encoding order (default: the 7 search primitives)',
        list,
      )
      .option(
        '--pairs-per-wave <n>',
        'pairs evaluated at once from one snapshot; > 1 is approximate: each pair loses the ' +
          'weight-set updates (trunk training) of the other pairs of its wave (default 1)',
        integer,
      )
      .option(
        '--val-augment <on|off>',
        'validation images carry the training transform, as in the reference; off: plain images (default on)',
        onOff,
      )
      .option(
        '--paired-data',
        'both members of a pair see the same images, order and augmentation (common random numbers); ' +
          'default: each its own, as in the reference',
      )
      .option('--resume', 'continue the search in --out from its last checkpoint')
      .action(async (options: SearchCommandOptions) => {
        process.exitCode = await runSearchCommand(options, io);
      })
  );
}
