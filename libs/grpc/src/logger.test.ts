import { Writable } from 'node:stream';
import { createLogger } from './logger';

function capture(): { destination: Writable; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { destination, lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with the service, a level word and an ISO time', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ service: 'search', destination });
    logger.info({ searchId: 's1' }, 'search started');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'info',
      service: 'search',
      pid: process.pid,
      searchId: 's1',
      msg: 'search started',
    });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
  });

  it('serialises errors with their stack and drops lines under the level', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ service: 'inference', level: 'warn', destination });
    logger.info('not written');
    logger.error({ err: new RangeError('bad batch') }, 'batch failed');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]) as {
      level: string;
      err: { type: string; message: string; stack: string };
    };
    expect(line.level).toBe('error');
    expect(line.err).toMatchObject({ type: 'RangeError', message: 'bad batch' });
    expect(line.err.stack).toContain('RangeError: bad batch');
  });

  it('keeps a hostile message on one line', () => {
    const { destination, lines } = capture();
    createLogger({ service: 'x', destination }).warn('forged\n{"level":"fatal"}');
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]) as { msg: string }).msg).toBe('forged\n{"level":"fatal"}');
  });

  it('redacts authorization headers and tokens wherever a caller puts them', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ service: 'search', destination });
    logger.info(
      {
        authorization: 'Bearer s3cret-1',
        metadata: { authorization: 'Bearer s3cret-2' },
        call: { headers: { authorization: 'Bearer s3cret-3' } },
        token: 's3cret-4',
        request: { token: 's3cret-5' },
        method: '/x/Y',
      },
      'call',
    );
    expect(lines[0]).not.toMatch(/s3cret/);
    expect(JSON.parse(lines[0])).toMatchObject({
      authorization: '[redacted]',
      metadata: { authorization: '[redacted]' },
      call: { headers: { authorization: '[redacted]' } },
      token: '[redacted]',
      request: { token: '[redacted]' },
      method: '/x/Y',
    });
  });
});
