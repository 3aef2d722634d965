import { ResourceExhaustedError, UnavailableError } from '@rnas/grpc';

export interface BatcherOptions {
  /** Most images one forward pass runs (a request never carries more). */
  maxBatchSize: number;
  /** Longest the oldest queued request waits for others before its batch runs anyway. */
  maxQueueDelayMs: number;
  /** Requests admitted and not yet computed; one more is refused with RESOURCE_EXHAUSTED. */
  maxQueueSize: number;
  /** false: every request runs alone, whatever else is queued (the benchmark's baseline). */
  dynamic: boolean;
  /** Floats per input image and per output row. */
  inputSize: number;
  outputSize: number;
  /** The forward pass: `n` images in, `n` output rows out. May take `input` over. */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  /** What the queue and the batches did, for the metrics. */
  observer?: BatcherObserver;
  /** Names the queue in messages (`model tiny version 2`). */
  name: string;
}

export interface BatcherObserver {
  queueDepth(depth: number): void;
  queued(seconds: number): void;
  batch(size: number, computeSeconds: number): void;
}

/** Where a request's time went in the batcher, filled in when its batch has run (milliseconds). */
export interface BatchTiming {
  /** From submit to the start of its batch's forward pass. */
  queueMs: number;
  /** Its batch's forward pass (shared by every request in the batch). */
  computeMs: number;
}

interface Entry {
  readonly input: Float32Array;
  readonly timing: BatchTiming | undefined;
  readonly n: number;
  readonly enqueuedAt: number;
  readonly signal: AbortSignal;
  resolve(output: Float32Array): void;
  reject(error: unknown): void;
  onAbort(): void;
}

/**
 * A request's place in the queue, taken before its images are decoded so that a full queue
 * refuses work before spending CPU on it. `submit` hands over the decoded input; `release` gives
 * the place back when preprocessing failed.
 */
export interface Slot {
  submit(input: Float32Array, n: number, timing?: BatchTiming): Promise<Float32Array>;
  release(): void;
}

/**
 * The dynamic batcher of one model version, as Triton's: requests queue FIFO and run together
 * when their images reach the maximum batch size or the oldest has waited the maximum queue
 * delay. Requests cancelled or past their deadline leave the queue at once. One batch runs at a
 * time (the model has one instance); the requests that arrive meanwhile make up the next batch,
 * which starts as soon as the running one is done if they have waited the delay already.
 */
export class Batcher {
  private readonly queue: Entry[] = [];
  private admitted = 0;
  private timer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private running = false;
  /** Why new requests are refused (set by drain and close). */
  private refusal: Error | undefined;
  /** Why admitted requests fail too (set by close only). */
  private closedWith: Error | undefined;
  private drained: (() => void) | undefined;

  constructor(private readonly options: BatcherOptions) {
    if (!(options.maxBatchSize >= 1))
      throw new Error(`maxBatchSize must be at least 1, got ${options.maxBatchSize}`);
    if (!(options.maxQueueSize >= 1))
      throw new Error(`maxQueueSize must be at least 1, got ${options.maxQueueSize}`);
    if (!(options.maxQueueDelayMs >= 0)) {
      throw new Error(`maxQueueDelayMs must be at least 0, got ${options.maxQueueDelayMs}`);
    }
  }

  /** Requests admitted and not yet computed (decoding or queued). */
  get depth(): number {
    return this.admitted;
  }

  /** Takes a place in the queue; RESOURCE_EXHAUSTED when it is full, UNAVAILABLE once closed. */
  admit(signal: AbortSignal): Slot {
    if (this.refusal) throw this.refusal;
    if (this.admitted >= this.options.maxQueueSize) {
      throw new ResourceExhaustedError(
        `the queue of ${this.options.name} is full (${this.options.maxQueueSize} requests waiting, ` +
          '--max-queue-size); retry later',
      );
    }
    this.setAdmitted(this.admitted + 1);
    let used = false;
    const take = (): void => {
      if (used) throw new Error('a queue slot is used once');
      used = true;
    };
    return {
      submit: (input, n, timing) => {
        take();
        return this.enqueue(input, n, signal, timing);
      },
      release: () => {
        take();
        this.setAdmitted(this.admitted - 1);
      },
    };
  }

  /**
   * Stops taking requests (new ones get UNAVAILABLE) and resolves once every admitted request
   * has been computed or has failed.
   */
  drain(): Promise<void> {
    this.refusal ??= new UnavailableError(`${this.options.name} is being unloaded`);
    if (this.admitted === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /**
   * Stops taking requests: the queued ones fail with `reason` (the version was unloaded, the
   * service is stopping), new ones too.
   */
  close(reason: Error = new UnavailableError(`${this.options.name} is unloaded`)): void {
    this.refusal = reason;
    this.closedWith = reason;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const entry of this.queue.splice(0)) this.fail(entry, reason);
  }

  private enqueue(
    input: Float32Array,
    n: number,
    signal: AbortSignal,
    timing: BatchTiming | undefined,
  ): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      if (this.closedWith || signal.aborted) {
        this.setAdmitted(this.admitted - 1);
        reject(this.closedWith ?? signal.reason);
        return;
      }
      if (n < 1 || n > this.options.maxBatchSize || input.length !== n * this.options.inputSize) {
        this.setAdmitted(this.admitted - 1);
        reject(new Error(`batcher: ${n} images of ${input.length} floats do not fit ${this.options.name}`));
        return;
      }
      const entry: Entry = {
        input,
        timing,
        n,
        enqueuedAt: performance.now(),
        signal,
        resolve,
        reject,
        onAbort: () => {
          const at = this.queue.indexOf(entry);
          if (at === -1) return;
          this.queue.splice(at, 1);
          this.fail(entry, signal.reason);
        },
      };
      signal.addEventListener('abort', entry.onAbort, { once: true });
      this.queue.push(entry);
      this.schedule();
    });
  }

  private fail(entry: Entry, error: unknown): void {
    entry.signal.removeEventListener('abort', entry.onAbort);
    this.setAdmitted(this.admitted - 1);
    entry.reject(error);
  }

  private setAdmitted(value: number): void {
    this.admitted = value;
    this.options.observer?.queueDepth(value);
    if (value === 0 && this.drained) {
      this.drained();
      this.drained = undefined;
    }
  }

  /** Runs a batch now if one is due, else sets the timer for when the oldest request is due. */
  private schedule(): void {
    if (this.pumpScheduled || this.running || this.queue.length === 0) return;
    const { maxBatchSize, maxQueueDelayMs, dynamic } = this.options;
    const waited = performance.now() - this.queue[0].enqueuedAt;
    if (!dynamic || waited >= maxQueueDelayMs || this.queuedImages() >= maxBatchSize) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.pumpScheduled = true;
      // setImmediate, not a synchronous run: requests whose bytes already arrived join this batch.
      setImmediate(() => {
        this.pumpScheduled = false;
        void this.runBatch().finally(() => this.schedule());
      });
    } else if (this.timer === undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.schedule();
        },
        Math.max(0, maxQueueDelayMs - waited),
      );
    }
  }

  private queuedImages(): number {
    let total = 0;
    for (const entry of this.queue) total += entry.n;
    return total;
  }

  private async runBatch(): Promise<void> {
    const batch: Entry[] = [];
    let images = 0;
    const limit = this.options.dynamic ? this.options.maxBatchSize : 1;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (this.options.dynamic ? images + next.n > limit : batch.length === limit) break;
      this.queue.shift();
      next.signal.removeEventListener('abort', next.onAbort);
      batch.push(next);
      images += next.n;
    }
    if (batch.length === 0) return;
    this.setAdmitted(this.admitted - batch.length);
    const started = performance.now();
    for (const entry of batch) this.options.observer?.queued((started - entry.enqueuedAt) / 1000);
    const { inputSize, outputSize } = this.options;
    let input: Float32Array;
    if (batch.length === 1) {
      input = batch[0].input;
    } else {
      input = new Float32Array(images * inputSize);
      let offset = 0;
      for (const entry of batch) {
        input.set(entry.input, offset);
        offset += entry.input.length;
      }
    }
    let output: Float32Array;
    this.running = true;
    try {
      output = await this.options.run(input, images);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    } finally {
      this.running = false;
    }
    if (output.length !== images * outputSize) {
      const error = new Error(
        `${this.options.name}: ${output.length} outputs for ${images} images of ${outputSize}`,
      );
      for (const entry of batch) entry.reject(error);
      return;
    }
    const computeMs = performance.now() - started;
    this.options.observer?.batch(images, computeMs / 1000);
    let row = 0;
    for (const entry of batch) {
      if (entry.timing) {
        entry.timing.queueMs = started - entry.enqueuedAt;
        entry.timing.computeMs = computeMs;
      }
      entry.resolve(output.slice(row * outputSize, (row + entry.n) * outputSize));
      row += entry.n;
    }
  }
}
