// Search throughput on evaluator processes, as a user runs it: N training services (the
// evaluators, each its own process) and a search service with `--evaluators` pointing at them, on
// this machine's loopback; the same search for N = 1, 2, 3. Reported: images per second of
// candidate evaluation (generations after the first, which warms the evaluators up) and the bytes
// the search sends per pair (its `rnas_search_evaluator_bytes_sent_total`).
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  collectStream,
  createClient,
  scrapeLocalMetrics,
  spawnServiceProcess,
  type ServiceProcess,
} from '@rnas/grpc';
import { SearchServiceService, SearchState, SearchStrategy, type SearchConfig } from '@rnas/proto';
import { REPO_ROOT } from './docs-section';

const SEARCH_MAIN = path.join(REPO_ROOT, 'services', 'search', 'dist', 'main.js');
const TRAINING_MAIN = path.join(REPO_ROOT, 'services', 'training', 'dist', 'main.js');

export interface RemoteRun {
  evaluators: number;
  imagesPerSecond: number;
  bytesPerPair: number;
}

/** The search's size: what budget.throughput gives, as a StartSearch config. */
export interface RemoteSearch {
  population: number;
  generations: number;
  layers: number;
  channels: number;
  batchSize: number;
  trainImages: number;
  valImages: number;
  cutout: number;
}

/** Sum of every sample of `family` (all label sets) in a Prometheus text exposition. */
export function familySum(text: string, family: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${family}{`) || line.startsWith(`${family} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Images per second over the generations after the first: images evaluated over their duration. */
export function steadyRate(generations: readonly { images: number; durationMs: number }[]): number {
  const steady = generations.length > 1 ? generations.slice(1) : generations;
  const images = steady.reduce((n, g) => n + g.images, 0);
  const seconds = steady.reduce((n, g) => n + g.durationMs, 0) / 1000;
  return seconds > 0 ? images / seconds : NaN;
}

/** One search on `evaluators` training-service processes; everything it started is stopped. */
export async function remoteSearch(
  evaluators: number,
  size: RemoteSearch,
  options: { datasetUri: string; dataRoots: readonly string[]; seed: number },
): Promise<RemoteRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rnas-bench-evaluators-'));
  const children: ChildProcess[] = [];
  const roots = options.dataRoots.flatMap((root) => ['--data-root', root]);
  const common = [
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--log-level',
    'info',
    '--max-message-bytes',
    String(64 * 2 ** 20),
  ];
  const started = (p: ServiceProcess): ServiceProcess => {
    children.push(p.child);
    return p;
  };
  try {
    const workers = await Promise.all(
      Array.from({ length: evaluators }, async (_, i) =>
        started(
          await spawnServiceProcess(TRAINING_MAIN, [
            ...common,
            ...['--state-dir', path.join(dir, `t${i}`), '--model-repo', path.join(dir, `m${i}`), ...roots],
          ]),
        ),
      ),
    );
    const search = started(
      await spawnServiceProcess(SEARCH_MAIN, [
        ...common,
        ...['--state-dir', path.join(dir, 'search'), ...roots],
        ...['--evaluators', workers.map((w) => `127.0.0.1:${w.port}`).join(',')],
      ]),
    );
    const metricsPort = search.logs.find((l) => l.msg === 'serving')?.metricsPort as number;
    const client = createClient(SearchServiceService, `127.0.0.1:${search.port}`);
    try {
      const config: SearchConfig = {
        strategy: SearchStrategy.SEARCH_STRATEGY_RELATIVENAS,
        primitives: [],
        ...size,
        // Every pair of a generation at once: as many evaluations in flight as the population.
        pairsPerWave: size.population / 2,
      };
      const { search: started_ } = await client.startSearch({
        datasetUri: options.datasetUri,
        seed: options.seed,
        config,
      });
      const id = started_?.id ?? '';
      const events = await collectStream(client.watchSearch({ searchId: id, afterSequence: '0' }));
      const final = (await client.getSearch({ searchId: id })).search;
      if (final?.state !== SearchState.SEARCH_STATE_SUCCEEDED) {
        throw new Error(
          `the search on ${evaluators} evaluators ended ${SearchState[final?.state ?? 0]}: ${final?.error}`,
        );
      }
      const generations = events.flatMap((m) =>
        m.event?.$case === 'generationReport'
          ? [
              {
                images: size.population * (size.trainImages + size.valImages),
                durationMs: m.event.value.durationMs,
              },
            ]
          : [],
      );
      const bytes = familySum(
        await scrapeLocalMetrics(metricsPort),
        'rnas_search_evaluator_bytes_sent_total',
      );
      return {
        evaluators,
        imagesPerSecond: steadyRate(generations),
        bytesPerPair: bytes / ((size.population / 2) * size.generations),
      };
    } finally {
      client.close();
    }
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) =>
            c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.once('exit', resolve),
          ),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }
}

/** The markdown rows of the remote runs, with the speed-up over one evaluator. */
export function remoteTable(runs: readonly RemoteRun[]): string[] {
  const one = runs.find((r) => r.evaluators === 1)?.imagesPerSecond ?? NaN;
  return [
    '| evaluator processes (training services) | images/s | speed-up | bytes sent per pair |',
    '| --- | --- | --- | --- |',
    ...runs.map(
      (r) =>
        `| ${r.evaluators} | ${r.imagesPerSecond.toFixed(1)} | ${(r.imagesPerSecond / one).toFixed(2)}x | ` +
        `${(r.bytesPerPair / 2 ** 20).toFixed(2)} MiB |`,
    ),
  ];
}
