import { RequestThread, type RequestThreadOptions } from './requests';
import { writeScripts } from './test-util';
import type { WorkerDiedError } from './thread';
import type { WorkerMemory } from './memory';

type Request =
  | { op: 'echo'; value: unknown; delayMs?: number }
  | { op: 'scale'; input: Float32Array }
  | { op: 'throw' | 'throw-string' | 'uncloneable' | 'exit' | 'loop' };

let scripts: ReturnType<typeof writeScripts>;

beforeAll(() => {
  scripts = writeScripts();
});

afterAll(() => scripts.remove());

function options(
  data: Record<string, unknown>,
  extra: Partial<RequestThreadOptions> = {},
): RequestThreadOptions {
  return { script: scripts.script('requests'), label: 'test worker', data, ...extra };
}

const start = (
  data: Record<string, unknown>,
  extra?: Partial<RequestThreadOptions>,
): Promise<RequestThread<string, Request, unknown>> => RequestThread.start(options(data, extra));

describe('RequestThread', () => {
  it('is ready with what the thread said, and answers requests in order', async () => {
    const thread = await start({ tag: 't1' });
    try {
      expect(thread.ready).toBe('ready t1');
      expect(thread.running).toBe(true);
      const settled: number[] = [];
      const replies = [30, 10, 0].map((delayMs, i) =>
        thread.request({ op: 'echo', value: i, delayMs }).then((v) => {
          settled.push(i);
          return v;
        }),
      );
      expect(await Promise.all(replies)).toEqual([0, 1, 2]);
      expect(settled).toEqual([0, 1, 2]);
      // Empty and huge requests come back as they went.
      expect(await thread.request({ op: 'echo', value: undefined })).toBeUndefined();
      const huge = 'x'.repeat(8 << 20);
      expect(await thread.request({ op: 'echo', value: huge })).toBe(huge);
    } finally {
      await thread.terminate();
    }
  });

  it('moves buffers both ways', async () => {
    const thread = await start({ tag: 't' });
    try {
      const input = Float32Array.from({ length: 1 << 20 }, (_, i) => i % 7);
      const reply = thread.request({ op: 'scale', input }, [input.buffer]);
      expect(input.byteLength).toBe(0);
      const output = (await reply) as Float32Array;
      expect(output.length).toBe(1 << 20);
      expect([output[0], output[6], output[7]]).toEqual([0, 12, 0]);
    } finally {
      await thread.terminate();
    }
  });

  it('rejects with the error thrown in the thread (name, message, code) and goes on serving', async () => {
    const thread = await start({ tag: 't' });
    try {
      const error = (await thread.request({ op: 'throw' }).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ name: 'RangeError', message: 'bad batch', code: 'INVALID_ARGUMENT' });
      await expect(thread.request({ op: 'throw-string' })).rejects.toMatchObject({
        name: 'Error',
        message: 'plain string',
      });
      // A reply that cannot cross the boundary is an error of that request only.
      await expect(thread.request({ op: 'uncloneable' })).rejects.toMatchObject({ name: 'DataCloneError' });
      expect(await thread.request({ op: 'echo', value: 'still here' })).toBe('still here');
    } finally {
      await thread.terminate();
    }
  });

  it('hands on the memory report of each reply and each error, before the request settles', async () => {
    const reports: WorkerMemory[] = [];
    const thread = await start({ tag: 't' });
    thread.onMemory = (m) => reports.push(m);
    try {
      await thread.request({ op: 'echo', value: 1 });
      expect(reports).toEqual([{ numTensors: 1, numBytes: 4, numDataBuffers: 1, unreliable: false }]);
      await thread.request({ op: 'throw' }).catch(() => undefined);
      expect(reports.map((r) => r.numTensors)).toEqual([1, 2]);
    } finally {
      await thread.terminate();
    }
  });

  it('rejects the requests in flight when the thread dies, and tells onDeath', async () => {
    const deaths: WorkerDiedError[] = [];
    const thread = await start(
      { tag: 't' },
      { inFlightError: (e) => new Error(`unavailable (${e.reason})`) },
    );
    thread.onDeath = (e) => deaths.push(e);
    const dying = thread.request({ op: 'exit' });
    const queued = thread.request({ op: 'echo', value: 1 });
    await expect(dying).rejects.toThrow('unavailable (exit code 5)');
    await expect(queued).rejects.toThrow('unavailable (exit code 5)');
    expect(deaths.map((e) => [e.message, e.exitCode])).toEqual([['test worker exited with code 5', 5]]);
    expect(thread.running).toBe(false);
    await expect(thread.request({ op: 'echo', value: 2 })).rejects.toThrow('test worker is not running');
  });

  // The loop never ends by itself: a settled terminate() proves that the thread was stopped.
  it('terminates a thread busy in an endless loop: its requests reject, and it settles after the exit', async () => {
    const deaths: WorkerDiedError[] = [];
    const thread = await start({ tag: 't' });
    thread.onDeath = (e) => deaths.push(e);
    let exited = false;
    thread.worker.on('exit', () => (exited = true));
    const busy = thread.request({ op: 'loop' }).catch((e: unknown) => e);
    const queued = thread.request({ op: 'echo', value: 1 }).catch((e: unknown) => e);
    await thread.terminate(new Error('the service is stopping'));
    expect(exited).toBe(true);
    expect(await busy).toEqual(new Error('the service is stopping'));
    expect(await queued).toEqual(new Error('the service is stopping'));
    expect(deaths).toEqual([]);
  });

  it('fails to start when the set-up throws or the thread exits first', async () => {
    await expect(start({ failAtStart: true })).rejects.toThrow('test worker failed to start: no backend');
    await expect(start({ exitAtStart: true })).rejects.toThrow(
      'test worker exited with code 2 while starting',
    );
  });

  it('starts several threads all or none', async () => {
    const threads = await RequestThread.startMany<string, Request, unknown>(3, options({ tag: 'm' }));
    try {
      expect(threads.map((t) => t.ready)).toEqual(['ready m', 'ready m', 'ready m']);
      expect(new Set(threads.map((t) => t.worker.threadId)).size).toBe(3);
    } finally {
      await Promise.all(threads.map((t) => t.terminate()));
    }
    // Consecutive threads: one has an even id and fails.
    await expect(RequestThread.startMany(2, options({ failEven: true }))).rejects.toThrow(
      'test worker failed to start: no backend',
    );
  });

  it('says how to build when the script is missing', async () => {
    await expect(
      RequestThread.start({ script: `${scripts.dir}/missing.js`, label: 'test worker' }),
    ).rejects.toThrow('does not exist; build the workspace first (npx tsc -b)');
  });
});

describe('RequestThread with a thread that breaks the protocol', () => {
  const hostile = (mode: string): Promise<RequestThread<string, number, unknown>> =>
    RequestThread.start({ script: scripts.script('hostile'), label: 'test worker', data: { mode } });

  it.each([
    ['garbage', 'test worker sent a number before it was ready'],
    ['null', 'test worker sent null before it was ready'],
    ['bad-init-error', 'test worker sent init-error before it was ready'],
  ])('refuses to start when it sends %s first', async (mode, message) => {
    await expect(hostile(mode)).rejects.toThrow(message);
  });

  it.each([
    ['unknown-id', 'test worker sent a reply to request 1001, which is not in flight'],
    ['bad-memory', 'test worker sent an unexpected message (reply)'],
    ['bad-error', 'test worker sent an unexpected message (failed)'],
    ['unknown-kind', 'test worker sent an unexpected message (surprise)'],
    ['no-id', 'test worker sent a reply to request undefined, which is not in flight'],
  ])('stops it and fails its requests when it sends %s', async (mode, message) => {
    const deaths: string[] = [];
    const thread = await hostile(mode);
    thread.onDeath = (e) => deaths.push(e.message);
    let exited = false;
    thread.worker.on('exit', () => (exited = true));
    await expect(thread.request(1)).rejects.toThrow(message);
    expect(deaths).toEqual([message]);
    expect(thread.running).toBe(false);
    await thread.terminate();
    expect(exited).toBe(true);
  });
});
