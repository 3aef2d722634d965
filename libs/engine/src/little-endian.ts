// Tensors as little-endian bytes on the wire (the gRPC messages of the services), without a copy
// one way and with an aligned copy the other. Typed arrays use the host's byte order: every
// platform Node supports today is little-endian, and a silent byte swap would be far worse than an
// error, so a big-endian host is refused (as the safetensors reader does).
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN)
    throw new Error('little-endian tensor bytes: big-endian hosts are not supported');
}

/** The values' bytes, little-endian, as a view of the same memory. */
export function littleEndianBytes(values: Float32Array | Int32Array): Buffer {
  assertLittleEndianHost();
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * Float32s from little-endian bytes at any offset: a copy the caller owns (aligned, whatever the
 * message's offset). The byte length must be a multiple of 4; the caller checks it and names the field.
 */
export function float32FromLittleEndian(bytes: Uint8Array): Float32Array {
  assertLittleEndianHost();
  if (bytes.byteLength % 4 !== 0) throw new Error(`${bytes.byteLength} bytes are not float32s`);
  const values = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}
