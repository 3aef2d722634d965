// The threaded wasm engine (libs/engine/src/wasm-threads.ts) against the one-thread engine: a few
// training steps of a DARTS_V2 network from the same weights give the same losses and weights.
// An engine keeps the threads it started with, so each runs in its own process (compiled code).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

// Three SGD steps on one batch; prints the backend, the losses and every parameter afterwards.
const STEPS = `
const { initBackend, tf } = require('@rnas/engine');
const nas = require('@rnas/nas');
(async () => {
  const backend = await initBackend('wasm');
  const network = new nas.Network({ variant: 'cifar', genotype: nas.getPublishedGenotype('DARTS_V2'),
    channels: 8, layers: 5, classes: 10, inChannels: 3, auxiliary: false });
  const params = nas.initParams(network.params, 3);
  const images = tf.randomNormal([16, 32, 32, 3], 0, 1, 'float32', 7);
  const labels = nas.labelsTensor(Array.from({ length: 16 }, (_, i) => (i * 7) % 10), 10);
  const sgd = new nas.Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 3e-4, gradClip: 5 });
  const losses = [];
  for (let i = 0; i < 3; i++) {
    const r = nas.trainStep(network, params, images, labels, sgd);
    losses.push(r.loss);
    r.logits.dispose();
  }
  const weights = {};
  for (const [name, t] of Object.entries(nas.exportParams(network.params, params))) weights[name] = Array.from(t.data);
  require('fs').writeFileSync(process.env.STEPS_OUT, JSON.stringify({ threads: backend.threads, detail: backend.detail, losses, weights }));
  process.exit(0);
})();
`;

interface Run {
  threads: number;
  detail: string;
  losses: number[];
  weights: Record<string, number[]>;
}

function run(threads: string): Run {
  const dir = mkdtempSync(path.join(tmpdir(), 'rnas-threads-'));
  try {
    const out = path.join(dir, 'steps.json');
    const child = spawnSync(process.execPath, ['-e', STEPS], {
      cwd: ROOT,
      env: { ...process.env, RNAS_WASM_THREADS: threads, STEPS_OUT: out },
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`steps with ${threads} threads failed: ${child.stderr}`);
    return JSON.parse(readFileSync(out, 'utf8')) as Run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

it('two threads train exactly as one: same losses and weights after three steps', () => {
  const one = run('1');
  const two = run('2');
  expect(one.threads).toBe(1);
  expect(two.threads).toBe(2);
  expect(two.detail).toContain('2 threads');
  expect(two.losses).toHaveLength(3);
  for (let i = 0; i < 3; i++) expect(Math.abs(two.losses[i] - one.losses[i])).toBeLessThanOrEqual(1e-6);
  expect(Object.keys(two.weights).sort()).toEqual(Object.keys(one.weights).sort());
  let worst = 0;
  for (const [name, values] of Object.entries(one.weights)) {
    const other = two.weights[name];
    expect(other).toHaveLength(values.length);
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(other[i] - values[i]));
  }
  console.log(
    `threaded vs one-thread after 3 steps: losses ${one.losses.join(', ')}; worst weight difference ${worst.toExponential(2)}`,
  );
  expect(worst).toBeLessThanOrEqual(1e-6);
  // The steps moved the weights: the comparison is not between two untouched initialisations.
  expect(one.losses[2]).not.toBe(one.losses[0]);
});

it('refuses a thread count outside [1, 8], naming RNAS_WASM_THREADS and the value', () => {
  for (const bad of ['0', '9', 'two', '1.5', '-1']) {
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        "require('@rnas/engine').initBackend('wasm').catch((e) => { console.error(e.message); process.exit(3); })",
      ],
      {
        cwd: ROOT,
        env: { ...process.env, RNAS_WASM_THREADS: bad },
        encoding: 'utf8',
      },
    );
    expect(child.status).toBe(3);
    expect(child.stderr).toContain(`RNAS_WASM_THREADS: expected an integer in [1, 8]`);
    expect(child.stderr).toContain(JSON.stringify(bad));
  }
});
