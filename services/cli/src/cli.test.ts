import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readSafetensors, tf, writeSafetensors, type BackendName, type HostTensor } from '@rnas/engine';
import { getPublishedGenotype } from '@rnas/nas';
import type { CliIo } from './io';
import { runCli } from './program';
import { runTrainStepCommand } from './commands/train-step';
import { parityFixture } from '@rnas/fixtures';

const ROOT = resolve(__dirname, '../../..');
const fx = parityFixture;

async function rnas(
  args: string[],
  backend: BackendName = 'wasm',
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: { ...process.env },
  };
  const saved = process.env.RNAS_BACKEND;
  process.env.RNAS_BACKEND = backend;
  try {
    return { code: await runCli(args, io), out, err };
  } finally {
    if (saved === undefined) delete process.env.RNAS_BACKEND;
    else process.env.RNAS_BACKEND = saved;
  }
}

function relError(out: HostTensor, ref: HostTensor): number {
  expect(out.shape).toEqual(ref.shape);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.data.length; i++) {
    num += (Number(out.data[i]) - Number(ref.data[i])) ** 2;
    den += Number(ref.data[i]) ** 2;
  }
  return Math.sqrt(num / (den || 1));
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1);
const tmp = mkdtempSync(join(tmpdir(), 'rnas-cli-'));

describe('rnas params', () => {
  it('prints the DARTS_V2 counts as its last line', async () => {
    const base = [
      'params',
      '--genotype',
      'DARTS_V2',
      '--variant',
      'cifar',
      '--channels',
      '36',
      '--layers',
      '20',
      '--classes',
      '10',
    ];
    const plain = await rnas(base);
    expect(plain.code).toBe(0);
    expect(lastLine(plain.out)).toBe('3349342');
    expect(plain.out).toMatch(/multiply-adds per 32x32 image: 528,359,040/);
    const aux = await rnas([...base, '--auxiliary']);
    expect(lastLine(aux.out)).toBe('3825768');
  });

  it('takes a genotype JSON file and the ImageNet variant', async () => {
    const file = join(tmp, 'relativenas.json');
    writeFileSync(file, JSON.stringify(getPublishedGenotype('RelativeNAS')));
    const args = ['--variant', 'imagenet', '--channels', '46', '--layers', '14', '--classes', '1000'];
    const byFile = await rnas(['params', '--genotype', file, ...args]);
    const byName = await rnas(['params', '--genotype', 'RelativeNAS', ...args]);
    expect(byFile.code).toBe(0);
    expect(lastLine(byFile.out)).toBe(lastLine(byName.out));
    expect(lastLine(byName.out)).toBe('5050029');
  });

  it.each([
    [['--genotype', 'NOPE'], /rnas: --genotype "NOPE" is neither a published genotype/],
    [['--genotype', 'DARTS_V2', '--channels', 'abc'], /--channels <C>' argument 'abc' is invalid/],
    [['--genotype', 'DARTS_V2', '--channels', '0'], /expected a positive integer, got "0"/],
    [['--genotype', 'DARTS_V2', '--variant', 'mnist'], /--variant <variant>' argument 'mnist' is invalid/],
  ])('fails with a clear message: %j', async (bad, message) => {
    const args = [
      '--genotype',
      'DARTS_V2',
      '--variant',
      'cifar',
      '--channels',
      '8',
      '--layers',
      '5',
      '--classes',
      '10',
    ];
    const r = await rnas(['params', ...args, ...bad]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message);
  });

  it("returns a failing command's code without leaving it in process.exitCode", async () => {
    const before = process.exitCode;
    // A command that fails by its exit code (no exception): the service is not there.
    const image = join(tmp, 'one.png');
    writeFileSync(image, Buffer.from('89504e470d0a1a0a', 'hex'));
    const r = await rnas(['detect', '--model', 'm', '--addr', '127.0.0.1:1', '--timeout-ms', '2000', image]);
    expect(r.code).toBe(1);
    // The test process's own exit code: jest runs every file in one process on a small machine.
    expect(process.exitCode).toBe(before);
  });

  it('fails on a genotype file that is not a genotype', async () => {
    const file = join(tmp, 'bad-genotype.json');
    writeFileSync(
      file,
      JSON.stringify({ normal: [['sep_conv_3x3', 5]], normalConcat: [2], reduce: [], reduceConcat: [] }),
    );
    const r = await rnas([
      'params',
      '--genotype',
      file,
      '--variant',
      'cifar',
      '--channels',
      '8',
      '--layers',
      '5',
      '--classes',
      '10',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/rnas: .*bad-genotype\.json/);
  });
});

describe('rnas forward and train-step against the parity fixtures', () => {
  it.each(['cpu', 'wasm'] as const)('forward reproduces darts_v2_cifar_c8_l5 on %s', async (backend) => {
    const out = join(tmp, `forward-${backend}.safetensors`);
    const r = await rnas(
      [
        'forward',
        '--spec',
        fx('darts_v2_cifar_c8_l5.spec.json'),
        '--weights',
        fx('darts_v2_cifar_c8_l5.weights.safetensors'),
        '--input',
        fx('darts_v2_cifar_c8_l5.io.safetensors'),
        '--out',
        out,
      ],
      backend,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const ref = await readSafetensors(fx('darts_v2_cifar_c8_l5.io.safetensors'));
    const got = await readSafetensors(out);
    expect(relError(got.tensors.logits, ref.tensors.logits)).toBeLessThan(1e-4);
  });

  const STEP = 'trainstep_darts_v2_cifar_c8_l5';
  const trainStepArgs = (out: string, ...extra: string[]) => [
    'train-step',
    '--spec',
    fx(`${STEP}.spec.json`),
    '--weights',
    fx(`${STEP}.weights.safetensors`),
    '--batch',
    fx(`${STEP}.batch.safetensors`),
    '--out',
    out,
    ...extra,
  ];

  /** Checks `out` against a reference `after` file at the fixtures' tolerances; logs the worst errors. */
  async function expectStepParity(out: string, fixture: string, label: string): Promise<void> {
    const ref = (await readSafetensors(fx(fixture))).tensors;
    const got = (await readSafetensors(out)).tensors;
    expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
    const lossErr = relError(got.loss, ref.loss);
    const normErr = relError(got.grad_norm, ref.grad_norm);
    let worst = 0;
    let worstName = '';
    for (const name of Object.keys(ref)) {
      const e = relError(got[name], ref[name]);
      expect([name, e < 1e-3]).toEqual([name, true]);
      if (e > worst) [worst, worstName] = [e, name];
    }
    console.log(
      `${label} against ${fixture}: loss ${lossErr.toExponential(2)}, grad_norm ${normErr.toExponential(2)}, ` +
        `logits ${relError(got.logits, ref.logits).toExponential(2)}, worst tensor ${worst.toExponential(2)} (${worstName})`,
    );
    expect(lossErr).toBeLessThan(1e-4);
    expect(normErr).toBeLessThan(1e-4);
  }

  it.each(['cpu', 'wasm'] as const)(`train-step reproduces ${STEP} on %s`, async (backend) => {
    const out = join(tmp, `step-${backend}.safetensors`);
    const r = await rnas(trainStepArgs(out), backend);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    await expectStepParity(out, `${STEP}.after.safetensors`, `train-step on ${backend}`);
  });

  it.each(['cpu', 'wasm'] as const)(
    'train-step --steps 3 reproduces three reference steps (trainstep3_darts_v2_cifar_c8_l5) on %s, leaking no tensor',
    async (backend) => {
      const out = join(tmp, `step3-${backend}.safetensors`);
      const before = tf.memory().numTensors;
      const r = await rnas(trainStepArgs(out, '--steps', '3'), backend);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
      expect(lastLine(r.out)).toMatch(/^3 steps; last step: loss /);
      await expectStepParity(
        out,
        'trainstep3_darts_v2_cifar_c8_l5.after.safetensors',
        `train-step --steps 3 on ${backend}`,
      );
    },
  );

  it('train-step --steps 1 is the one-step fixture, leaking no tensor', async () => {
    const out = join(tmp, 'step1.safetensors');
    const before = tf.memory().numTensors;
    const r = await rnas(trainStepArgs(out, '--steps', '1'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    await expectStepParity(out, `${STEP}.after.safetensors`, 'train-step --steps 1 on wasm');
  });

  it.each(['0', '-1', '1.5', 'abc', '', '1e9', '10001'])(
    'train-step refuses --steps %j, naming the flag and the value',
    async (value) => {
      const out = join(tmp, 'bad-steps.safetensors');
      const r = await rnas(trainStepArgs(out, '--steps', value));
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `option '--steps <n>' argument '${value}' is invalid. expected an integer in [1, 10000], got "${value}"`,
      );
      expect(existsSync(out)).toBe(false);
    },
  );

  it('runTrainStepCommand checks steps given without the flag parser', async () => {
    const io: CliIo = { stdout: { write: () => {} }, stderr: { write: () => {} }, env: {} };
    const options = {
      spec: fx(`${STEP}.spec.json`),
      weights: fx(`${STEP}.weights.safetensors`),
      batch: fx(`${STEP}.batch.safetensors`),
      out: join(tmp, 'never-steps.safetensors'),
    };
    for (const steps of [0, 1.5, 10001, NaN])
      await expect(runTrainStepCommand({ ...options, steps }, io)).rejects.toThrow(
        `--steps: expected an integer in [1, 10000], got ${steps}`,
      );
    expect(existsSync(options.out)).toBe(false);
  });

  describe('failures', () => {
    const forwardArgs = (overrides: Record<string, string>) => {
      const a: Record<string, string> = {
        '--spec': fx('darts_v2_cifar_c8_l5.spec.json'),
        '--weights': fx('darts_v2_cifar_c8_l5.weights.safetensors'),
        '--input': fx('darts_v2_cifar_c8_l5.io.safetensors'),
        '--out': join(tmp, 'fail.safetensors'),
        ...overrides,
      };
      return ['forward', ...Object.entries(a).flat()];
    };

    it('a missing tensor', async () => {
      const w = await readSafetensors(fx('darts_v2_cifar_c8_l5.weights.safetensors'));
      delete w.tensors['cells.2._ops.0.op.1.weight'];
      const file = join(tmp, 'missing.safetensors');
      await writeSafetensors(file, w.tensors);
      const r = await rnas(forwardArgs({ '--weights': file }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/missing\.safetensors: missing tensor 'cells\.2\._ops\.0\.op\.1\.weight'/);
    });

    it('a shape mismatch in the weights and in the input', async () => {
      const w = await readSafetensors(fx('darts_v2_cifar_c8_l5.weights.safetensors'));
      w.tensors['classifier.bias'] = { dtype: 'F32', shape: [11], data: new Float32Array(11) };
      const file = join(tmp, 'shape.safetensors');
      await writeSafetensors(file, w.tensors);
      let r = await rnas(forwardArgs({ '--weights': file }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/'classifier\.bias' has shape \[11\], expected \[10\]/);
      const input = join(tmp, 'gray.safetensors');
      await writeSafetensors(input, {
        input: { dtype: 'F32', shape: [2, 1, 32, 32], data: new Float32Array(2048) },
      });
      r = await rnas(forwardArgs({ '--input': input }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /gray\.safetensors: tensor 'input' has shape \[2, 1, 32, 32\], expected \[N, 3, H, W\]/,
      );
    });

    it('an unreadable or corrupt file', async () => {
      let r = await rnas(forwardArgs({ '--weights': join(tmp, 'nope.safetensors') }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/rnas: --weights safetensors .*nope\.safetensors: cannot read/);
      r = await rnas(forwardArgs({ '--spec': join(tmp, 'nope.json') }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/rnas: --spec .*nope\.json: cannot read spec: ENOENT/);
      const junk = join(tmp, 'junk.safetensors');
      writeFileSync(junk, Buffer.from('not a safetensors file at all'));
      r = await rnas(forwardArgs({ '--input': junk }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/junk\.safetensors/);
      r = await rnas(forwardArgs({ '--spec': junk }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/junk\.safetensors: not valid JSON/);
    });

    it('a bad genotype in the spec and bad labels in the batch', async () => {
      const spec = join(tmp, 'spec.json');
      writeFileSync(
        spec,
        JSON.stringify({ variant: 'cifar', genotype: 'DARTS_V9', channels: 8, layers: 5, classes: 10 }),
      );
      let r = await rnas(forwardArgs({ '--spec': spec }));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/spec\.json: genotype: unknown genotype name "DARTS_V9"/);
      const b = await readSafetensors(fx('trainstep_darts_v2_cifar_c8_l5.batch.safetensors'));
      b.tensors.labels = { dtype: 'F32', shape: [8], data: Float32Array.of(0, 1, 2, 3, 4, 5, 6, 10) };
      const batch = join(tmp, 'labels.safetensors');
      await writeSafetensors(batch, b.tensors);
      r = await rnas([
        'train-step',
        '--spec',
        fx('trainstep_darts_v2_cifar_c8_l5.spec.json'),
        '--weights',
        fx('trainstep_darts_v2_cifar_c8_l5.weights.safetensors'),
        '--batch',
        batch,
        '--out',
        join(tmp, 'never.safetensors'),
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/labels\.safetensors: labels\[7\] is 10, expected a class index in \[0, 9\]/);
      expect(existsSync(join(tmp, 'never.safetensors'))).toBe(false);
    });
  });
});

// jest's global setup builds the workspace, so the compiled command is always there.
describe('the built rnas command', () => {
  it('runs as a process: last line on stdout, non-zero exit and a message on failure', async () => {
    const run = promisify(execFile);
    const bin = join(ROOT, 'services/cli/bin/rnas.js');
    const args = [
      'params',
      '--genotype',
      'DARTS_V2',
      '--variant',
      'cifar',
      '--channels',
      '36',
      '--layers',
      '20',
      '--classes',
      '10',
    ];
    const ok = await run(process.execPath, [bin, ...args]);
    expect(lastLine(ok.stdout)).toBe('3349342');
    await expect(
      run(process.execPath, [bin, ...args.slice(0, 2), 'NOPE', ...args.slice(3)]),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/rnas: --genotype "NOPE"/),
    });
  });
});
