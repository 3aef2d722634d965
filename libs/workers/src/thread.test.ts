import { writeScripts } from './test-util';
import { parentThread, WorkerDiedError, WorkerThread, type WorkerThreadHandlers } from './thread';

type In =
  { op: 'echo'; value: unknown } | { op: 'bytes'; buffer: ArrayBuffer } | { op: 'throw' | 'exit' | 'loop' };
type Out = { echo: unknown; data: unknown } | { bytes: number } | { looping: true };

let scripts: ReturnType<typeof writeScripts>;

beforeAll(() => {
  scripts = writeScripts();
});

afterAll(() => scripts.remove());

/** A thread of the echo script, with what it said and how it died. */
function start(data?: unknown): {
  thread: WorkerThread<In, Out>;
  messages: Out[];
  next: () => Promise<Out>;
  death: Promise<WorkerDiedError>;
  deaths: WorkerDiedError[];
} {
  const messages: Out[] = [];
  const deaths: WorkerDiedError[] = [];
  const waiting: ((m: Out) => void)[] = [];
  let onDeath: (e: WorkerDiedError) => void = () => undefined;
  const death = new Promise<WorkerDiedError>((resolve) => (onDeath = resolve));
  const handlers: WorkerThreadHandlers<Out> = {
    message: (m) => {
      messages.push(m);
      waiting.shift()?.(m);
    },
    died: (e) => {
      deaths.push(e);
      onDeath(e);
    },
  };
  const thread = WorkerThread.start<In, Out>(
    { script: scripts.script('thread'), label: 'test worker', data },
    handlers,
  );
  const next = (): Promise<Out> => new Promise((resolve) => waiting.push(resolve));
  return { thread, messages, next, death, deaths };
}

describe('WorkerThread', () => {
  it('passes typed messages both ways, in order, with the start data', async () => {
    const { thread, next } = start({ tag: 'a' });
    try {
      const replies = [next(), next(), next()];
      for (const value of [1, 'two', { three: [3] }]) thread.post({ op: 'echo', value });
      expect(await Promise.all(replies)).toEqual([
        { echo: 1, data: { tag: 'a' } },
        { echo: 'two', data: { tag: 'a' } },
        { echo: { three: [3] }, data: { tag: 'a' } },
      ]);
    } finally {
      await thread.terminate();
    }
  });

  it('moves the buffers of the transfer list instead of copying them', async () => {
    const { thread, next } = start();
    try {
      const buffer = new ArrayBuffer(1 << 20);
      const reply = next();
      thread.post({ op: 'bytes', buffer }, [buffer]);
      expect(buffer.byteLength).toBe(0);
      expect(await reply).toEqual({ bytes: 1 << 20 });
    } finally {
      await thread.terminate();
    }
  });

  it('reports a crash once, with the uncaught error as its cause', async () => {
    const { thread, death, deaths } = start();
    const exited = new Promise((resolve) => thread.worker.once('exit', resolve));
    thread.post({ op: 'throw' });
    const error = await death;
    expect(error).toBeInstanceOf(WorkerDiedError);
    expect(error.message).toBe('test worker crashed: boom');
    expect(error.reason).toBe('boom');
    expect(error.exitCode).toBeUndefined();
    expect((error.cause as Error).name).toBe('TypeError');
    expect(thread.running).toBe(false);
    // The exit that follows the crash is not a second death.
    await exited;
    expect(deaths).toHaveLength(1);
  });

  it('reports an exit with its code', async () => {
    const { thread, death } = start();
    thread.post({ op: 'exit' });
    const error = await death;
    expect(error.message).toBe('test worker exited with code 3');
    expect(error.reason).toBe('exit code 3');
    expect(error.exitCode).toBe(3);
  });

  // The thread never ends by itself, so a settled terminate() proves that it was stopped.
  it('terminates a thread busy in an endless loop and settles once it has exited', async () => {
    const { thread, next, deaths } = start();
    let exited = false;
    thread.worker.on('exit', () => (exited = true));
    const looping = next();
    thread.post({ op: 'loop' });
    expect(await looping).toEqual({ looping: true });
    const terminated = thread.terminate();
    expect(thread.terminate()).toBe(terminated);
    await terminated;
    expect(exited).toBe(true);
    expect(thread.running).toBe(false);
    expect(deaths).toEqual([]);
  });

  it('reports a thread that broke the protocol as dead, and stops it', async () => {
    const { thread, deaths } = start();
    let exited = false;
    thread.worker.on('exit', () => (exited = true));
    await thread.fail('sent an unexpected message (a number)');
    expect(exited).toBe(true);
    expect(deaths.map((e) => e.message)).toEqual(['test worker sent an unexpected message (a number)']);
  });

  it('says how to build when the script is missing', () => {
    expect(() =>
      WorkerThread.start(
        { script: `${scripts.dir}/missing.js`, label: 'test worker' },
        {
          message: () => undefined,
          died: () => undefined,
        },
      ),
    ).toThrow(
      `test worker script ${scripts.dir}/missing.js does not exist; build the workspace first (npx tsc -b)`,
    );
  });
});

describe('parentThread', () => {
  it('refuses to run outside a worker thread', () => {
    expect(() => parentThread('some-worker')).toThrow('some-worker: must run in a worker thread');
  });
});
