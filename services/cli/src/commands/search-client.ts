// `rnas search start|watch|get|list|cancel`: a client of the search service. `rnas search` with
// any other first argument is the local search (commands/search.ts); `withSearchClient` puts both
// behind the one `search` command. Watches draw a progress bar on a terminal and print one line
// per event otherwise; logs go to stderr, results (ids, JSON) to stdout.
import { Command, Option } from 'commander';
import {
  ListSearchesResponse,
  Search,
  SearchServiceService,
  SearchState,
  searchStateFromJSON,
  SearchStrategy,
  WatchSearchResponse,
  type SearchConfig,
} from '@rnas/proto';
import { decimal, integer, onOff } from '../args';
import { processIo, type CliIo } from '../io';
import { genotypeJson } from './demo-config';
import {
  addressOption,
  exitWith,
  overrideExit,
  callService,
  type ClientFlags,
  type WatchFlags,
  addSecurityOptions,
  securityFlags,
} from './service-client';
import { duration, watchService, WatchView } from './watch-view';

/** The first arguments that make `rnas search` the client rather than the local search. */
export const SEARCH_CLIENT_COMMANDS = ['start', 'watch', 'get', 'list', 'cancel'] as const;

function stateName(state: SearchState): string {
  return SearchState[state]?.replace('SEARCH_STATE_', '') ?? String(state);
}

/** A few lines a person reads; `--json` gives the whole message instead. */
export function formatSearch(search: Search): string {
  const p = search.progress;
  const lines = [
    `search ${search.id}: ${stateName(search.state)}`,
    `  dataset ${search.datasetUri}, seed ${search.seed}, ` +
      `${search.config?.population} members, ${search.config?.generations} generations`,
    `  progress: generation ${p?.generationsDone ?? 0}/${p?.generations ?? 0}, ` +
      `${p?.candidatesEvaluated ?? 0} candidates evaluated` +
      (p !== undefined && p.etaMs > 0 ? `, ETA ${duration(p.etaMs)}` : ''),
  ];
  if (search.best?.genotype !== undefined) {
    lines.push(
      `  best: validation loss ${search.best.valLoss.toFixed(4)}, accuracy ${(100 * search.best.valAccuracy).toFixed(1)}% ` +
        `(generation ${search.best.generation})`,
    );
  }
  if (search.artifacts !== undefined) lines.push(`  artefacts: ${search.artifacts.directory}`);
  if (search.error !== '') lines.push(`  error: ${search.error}`);
  if (search.resumes > 0) lines.push(`  resumed ${search.resumes} time(s) after a restart`);
  return `${lines.join('\n')}\n`;
}

/** The best genotype as one JSON line in libs/nas's form (the local search prints the same). */
function genotypeLine(search: Search): string {
  const g = search.best?.genotype;
  return g === undefined ? '' : `${genotypeJson(g)}\n`;
}

/** Follows a search: a bar over all comparisons on a terminal, one line per event elsewhere. */
class SearchProgressView extends WatchView<WatchSearchResponse> {
  private pairsPerGeneration = 0;

  onEvent(m: WatchSearchResponse): void {
    const event = m.event;
    if (event === undefined) return;
    switch (event.$case) {
      case 'stateChange': {
        const search = event.value.search;
        this.log(`${stateName(event.value.state)}: ${event.value.reason}`);
        if (this.bar === null && event.value.state === SearchState.SEARCH_STATE_RUNNING && search) {
          const p = search.progress;
          this.pairsPerGeneration = p?.comparisons ?? 0;
          this.startBar(
            'generation {generation}/{generations} [{bar}] pair {pair}/{pairs} | best loss {best} | {ips} img/s | ETA {eta}',
            (p?.generations ?? 0) * (p?.comparisons ?? 0),
            (p?.generationsDone ?? 0) * (p?.comparisons ?? 0),
            {
              generation: (p?.generationsDone ?? 0) + 1,
              generations: p?.generations ?? 0,
              pair: 0,
              pairs: p?.comparisons ?? 0,
              best: '-',
              ips: 0,
              eta: '?',
            },
          );
        }
        if (event.value.state >= SearchState.SEARCH_STATE_SUCCEEDED) this.stop();
        return;
      }
      case 'pairResult': {
        const r = event.value;
        if (this.bar !== null) {
          // Positioned, not counted: a resumed search runs its interrupted generation's pairs again.
          this.bar.update(r.generation * this.pairsPerGeneration + r.pair + 1, {
            generation: r.generation + 1,
            pair: r.pair + 1,
            ips: r.imagesPerSecond.toFixed(0),
          });
          return;
        }
        this.io.stderr.write(
          `generation ${r.generation + 1} pair ${r.pair + 1}: teacher ${r.teacher?.index} (val loss ${r.teacher?.valLoss.toFixed(4)}), ` +
            `student ${r.student?.index} (val loss ${r.student?.valLoss.toFixed(4)}), ${r.imagesPerSecond.toFixed(0)} img/s\n`,
        );
        return;
      }
      case 'generationReport': {
        const r = event.value;
        this.bar?.update({ best: r.best?.valLoss.toFixed(4) ?? '-', eta: duration(r.etaMs) });
        this.log(
          `generation ${r.generation + 1} done in ${duration(r.durationMs)}: lr ${r.learningRate.toPrecision(3)}, ` +
            `diversity ${r.diversity.toFixed(3)}, best so far ${r.best?.valLoss.toFixed(4)}, ETA ${duration(r.etaMs)}`,
        );
        return;
      }
    }
  }
}

/** Follows a search to its end; exit code 0 when it succeeded, 1 otherwise. */
export async function runSearchWatch(searchId: string, options: WatchFlags, io: CliIo): Promise<number> {
  const last = await watchService('search', SearchServiceService, options, io, {
    what: 'cannot watch the search',
    open: (client, afterSequence) => client.watchSearch({ searchId, afterSequence: String(afterSequence) }),
    view: new SearchProgressView(io),
    toJSON: (m) => WatchSearchResponse.toJSON(m),
    snapshot: (m) => (m.event?.$case === 'stateChange' ? m.event.value.search : undefined),
  });
  if (last === undefined) return 1;
  if (options.json !== true)
    io.stdout.write(last.state === SearchState.SEARCH_STATE_SUCCEEDED ? genotypeLine(last) : '');
  return last.state === SearchState.SEARCH_STATE_SUCCEEDED ? 0 : 1;
}

export interface StartOptions extends ClientFlags {
  dataset: string;
  seed?: number;
  strategy?: 'relativenas' | 'random';
  population?: number;
  generations?: number;
  layers?: number;
  channels?: number;
  batchSize?: number;
  trainImages?: number;
  valImages?: number;
  lrMax?: number;
  lrMin?: number;
  momentum?: number;
  weightDecay?: number;
  gradClip?: number;
  dropPath?: number;
  cutout?: number;
  trainPortion?: number;
  primitives?: string[];
  workers?: number;
  valAugment?: boolean;
  pairedData?: boolean;
  pairsPerWave?: number;
  watch?: boolean;
}

/** The SearchConfig of the flags; absent flags stay absent (the service's defaults apply). */
export function searchConfigOf(options: StartOptions): SearchConfig {
  return {
    strategy:
      options.strategy === 'random'
        ? SearchStrategy.SEARCH_STRATEGY_RANDOM
        : options.strategy === 'relativenas'
          ? SearchStrategy.SEARCH_STRATEGY_RELATIVENAS
          : SearchStrategy.SEARCH_STRATEGY_UNSPECIFIED,
    population: options.population,
    generations: options.generations,
    layers: options.layers,
    channels: options.channels,
    batchSize: options.batchSize,
    trainImages: options.trainImages,
    valImages: options.valImages,
    lrMax: options.lrMax,
    lrMin: options.lrMin,
    momentum: options.momentum,
    weightDecay: options.weightDecay,
    gradClip: options.gradClip,
    dropPath: options.dropPath,
    cutout: options.cutout,
    trainPortion: options.trainPortion,
    primitives: options.primitives ?? [],
    workers: options.workers,
    valAugment: options.valAugment,
    pairedData: options.pairedData,
    pairsPerWave: options.pairsPerWave,
  };
}

export async function runSearchStart(options: StartOptions, io: CliIo): Promise<number> {
  const request = { datasetUri: options.dataset, seed: options.seed, config: searchConfigOf(options) };
  const search = (
    await callService('search', SearchServiceService, options, io, 'cannot start the search', (c) =>
      c.startSearch(request),
    )
  ).search as Search;
  io.stdout.write(
    options.json === true ? `${JSON.stringify(Search.toJSON(search), null, 2)}\n` : `${search.id}\n`,
  );
  io.stderr.write(
    `search ${search.id} ${stateName(search.state).toLowerCase()}; follow it with: rnas search watch ${search.id}\n`,
  );
  return options.watch === true
    ? runSearchWatch(search.id, { ...securityFlags(options), addr: options.addr }, io)
    : 0;
}

export async function runSearchGet(searchId: string, options: ClientFlags, io: CliIo): Promise<number> {
  const search = (
    await callService('search', SearchServiceService, options, io, 'cannot get the search', (c) =>
      c.getSearch({ searchId }),
    )
  ).search as Search;
  io.stdout.write(
    options.json === true ? `${JSON.stringify(Search.toJSON(search), null, 2)}\n` : formatSearch(search),
  );
  return 0;
}

export interface ListOptions extends ClientFlags {
  state?: string;
  pageSize?: number;
  pageToken?: string;
}

export async function runSearchList(options: ListOptions, io: CliIo): Promise<number> {
  const state =
    options.state === undefined
      ? SearchState.SEARCH_STATE_UNSPECIFIED
      : searchStateFromJSON(`SEARCH_STATE_${options.state.toUpperCase()}`);
  if (state === SearchState.UNRECOGNIZED) {
    throw new Error(
      `--state: expected one of queued, running, cancelling, succeeded, failed, cancelled; got ${JSON.stringify(options.state)}`,
    );
  }
  const request = { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? '', state };
  const response = await callService(
    'search',
    SearchServiceService,
    options,
    io,
    'cannot list the searches',
    (c) => c.listSearches(request),
  );
  if (options.json === true) {
    io.stdout.write(`${JSON.stringify(ListSearchesResponse.toJSON(response), null, 2)}\n`);
    return 0;
  }
  if (response.searches.length === 0) io.stdout.write('no searches\n');
  for (const s of response.searches) {
    const p = s.progress;
    io.stdout.write(
      `${s.id}  ${stateName(s.state).padEnd(10)}  ${String(p?.generationsDone ?? 0).padStart(4)}/${String(p?.generations ?? 0).padEnd(4)}  ` +
        `${s.best === undefined ? '-' : s.best.valLoss.toFixed(4)}  ${s.datasetUri}\n`,
    );
  }
  if (response.nextPageToken !== '') io.stderr.write(`more: --page-token ${response.nextPageToken}\n`);
  return 0;
}

export async function runSearchCancel(searchId: string, options: ClientFlags, io: CliIo): Promise<number> {
  const { search } = await callService(
    'search',
    SearchServiceService,
    options,
    io,
    'cannot cancel the search',
    (c) => c.cancelSearch({ searchId }),
  );
  io.stdout.write(`search ${searchId}: ${stateName((search as Search).state)}\n`);
  return 0;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The client subcommands, under a `search` command of their own. */
export function searchClientCommand(io: CliIo = processIo): Command {
  // Named for the usage lines: it is only ever reached as `rnas search <subcommand>`.
  const command = new Command('rnas search').description('client of the search service');
  command
    .command('start')
    .description('start a search on the search service; prints its id')
    .requiredOption('--dataset <uri>', 'dataset URI, resolved under the service’s data roots')
    .addOption(addressOption('search'))
    .addOption(
      new Option('--strategy <name>', 'relativenas or random (default relativenas)').choices([
        'relativenas',
        'random',
      ]),
    )
    .option('--seed <n>', 'seed (default: the service picks one)', integer)
    .option('--population <n>', 'population size, even (default 20)', integer)
    .option('--generations <n>', 'generations (default 50)', integer)
    .option('--layers <n>', 'cells of the search network (default 8)', integer)
    .option('--channels <n>', 'initial channels (default 16)', integer)
    .option('--batch-size <n>', 'mini-batch size (default 256)', integer)
    .option('--train-images <n>', 'training images per comparison, 0: all (default 0)', integer)
    .option('--val-images <n>', 'validation images per comparison, 0: all (default 0)', integer)
    .option('--lr-max <x>', 'learning rate of the first generation (default 0.1)', decimal)
    .option('--lr-min <x>', 'learning rate of the last generation (default 0.001)', decimal)
    .option('--momentum <x>', 'SGD momentum (default 0.9)', decimal)
    .option('--weight-decay <x>', 'SGD weight decay (default 3e-4)', decimal)
    .option('--grad-clip <x>', 'gradient-norm clip, 0 disables (default 5)', decimal)
    .option('--drop-path <x>', 'final drop-path probability (default 0.3)', decimal)
    .option('--cutout <n>', 'cutout side, 0 disables (default 16)', integer)
    .option('--train-portion <x>', 'share of the training split candidates train on (default 0.5)', decimal)
    .option('--primitives <ops>', 'comma-separated candidate ops (default: the 7 search primitives)', list)
    .option('--workers <n>', 'evaluator threads, 0: one per core (default 1)', integer)
    .option('--val-augment <on|off>', 'augmented validation images, as the reference (default on)', onOff)
    .option('--paired-data', 'members of a pair share images and augmentation (default: each its own)')
    .option(
      '--pairs-per-wave <n>',
      'pairs evaluated at once from one snapshot, to keep more evaluators busy; > 1 departs from the ' +
        'paper: each pair misses the weight-set updates of the others of its wave (default 1)',
      integer,
    )
    .option('--watch', 'follow the search until it ends')
    .option('--json', 'print the stored search as JSON')
    .action((options: StartOptions) => exitWith(() => runSearchStart(options, io)));
  command
    .command('watch')
    .description('follow a search: its history, then live events, until it ends')
    .argument('<id>', 'search id')
    .addOption(addressOption('search'))
    .option('--after <sequence>', 'only events after this sequence', integer)
    .option('--json', 'one JSON line per event')
    .action((id: string, options: WatchFlags) => exitWith(() => runSearchWatch(id, options, io)));
  command
    .command('get')
    .description('show one search')
    .argument('<id>', 'search id')
    .addOption(addressOption('search'))
    .option('--json', 'print the search as JSON')
    .action((id: string, options: ClientFlags) => exitWith(() => runSearchGet(id, options, io)));
  command
    .command('list')
    .description('list searches, newest first')
    .addOption(addressOption('search'))
    .option('--state <state>', 'only searches in this state (queued, running, succeeded, ...)')
    .option('--page-size <n>', 'searches per page (default 50)', integer)
    .option('--page-token <token>', 'the page after the one that printed this token')
    .option('--json', 'print the response as JSON')
    .action((options: ListOptions) => exitWith(() => runSearchList(options, io)));
  command
    .command('cancel')
    .description('cancel a queued or running search')
    .argument('<id>', 'search id')
    .addOption(addressOption('search'))
    .action((id: string, options: ClientFlags) => exitWith(() => runSearchCancel(id, options, io)));
  return overrideExit(command, io);
}

/**
 * One `search` command for both: `rnas search start|watch|get|list|cancel ...` is the client of
 * the search service, anything else (`rnas search --dataset ... --out DIR`) the local search.
 * The two parse their own arguments, so neither sees the other's options.
 */
export function withSearchClient(local: Command, io: CliIo = processIo): Command {
  // Built here, not in the program: the security flags go on its commands too.
  const client = addSecurityOptions(searchClientCommand(io));
  // The local search runs as a program of its own: its usage line must still say `rnas search`.
  local.name('rnas search');
  local.exitOverride();
  local.addHelpText(
    'after',
    `\nAs a client of the search service: rnas search ${SEARCH_CLIENT_COMMANDS.join('|')} ... (rnas search start --help)`,
  );
  return new Command('search')
    .description(
      `${local.description()}; or, with ${SEARCH_CLIENT_COMMANDS.join('|')}, a client of the search service`,
    )
    .argument('[args...]', `local search flags, or ${SEARCH_CLIENT_COMMANDS.join('|')} and theirs`)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (args: string[]) => {
      const target = (SEARCH_CLIENT_COMMANDS as readonly string[]).includes(args[0] ?? '') ? client : local;
      await target.parseAsync(args, { from: 'user' });
    });
}
