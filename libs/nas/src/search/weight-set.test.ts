import { decodeSafetensors, encodeSafetensors, initBackend, tf, type HostTensor } from '@rnas/engine';
import { PRIMITIVES } from '../genotype';
import { STUDENT, TEACHER, TINY_NETWORK } from './test-fixtures';
import { searchNetworkParams, type SearchNetworkConfig } from './search-network';
import { weightSetLayout, weightSetName, WeightSet, type HostParams } from './weight-set';

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

function first(t: HostTensor): number {
  return Number(t.data[0]);
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('weightSetName', () => {
  it('adds the input state and op to edge tensors and keeps every other name', () => {
    expect(weightSetName('cells.0._ops.1.op.1.weight', STUDENT, 3)).toBe(
      'cells.0._ops.1.input0.sep_conv_3x3.op.1.weight',
    );
    // Cell 1 is a reduction cell when there are 3 layers.
    expect(weightSetName('cells.1._ops.0.op.3.weight', STUDENT, 3)).toBe(
      'cells.1._ops.0.input1.dil_conv_3x3.op.3.weight',
    );
    expect(weightSetName('cells.1._ops.3.conv_1.weight', TEACHER, 3)).toBe(
      'cells.1._ops.3.input0.dil_conv_3x3.conv_1.weight',
    );
    for (const name of ['stem.0.weight', 'cells.2.preprocess0.conv_1.weight', 'classifier.bias']) {
      expect(weightSetName(name, TEACHER, 3)).toBe(name);
    }
  });

  it('keeps the two edges of a node apart when they read the same state with the same op', () => {
    // STUDENT's node 0 of the normal cell reads state 0 with sep_conv_3x3 on both edges.
    const a = weightSetName('cells.0._ops.0.op.1.weight', STUDENT, 3);
    const b = weightSetName('cells.0._ops.1.op.1.weight', STUDENT, 3);
    expect(a).not.toBe(b);
  });

  it('refuses an edge the genotype does not have', () => {
    expect(() => weightSetName('cells.0._ops.9.op.1.weight', STUDENT, 3)).toThrow(
      /edge the genotype does not have/,
    );
  });
});

describe('weightSetLayout', () => {
  it('holds 28 x 7 candidate ops per cell: 3.99 M values (16 MB) for the default search network', () => {
    const layout = weightSetLayout(DEFAULT_NETWORK);
    const values = layout.reduce((n, p) => n + p.refShape.reduce((a, b) => a * b, 1), 0);
    expect(values).toBe(3_985_626);
    // Every (edge, input, op) with parameters appears once: sep/dil convs on every input of every edge.
    const sep = layout.filter((p) =>
      /^cells\.0\._ops\.\d+\.input\d\.sep_conv_3x3\.op\.1\.weight$/.test(p.name),
    );
    expect(sep).toHaveLength(2 * (2 + 3 + 4 + 5));
  });

  it('contains every tensor of any decoded network of the space', () => {
    const names = new Set(weightSetLayout(TINY_NETWORK).map((p) => p.name));
    for (const g of [TEACHER, STUDENT]) {
      for (const p of searchNetworkParams(TINY_NETWORK, g))
        expect(names).toContain(weightSetName(p.name, g, 3));
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
    const name = 'cells.0._ops.0.input0.sep_conv_3x3.op.1.weight';
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

  it('applies the update rule: teacher ops and the rest from the teacher, student-only ops from the student', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 1);
    const untouched = 'cells.0._ops.1.input1.sep_conv_3x3.op.1.weight';
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
    // Normal cell 0. Edge 0: both use (state 0, sep_conv_3x3): the teacher's.
    expect(value('cells.0._ops.0.input0.sep_conv_3x3.op.1.weight')).toBe(1);
    // Edge 1: the student's (state 0, sep_conv_3x3) is its own tensor, not edge 0's: the student's.
    expect(value('cells.0._ops.1.input0.sep_conv_3x3.op.1.weight')).toBe(2);
    // Edge 2: teacher dil_conv_3x3 from state 2, student sep_conv_3x3 from state 2.
    expect(value('cells.0._ops.2.input2.dil_conv_3x3.op.1.weight')).toBe(1);
    expect(value('cells.0._ops.2.input2.sep_conv_3x3.op.1.weight')).toBe(2);
    // Edge 3: teacher max pool (no tensors), student dil_conv_3x3 from state 1.
    expect(value('cells.0._ops.3.input1.dil_conv_3x3.op.1.weight')).toBe(2);
    // Reduction cell 1: edge 0 teacher sep / student dil from state 1; edge 1 both sep; edge 3 teacher dil / student sep.
    expect(value('cells.1._ops.0.input1.sep_conv_3x3.op.1.weight')).toBe(1);
    expect(value('cells.1._ops.0.input1.dil_conv_3x3.op.1.weight')).toBe(2);
    expect(value('cells.1._ops.1.input1.sep_conv_3x3.op.1.weight')).toBe(1);
    expect(value('cells.1._ops.3.input0.dil_conv_3x3.op.1.weight')).toBe(1);
    expect(value('cells.1._ops.3.input0.sep_conv_3x3.op.1.weight')).toBe(2);
    // Batch-norm running statistics travel with their op.
    expect(value('cells.0._ops.1.input0.sep_conv_3x3.op.3.running_mean')).toBe(2);
    // An op neither used is left as it was.
    expect(Array.from(ws.get(untouched).data as Float32Array)).toEqual(original);
  });

  it('rejects a bad result without changing anything', () => {
    const ws = WeightSet.initialise(TINY_NETWORK, 1);
    const stem = first(ws.get('stem.0.weight'));
    const teacher = filled(ws.paramsFor(TEACHER), 1);
    teacher['cells.0._ops.0.op.1.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    expect(() =>
      ws.applyComparison(
        { genotype: TEACHER, params: teacher },
        { genotype: STUDENT, params: ws.paramsFor(STUDENT) },
      ),
    ).toThrow(/teacher: tensor 'cells.0._ops.0.input0.sep_conv_3x3.op.1.weight' has shape \[1\]/);
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
    expect(() => WeightSet.fromTensors(TINY_NETWORK, { ...file, metadata: {} }, 'ckpt')).toThrow(
      /metadata format/,
    );
    expect(() => WeightSet.fromTensors({ ...TINY_NETWORK, channels: 6 }, file, 'ckpt')).toThrow(/has shape/);
  });
});
