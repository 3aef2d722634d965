import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { genotypeFromJson } from '@rnas/nas';
import type { CliIo } from '../io';
import { runCli } from '../program';

const DATASET = 'synthetic:shapes?classes=3&size=8&channels=1&train=48&test=8&seed=5';
const TINY = [
  '--population',
  '4',
  '--generations',
  '2',
  '--layers',
  '3',
  '--channels',
  '4',
  '--steps',
  '2',
  '--batch-size',
  '8',
  '--train-images',
  '16',
  '--val-images',
  '12',
  '--cutout',
  '4',
  '--primitives',
  'max_pool_3x3,skip_connect,sep_conv_3x3,dil_conv_3x3',
  '--seed',
  '3',
  '--workers',
  '1',
];

interface Captured extends CliIo {
  out: string[];
  err: string[];
}

function capture(tty = false): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t: string) => out.push(t) },
    stderr: Object.assign(
      { write: (t: string) => err.push(t), isTTY: tty },
      // What cli-progress asks of a terminal stream.
      tty
        ? {
            columns: 120,
            cursorTo: () => true,
            clearLine: () => true,
            moveCursor: () => true,
            on: () => undefined,
          }
        : {},
    ),
    env: {},
  };
}

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'rnas-cli-search-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('rnas search', () => {
  it('runs a search, writes its files and prints the best genotype as the last stdout line', async () => {
    const out = path.join(scratch, 'run');
    const io = capture();
    const code = await runCli(['search', '--dataset', DATASET, ...TINY, '--out', out], io);
    expect(io.err.join('')).not.toMatch(/^rnas: /m);
    expect(code).toBe(0);
    const stdout = io.out.join('');
    expect(stdout.endsWith('\n')).toBe(true);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const printed = genotypeFromJson(JSON.parse(lines[0]));
    const written = genotypeFromJson(JSON.parse(await readFile(path.join(out, 'genotype.json'), 'utf8')));
    expect(printed).toEqual(written);
    const history = JSON.parse(await readFile(path.join(out, 'history.json'), 'utf8'));
    expect(history.generations).toHaveLength(2);
    expect(history.config).toMatchObject({ population: 4, generations: 2, layers: 3, channels: 4, seed: 3 });
    expect(await readdir(path.join(out, 'cells'))).toEqual([
      'final.svg',
      'generation-000.svg',
      'generation-001.svg',
    ]);
    // Plain log lines off a terminal: one per pair, one per generation.
    const log = io.err.join('');
    expect(
      log.match(/^generation \d\/2 pair \d\/2: teacher \d \(loss [\d.]+, acc [\d.]+%\), student/gm),
    ).toHaveLength(4);
    expect(log.match(/^generation \d\/2 done in/gm)).toHaveLength(2);

    // Resuming the finished search trains nothing and prints the same genotype.
    const again = capture();
    expect(await runCli(['search', '--dataset', DATASET, ...TINY, '--out', out, '--resume'], again)).toBe(0);
    expect(again.out.join('').trim()).toBe(lines[0]);
    expect(again.err.join('')).not.toMatch(/ pair \d\/2: /);
    expect(again.err.join('')).toMatch(/resuming after generation 2 of 2/);
  });

  it('shows a progress bar on a terminal', async () => {
    const io = capture(true);
    const code = await runCli(
      [
        'search',
        '--dataset',
        DATASET,
        ...TINY,
        '--generations',
        '1',
        '--strategy',
        'random',
        '--out',
        path.join(scratch, 'tty'),
      ],
      io,
    );
    expect(code).toBe(0);
    const log = io.err.join('');
    expect(log).toMatch(/generation 1\/1 \[[^\]]*\] pair 2\/2 \| \d+ img\/s \| ETA/);
    expect(log).not.toMatch(/ pair \d\/2: teacher/);
    expect(io.out.join('').trim().split('\n')).toHaveLength(1);
  });

  it('refuses bad flags with messages naming the flag and value', async () => {
    const run = async (...args: string[]): Promise<{ code: number; err: string }> => {
      const io = capture();
      const code = await runCli(['search', ...args], io);
      return { code, err: io.err.join('') };
    };
    const base = ['--dataset', DATASET, '--out', path.join(scratch, 'bad')];
    let r = await run(...base, '--population', 'many');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--population.*many/);
    r = await run(...base, '--population', '5');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/rnas: search config: population must be even, got 5/);
    r = await run(...base, '--strategy', 'evolution');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/evolution/);
    r = await run(...base, '--primitives', 'sep_conv_3x3,conv_9x9');
    expect(r.err).toMatch(/primitives\[1\] must be a known op name, got "conv_9x9"/);
    r = await run(...base, '--workers', '1000');
    expect(r.err).toMatch(/--workers: expected an integer in \[0, 256\], got 1000/);
    r = await run('--out', path.join(scratch, 'bad'));
    expect(r.err).toMatch(/--dataset/);
    r = await run('--dataset', 'fashion-mnist:/etc', '--out', path.join(scratch, 'bad'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/rnas: .*\/etc/);
    r = await run('--dataset', 'nonsense', '--out', path.join(scratch, 'bad'));
    expect(r.err).toMatch(/rnas: dataset URI "nonsense"/);
  });
});
