// readDataFile's bounded gunzip: every member of a gzip file, whatever its trailer says, the
// limit exact to the byte, and an array that holds only the file's bytes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { gunzipAtMost, readDataFile } from './files';
import { DataError } from './errors';

let dir: string;
beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'rnas-files-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe('gunzipAtMost', () => {
  it('decompresses every member of a multi-member file (its trailer states the last one only)', async () => {
    const a = bytes(300_000, 1);
    const b = bytes(1000, 2);
    const out = await gunzipAtMost(Buffer.concat([gzipSync(a), gzipSync(b)]), 1 << 20);
    expect(Buffer.from(out!).equals(Buffer.concat([a, b]))).toBe(true);
    // Grown past the 1000 bytes the trailer stated, then cut to the bytes: no spare capacity kept.
    expect(out!.buffer.byteLength).toBe(301_000);
  });

  it('keeps no spare capacity when the last four bytes overstate the size (trailing bytes)', async () => {
    const data = bytes(5000, 3);
    const trailing = Uint8Array.from([0, 0, 0, 0x30]); // read as a trailer: 805 MB
    const out = await gunzipAtMost(Buffer.concat([gzipSync(data), trailing]), 1 << 30);
    expect(Buffer.from(out!).equals(Buffer.from(data))).toBe(true);
    expect(out!.buffer.byteLength).toBe(5000);
  });

  it("rejects a stream whose length check fails, with zlib's error", async () => {
    const gz = gzipSync(bytes(5000, 3));
    new DataView(gz.buffer, gz.byteOffset, gz.byteLength).setUint32(gz.length - 4, 900_000_000, true);
    await expect(gunzipAtMost(gz, 1 << 30)).rejects.toThrow(/incorrect length check/);
  });

  it('takes a file of exactly the limit and refuses one byte more', async () => {
    const data = bytes(200_000, 4);
    expect((await gunzipAtMost(gzipSync(data), 200_000))!.length).toBe(200_000);
    expect(await gunzipAtMost(gzipSync(data), 199_999)).toBeUndefined();
  });
});

describe('readDataFile', () => {
  it('refuses a gzip file that decompresses past the limit, naming the file', async () => {
    const file = path.join(dir, 'bomb.gz');
    writeFileSync(file, gzipSync(new Uint8Array(3 << 20)));
    const err = await readDataFile(file, 1 << 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('RESOURCE_EXHAUSTED');
    expect((err as DataError).message).toBe(
      `${file}: decompresses to more than the 1.0 MiB a dataset file may have`,
    );
  });

  it('reads a plain file whole into an array of its size', async () => {
    const file = path.join(dir, 'plain.bin');
    const data = bytes(70_000, 5);
    writeFileSync(file, data);
    const out = await readDataFile(file, 1 << 20);
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    expect(out.buffer.byteLength).toBe(70_000);
  });
});
