import { initBackend, tf, type Tensor } from '@rnas/engine';
import { globalNorm, Sgd } from './sgd';

/** PyTorch's clip_grad_norm_ followed by SGD(momentum, weight_decay), in double precision. */
function reference(
  steps: { p: number[]; g: number[] }[],
  opts: { lr: number; momentum: number; weightDecay: number; gradClip: number },
  grads: number[][][],
): { params: number[][]; norms: number[] } {
  const params = steps.map((s) => [...s.p]);
  const buffers: (number[] | null)[] = params.map(() => null);
  const norms: number[] = [];
  for (const g of grads) {
    const norm = Math.sqrt(g.flat().reduce((a, v) => a + v * v, 0));
    norms.push(norm);
    const coef = Math.min(1, opts.gradClip / (norm + 1e-6));
    params.forEach((p, i) => {
      const d = g[i].map((v, j) => v * coef + opts.weightDecay * p[j]);
      const prev = buffers[i];
      const buf = prev === null ? d : prev.map((b, j) => opts.momentum * b + d[j]);
      buffers[i] = buf;
      params[i] = p.map((v, j) => v - opts.lr * buf[j]);
    });
  }
  return { params, norms };
}

describe('Sgd', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it.each([
    ['clipping', 1],
    ['no clipping', 100],
  ])('matches PyTorch over two steps (%s)', (_what, gradClip) => {
    const before = tf.memory().numTensors;
    const opts = { lr: 0.1, momentum: 0.9, weightDecay: 3e-4, gradClip };
    const init = [
      { p: [1, -2, 0.5], g: [] },
      { p: [0.25, 4], g: [] },
    ];
    const grads = [
      [
        [3, -1, 2],
        [0.5, -4],
      ],
      [
        [-1, 0.5, 0.25],
        [2, 1],
      ],
    ];
    const ref = reference(init, opts, grads);
    const params = new Map<string, Tensor>([
      ['a', tf.tensor1d(init[0].p)],
      ['b', tf.tensor1d(init[1].p)],
    ]);
    const sgd = new Sgd(opts);
    grads.forEach((g, step) => {
      const named = new Map<string, Tensor>([
        ['a', tf.tensor1d(g[0])],
        ['b', tf.tensor1d(g[1])],
      ]);
      const norm = sgd.step(params, named);
      expect(norm).toBeCloseTo(ref.norms[step], 5);
      tf.dispose([...named.values()]);
    });
    expect(Array.from((params.get('a') as Tensor).dataSync())).toEqual(
      ref.params[0].map((v) => expect.closeTo(v, 5)),
    );
    expect(Array.from((params.get('b') as Tensor).dataSync())).toEqual(
      ref.params[1].map((v) => expect.closeTo(v, 5)),
    );
    sgd.dispose();
    tf.dispose([...params.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves parameters without a gradient untouched and refuses mismatched gradients', () => {
    const params = new Map<string, Tensor>([
      ['a', tf.tensor1d([1, 2])],
      ['b', tf.tensor1d([3])],
    ]);
    const b = params.get('b');
    const sgd = new Sgd({ lr: 1, momentum: 0, weightDecay: 0.5, gradClip: null });
    const g = new Map<string, Tensor>([['a', tf.tensor1d([1, 1])]]);
    expect(sgd.step(params, g)).toBeCloseTo(Math.SQRT2, 6);
    expect(params.get('b')).toBe(b);
    expect(Array.from((params.get('a') as Tensor).dataSync())).toEqual([-0.5, 0]);
    const wrong = new Map<string, Tensor>([['b', tf.tensor1d([1, 2])]]);
    expect(() => sgd.step(params, wrong)).toThrow(/gradient for 'b' has shape \[2\], expected \[1\]/);
    const unknown = new Map<string, Tensor>([['c', tf.tensor1d([1])]]);
    expect(() => sgd.step(params, unknown)).toThrow(/gradient for unknown parameter 'c'/);
    tf.dispose([...params.values(), ...g.values(), ...wrong.values(), ...unknown.values()]);
    sgd.dispose();
  });

  it.each([
    [{ lr: -1 }, /lr must be a finite number in \[0, Infinity\], got -1/],
    [{ momentum: 1.5 }, /momentum must be a finite number in \[0, 1\], got 1.5/],
    [{ weightDecay: Number.NaN }, /weightDecay .* got NaN/],
    [{ gradClip: 0 }, /gradClip .* got 0/],
  ])('refuses bad options %#', (bad, message) => {
    expect(() => new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: 5, ...bad })).toThrow(message);
  });

  it('lets a schedule change the learning rate, within range', () => {
    const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: 5 });
    sgd.lr = 0.05;
    expect(sgd.lr).toBe(0.05);
    expect(() => (sgd.lr = Infinity)).toThrow(/lr must be a finite number/);
  });

  it('computes the global norm of several tensors', () => {
    const ts = [tf.tensor1d([3, 4]), tf.tensor2d([[12]])];
    expect(globalNorm(ts)).toBeCloseTo(13, 6);
    expect(globalNorm([])).toBe(0);
    tf.dispose(ts);
  });
});
