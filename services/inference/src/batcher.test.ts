import { CancelledError, DeadlineExceededError, ResourceExhaustedError, UnavailableError } from '@rnas/grpc';
import { Batcher, type BatcherOptions } from './batcher';

/** A batcher whose forward pass returns each input row's sum and records every batch size. */
function sumBatcher(options: Partial<BatcherOptions> = {}): { batcher: Batcher; batches: number[] } {
  const batches: number[] = [];
  const batcher = new Batcher({
    name: 'model test version 1',
    maxBatchSize: 4,
    maxQueueDelayMs: 20,
    maxQueueSize: 8,
    dynamic: true,
    inputSize: 2,
    outputSize: 1,
    run: async (input, n) => {
      batches.push(n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = input[2 * i] + input[2 * i + 1];
      return out;
    },
    ...options,
  });
  return { batcher, batches };
}

function rows(...values: number[]): Float32Array {
  return Float32Array.from(values);
}

const never = new AbortController().signal;

describe('Batcher', () => {
  it('runs concurrent requests as one batch and gives each its own rows', async () => {
    const { batcher, batches } = sumBatcher();
    const a = batcher.admit(never).submit(rows(1, 2), 1);
    const b = batcher.admit(never).submit(rows(3, 4, 5, 6), 2);
    expect(batcher.depth).toBe(2);
    const [ra, rb] = await Promise.all([a, b]);
    expect(Array.from(ra)).toEqual([3]);
    expect(Array.from(rb)).toEqual([7, 11]);
    expect(batches).toEqual([3]);
    expect(batcher.depth).toBe(0);
  });

  it('runs a batch as soon as it is full, without waiting the queue delay', async () => {
    const { batcher, batches } = sumBatcher({ maxQueueDelayMs: 10_000 });
    const started = performance.now();
    const results = await Promise.all([1, 2, 3, 4].map((v) => batcher.admit(never).submit(rows(v, v), 1)));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(results.map((r) => r[0])).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([4]);
  });

  it('never exceeds the maximum batch size: a request that does not fit waits for the next batch', async () => {
    const { batcher, batches } = sumBatcher({ maxQueueDelayMs: 0 });
    const inputs = [3, 2, 1, 4].map((n) => batcher.admit(never).submit(new Float32Array(2 * n).fill(1), n));
    const results = await Promise.all(inputs);
    expect(results.map((r) => r.length)).toEqual([3, 2, 1, 4]);
    expect(batches).toEqual([3, 3, 4]);
  });

  it('waits at most the queue delay for a batch that does not fill', async () => {
    const { batcher, batches } = sumBatcher({ maxQueueDelayMs: 50 });
    const started = performance.now();
    await batcher.admit(never).submit(rows(1, 1), 1);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1000);
    expect(batches).toEqual([1]);
  });

  it('with dynamic batching off runs each request alone', async () => {
    const { batcher, batches } = sumBatcher({ dynamic: false, maxQueueDelayMs: 10_000 });
    await Promise.all([
      batcher.admit(never).submit(rows(1, 1), 1),
      batcher.admit(never).submit(rows(1, 1, 1, 1), 2),
      batcher.admit(never).submit(rows(1, 1), 1),
    ]);
    expect(batches).toEqual([1, 2, 1]);
  });

  it('runs one batch at a time: requests that arrive meanwhile make up the next batch', async () => {
    const started: number[] = [];
    let finish: () => void = () => undefined;
    const { batcher } = sumBatcher({
      maxQueueDelayMs: 0,
      run: (_input, n) => {
        started.push(n);
        return new Promise((resolve) => {
          finish = () => resolve(new Float32Array(n).fill(n));
        });
      },
    });
    const first = batcher.admit(never).submit(rows(1, 1), 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([1]);
    const later = [1, 2, 3].map(() => batcher.admit(never).submit(rows(1, 1), 1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started).toEqual([1]);
    finish();
    expect(Array.from(await first)).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started).toEqual([1, 3]);
    finish();
    expect((await Promise.all(later)).map((r) => r[0])).toEqual([3, 3, 3]);
  });

  it('fails the batch when the forward pass gives the wrong number of outputs', async () => {
    const { batcher } = sumBatcher({ maxQueueDelayMs: 0, run: async () => new Float32Array(5) });
    await expect(batcher.admit(never).submit(rows(1, 1), 1)).rejects.toThrow(/5 outputs for 1 images of 1/);
  });

  it('refuses requests beyond the queue size with RESOURCE_EXHAUSTED, counting those still decoding', async () => {
    const { batcher } = sumBatcher({ maxQueueSize: 2, maxQueueDelayMs: 10_000 });
    const first = batcher.admit(never);
    const second = batcher.admit(never);
    expect(() => batcher.admit(never)).toThrow(ResourceExhaustedError);
    expect(() => batcher.admit(never)).toThrow(/queue of model test version 1 is full \(2 requests/);
    second.release();
    const third = batcher.admit(never);
    expect(batcher.depth).toBe(2);
    const done = Promise.all([first.submit(rows(1, 0), 1), third.submit(rows(2, 0), 1)]);
    batcher.close();
    await expect(done).rejects.toThrow(UnavailableError);
    expect(batcher.depth).toBe(0);
  });

  it('drops a cancelled request from the queue and rejects it with the signal reason', async () => {
    const { batcher, batches } = sumBatcher({ maxQueueDelayMs: 100 });
    const controller = new AbortController();
    const cancelled = batcher.admit(controller.signal).submit(rows(5, 5), 1);
    const kept = batcher.admit(never).submit(rows(1, 1), 1);
    controller.abort(new CancelledError());
    await expect(cancelled).rejects.toThrow(CancelledError);
    expect(batcher.depth).toBe(1);
    expect(Array.from(await kept)).toEqual([2]);
    expect(batches).toEqual([1]);
  });

  it('rejects a request whose deadline already passed without computing it', async () => {
    const { batcher, batches } = sumBatcher();
    const signal = AbortSignal.abort(new DeadlineExceededError());
    await expect(batcher.admit(signal).submit(rows(1, 1), 1)).rejects.toThrow(DeadlineExceededError);
    expect(batches).toEqual([]);
    expect(batcher.depth).toBe(0);
  });

  it('fails every request of a batch whose forward pass throws, and keeps serving', async () => {
    let calls = 0;
    const { batcher } = sumBatcher({
      maxQueueDelayMs: 0,
      run: async (_input, n) => {
        calls++;
        if (calls === 1) throw new Error('backend out of memory');
        return new Float32Array(n).fill(1);
      },
    });
    await expect(batcher.admit(never).submit(rows(1, 1), 1)).rejects.toThrow('backend out of memory');
    expect(Array.from(await batcher.admit(never).submit(rows(1, 1), 1))).toEqual([1]);
    expect(batcher.depth).toBe(0);
  });

  it('drain refuses new requests and resolves once the admitted ones are done', async () => {
    const { batcher } = sumBatcher({ maxQueueDelayMs: 30 });
    const slot = batcher.admit(never);
    const queued = batcher.admit(never).submit(rows(1, 2), 1);
    let drained = false;
    const draining = batcher.drain().then(() => {
      drained = true;
    });
    expect(() => batcher.admit(never)).toThrow(/being unloaded/);
    await queued;
    expect(drained).toBe(false);
    expect(Array.from(await slot.submit(rows(2, 2), 1))).toEqual([4]);
    await draining;
    expect(drained).toBe(true);
  });

  it('refuses a request that does not match the batcher', async () => {
    const { batcher } = sumBatcher();
    await expect(batcher.admit(never).submit(rows(1, 2, 3), 1)).rejects.toThrow(/do not fit/);
    await expect(batcher.admit(never).submit(new Float32Array(10), 5)).rejects.toThrow(/do not fit/);
    expect(batcher.depth).toBe(0);
  });

  it('reports queue depth, queue time and batches to its observer', async () => {
    const depths: number[] = [];
    const queued: number[] = [];
    const batches: number[] = [];
    const { batcher } = sumBatcher({
      maxQueueDelayMs: 10,
      observer: {
        queueDepth: (d) => depths.push(d),
        queued: (s) => queued.push(s),
        batch: (size, seconds) => {
          batches.push(size);
          expect(seconds).toBeGreaterThanOrEqual(0);
        },
      },
    });
    await Promise.all([
      batcher.admit(never).submit(rows(1, 1), 1),
      batcher.admit(never).submit(rows(1, 1), 1),
    ]);
    expect(depths).toEqual([1, 2, 0]);
    expect(queued).toHaveLength(2);
    expect(Math.min(...queued)).toBeGreaterThanOrEqual(0.005);
    expect(batches).toEqual([2]);
  });

  it('refuses nonsensical options', () => {
    expect(() => sumBatcher({ maxBatchSize: 0 })).toThrow(/maxBatchSize/);
    expect(() => sumBatcher({ maxQueueSize: 0 })).toThrow(/maxQueueSize/);
    expect(() => sumBatcher({ maxQueueDelayMs: -1 })).toThrow(/maxQueueDelayMs/);
  });
});
