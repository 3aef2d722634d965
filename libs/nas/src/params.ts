import { tf, type HostTensor, type Tensor } from '@rnas/engine';
import { sweepDerived } from './derived';

/** How a parameter is stored: the reference (PyTorch) layout and the tfjs layout differ for these. */
export type ParamLayout = 'conv' | 'depthwise' | 'linear' | 'vector';

/** `weight`: trainable (SGD updates it); `buffer`: batch-norm running statistics. */
export type ParamKind = 'weight' | 'buffer';

/**
 * PyTorch's default initialisation: uniform in ±bound (kaiming-uniform with a = √5), or a constant;
 * `normal` is N(0, std²), which heads that call `kaiming_normal_` or `normal_` ask for.
 */
export type ParamInit =
  { kind: 'uniform'; bound: number } | { kind: 'normal'; std: number } | { kind: 'constant'; value: number };

/** One named tensor of a network, under its reference name (design/RELATIVENAS.md section 4). */
export interface ParamInfo {
  readonly name: string;
  readonly kind: ParamKind;
  readonly layout: ParamLayout;
  /** Shape in the tfjs layout: conv `[kh, kw, in, out]`, depthwise `[kh, kw, C, 1]`, linear `[in, out]`. */
  readonly shape: readonly number[];
  /** Shape in the reference layout: conv `[out, in, kh, kw]`, depthwise `[C, 1, kh, kw]`, linear `[out, in]`. */
  readonly refShape: readonly number[];
  readonly init: ParamInit;
}

/**
 * A network's parameters and buffers keyed by reference name, in tfjs layouts. The map owns its
 * tensors: a training step replaces entries (disposing the old ones); `disposeParams` frees them.
 * Batch-norm `num_batches_tracked` counters, when a file carried them, ride along as int32 scalars.
 */
export type ParamMap = Map<string, Tensor>;

export const BATCHES_TRACKED_SUFFIX = '.num_batches_tracked';

const TO_TFJS_PERM: Record<ParamLayout, number[] | null> = {
  conv: [2, 3, 1, 0],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
  vector: null,
};
const TO_REF_PERM: Record<ParamLayout, number[] | null> = {
  conv: [3, 2, 0, 1],
  depthwise: [2, 3, 0, 1],
  linear: [1, 0],
  vector: null,
};

export function convParam(name: string, cout: number, cin: number, kh: number, kw: number): ParamInfo {
  return {
    name,
    kind: 'weight',
    layout: 'conv',
    shape: [kh, kw, cin, cout],
    refShape: [cout, cin, kh, kw],
    init: { kind: 'uniform', bound: 1 / Math.sqrt(cin * kh * kw) },
  };
}

export function depthwiseParam(name: string, c: number, kh: number, kw: number): ParamInfo {
  return {
    name,
    kind: 'weight',
    layout: 'depthwise',
    shape: [kh, kw, c, 1],
    refShape: [c, 1, kh, kw],
    init: { kind: 'uniform', bound: 1 / Math.sqrt(kh * kw) },
  };
}

/** `prefix.weight` (stored `[out, in]` in the reference, `[in, out]` here) and `prefix.bias`. */
export function linearParams(prefix: string, cin: number, cout: number): ParamInfo[] {
  const bound = 1 / Math.sqrt(cin);
  return [
    {
      name: `${prefix}.weight`,
      kind: 'weight',
      layout: 'linear',
      shape: [cin, cout],
      refShape: [cout, cin],
      init: { kind: 'uniform', bound },
    },
    vectorParam(`${prefix}.bias`, 'weight', cout, { kind: 'uniform', bound }),
  ];
}

/** Affine batch norm: `weight`, `bias` (trainable), `running_mean`, `running_var` (buffers). */
export function batchNormParams(prefix: string, c: number): ParamInfo[] {
  return [
    vectorParam(`${prefix}.weight`, 'weight', c, { kind: 'constant', value: 1 }),
    vectorParam(`${prefix}.bias`, 'weight', c, { kind: 'constant', value: 0 }),
    vectorParam(`${prefix}.running_mean`, 'buffer', c, { kind: 'constant', value: 0 }),
    vectorParam(`${prefix}.running_var`, 'buffer', c, { kind: 'constant', value: 1 }),
  ];
}

function vectorParam(name: string, kind: ParamKind, c: number, init: ParamInit): ParamInfo {
  return { name, kind, layout: 'vector', shape: [c], refShape: [c], init };
}

/** Number of trainable scalars (what the papers report as the parameter count). */
export function countParams(params: readonly ParamInfo[]): number {
  let total = 0;
  for (const p of params) {
    if (p.kind === 'weight') total += p.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/** Fresh parameters initialised as each one's `init` says, reproducible from `seed`. */
export function initParams(params: readonly ParamInfo[], seed: number): ParamMap {
  const out: ParamMap = new Map();
  params.forEach((p, i) => {
    const shape = [...p.shape];
    const t =
      p.init.kind === 'uniform'
        ? tf.randomUniform(shape, -p.init.bound, p.init.bound, 'float32', seed * 100003 + i)
        : p.init.kind === 'normal'
          ? tf.randomNormal(shape, 0, p.init.std, 'float32', seed * 100003 + i)
          : tf.fill(shape, p.init.value);
    out.set(p.name, t);
  });
  return out;
}

export function disposeParams(params: ParamMap): void {
  for (const t of params.values()) t.dispose();
  sweepDerived();
  params.clear();
}

/**
 * Loads reference-layout tensors (a safetensors file's contents) into a ParamMap, converting to
 * tfjs layouts. Every expected tensor must be present with its reference shape; unknown names are
 * refused (they mean the file is for another architecture), except batch-norm `num_batches_tracked`
 * counters, which are kept so that export gives them back.
 */
export function importParams(
  params: readonly ParamInfo[],
  tensors: Readonly<Record<string, HostTensor>>,
  source = 'weights',
): ParamMap {
  const expected = new Map(params.map((p) => [p.name, p]));
  for (const name of Object.keys(tensors)) {
    if (expected.has(name)) continue;
    if (name.endsWith(BATCHES_TRACKED_SUFFIX)) {
      const bn = name.slice(0, -BATCHES_TRACKED_SUFFIX.length);
      if (expected.has(`${bn}.running_mean`)) continue;
    }
    throw new Error(`${source}: unexpected tensor '${name}' (not a parameter of this network)`);
  }
  const out: ParamMap = new Map();
  try {
    for (const p of params) {
      const host = tensors[p.name];
      if (host === undefined) throw new Error(`${source}: missing tensor '${p.name}'`);
      out.set(p.name, hostToParam(p, host, source));
    }
    for (const [name, host] of Object.entries(tensors)) {
      if (!expected.has(name)) out.set(name, hostToCounter(name, host, source));
    }
  } catch (err) {
    disposeParams(out);
    throw err;
  }
  return out;
}

function hostToParam(p: ParamInfo, host: HostTensor, source: string): Tensor {
  if (!sameShape(host.shape, p.refShape)) {
    throw new Error(
      `${source}: tensor '${p.name}' has shape [${host.shape.join(', ')}], expected [${p.refShape.join(', ')}]`,
    );
  }
  const values = toFloat32(host, `${source}: tensor '${p.name}'`);
  const perm = TO_TFJS_PERM[p.layout];
  return tf.tidy(() => {
    const t = tf.tensor(values, [...p.refShape], 'float32');
    return perm === null ? t : tf.transpose(t, perm);
  });
}

function hostToCounter(name: string, host: HostTensor, source: string): Tensor {
  if (host.shape.reduce((a, b) => a * b, 1) !== 1) {
    throw new Error(`${source}: tensor '${name}' has shape [${host.shape.join(', ')}], expected a scalar`);
  }
  const v = Number(host.data[0]);
  if (!Number.isSafeInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new Error(`${source}: tensor '${name}' holds ${String(host.data[0])}, expected a batch count`);
  }
  return tf.scalar(v, 'int32');
}

function toFloat32(host: HostTensor, what: string): Float32Array {
  switch (host.dtype) {
    case 'F32':
      return host.data as Float32Array;
    case 'F64':
      return Float32Array.from(host.data as Float64Array);
    default:
      throw new Error(`${what} has dtype ${host.dtype}, expected F32 (or F64)`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The ParamMap in the reference names and layouts, ready for `encodeSafetensors`: every parameter
 * and buffer of `params`, plus any `num_batches_tracked` counters the map carries (as I64).
 */
export function exportParams(
  params: readonly ParamInfo[],
  values: ReadonlyMap<string, Tensor>,
): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  const known = new Set<string>();
  for (const p of params) {
    known.add(p.name);
    const t = values.get(p.name);
    if (t === undefined) throw new Error(`export: missing tensor '${p.name}'`);
    if (!sameShape(t.shape, p.shape)) {
      throw new Error(
        `export: tensor '${p.name}' has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
      );
    }
    const perm = TO_REF_PERM[p.layout];
    const data = tf.tidy(() => (perm === null ? t : tf.transpose(t, perm)).dataSync() as Float32Array);
    out[p.name] = { dtype: 'F32', shape: [...p.refShape], data: Float32Array.from(data) };
  }
  for (const [name, t] of values) {
    if (known.has(name) || !name.endsWith(BATCHES_TRACKED_SUFFIX)) continue;
    out[name] = { dtype: 'I64', shape: [], data: BigInt64Array.from([BigInt(t.dataSync()[0])]) };
  }
  return out;
}
