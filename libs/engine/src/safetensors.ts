// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}`, then
// the raw little-endian data, offsets relative to the first byte after the header. Files come from
// users and other tools, so decoding trusts nothing: every field is checked and every error names
// the source, the tensor and the offending value.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@rnas/fs';

export const SAFETENSORS_DTYPES = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
] as const;
export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

/** Element storage per dtype. F16 and BF16 hold the raw 16-bit patterns; BOOL holds 0/1 bytes. */
export type HostTensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** A tensor in host memory, in the file's layout (row-major, the shape as stored). */
export interface HostTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: HostTensorData;
}

export interface SafetensorsFile {
  /** A prototype-less record: a tensor may be called `__proto__` or `constructor`. */
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
}

interface TypedArrayClass {
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
  new (buffer: ArrayBuffer): HostTensorData;
}

// A Map, not an object literal, so that hostile dtype names such as "constructor" never match.
const STORAGE = new Map<string, TypedArrayClass>([
  ['F64', Float64Array],
  ['F32', Float32Array],
  ['F16', Uint16Array],
  ['BF16', Uint16Array],
  ['I64', BigInt64Array],
  ['I32', Int32Array],
  ['I16', Int16Array],
  ['I8', Int8Array],
  ['U64', BigUint64Array],
  ['U32', Uint32Array],
  ['U16', Uint16Array],
  ['U8', Uint8Array],
  ['BOOL', Uint8Array],
]);

/** Headers beyond this are refused before any allocation (the reference implementation caps at 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

// Typed arrays use the host's byte order and the format is little-endian; every platform Node
// supports today is little-endian, but a silent byte swap would be far worse than an error.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('safetensors: big-endian hosts are not supported');
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `array ${truncate(JSON.stringify(value))}`;
  if (value === null) return 'null';
  return `${typeof value} ${truncate(JSON.stringify(value))}`;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

// BigInt so that a hostile shape such as [2**40, 2**40] cannot round to a plausible byte count.
function byteLength(shape: readonly number[], itemSize: number): bigint {
  return shape.reduce((n, d) => n * BigInt(d), BigInt(itemSize));
}

function shapeError(shape: unknown): string | undefined {
  if (!Array.isArray(shape))
    return `shape must be an array of non-negative integers, got ${describeValue(shape)}`;
  const bad = shape.findIndex((d) => !isCount(d));
  if (bad >= 0) return `shape[${bad}] must be a non-negative integer, got ${describeValue(shape[bad])}`;
  return undefined;
}

interface Region {
  name: string;
  begin: number;
  end: number;
}

/** Decodes a safetensors file held in memory; `source` (a path, say) prefixes every error. */
export function decodeSafetensors(buf: Uint8Array, source = '<buffer>'): SafetensorsFile {
  assertLittleEndianHost();
  const fail = (message: string): never => {
    throw new Error(`safetensors ${source}: ${message}`);
  };
  if (buf.byteLength < 8) {
    fail(`file is ${buf.byteLength} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${declared} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > buf.byteLength) {
    fail(`header length ${headerLength} runs past the end of the file (${buf.byteLength} bytes)`);
  }
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLength));
  } catch {
    fail(`header (bytes 8..${8 + headerLength}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(header)) fail(`header must be a JSON object, got ${describeValue(header)}`);

  const data = buf.subarray(8 + headerLength);
  const tensors: Record<string, HostTensor> = Object.create(null);
  const metadata: Record<string, string> = Object.create(null);
  const regions: Region[] = [];
  // JSON.parse stores a "__proto__" key as an own property, so entries() sees hostile names as data.
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (entry === null) continue;
      if (!isPlainObject(entry)) fail(`${METADATA_KEY} must be an object, got ${describeValue(entry)}`);
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== 'string') {
          fail(`${METADATA_KEY}[${JSON.stringify(key)}] must be a string, got ${describeValue(value)}`);
        }
        metadata[key] = value as string;
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(entry)) fail(`${where}: entry must be an object, got ${describeValue(entry)}`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    const storage = typeof dtype === 'string' ? STORAGE.get(dtype) : undefined;
    if (!storage) {
      fail(
        `${where}: unknown dtype ${describeValue(dtype)}; expected one of ${SAFETENSORS_DTYPES.join(', ')}`,
      );
    }
    const badShape = shapeError(shape);
    if (badShape) fail(`${where}: ${badShape}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(
        `${where}: data_offsets must be [begin, end] of non-negative integers, got ${describeValue(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] has begin after end`);
    if (end > data.byteLength) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] out of bounds of the ${data.byteLength}-byte data buffer`,
      );
    }
    const needed = byteLength(shape as number[], storage!.BYTES_PER_ELEMENT);
    if (needed !== BigInt(end - begin)) {
      fail(
        `${where}: shape ${JSON.stringify(shape)} of ${dtype} needs ${needed} bytes ` +
          `but data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    regions.push({ name, begin, end });
    // Copy into a fresh buffer: the offsets need not be aligned for the element size.
    const copy = new ArrayBuffer(end - begin);
    new Uint8Array(copy).set(data.subarray(begin, end));
    tensors[name] = {
      dtype: dtype as SafetensorsDType,
      shape: [...(shape as number[])],
      data: new storage!(copy),
    };
  }

  // The format requires the tensors to tile the data buffer exactly: no overlaps, holes or tail.
  regions.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Region | undefined;
  for (const region of regions) {
    if (region.begin < covered) {
      fail(
        `tensor ${JSON.stringify(region.name)}: data_offsets [${region.begin}, ${region.end}] overlap ` +
          `tensor ${JSON.stringify(previous!.name)} at [${previous!.begin}, ${previous!.end}]`,
      );
    }
    if (region.begin > covered) {
      fail(
        `data bytes [${covered}, ${region.begin}) belong to no tensor ` +
          `(a hole before tensor ${JSON.stringify(region.name)})`,
      );
    }
    covered = region.end;
    if (region.end > region.begin || !previous) previous = region;
  }
  if (covered !== data.byteLength) {
    fail(`data buffer is ${data.byteLength} bytes but the tensors cover only [0, ${covered})`);
  }
  return { tensors, metadata };
}

/** Checks one tensor before encoding; returns its storage class. */
function checkTensor(name: string, tensor: HostTensor): TypedArrayClass {
  const where = `safetensors: tensor ${JSON.stringify(name)}`;
  if (name === METADATA_KEY) throw new Error(`${where}: the name is reserved for metadata`);
  if (!isPlainObject(tensor))
    throw new Error(`${where}: expected a HostTensor, got ${describeValue(tensor)}`);
  const storage = typeof tensor.dtype === 'string' ? STORAGE.get(tensor.dtype) : undefined;
  if (!storage) {
    throw new Error(
      `${where}: unknown dtype ${describeValue(tensor.dtype)}; expected one of ${SAFETENSORS_DTYPES.join(', ')}`,
    );
  }
  const badShape = shapeError(tensor.shape);
  if (badShape) throw new Error(`${where}: ${badShape}`);
  if (!(tensor.data instanceof storage)) {
    const got = (tensor.data as object | null)?.constructor?.name ?? describeValue(tensor.data);
    throw new Error(`${where}: dtype ${tensor.dtype} needs data in a ${storage.name}, got ${got}`);
  }
  const elements = byteLength(tensor.shape, 1);
  if (elements !== BigInt(tensor.data.length)) {
    throw new Error(
      `${where}: shape ${JSON.stringify(tensor.shape)} has ${elements} elements but data has ${tensor.data.length}`,
    );
  }
  return storage;
}

/**
 * Encodes tensors and string metadata. Tensors are laid out largest element size first and the
 * header is padded with spaces to a multiple of 8, so every tensor starts aligned in the file.
 */
export function encodeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Buffer {
  assertLittleEndianHost();
  if (!isPlainObject(metadata))
    throw new Error(`safetensors: metadata must be an object, got ${describeValue(metadata)}`);
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new Error(
        `safetensors: metadata[${JSON.stringify(key)}] must be a string, got ${describeValue(value)}`,
      );
    }
  }
  const entries = Object.entries(tensors).map(([name, tensor]) => ({
    name,
    tensor,
    itemSize: checkTensor(name, tensor).BYTES_PER_ELEMENT,
  }));
  entries.sort((a, b) => b.itemSize - a.itemSize || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // Prototype-less so that a tensor or metadata key named "__proto__" is written as data.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) {
    header[METADATA_KEY] = Object.assign(Object.create(null), metadata);
  }
  let offset = 0;
  for (const { name, tensor } of entries) {
    const end = offset + tensor.data.byteLength;
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) {
    throw new Error(
      `safetensors: header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const out = Buffer.alloc(8 + headerLength + offset, 0x20);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, 8);
  let at = 8 + headerLength;
  for (const { tensor } of entries) {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), at);
    at += tensor.data.byteLength;
  }
  return out;
}

/** Reads and validates a safetensors file; errors name the path. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`safetensors ${path}: cannot read: ${(err as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/**
 * Writes a safetensors file atomically: the bytes go to a temporary file in the same directory,
 * are flushed to disk, and the file is renamed over `path`, so a reader never sees half a file.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  try {
    await writeFileAtomic(path, bytes);
  } catch (err) {
    throw new Error(`safetensors ${(err as Error).message}`);
  }
}
