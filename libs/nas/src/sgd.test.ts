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

  it('exposes its momentum buffers and continues exactly from loaded ones', () => {
    const before = tf.memory().numTensors;
    const opts = { lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: null };
    const grad = () => new Map<string, Tensor>([['a', tf.tensor1d([1, -2])]]);
    const run = (sgd: Sgd, params: Map<string, Tensor>) => {
      const g = grad();
      sgd.step(params, g);
      tf.dispose([...g.values()]);
    };
    // Two steps in one optimiser...
    const straight = new Sgd(opts);
    const p1 = new Map<string, Tensor>([['a', tf.tensor1d([0.5, 0.5])]]);
    expect(straight.momentumBuffers().size).toBe(0);
    run(straight, p1);
    const saved = new Map([...straight.momentumBuffers()].map(([k, t]) => [k, tf.clone(t)] as const));
    expect(Array.from(saved.get('a')?.dataSync() ?? [])).toEqual([1, -2]);
    run(straight, p1);
    // ...equal one step, then a fresh optimiser loaded with the first one's buffers.
    const resumed = new Sgd(opts);
    const p2 = new Map<string, Tensor>([['a', tf.tensor1d([0.5, 0.5])]]);
    run(new Sgd({ ...opts, momentum: 0 }), p2);
    resumed.loadMomentumBuffers(saved, p2);
    run(resumed, p2);
    expect(Array.from(p2.get('a')?.dataSync() ?? [])).toEqual(Array.from(p1.get('a')?.dataSync() ?? []));
    // Loading replaces (and frees) what was there.
    resumed.loadMomentumBuffers(new Map());
    expect(resumed.momentumBuffers().size).toBe(0);
    straight.dispose();
    resumed.dispose();
    tf.dispose([...p1.values(), ...p2.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses momentum buffers with bad names, shapes or values, and keeps its own', () => {
    const before = tf.memory().numTensors;
    const params = new Map<string, Tensor>([['a', tf.tensor1d([1, 2])]]);
    const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0, gradClip: null });
    const own = tf.tensor1d([3, 4]);
    sgd.loadMomentumBuffers(new Map([['a', own]]), params);
    const disposed = tf.tensor1d([1, 1]);
    disposed.dispose();
    const cases: [Map<string, Tensor>, RegExp][] = [
      [new Map([['b', tf.tensor1d([1, 2])]]), /momentum buffer for unknown parameter 'b'/],
      [new Map([['a', tf.tensor1d([1, 2, 3])]]), /momentum buffer 'a' has shape \[3\], expected \[2\]/],
      [new Map([['', tf.tensor1d([1, 2])]]), /momentum buffer name must be a non-empty string, got ""/],
      [new Map([['a', tf.tensor1d([1, 2], 'int32')]]), /momentum buffer 'a' must be float32, got int32/],
      [
        new Map([['a', disposed]]),
        /momentum buffer 'a' must be a live tensor, got a disposed tensor of shape \[2\]/,
      ],
      [new Map([['a', null as unknown as Tensor]]), /momentum buffer 'a' must be a live tensor, got null/],
    ];
    for (const [bad, message] of cases) {
      expect(() => sgd.loadMomentumBuffers(bad, params)).toThrow(message);
      expect(sgd.momentumBuffers().get('a')).toBe(own);
      tf.dispose([...bad.values()].filter((t) => t !== null && !t.isDisposed));
    }
    expect(() => sgd.loadMomentumBuffers({} as Map<string, Tensor>)).toThrow(
      /momentum buffers must be a Map of name to tensor, got object/,
    );
    // Without params the shape is checked against the gradient at the next step.
    sgd.loadMomentumBuffers(new Map([['a', tf.tensor1d([1])]]));
    const g = new Map<string, Tensor>([['a', tf.tensor1d([1, 1])]]);
    expect(() => sgd.step(params, g)).toThrow(/momentum buffer 'a' has shape \[1\], expected \[2\]/);
    tf.dispose([...params.values(), ...g.values()]);
    sgd.dispose();
    expect(tf.memory().numTensors).toBe(before);
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
