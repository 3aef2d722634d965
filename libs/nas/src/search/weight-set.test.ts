import { decodeSafetensors, encodeSafetensors, initBackend, tf, type HostTensor } from '@rnas/engine';
import { PRIMITIVES } from '../genotype';
import { STUDENT, TEACHER, TINY_NETWORK } from './test-fixtures';
import { searchNetworkParams, type SearchNetworkConfig } from './search-network';
import { weightSetLayout, WeightSet, type HostParams } from './weight-set';

const DEFAULT_NETWORK: SearchNetworkConfig = {
  layers: 8,
  channels: 16,
  classes: 10,
  inChannels: 3,
  steps: 4,
  primitives: PRIMITIVES,
};

function filled(params: HostParams, value: number): HostParams {
  const out: HostParams = {};
  for (const [name, t] of Object.entries(params)) {
    out[name] = { dtype: 'F32', shape: [...t.shape], data: new Float32Array(t.data.length).fill(value) };
  }
  return out;
}

/** Values of the default search network's weight set (8 cells, 16 channels, 10 classes, 7 primitives). */
const VALUES_DEFAULT = 2_043_866; // model_search.NetworkCIFAR(16, 10, 8, g).state_dict(), float tensors, PyTorch 1.13

function first(t: HostTensor): number {
  return Number(t.data[0]);
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('weightSetLayout', () => {
  it('holds 14 x 7 candidate modules per cell, as the reference search network does', () => {
    const layout = weightSetLayout(DEFAULT_NETWORK);
    const values = layout.reduce((n, p) => n + p.refShape.reduce((a, b) => a * b, 1), 0);
    expect(values).toBe(VALUES_DEFAULT);
    // One sep_conv_3x3 module per (node, input): 2 + 3 + 4 + 5 of them in a cell.
    const sep = layout.filter(
      (p) => /^cells\.0\._ops\.\d+\.op\.1\.weight$/.test(p.name) && p.refShape[2] === 3,
    );
    const indices = new Set(sep.map((p) => Number(/_ops\.(\d+)\./.exec(p.name)?.[1]) % 7));
    expect(sep.filter((p) => Number(/_ops\.(\d+)\./.exec(p.name)?.[1]) % 7 === 3)).toHaveLength(
      2 + 3 + 4 + 5,
    );
    expect([...indices].sort()).toEqual([3, 5]);
  });

  it('contains every tensor of any decoded network of the space', () => {
    const names = new Set(weightSetLayout(TINY_NETWORK).map((p) => p.name));
    for (const g of [TEACHER, STUDENT]) {
      for (const p of searchNetworkParams(TINY_NETWORK, g)) expect(names).toContain(p.name);
    }
  });
});

describe('WeightSet', () => {
  it('initialises reproducibly from a seed and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const a = WeightSet.initialise(TINY_NETWORK, 7);
    const b = WeightSet.initialise(TINY_NETWORK, 7);
    const c = WeightSet.initialise(TINY_NETWORK, 8);
    expect(tf.memory().numTensors).toBe(before);
    // Cell 0, node 0, input 0, sep_conv_3x3 (primitive 2 of 4): module 2.
    const name = 'cells.0._ops.2.op.1.weight';
    expect(a.get(name).data).toEqual(b.get(name).data);
    expect(a.get(name).data).not.toEqual(c.get(name).data);
    // PyTorch defaults: BN weight 1, running var 1; a depthwise 3x3 within +-1/3.
    expect(first(a.get('stem.1.weight'))).toBe(1);
    expect(first(a.get('stem.1.running_var'))).toBe(1);
    expect(Math.max(...Array.from(a.get(name).data as Float32Array, Math.abs))).toBeLessThanOrEqual(1 / 3);
  });

  it('gives a network its own tensors, in reference layout, as copies', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 1);
    const params = ws.paramsFor(STUDENT);
    const infos = searchNetworkParams(TINY_NETWORK, STUDENT);
    expect(Object.keys(params).sort()).toEqual(infos.map((p) => p.name).sort());
    for (const p of infos) expect(params[p.name].shape).toEqual(p.refShape);
    (params['stem.0.weight'].data as Float32Array).fill(42);
    expect(first(ws.get('stem.0.weight'))).not.toBe(42);
  });

  // Module k of node j reading state i with primitive p: k = (cur_j + i) * 4 + p, cur_0 = 0, cur_1 = 2;
  // primitives max_pool_3x3 0, skip_connect 1, sep_conv_3x3 2, dil_conv_3x3 3.
  it('applies the update rule: teacher ops and the rest from the teacher, student-only ops from the student', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 1);
    // Node 0 of the normal cell, input 1, sep_conv_3x3: neither uses it.
    const untouched = 'cells.0._ops.6.op.1.weight';
    const original = Array.from(ws.get(untouched).data as Float32Array);
    ws.applyComparison(
      { genotype: TEACHER, params: filled(ws.paramsFor(TEACHER), 1) },
      { genotype: STUDENT, params: filled(ws.paramsFor(STUDENT), 2) },
    );
    const value = (name: string): number => first(ws.get(name));
    // Stem, preprocessing, classifier: the teacher's.
    expect(value('stem.0.weight')).toBe(1);
    expect(value('cells.1.preprocess0.op.1.weight')).toBe(1);
    expect(value('classifier.weight')).toBe(1);
    // Normal cell 0, node 0: the teacher uses (s0, sep) once, the student in both slots: one
    // module (2), used by both: the teacher's.
    expect(value('cells.0._ops.2.op.1.weight')).toBe(1);
    // Node 1: teacher dil from state 2 (19), student sep from state 2 (18) and dil from state 1 (15).
    expect(value('cells.0._ops.19.op.1.weight')).toBe(1);
    expect(value('cells.0._ops.18.op.1.weight')).toBe(2);
    expect(value('cells.0._ops.15.op.1.weight')).toBe(2);
    // Reduction cell 1: (s1, sep) = 6 both; (s1, dil) = 7 student; (s0, dil) = 11 teacher; (s0, sep) = 10 student.
    expect(value('cells.1._ops.6.op.1.weight')).toBe(1);
    expect(value('cells.1._ops.7.op.1.weight')).toBe(2);
    expect(value('cells.1._ops.11.op.1.weight')).toBe(1);
    expect(value('cells.1._ops.10.op.1.weight')).toBe(2);
    // Batch-norm running statistics travel with their module.
    expect(value('cells.0._ops.18.op.3.running_mean')).toBe(2);
    // A module neither used is left as it was.
    expect(Array.from(ws.get(untouched).data as Float32Array)).toEqual(original);
  });

  it('rejects a bad result without changing anything', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 1);
    const stem = first(ws.get('stem.0.weight'));
    const teacher = filled(ws.paramsFor(TEACHER), 1);
    teacher['cells.0._ops.2.op.1.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    expect(() =>
      ws.applyComparison(
        { genotype: TEACHER, params: teacher },
        { genotype: STUDENT, params: ws.paramsFor(STUDENT) },
      ),
    ).toThrow(/teacher: tensor 'cells.0._ops.2.op.1.weight' has shape \[1\]/);
    expect(first(ws.get('stem.0.weight'))).toBe(stem);
    const hostile = { ...filled(ws.paramsFor(TEACHER), 1), 'stem.9.weight': teacher['stem.0.weight'] };
    expect(() =>
      ws.applyComparison(
        { genotype: TEACHER, params: hostile },
        { genotype: STUDENT, params: ws.paramsFor(STUDENT) },
      ),
    ).toThrow(/'stem.9.weight'.*is not in the weight set/);
    expect(first(ws.get('stem.0.weight'))).toBe(stem);
  });

  it('round-trips through safetensors and refuses damaged files', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 3);
    const { tensors, metadata } = ws.toTensors();
    const file = decodeSafetensors(encodeSafetensors(tensors, metadata));
    const back = WeightSet.fromTensors(TINY_NETWORK, file);
    expect(back.names()).toEqual(ws.names());
    for (const name of ws.names()) expect(back.get(name).data).toEqual(ws.get(name).data);

    const name = ws.names()[5];
    const missing = { ...file, tensors: { ...file.tensors } };
    delete missing.tensors[name];
    expect(() => WeightSet.fromTensors(TINY_NETWORK, missing, 'ckpt')).toThrow(
      `ckpt: missing tensor '${name}'`,
    );
    const extra = { ...file, tensors: { ...file.tensors, 'cells.0.evil': file.tensors[name] } };
    expect(() => WeightSet.fromTensors(TINY_NETWORK, extra, 'ckpt')).toThrow(
      /unexpected tensor 'cells.0.evil'/,
    );
    const reshaped = {
      ...file,
      tensors: { ...file.tensors, [name]: { ...file.tensors[name], shape: [1, 2, 3] } },
    };
    expect(() => WeightSet.fromTensors(TINY_NETWORK, reshaped, 'ckpt')).toThrow(/has shape \[1, 2, 3\]/);
    const ints = {
      ...file,
      tensors: { ...file.tensors, [name]: { ...file.tensors[name], dtype: 'I32' as const } },
    };
    expect(() => WeightSet.fromTensors(TINY_NETWORK, ints, 'ckpt')).toThrow(/dtype I32, expected F32/);
    expect(() =>
      WeightSet.fromTensors(TINY_NETWORK, { ...file, metadata: { format: 'something-else' } }, 'ckpt'),
    ).toThrow(/metadata format is "something-else"/);
    // Without metadata it is a reference state dict: read the same.
    expect(WeightSet.fromTensors(TINY_NETWORK, { ...file, metadata: {} }, 'ckpt').names()).toEqual(
      ws.names(),
    );
    expect(() => WeightSet.fromTensors({ ...TINY_NETWORK, channels: 6 }, file, 'ckpt')).toThrow(/has shape/);
  });
});
