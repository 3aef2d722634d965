// The search loop: slow-fast learning (RELATIVENAS.md section 6) and, with the same weight-shared
// evaluation, the random-search baseline.
//
// Per generation: learning rate and drop path from their schedules; the strategy's population
// (random search: a fresh one); random pairs; for each pair, both members trained from the weight
// set and compared on validation loss; the weight set updated from teacher and student; after all
// pairs, the strategy moves the population (RelativeNAS: every student towards its teacher). Then
// a checkpoint. After the last generation, the final choice: the strategy's final candidates
// re-evaluated under the final weight set on the same validation images (history.final).
//
// One generator drives everything, in this order: the weight-set initialisation seed and the
// initial population; per generation (the fresh population of random search,) the pairing, one
// seed per pair (each member's training images and order, augmentations and drop path), and r1,
// r2 of each student. Evaluators only receive seeds, so the numbers do not depend on threads or
// timing.
import { access, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { deriveSeed, Rng, splitTrain, type Split } from '@rnas/data';
import { decodeVector, encodingBounds, randomVector } from '../encoding';
import type { Genotype } from '../genotype';
import { writeFileAtomic } from '@rnas/fs';
import { pairSeeds, type SearchData, type TrainingRecipe } from './candidate';
import { readCheckpoint, writeCheckpoint, type SearchState, checkpointDir } from './checkpoint';
import { genotypeSvg } from './diagram';
import type { Evaluator, EvaluatorSetup } from './evaluator';
import {
  betterOf,
  HISTORY_FORMAT,
  type BestRecord,
  type FinalCandidateRecord,
  type FinalRecord,
  type CandidateRecord,
  type GenerationRecord,
  type PairRecord,
  type SearchHistory,
} from './history';
import { candidateDiverged, SearchDivergedError } from './divergence';
import { decideRoles, diversity, randomPairs, type Pair, type Roles } from './population';
import { cosineLearningRate, dropPathProbability } from './schedules';
import type { SearchConfig } from './search-config';
import type { SearchNetworkConfig } from './search-network';
import { STRATEGIES } from './strategies';
import { distinctByGenotype, type Strategy } from './strategy';
import { WeightSet } from './weight-set';

/** Streams of the search seed used outside the main generator (deriveSeed paths). */
const SPLIT_STREAM = 1;
const VAL_SUBSET_STREAM = 2;
const FINAL_VAL_AUGMENT_STREAM = 3;

/** The search has (re)started: `generationsDone` generations come from the checkpoint. */
export interface SearchStartEvent {
  type: 'start';
  config: SearchConfig;
  generationsDone: number;
  resumed: boolean;
  pairsPerGeneration: number;
}

/** One pair compared (plain data: the search service sends it from its worker thread as is). */
export interface SearchPairEvent {
  type: 'pair';
  generation: number;
  /** Pairs finished in this generation (1-based count). */
  pairsDone: number;
  pairs: number;
  record: PairRecord;
  candidates: [CandidateRecord, CandidateRecord];
}

/** One generation done and checkpointed. */
export interface SearchGenerationEvent {
  type: 'generation';
  record: GenerationRecord;
}

export type SearchEvent =
  SearchStartEvent | SearchPairEvent | SearchGenerationEvent | { type: 'done'; best: BestRecord };

export interface SearchRun {
  config: SearchConfig;
  data: SearchData;
  /** Where the data came from (a dataset URI), for the history. */
  dataSource: string;
  evaluator: Evaluator;
  /**
   * Output directory: `checkpoint/` after every generation, `history.json`, `cells/` (one SVG per
   * generation) and, at the end, `genotype.json`. Without it nothing is written.
   */
  outDir?: string;
  /** Continue from the checkpoint in `outDir` when there is one. */
  resume?: boolean;
  /** Stops the search between pairs; the last checkpoint stays. */
  signal?: AbortSignal;
  onEvent?: (event: SearchEvent) => void;
}

export interface SearchResult {
  /** The final choice: lowest loss of the final candidates under the final weight set (history.final). */
  best: BestRecord;
  /** Lowest validation loss met during the search (under changing weight-set snapshots). */
  bestSoFar: BestRecord;
  history: SearchHistory;
  population: number[][];
}

/** The files a search writes in its output directory. */
export function searchArtifacts(outDir: string): {
  genotype: string;
  history: string;
  cells: string;
  checkpoint: string;
} {
  return {
    genotype: path.join(outDir, 'genotype.json'),
    history: path.join(outDir, 'history.json'),
    cells: path.join(outDir, 'cells'),
    checkpoint: checkpointDir(outDir),
  };
}

/**
 * Cuts a dataset's training split into the search-training and search-validation splits
 * (`trainPortion`), shuffled by a stream of the search seed so that class-ordered datasets split
 * evenly.
 */
export function searchSplits(train: Split, config: Pick<SearchConfig, 'trainPortion' | 'seed'>): SearchData {
  const [searchTrain, searchVal] = splitTrain(train, {
    fraction: config.trainPortion,
    seed: deriveSeed(config.seed, SPLIT_STREAM),
  });
  if (searchTrain.size === 0 || searchVal.size === 0) {
    throw new Error(
      `trainPortion ${config.trainPortion} of ${train.size} images leaves an empty split (${searchTrain.size} / ${searchVal.size})`,
    );
  }
  return { train: searchTrain, val: searchVal };
}

/** The search network and training recipe of a configuration on some data. */
export function evaluatorSetup(config: SearchConfig, data: SearchData): EvaluatorSetup {
  const network: SearchNetworkConfig = {
    layers: config.layers,
    channels: config.channels,
    classes: data.train.numClasses,
    inChannels: data.train.imageShape[2],
    steps: config.steps,
    primitives: config.primitives,
  };
  const recipe: TrainingRecipe = {
    batchSize: config.batchSize,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
    gradClip: config.gradClip,
    cutout: config.cutout,
  };
  return { network, recipe, data };
}

function fidelity(config: SearchConfig, data: SearchData): { trainImages: number; valIndices: Int32Array } {
  const trainSize = data.train.size;
  const valSize = data.val.size;
  if (config.trainImages > trainSize) {
    throw new Error(
      `trainImages ${config.trainImages} is more than the search-training split (${trainSize} images)`,
    );
  }
  if (config.valImages > valSize) {
    throw new Error(
      `valImages ${config.valImages} is more than the search-validation split (${valSize} images)`,
    );
  }
  const valCount = config.valImages === 0 ? valSize : config.valImages;
  // One fixed validation subset for the whole search, so losses stay comparable across pairs.
  const valIndices = Rng.fromSeed(deriveSeed(config.seed, VAL_SUBSET_STREAM))
    .permutation(valSize)
    .subarray(0, valCount)
    .sort();
  return { trainImages: config.trainImages === 0 ? trainSize : config.trainImages, valIndices };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error ? signal.reason : new Error('search aborted');
  }
}

function candidateRecord(
  index: number,
  encoding: number[],
  genotype: Genotype,
  r: {
    trainLoss: number;
    trainAccuracy: number;
    valLoss: number;
    valAccuracy: number;
  },
): CandidateRecord {
  return {
    index,
    encoding: [...encoding],
    genotype,
    trainLoss: r.trainLoss,
    trainAccuracy: r.trainAccuracy,
    valLoss: r.valLoss,
    valAccuracy: r.valAccuracy,
    diverged: candidateDiverged(r),
  };
}

function rate(images: number, seconds: number): number {
  return seconds > 0 ? images / seconds : 0;
}

async function writeGenerationArtifacts(
  outDir: string,
  strategy: Strategy,
  history: SearchHistory,
  g: number,
): Promise<void> {
  const files = searchArtifacts(outDir);
  await mkdir(files.cells, { recursive: true });
  const record = history.generations[g];
  const { best } = record;
  const svg = genotypeSvg(best.genotype, {
    title:
      `generation ${g}: best is member ${best.index}, val loss ${best.valLoss.toFixed(4)}, ` +
      `val accuracy ${(100 * best.valAccuracy).toFixed(1)}%`,
    origins: strategy.originsOf(history, g, best.index),
  });
  await writeFileAtomic(path.join(files.cells, `generation-${String(g).padStart(3, '0')}.svg`), svg);
  await writeFileAtomic(files.history, JSON.stringify(history, null, 1));
}

/** Runs (or resumes) a search to the end; see the comment at the top of this file. */
export async function runSearch(run: SearchRun): Promise<SearchResult> {
  const { config, data, evaluator, outDir, signal } = run;
  const emit = run.onEvent ?? (() => undefined);
  const setup = evaluatorSetup(config, data);
  const { trainImages, valIndices } = fidelity(config, data);
  const bounds = encodingBounds(config.steps, config.primitives);
  const m = config.population;

  let state: SearchState;
  let weightSet: WeightSet;
  let resumed = false;
  const restored =
    outDir !== undefined && run.resume === true ? await readCheckpoint(outDir, config, setup.network) : null;
  const dataSummary = {
    source: run.dataSource,
    trainSize: data.train.size,
    valSize: data.val.size,
    classes: data.train.numClasses,
    imageShape: [...data.train.imageShape],
  };
  if (restored !== null) {
    ({ state, weightSet } = restored);
    const stored = state.history.data;
    if (JSON.stringify(stored) !== JSON.stringify(dataSummary)) {
      throw new Error(
        `the checkpoint in ${outDir} was written for other data (${JSON.stringify(stored)}), not ${JSON.stringify(dataSummary)}`,
      );
    }
    resumed = true;
  } else {
    if (outDir !== undefined && run.resume !== true && (await readCheckpointExists(outDir))) {
      throw new Error(
        `${outDir} already holds a search checkpoint; resume it or choose another output directory`,
      );
    }
    const rng = Rng.fromSeed(config.seed);
    weightSet = WeightSet.initialise(setup.network, rng.nextUint32());
    const population = Array.from({ length: m }, () =>
      randomVector(config.steps, () => rng.nextFloat(), config.primitives),
    );
    state = {
      generationsDone: 0,
      population,
      velocities: population.map((p) => p.map(() => 0)),
      rng: rng.getState(),
      history: {
        format: HISTORY_FORMAT,
        config,
        data: dataSummary,
        generations: [],
      },
    };
  }
  if (outDir !== undefined) await mkdir(checkpointDir(outDir), { recursive: true });
  emit({
    type: 'start',
    config,
    generationsDone: state.generationsDone,
    resumed,
    pairsPerGeneration: m / 2,
  });

  const rng = Rng.fromState(state.rng);
  const strategy = STRATEGIES[config.strategy];
  let { population, velocities } = state;
  const history = state.history;
  let bestSoFar: BestRecord | null = history.generations.at(-1)?.bestSoFar ?? null;

  for (let g = state.generationsDone; g < config.generations; g++) {
    const started = performance.now();
    const lr = cosineLearningRate(g, config.generations, config.lrMax, config.lrMin);
    const dropPath = dropPathProbability(g, config.generations, config.dropPath);
    population = strategy.populationFor(g, population, config, rng);
    const genotypes = population.map((p) => decodeVector(p, config.primitives));
    const spread = diversity(population);
    const pairs = randomPairs(m, rng);
    const seeds = pairs.map(() => rng.nextUint32());

    const candidates: CandidateRecord[] = new Array(m);
    const pairRecords: PairRecord[] = [];
    const roles: Roles[] = [];
    for (let start = 0; start < pairs.length; start += config.pairsPerWave) {
      checkAborted(signal);
      const wave = pairs.slice(start, start + config.pairsPerWave).map((pair: Pair, k) => {
        const p = start + k;
        const s = pairSeeds(seeds[p], config.pairedData);
        const images = (seed: number): Int32Array =>
          Rng.fromSeed(seed).permutation(data.train.size).subarray(0, trainImages);
        const t0 = performance.now();
        const promise = evaluator
          .evaluatePair(weightSet, [genotypes[pair[0]], genotypes[pair[1]]], {
            generation: g,
            pair: p,
            lr,
            dropPath,
            trainIndices: [images(s.order[0]), images(s.order[1])],
            valIndices,
            augmentSeeds: s.augment,
            valAugmentSeeds: config.valAugment ? s.valAugment : [null, null],
            dropPathSeeds: s.dropPath,
          })
          .then((results) => ({ results, seconds: (performance.now() - t0) / 1000 }));
        return { pair, p, promise };
      });
      const outcomes = await Promise.all(wave.map((w) => w.promise));
      wave.forEach(({ pair, p }, k) => {
        const { results, seconds } = outcomes[k];
        const r = decideRoles(
          pair,
          [results[0].valLoss, results[1].valLoss],
          [candidateDiverged(results[0]), candidateDiverged(results[1])],
        );
        // The weight set's teacher differs from the population's on a tie (the reference's rule).
        const writerSide = r.weightSetTeacher === pair[0] ? 0 : 1;
        const writer = results[writerSide];
        const other = results[1 - writerSide];
        // Two diverged candidates: nothing trustworthy to write back.
        const update = !r.bothDiverged && Number.isFinite(writer.valLoss);
        if (update) {
          weightSet.applyComparison(
            { genotype: genotypes[pair[writerSide]], params: writer.params },
            { genotype: genotypes[pair[1 - writerSide]], params: other.params },
          );
        }
        const images = results.reduce((n, c) => n + c.trainImages + c.valImages, 0);
        const record: PairRecord = {
          members: [pair[0], pair[1]],
          teacher: r.teacher,
          student: r.student,
          weightSetUpdated: update,
          timing: { seconds, imagesPerSecond: rate(images, seconds) },
        };
        const recs = pair.map((index, side) =>
          candidateRecord(index, population[index], genotypes[index], results[side]),
        ) as [CandidateRecord, CandidateRecord];
        candidates[pair[0]] = recs[0];
        candidates[pair[1]] = recs[1];
        pairRecords.push(record);
        roles.push(r);
        emit({
          type: 'pair',
          generation: g,
          pairsDone: p + 1,
          pairs: pairs.length,
          record,
          candidates: recs,
        });
      });
    }

    if (candidates.every((c) => c.diverged)) {
      const lowest = Math.min(...candidates.map((c) => (Number.isNaN(c.trainLoss) ? Infinity : c.trainLoss)));
      throw new SearchDivergedError(g, lr, lowest);
    }
    ({ population, velocities } = strategy.afterPairs(population, velocities, roles, bounds, rng));

    let best: BestRecord | null = null;
    for (const c of candidates) {
      // A diverged candidate lost its comparison; it is never the best either.
      if (c.diverged) continue;
      best = betterOf(best, {
        generation: g,
        index: c.index,
        genotype: c.genotype,
        valLoss: c.valLoss,
        valAccuracy: c.valAccuracy,
      });
    }
    bestSoFar = betterOf(bestSoFar, best as BestRecord);
    const seconds = (performance.now() - started) / 1000;
    const images = m * (trainImages + valIndices.length);
    const record: GenerationRecord = {
      generation: g,
      learningRate: lr,
      dropPath,
      diversity: spread,
      candidates,
      pairs: pairRecords,
      best: best as BestRecord,
      bestSoFar,
      trainImages,
      valImages: valIndices.length,
      timing: { seconds, imagesPerSecond: rate(images, seconds) },
    };
    history.generations.push(record);
    state = { generationsDone: g + 1, population, velocities, rng: rng.getState(), history };
    if (outDir !== undefined) {
      await writeCheckpoint(outDir, state, weightSet);
      await writeGenerationArtifacts(outDir, strategy, history, g);
    }
    emit({ type: 'generation', record });
  }

  const last = history.generations.at(-1);
  if (last === undefined) throw new Error('search: no generation was run');
  checkAborted(signal);
  history.final = await finalChoice(run, strategy, weightSet, history, population, valIndices);
  if (outDir !== undefined) {
    const { best } = history.final;
    const chosen = genotypeSvg(best.genotype, {
      title:
        `final choice: member ${best.index} of generation ${best.generation}, val loss ${best.valLoss.toFixed(4)} ` +
        `under the final weight set`,
    });
    await writeFileAtomic(path.join(searchArtifacts(outDir).cells, 'final.svg'), chosen);
    await writeFileAtomic(searchArtifacts(outDir).history, JSON.stringify(history, null, 1));
    await writeFileAtomic(
      searchArtifacts(outDir).genotype,
      `${JSON.stringify(history.final.best.genotype, null, 2)}\n`,
    );
  }
  emit({ type: 'done', best: history.final.best });
  return { best: history.final.best, bestSoFar: last.bestSoFar, history, population };
}

/**
 * The final choice: the strategy's final candidates (each genotype once), measured under the final
 * weight set on the search's validation images, with one augmentation draw for all when the search
 * augments validation images, so that the losses compare; the lowest loss wins.
 */
async function finalChoice(
  run: SearchRun,
  strategy: Strategy,
  weightSet: WeightSet,
  history: SearchHistory,
  population: number[][],
  valIndices: Int32Array,
): Promise<FinalRecord> {
  const { config } = run;
  const started = performance.now();
  const candidates = distinctByGenotype(
    strategy
      .finalCandidates(history, population)
      .map((c) => ({ ...c, genotype: decodeVector(c.encoding, config.primitives) })),
  );
  const results = await run.evaluator.validate(
    weightSet,
    candidates.map((c) => c.genotype),
    {
      valIndices,
      valAugmentSeed: config.valAugment ? deriveSeed(config.seed, FINAL_VAL_AUGMENT_STREAM) : null,
    },
  );
  const records: FinalCandidateRecord[] = candidates.map((c, k) => ({
    generation: c.generation,
    index: c.index,
    encoding: c.encoding,
    genotype: c.genotype,
    valLoss: results[k].valLoss,
    valAccuracy: results[k].valAccuracy,
  }));
  let best: BestRecord | null = null;
  for (const r of records) {
    best = betterOf(best, {
      generation: r.generation,
      index: r.index,
      genotype: r.genotype,
      valLoss: r.valLoss,
      valAccuracy: r.valAccuracy,
    });
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    candidates: records,
    best: best as BestRecord,
    valImages: valIndices.length,
    valAugmented: config.valAugment,
    timing: { seconds, imagesPerSecond: rate(records.length * valIndices.length, seconds) },
  };
}

async function readCheckpointExists(outDir: string): Promise<boolean> {
  try {
    await access(path.join(checkpointDir(outDir), 'checkpoint.json'));
    return true;
  } catch {
    return false;
  }
}
