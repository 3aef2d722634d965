// A search's Evaluator on other processes: each candidate job of a pair (or of the final
// re-evaluation) is one TrainingService.EvaluatePair call to an evaluator (a training replica).
// The search keeps all the state; evaluators are stateless and interchangeable, so a call that
// fails because its evaluator went away (UNAVAILABLE, a passed deadline, a cut connection) is sent
// again, to another evaluator when there is one: the result does not depend on who computed it.
//
// Calls carry the search service's peer credentials (--peer-tls-*, --peer-token-file): TLS when
// set, and the token re-read from its file at every call. When the TLS files change (a rotated
// client certificate), new calls go through new channels. An evaluator that refuses the
// credentials (UNAUTHENTICATED, PERMISSION_DENIED) fails the search at once, saying so.
//
// Targets: `dns:///name:port` (a headless Service: grpc-js resolves every pod and balances calls
// with round_robin; as many calls at once as the name has addresses) or `host:port` (one call at
// a time each). Jobs go to the target with the fewest calls in flight among those not cooling
// down after a failure.
import { lookup } from 'node:dns/promises';
import { status } from '@grpc/grpc-js';
import {
  createClient,
  isServiceError,
  PeerCredentials,
  peerCredentialsAdvice,
  type PromiseClient,
} from '@rnas/grpc';
import {
  candidateJobToProto,
  candidateResultFromProto,
  evaluationSetupToProto,
  pairJobs,
  validationJobs,
  type CandidateJob,
  type CandidateResult,
  type Evaluator,
  type Genotype,
  type PairContext,
  type RemoteSetup,
  type ValidationContext,
  type WeightSet,
} from '@rnas/nas';
import { EvaluatePairRequest, TrainingServiceService, type EvaluationSetup } from '@rnas/proto';

/** Statuses that say the evaluator, not the job, failed: the job goes to another evaluator. */
const RETRYABLE = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.RESOURCE_EXHAUSTED,
  status.INTERNAL,
  status.UNKNOWN,
  status.ABORTED,
]);
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
/** How often a dns:/// target's address count (its share of calls) is looked up again. */
const RESOLVE_EVERY_MS = 30_000;

/** What an evaluator target did since the last report, for the search service's metrics. */
export interface EvaluatorStats {
  target: string;
  inFlight: number;
  /** Since the last report. */
  bytesSent: number;
  retries: number;
}

export interface RemoteEvaluatorOptions {
  /** `dns:///name:port` or `host:port`, at least one. */
  targets: readonly string[];
  setup: RemoteSetup;
  searchId: string;
  /** The largest message either side takes (--max-message-bytes of the search and training services). */
  maxMessageBytes: number;
  /** Deadline of one evaluation call. */
  deadlineMs: number;
  /** Sends of one job before the search fails. */
  maxAttempts?: number;
  onStats?: (stats: EvaluatorStats) => void;
  /** A line for the search's log when a job is sent again. */
  onRetry?: (message: string) => void;
  /** What the evaluators are called with [plaintext, no token]. */
  peer?: PeerCredentials;
}

/** Statuses that say the evaluator refused this service's credentials: no other evaluator will take them. */
const REFUSED = new Set<number>([status.UNAUTHENTICATED, status.PERMISSION_DENIED]);

interface Target {
  name: string;
  /** A dns: target's addresses as last looked up (sorted, comma-joined). */
  addresses?: string;
  client: PromiseClient<typeof TrainingServiceService>;
  slots: number;
  inFlight: number;
  failures: number;
  coolUntil: number;
}

interface Queued {
  job: CandidateJob;
  generation: number;
  pair: number;
  attempts: number;
  resolve: (result: CandidateResult) => void;
  reject: (error: Error) => void;
}

export class RemoteEvaluator implements Evaluator {
  private readonly targets: Target[];
  private readonly setupMessage: EvaluationSetup;
  private readonly queue: Queued[] = [];
  private readonly resolveTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Channels replaced after a name's addresses changed: closed with the evaluator (calls on them finish). */
  private readonly retired: PromiseClient<typeof TrainingServiceService>[] = [];
  private readonly peer: PeerCredentials;
  /** The version of the peer TLS files the channels were made with. */
  private tlsVersion: number;

  private constructor(
    private readonly options: RemoteEvaluatorOptions,
    targets: Target[],
    peer: PeerCredentials,
  ) {
    this.targets = targets;
    this.peer = peer;
    this.tlsVersion = peer.tls().version;
    this.setupMessage = evaluationSetupToProto(options.setup);
    if (targets.some((t) => t.name.startsWith('dns:'))) {
      this.resolveTimer = setInterval(() => void this.resolveSlots(), RESOLVE_EVERY_MS);
      this.resolveTimer.unref();
    }
  }

  static async start(options: RemoteEvaluatorOptions): Promise<RemoteEvaluator> {
    if (options.targets.length === 0) throw new Error('remote evaluator: no evaluator targets');
    const peer = options.peer ?? new PeerCredentials();
    const targets = options.targets.map((name): Target => ({
      name,
      client: RemoteEvaluator.channel(name, options.maxMessageBytes, peer),
      slots: 1,
      inFlight: 0,
      failures: 0,
      coolUntil: 0,
    }));
    const evaluator = new RemoteEvaluator(options, targets, peer);
    await evaluator.resolveSlots();
    return evaluator;
  }

  private static channel(
    name: string,
    maxMessageBytes: number,
    peer: PeerCredentials,
  ): PromiseClient<typeof TrainingServiceService> {
    return createClient(TrainingServiceService, name, {
      ...peer.clientOptions(),
      channelOptions: {
        'grpc.max_send_message_length': maxMessageBytes,
        'grpc.max_receive_message_length': maxMessageBytes,
        // A headless Service's name resolves to every pod: spread the calls over them.
        'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      },
    });
  }

  /** Calls the targets can take at once: one per address. */
  get concurrency(): number {
    return this.targets.reduce((n, t) => n + t.slots, 0);
  }

  evaluatePair(
    snapshot: WeightSet,
    genotypes: readonly [Genotype, Genotype],
    ctx: PairContext,
  ): Promise<[CandidateResult, CandidateResult]> {
    // The tensors are read from the snapshot now, before this returns (the Evaluator contract).
    const [a, b] = pairJobs(this.options.setup, snapshot, genotypes, ctx);
    return Promise.all([this.submit(a, ctx.generation, ctx.pair), this.submit(b, ctx.generation, ctx.pair)]);
  }

  validate(
    snapshot: WeightSet,
    genotypes: readonly Genotype[],
    ctx: ValidationContext,
  ): Promise<CandidateResult[]> {
    return Promise.all(
      validationJobs(this.options.setup, snapshot, genotypes, ctx).map((job) => this.submit(job, 0, 0)),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.resolveTimer);
    clearTimeout(this.wakeTimer);
    for (const queued of this.queue.splice(0)) queued.reject(new Error('remote evaluator: closed'));
    for (const target of this.targets) target.client.close();
    for (const client of this.retired.splice(0)) client.close();
  }

  private submit(job: CandidateJob, generation: number, pair: number): Promise<CandidateResult> {
    if (this.closed) return Promise.reject(new Error('remote evaluator: closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, generation, pair, attempts: 0, resolve, reject });
      this.dispatch();
    });
  }

  /** Hands queued jobs to targets with a free slot, fewest in flight first, skipping those cooling down. */
  private dispatch(): void {
    if (this.queue.length > 0 && !this.closed) this.renewChannels();
    while (this.queue.length > 0 && !this.closed) {
      const now = Date.now();
      const free = this.targets
        .filter((t) => t.inFlight < t.slots && t.coolUntil <= now)
        .sort((a, b) => a.inFlight / a.slots - b.inFlight / b.slots)[0];
      if (free === undefined) {
        // Every target is busy (a call's end dispatches again) or cooling down (wake when one is not).
        const cooling = this.targets.filter((t) => t.inFlight < t.slots).map((t) => t.coolUntil);
        if (cooling.length > 0 && this.wakeTimer === undefined) {
          this.wakeTimer = setTimeout(
            () => {
              this.wakeTimer = undefined;
              this.dispatch();
            },
            Math.max(0, Math.min(...cooling) - now),
          );
        }
        return;
      }
      const queued = this.queue.shift() as Queued;
      void this.send(free, queued);
    }
  }

  private async send(target: Target, queued: Queued): Promise<void> {
    queued.attempts++;
    const request: EvaluatePairRequest = {
      setup: this.setupMessage,
      candidates: [candidateJobToProto(queued.job)],
      searchId: this.options.searchId,
      generation: queued.generation,
      pair: queued.pair,
    };
    const bytes = EvaluatePairRequest.encode(request).finish().byteLength;
    if (bytes > this.options.maxMessageBytes) {
      queued.reject(
        new Error(
          `a candidate evaluation request takes ${bytes} bytes, more than --max-message-bytes ` +
            `(${this.options.maxMessageBytes}): raise it on the search service and its evaluators`,
        ),
      );
      return;
    }
    target.inFlight++;
    this.report(target, bytes, 0);
    try {
      const response = await target.client.evaluatePair(request, { deadlineMs: this.options.deadlineMs });
      const [result] = response.results;
      if (response.results.length !== 1 || result === undefined) {
        throw new Error(
          `evaluator ${target.name} answered ${response.results.length} results for 1 candidate`,
        );
      }
      target.failures = 0;
      queued.resolve(candidateResultFromProto(result, 'results[0]'));
    } catch (error) {
      this.failed(target, queued, error);
    } finally {
      target.inFlight--;
      this.report(target, 0, 0);
      this.dispatch();
    }
  }

  /** New channels for every target when the peer TLS files changed; calls in flight finish on the old ones. */
  private renewChannels(): void {
    const { version } = this.peer.tls();
    if (version === this.tlsVersion) return;
    this.tlsVersion = version;
    for (const target of this.targets) {
      this.retired.push(target.client);
      target.client = RemoteEvaluator.channel(target.name, this.options.maxMessageBytes, this.peer);
    }
  }

  private failed(target: Target, queued: Queued, error: unknown): void {
    const code = isServiceError(error) ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    if (code !== undefined && REFUSED.has(code)) {
      queued.reject(
        new Error(
          `evaluator ${target.name} (a training service, --evaluators) answered ${status[code]}: ` +
            `${(error as { details?: string }).details ?? message}; ${peerCredentialsAdvice('search', 'training')}`,
        ),
      );
      return;
    }
    const retryable = code !== undefined && RETRYABLE.has(code);
    const maxAttempts = this.options.maxAttempts ?? 20;
    if (!retryable || queued.attempts >= maxAttempts || this.closed) {
      queued.reject(
        new Error(
          `evaluator ${target.name}: ${message}` +
            (retryable ? ` (sent ${queued.attempts} times, giving up)` : ''),
        ),
      );
      return;
    }
    target.failures++;
    target.coolUntil = Date.now() + Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (target.failures - 1));
    this.report(target, 0, 1);
    this.options.onRetry?.(
      `evaluator ${target.name} failed (${message}); sending generation ${queued.generation} pair ${queued.pair} again`,
    );
    // At the front: the wave waits for this job, and its place in the weight-set order is fixed anyway.
    this.queue.unshift(queued);
  }

  private report(target: Target, bytesSent: number, retries: number): void {
    this.options.onStats?.({ target: target.name, inFlight: target.inFlight, bytesSent, retries });
  }

  /**
   * A dns:/// target takes as many calls at once as its name has addresses (at least one). When
   * the addresses change (evaluators scaled up or down), new calls go through a new channel: a
   * grpc-js channel resolves the name again only when one of its connections drops, so pods added
   * while every connection stays up would otherwise get no calls.
   */
  private async resolveSlots(): Promise<void> {
    await Promise.all(
      this.targets.map(async (target) => {
        const match = /^dns:(?:\/\/[^/]*\/)?([^:/]+)(?::\d+)?$/.exec(target.name);
        if (!match) return;
        let addresses: string;
        try {
          const found = await lookup(match[1], { all: true });
          target.slots = Math.max(1, found.length);
          addresses = found
            .map((a) => a.address)
            .sort()
            .join(',');
        } catch {
          target.slots = 1;
          return;
        }
        if (target.addresses !== undefined && target.addresses !== addresses && !this.closed) {
          this.retired.push(target.client);
          target.client = RemoteEvaluator.channel(target.name, this.options.maxMessageBytes, this.peer);
        }
        target.addresses = addresses;
      }),
    );
    this.dispatch();
  }
}
