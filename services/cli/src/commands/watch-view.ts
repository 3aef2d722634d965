// How the client commands follow a watch stream: a progress bar on a terminal, one line per event
// elsewhere, or one JSON line per event with --json; log lines go to stderr above the bar.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { SingleBar } from 'cli-progress';
import type { PromiseClient, ServiceKind } from '@rnas/grpc';
import type { CliIo } from '../io';
import { withService, type WatchFlags } from './service-client';

/** Milliseconds as `1h02m` or `3m05s`; `?` when unknown. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** A view of one kind of watch event; subclasses draw their events, this keeps the bar. */
export abstract class WatchView<M> {
  protected bar: SingleBar | null = null;

  constructor(protected readonly io: CliIo) {}

  abstract onEvent(message: M): void;

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }

  /** Starts the bar, on a terminal only and once. */
  protected startBar(format: string, total: number, start: number, payload: Record<string, unknown>): void {
    if (this.io.stderr.isTTY !== true || this.bar !== null) return;
    this.bar = new SingleBar({ stream: this.io.stderr as NodeJS.WritableStream, format, hideCursor: true });
    this.bar.start(total, start, payload);
  }

  protected log(line: string): void {
    // Above the bar: clear its line, write, and let the next update redraw it.
    this.io.stderr.write(this.bar === null ? `${line}\n` : `\r\x1b[2K${line}\n`);
  }
}

export interface FollowOptions<M, S> {
  io: CliIo;
  /** One JSON line per event on stdout instead of the view. */
  json: boolean;
  toJSON(message: M): unknown;
  /** The state an event carries, if any: followWatch returns the last one. */
  snapshot(message: M): S | undefined;
}

/** Follows a watch to its end and returns the last state it carried. */
export async function followWatch<M, S>(
  events: AsyncIterable<M>,
  view: WatchView<M>,
  options: FollowOptions<M, S>,
): Promise<S | undefined> {
  let last: S | undefined;
  try {
    for await (const message of events) {
      last = options.snapshot(message) ?? last;
      if (options.json) options.io.stdout.write(`${JSON.stringify(options.toJSON(message))}\n`);
      else view.onEvent(message);
    }
  } finally {
    view.stop();
  }
  return last;
}

export interface WatchSpec<S extends ServiceDefinition, M, T> extends Omit<
  FollowOptions<M, T>,
  'io' | 'json'
> {
  /** What failed, for the error line: `cannot watch the search`. */
  what: string;
  open(client: PromiseClient<S>, afterSequence: number): AsyncIterable<M>;
  view: WatchView<M>;
}

/** Connects to the service of `kind` and follows one watch to its end (see followWatch). */
export function watchService<S extends ServiceDefinition, M, T>(
  kind: ServiceKind,
  definition: S,
  options: WatchFlags,
  io: CliIo,
  spec: WatchSpec<S, M, T>,
): Promise<T | undefined> {
  return withService(kind, definition, options, io, ({ client, call }) =>
    call(
      spec.what,
      followWatch(spec.open(client, options.after ?? 0), spec.view, {
        io,
        json: options.json === true,
        toJSON: spec.toJSON,
        snapshot: spec.snapshot,
      }),
    ),
  );
}
