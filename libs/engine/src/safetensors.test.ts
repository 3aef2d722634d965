import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
  type HostTensor,
} from './safetensors';
import { parityFixture } from '@rnas/fixtures';

/** Builds a file from a raw header string and data bytes, the way a hostile writer would. */
function rawFile(header: string, data: ArrayLike<number> = [], declaredLength?: bigint): Uint8Array {
  const json = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + json.byteLength + data.length);
  out.writeBigUInt64LE(declaredLength ?? BigInt(json.byteLength), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

const header = (entries: Record<string, unknown>): string => JSON.stringify(entries);
const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets: offsets });

const EVERY_DTYPE: Record<string, HostTensor> = {
  f64: { dtype: 'F64', shape: [2, 3], data: new Float64Array([0, -0, 1.5, -1e300, Infinity, NaN]) },
  f32: { dtype: 'F32', shape: [4], data: new Float32Array([3.4e38, -1.17e-38, 0.1, NaN]) },
  f16: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) },
  bf16: { dtype: 'BF16', shape: [1, 2], data: new Uint16Array([0x3f80, 0x7fc0]) },
  i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 7n]) },
  i32: { dtype: 'I32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
  i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
  i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
  u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
  u32: { dtype: 'U32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
  u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
  u8: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
  bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
  empty: { dtype: 'I32', shape: [0, 3], data: new Int32Array(0) },
};

describe('encodeSafetensors / decodeSafetensors', () => {
  it('round-trips every dtype bit for bit, scalars and empty tensors included', () => {
    expect(new Set(Object.values(EVERY_DTYPE).map((t) => t.dtype))).toEqual(new Set(SAFETENSORS_DTYPES));
    const file = decodeSafetensors(encodeSafetensors(EVERY_DTYPE, { format: 'pt', note: 'ünïcødé' }));
    expect(Object.keys(file.tensors).sort()).toEqual(Object.keys(EVERY_DTYPE).sort());
    for (const [name, tensor] of Object.entries(EVERY_DTYPE)) {
      const got = file.tensors[name];
      expect(got.dtype).toBe(tensor.dtype);
      expect(got.shape).toEqual(tensor.shape);
      expect(got.data.constructor).toBe(tensor.data.constructor);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength),
      );
    }
    expect({ ...file.metadata }).toEqual({ format: 'pt', note: 'ünïcødé' });
  });

  it('pads the header so that every tensor starts aligned to its element size in the file', () => {
    const bytes = encodeSafetensors(EVERY_DTYPE);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const parsed = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
      string,
      { dtype: string; data_offsets: [number, number] }
    >;
    for (const [name, entry] of Object.entries(parsed)) {
      const itemSize = EVERY_DTYPE[name].data.BYTES_PER_ELEMENT;
      expect((8 + headerLength + entry.data_offsets[0]) % itemSize).toBe(0);
    }
  });

  it('encodes an empty set of tensors and decodes it back', () => {
    const file = decodeSafetensors(encodeSafetensors({}));
    expect(Object.keys(file.tensors)).toEqual([]);
    expect(Object.keys(file.metadata)).toEqual([]);
  });

  it('copies tensors out of unaligned offsets into aligned, independent arrays', () => {
    const value = new Float32Array([1.25, -2.5]);
    const data = [7, ...new Uint8Array(value.buffer)];
    const buf = rawFile(
      header({ b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, a: f32([2], [1, 9]) }),
      data,
    );
    const file = decodeSafetensors(buf);
    expect(Array.from(file.tensors.a.data as Float32Array)).toEqual([1.25, -2.5]);
    expect(file.tensors.a.data.byteOffset).toBe(0);
    buf.fill(0);
    expect(Array.from(file.tensors.a.data as Float32Array)).toEqual([1.25, -2.5]);
    expect(Array.from(file.tensors.b.data as Uint8Array)).toEqual([7]);
  });

  it('decodes from a subarray that does not start at offset 0 of its buffer', () => {
    const inner = encodeSafetensors({ x: { dtype: 'I32', shape: [2], data: new Int32Array([5, -6]) } });
    const outer = new Uint8Array(inner.byteLength + 3);
    outer.set(inner, 3);
    const file = decodeSafetensors(outer.subarray(3));
    expect(Array.from(file.tensors.x.data as Int32Array)).toEqual([5, -6]);
  });

  it('keeps hostile names as data without touching Object.prototype', () => {
    const hostile: Record<string, HostTensor> = Object.create(null);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      hostile[name] = { dtype: 'U8', shape: [1], data: new Uint8Array([name.length]) };
    }
    const metadata: Record<string, string> = Object.create(null);
    metadata['__proto__'] = 'polluted?';
    const file = decodeSafetensors(encodeSafetensors(hostile, metadata));
    expect(Object.keys(file.tensors).sort()).toEqual([
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'toString',
    ]);
    expect(Array.from(file.tensors['__proto__'].data as Uint8Array)).toEqual([9]);
    expect(file.metadata['__proto__']).toBe('polluted?');
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted?')).toBe(false);
  });

  it('decodes a "__proto__" entry in a raw header as a tensor, not a prototype', () => {
    const file = decodeSafetensors(
      rawFile(
        '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"__proto__":"x"}}',
        [3],
      ),
    );
    expect(Object.keys(file.tensors)).toEqual(['__proto__']);
    expect(Object.keys(file.metadata)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).shape).toBeUndefined();
  });

  it('accepts a null __metadata__ and zero-size tensors anywhere', () => {
    const file = decodeSafetensors(
      rawFile(
        header({
          __metadata__: null,
          z0: f32([0], [0, 0]),
          a: f32([1], [0, 4]),
          z1: f32([2, 0], [4, 4]),
        }),
        [0, 0, 128, 63],
      ),
    );
    expect(Array.from(file.tensors.a.data as Float32Array)).toEqual([1]);
    expect(file.tensors.z1.shape).toEqual([2, 0]);
  });

  it.each<[string, Record<string, HostTensor>, Record<string, string> | undefined, RegExp]>([
    [
      'a reserved name',
      { __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } },
      undefined,
      /reserved/,
    ],
    [
      'an unknown dtype',
      { t: { dtype: 'F8' as 'F32', shape: [1], data: new Float32Array(1) } },
      undefined,
      /"t".*unknown dtype string "F8"/,
    ],
    [
      'the wrong array type',
      { t: { dtype: 'F32', shape: [1], data: new Float64Array(1) } },
      undefined,
      /"t".*Float32Array, got Float64Array/,
    ],
    [
      'a length mismatch',
      { t: { dtype: 'I32', shape: [2, 2], data: new Int32Array(3) } },
      undefined,
      /"t".*\[2,2\] has 4 elements but data has 3/,
    ],
    [
      'a negative dimension',
      { t: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } },
      undefined,
      /"t": shape\[0\] must be a non-negative integer, got number -1/,
    ],
    [
      'a fractional dimension',
      { t: { dtype: 'U8', shape: [1.5], data: new Uint8Array(0) } },
      undefined,
      /shape\[0\].*1\.5/,
    ],
    [
      'a missing shape',
      { t: { dtype: 'U8', data: new Uint8Array(0) } as unknown as HostTensor },
      undefined,
      /"t": shape must be an array/,
    ],
    [
      'non-string metadata',
      {},
      { n: 3 as unknown as string },
      /metadata\["n"\] must be a string, got number 3/,
    ],
  ])('refuses to encode %s', (_label, tensors, metadata, message) => {
    expect(() => encodeSafetensors(tensors, metadata)).toThrow(message);
  });
});

describe('decodeSafetensors on malformed input', () => {
  const good = encodeSafetensors(
    {
      a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
      b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    },
    { k: 'v' },
  );

  it('rejects the file truncated at every byte, naming the source', () => {
    for (let cut = 0; cut < good.byteLength; cut++) {
      expect(() => decodeSafetensors(good.subarray(0, cut), 'cut.safetensors')).toThrow(
        /^safetensors cut\.safetensors: /,
      );
    }
    const headerEnd = 8 + Number(good.readBigUInt64LE(0));
    expect(() => decodeSafetensors(good.subarray(0, 0), 'f')).toThrow('file is 0 bytes, too short');
    expect(() => decodeSafetensors(good.subarray(0, 7), 'f')).toThrow('file is 7 bytes, too short');
    expect(() => decodeSafetensors(good.subarray(0, 8), 'f')).toThrow(
      'runs past the end of the file (8 bytes)',
    );
    expect(() => decodeSafetensors(good.subarray(0, headerEnd - 1), 'f')).toThrow('runs past the end');
    expect(() => decodeSafetensors(good.subarray(0, headerEnd), 'f')).toThrow(
      /out of bounds of the 0-byte data buffer/,
    );
    expect(() => decodeSafetensors(good.subarray(0, good.byteLength - 1), 'f')).toThrow(
      /tensor "b": data_offsets \[8, 11\] out of bounds/,
    );
  });

  const cases: Array<[string, Uint8Array, string | RegExp]> = [
    [
      'a header length of 2^64-1',
      rawFile('{}', [], 2n ** 64n - 1n),
      `header length 18446744073709551615 exceeds the limit of ${MAX_HEADER_BYTES}`,
    ],
    ['a header length of 2^53+1', rawFile('{}', [], 2n ** 53n + 1n), 'exceeds the limit'],
    [
      'a header length just over the cap',
      rawFile('{}', [], BigInt(MAX_HEADER_BYTES) + 1n),
      'exceeds the limit',
    ],
    [
      'a header length past the file',
      rawFile('{}', [], 3n),
      'header length 3 runs past the end of the file (10 bytes)',
    ],
    ['a zero header length', rawFile('', []), 'header is not valid JSON'],
    ['invalid UTF-8', rawFile('{}', [0xff, 0xfe], 4n), 'header (bytes 8..12) is not valid UTF-8'],
    ['truncated JSON', rawFile('{"a": {"dtype"'), 'header is not valid JSON'],
    ['single-quoted JSON', rawFile("{'a': 1}"), 'header is not valid JSON'],
    ['an array header', rawFile('[]'), 'header must be a JSON object, got array []'],
    ['a null header', rawFile('null'), 'header must be a JSON object, got null'],
    ['a number header', rawFile('42'), 'header must be a JSON object, got number 42'],
    ['a string header', rawFile('"x"'), 'header must be a JSON object, got string "x"'],
    ['a non-object entry', rawFile(header({ a: 1 })), 'tensor "a": entry must be an object, got number 1'],
    ['a null entry', rawFile(header({ a: null })), 'tensor "a": entry must be an object, got null'],
    [
      'an unknown dtype',
      rawFile(header({ a: { ...f32([1], [0, 4]), dtype: 'F8' } }), [0, 0, 0, 0]),
      'tensor "a": unknown dtype string "F8"; expected one of F64',
    ],
    [
      'a lowercase dtype',
      rawFile(header({ a: { ...f32([1], [0, 4]), dtype: 'f32' } }), [0, 0, 0, 0]),
      'unknown dtype string "f32"',
    ],
    [
      'a dtype named after a prototype member',
      rawFile(header({ a: { ...f32([1], [0, 4]), dtype: 'constructor' } }), [0, 0, 0, 0]),
      'unknown dtype string "constructor"',
    ],
    [
      'a numeric dtype',
      rawFile(header({ a: { ...f32([1], [0, 4]), dtype: 7 } }), [0, 0, 0, 0]),
      'unknown dtype number 7',
    ],
    [
      'a missing dtype',
      rawFile(header({ a: { shape: [1], data_offsets: [0, 4] } }), [0, 0, 0, 0]),
      'unknown dtype undefined',
    ],
    [
      'a non-array shape',
      rawFile(header({ a: f32('4' as unknown as number[], [0, 4]) }), [0, 0, 0, 0]),
      'tensor "a": shape must be an array of non-negative integers, got string "4"',
    ],
    [
      'a negative dimension',
      rawFile(header({ a: f32([-1], [0, 0]) })),
      'tensor "a": shape[0] must be a non-negative integer, got number -1',
    ],
    [
      'a fractional dimension',
      rawFile(header({ a: f32([1, 0.5], [0, 0]) })),
      'shape[1] must be a non-negative integer, got number 0.5',
    ],
    [
      'an unsafe dimension',
      rawFile(header({ a: f32([1e300], [0, 0]) })),
      'shape[0] must be a non-negative integer, got number 1e+300',
    ],
    [
      'a string dimension',
      rawFile(header({ a: f32(['2'] as unknown as number[], [0, 0]) })),
      'shape[0] must be a non-negative integer, got string "2"',
    ],
    [
      'missing offsets',
      rawFile(header({ a: { dtype: 'F32', shape: [0] } })),
      'tensor "a": data_offsets must be [begin, end] of non-negative integers, got undefined',
    ],
    [
      'one offset',
      rawFile(header({ a: { dtype: 'F32', shape: [0], data_offsets: [0] } })),
      'data_offsets must be [begin, end]',
    ],
    [
      'three offsets',
      rawFile(header({ a: { dtype: 'F32', shape: [0], data_offsets: [0, 0, 0] } })),
      'data_offsets must be [begin, end]',
    ],
    ['a negative offset', rawFile(header({ a: f32([1], [-4, 0]) })), 'got array [-4,0]'],
    ['a fractional offset', rawFile(header({ a: f32([1], [0, 4.5]) }), [0, 0, 0, 0, 0]), 'got array [0,4.5]'],
    [
      'string offsets',
      rawFile(header({ a: f32([1], ['0', '4'] as unknown as [number, number]) }), [0, 0, 0, 0]),
      'got array ["0","4"]',
    ],
    [
      'begin after end',
      rawFile(header({ a: f32([0], [4, 0]) }), [0, 0, 0, 0]),
      'tensor "a": data_offsets [4, 0] has begin after end',
    ],
    [
      'an end past the data',
      rawFile(header({ a: f32([2], [0, 8]) }), [0, 0, 0, 0]),
      'tensor "a": data_offsets [0, 8] out of bounds of the 4-byte data buffer',
    ],
    [
      'a size that disagrees with the shape',
      rawFile(header({ a: f32([2], [0, 4]) }), [0, 0, 0, 0]),
      'tensor "a": shape [2] of F32 needs 8 bytes but data_offsets [0, 4] hold 4',
    ],
    [
      'a huge shape',
      rawFile(header({ a: f32([2 ** 40, 2 ** 40, 2 ** 40], [0, 4]) }), [0, 0, 0, 0]),
      /needs 5316911983139663491615228241121378304 bytes but data_offsets \[0, 4\] hold 4/,
    ],
    [
      'overlapping tensors',
      rawFile(header({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }), new Array(12).fill(0)),
      'tensor "b": data_offsets [4, 12] overlap tensor "a" at [0, 8]',
    ],
    [
      'two tensors on the same bytes',
      rawFile(header({ a: f32([1], [0, 4]), b: f32([1], [0, 4]) }), [0, 0, 0, 0]),
      'data_offsets [0, 4] overlap tensor',
    ],
    [
      'an empty tensor inside another',
      rawFile(header({ a: f32([2], [0, 8]), z: f32([0], [4, 4]) }), new Array(8).fill(0)),
      'tensor "z": data_offsets [4, 4] overlap tensor "a" at [0, 8]',
    ],
    [
      'a hole between tensors',
      rawFile(header({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }), new Array(12).fill(0)),
      'data bytes [4, 8) belong to no tensor (a hole before tensor "b")',
    ],
    [
      'a hole at the start',
      rawFile(header({ a: f32([1], [4, 8]) }), new Array(8).fill(0)),
      'data bytes [0, 4) belong to no tensor',
    ],
    [
      'trailing bytes',
      rawFile(header({ a: f32([1], [0, 4]) }), new Array(6).fill(0)),
      'data buffer is 6 bytes but the tensors cover only [0, 4)',
    ],
    [
      'data without tensors',
      rawFile('{}', [1, 2]),
      'data buffer is 2 bytes but the tensors cover only [0, 0)',
    ],
    [
      'array metadata',
      rawFile(header({ __metadata__: ['a'] })),
      '__metadata__ must be an object, got array ["a"]',
    ],
    [
      'numeric metadata',
      rawFile(header({ __metadata__: { n: 1 } })),
      '__metadata__["n"] must be a string, got number 1',
    ],
    [
      'nested metadata',
      rawFile(header({ __metadata__: { n: { x: 'y' } } })),
      '__metadata__["n"] must be a string, got object {"x":"y"}',
    ],
  ];

  it.each(cases)('rejects %s with a precise message', (_label, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(message);
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(/^safetensors bad\.safetensors: /);
  });

  it('uses a placeholder source when none is given', () => {
    expect(() => decodeSafetensors(new Uint8Array(0))).toThrow('safetensors <buffer>: file is 0 bytes');
  });
});

describe('readSafetensors / writeSafetensors', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rnas-safetensors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const one = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array([0.5, -1]) } };

  it('writes a file that reads back equal, and leaves no temporary file behind', async () => {
    const path = join(dir, 'w.safetensors');
    await writeSafetensors(path, EVERY_DTYPE, { origin: 'test' });
    expect(await readdir(dir)).toEqual(['w.safetensors']);
    const file = await readSafetensors(path);
    expect(Array.from(file.tensors.i64.data as BigInt64Array)).toEqual([-(2n ** 63n), 2n ** 63n - 1n, 7n]);
    expect(file.metadata.origin).toBe('test');
    expect(await readFile(path)).toEqual(encodeSafetensors(EVERY_DTYPE, { origin: 'test' }));
  });

  it('replaces an existing file whole', async () => {
    const path = join(dir, 'w.safetensors');
    await writeFile(path, 'old contents that are not safetensors');
    await writeSafetensors(path, one);
    expect(Array.from((await readSafetensors(path)).tensors.w.data as Float32Array)).toEqual([0.5, -1]);
    expect(await readdir(dir)).toEqual(['w.safetensors']);
  });

  it('leaves the old file untouched when the tensors are invalid', async () => {
    const path = join(dir, 'w.safetensors');
    await writeSafetensors(path, one);
    const before = await readFile(path);
    await expect(
      writeSafetensors(path, { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
    ).rejects.toThrow('tensor "w": shape [3] has 3 elements but data has 2');
    expect(await readFile(path)).toEqual(before);
    expect(await readdir(dir)).toEqual(['w.safetensors']);
  });

  it('names the path when the directory does not exist or the target cannot be replaced', async () => {
    const missing = join(dir, 'no', 'such', 'w.safetensors');
    await expect(writeSafetensors(missing, one)).rejects.toThrow(`safetensors ${missing}: cannot write`);
    // Renaming the temporary file over a directory fails; the temporary file must not linger.
    const occupied = join(dir, 'occupied');
    await mkdir(occupied);
    await expect(writeSafetensors(occupied, one)).rejects.toThrow(`safetensors ${occupied}: cannot write`);
    expect(await readdir(dir)).toEqual(['occupied']);
  });

  it('names the path when reading a missing, empty or corrupt file', async () => {
    const missing = join(dir, 'missing.safetensors');
    await expect(readSafetensors(missing)).rejects.toThrow(`safetensors ${missing}: cannot read: ENOENT`);
    const empty = join(dir, 'empty.safetensors');
    await writeFile(empty, '');
    await expect(readSafetensors(empty)).rejects.toThrow(`safetensors ${empty}: file is 0 bytes`);
    await expect(readSafetensors(dir)).rejects.toThrow(`safetensors ${dir}: cannot read: EISDIR`);
  });
});

describe('parity fixtures written by the reference (Python safetensors)', () => {
  it('decodes the eval-mode weights with the reference names, shapes and values', async () => {
    const file = await readSafetensors(parityFixture('darts_v2_cifar_c8_l5.weights.safetensors'));
    expect(Object.keys(file.tensors)).toHaveLength(257);
    const stem = file.tensors['stem.0.weight'];
    expect(stem.dtype).toBe('F32');
    expect(stem.shape).toEqual([24, 3, 3, 3]);
    expect(stem.data).toBeInstanceOf(Float32Array);
    expect(stem.data[0]).toBeCloseTo(0.4151638150215149, 7);
    expect(stem.data[1]).toBeCloseTo(-0.039583709090948105, 7);
    expect(stem.data[stem.data.length - 1]).toBeCloseTo(0.05685170739889145, 7);
    expect(file.metadata.genotype).toBe('DARTS_V2');
    expect(file.metadata.channels).toBe('8');
  });

  it.each([
    ['darts_v2_cifar_c8_l5.io.safetensors', 'input', [2, 3, 32, 32]],
    ['darts_v2_cifar_c8_l5.io.safetensors', 'logits', [2, 10]],
    ['trainstep_darts_v2_cifar_c8_l5.batch.safetensors', 'labels', [8]],
    ['trainstep_darts_v2_cifar_c8_l5.after.safetensors', 'loss', [1]],
    ['trainstep_darts_v2_cifar_c8_l5.weights.safetensors', 'classifier.weight', [10, 128]],
  ])(
    'decodes %s: %s has shape %j, and re-encoding preserves every byte of data',
    async (name, tensor, shape) => {
      const file = await readSafetensors(parityFixture(name));
      expect(file.tensors[tensor].shape).toEqual(shape);
      const again = decodeSafetensors(encodeSafetensors(file.tensors, file.metadata));
      expect(Object.keys(again.tensors).sort()).toEqual(Object.keys(file.tensors).sort());
      for (const [key, t] of Object.entries(file.tensors)) {
        expect(again.tensors[key].shape).toEqual(t.shape);
        expect(again.tensors[key].data).toEqual(t.data);
      }
      expect({ ...again.metadata }).toEqual({ ...file.metadata });
    },
  );
});
