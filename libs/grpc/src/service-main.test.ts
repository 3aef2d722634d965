import { serviceMain, type ServeIo } from './service-main';
import { ConfigError } from './config';

function captureIo(): ServeIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: { write: (text: string) => (io.out += text) },
    stderr: { write: (text: string) => (io.err += text) },
  };
  return io;
}

function fakeService(): {
  main: ReturnType<typeof serviceMain<{ port: number }>>;
  started: { port: number }[];
  stop: () => void;
} {
  const started: { port: number }[] = [];
  let stop: () => void = () => undefined;
  const main = serviceMain<{ port: number }>({
    name: 'demo',
    help: () => 'usage: rnas serve demo\n',
    load: (argv) => {
      if (argv.includes('--bad')) throw new ConfigError(['--bad: not a flag of this service']);
      if (argv.includes('--crash')) throw new Error('not a configuration problem');
      return { port: 1 };
    },
    start: async (config) => {
      started.push(config);
      return { closed: new Promise<void>((resolve) => (stop = resolve)) };
    },
  });
  return { main, started, stop: () => stop() };
}

describe('serviceMain', () => {
  it('prints the help and starts nothing', async () => {
    const service = fakeService();
    const io = captureIo();
    expect(await service.main(['--help'], {}, io)).toBe(0);
    expect(await service.main(['-h'], {}, io)).toBe(0);
    expect(io.out).toBe('usage: rnas serve demo\nusage: rnas serve demo\n');
    expect(service.started).toEqual([]);
  });

  it('exits 2 naming every configuration problem and where to look', async () => {
    const service = fakeService();
    const io = captureIo();
    expect(await service.main(['--bad'], {}, io)).toBe(2);
    expect(io.err).toContain('rnas serve demo: invalid configuration:\n  --bad: not a flag of this service');
    expect(io.err).toContain('(see rnas serve demo --help)');
    expect(service.started).toEqual([]);
  });

  it('lets an unexpected error through (the process entry reports it, exit 1)', async () => {
    await expect(fakeService().main(['--crash'], {}, captureIo())).rejects.toThrow(
      'not a configuration problem',
    );
  });

  it('serves until the service has closed, then exits 0', async () => {
    const service = fakeService();
    let code: number | undefined;
    const running = service.main([], {}, captureIo()).then((c) => (code = c));
    await new Promise((resolve) => setImmediate(resolve));
    expect(service.started).toEqual([{ port: 1 }]);
    expect(code).toBeUndefined();
    service.stop();
    await running;
    expect(code).toBe(0);
  });
});
