import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dataRootsFromEnv, datasetFromImages, openDataset } from './dataset';
import { DataError } from './errors';
import { writeSyntheticDataset } from './synthetic';
import { parseDatasetUri } from './uri';

let base: string;
let root: string;
let outside: string;
beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'rnas-roots-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await writeSyntheticDataset(path.join(root, 'digits'), { format: 'idx', train: 10, test: 5, seed: 1 });
  await writeSyntheticDataset(path.join(outside, 'secret'), { format: 'idx', train: 10, test: 5, seed: 1 });
  await fs.symlink(path.join(outside, 'secret'), path.join(root, 'link-out'));
  await fs.symlink(path.join(root, 'digits'), path.join(root, 'link-in'));
  await fs.writeFile(path.join(root, 'a-file'), 'x');
});
afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

async function failure(uri: string, roots: string[] = [root]): Promise<DataError> {
  const err = await openDataset(uri, { dataRoots: roots }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataError)) throw new Error(`expected a DataError for ${uri}, got ${String(err)}`);
  return err;
}

describe('dataset URIs', () => {
  it('parses scheme, path and query', () => {
    const p = parseDatasetUri('synthetic:shapes?classes=5&seed=2');
    expect([p.scheme, p.path, p.params.get('classes'), p.params.get('seed')]).toEqual([
      'synthetic',
      'shapes',
      '5',
      '2',
    ]);
    expect(parseDatasetUri('cifar10:/data/c?').params.size).toBe(0);
  });

  it.each([
    [
      'an unknown scheme',
      'imagenet:/x',
      /dataset URI "imagenet:\/x": expected <scheme>:<path> with a scheme among fashion-mnist, mnist/,
    ],
    ['a bare path', '/just/a/path', /expected <scheme>:<path>/],
    ['an empty path', 'cifar10:', /expected a path after the scheme/],
    ['an unknown parameter', 'cifar10:/d?foo=1', /unknown query parameter "foo"; cifar10 takes none/],
    ['a repeated parameter', 'imagefolder:/d?size=1&size=2', /query parameter "size" given twice/],
    ['a NUL byte', 'cifar10:/d\0', /contains a NUL character/],
    ['a huge URI', `cifar10:/${'a'.repeat(5000)}`, /longer than 4096 characters/],
  ])('refuses %s', (_name, uri, message) => {
    expect(() => parseDatasetUri(uri)).toThrow(message);
  });

  it('refuses a non-string', () => {
    expect(() => parseDatasetUri(42 as never)).toThrow(/expected a string, got number/);
  });
});

describe('data roots', () => {
  it('opens absolute paths, relative paths and symlinks that stay inside', async () => {
    for (const uri of [
      `mnist:${root}/digits`,
      'mnist:digits',
      'mnist:link-in',
      `mnist:${root}/x/../digits`,
    ]) {
      const ds = await openDataset(uri, { dataRoots: [path.join(base, 'missing-root'), root] });
      expect(ds.train.size).toBe(10);
    }
  });

  it.each([
    ['`..` out of the root', () => `mnist:${root}/../outside/secret`, /is outside the data roots/],
    ['a relative `..`', () => 'mnist:../outside/secret', /outside\/secret is outside the data roots/],
    [
      'an absolute path elsewhere',
      () => 'mnist:/etc',
      /"mnist:\/etc": \/etc is outside the data roots \(.*root\)/,
    ],
    [
      'a symlink pointing out',
      () => 'mnist:link-out',
      /link-out \(it resolves to .*outside\/secret\) is outside the data roots/,
    ],
  ])('refuses %s, naming the URI and the roots', async (_name, uri, message) => {
    const err = await failure(uri());
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(JSON.stringify(uri()));
    expect(err.message).toContain(root);
  });

  it('accepts a path given through the real path of a symlinked root', async () => {
    const linkedRoot = path.join(base, 'root-link');
    await fs.symlink(root, linkedRoot);
    const ds = await openDataset(`mnist:${await fs.realpath(root)}/digits`, { dataRoots: [linkedRoot] });
    expect(ds.train.size).toBe(10);
    await expect(openDataset(`mnist:${outside}/secret`, { dataRoots: [linkedRoot] })).rejects.toThrow(
      /outside the data roots/,
    );
  });

  it('says NOT_FOUND for a missing folder inside and refuses a file', async () => {
    const missing = await failure('mnist:nope');
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toMatch(/nope does not exist \(data roots: .*root\)/);
    expect((await failure('mnist:a-file')).message).toMatch(/a-file is not a directory/);
  });

  it('requires absolute roots', async () => {
    expect((await failure('mnist:digits', [])).message).toMatch(/dataRoots: expected a non-empty list/);
    expect((await failure('mnist:digits', ['relative'])).message).toMatch(
      /dataRoots\[0\]: expected an absolute path, got "relative"/,
    );
  });

  it('reads roots from RNAS_DATA_ROOT', () => {
    expect(dataRootsFromEnv({ RNAS_DATA_ROOT: '/a:/b:' })).toEqual(['/a', '/b']);
    expect(dataRootsFromEnv({})).toEqual(['/usr/share/datasets']);
  });
});

describe('synthetic datasets', () => {
  it('are generated from the query, deterministically', async () => {
    const uri = 'synthetic:shapes?classes=4&size=12&channels=1&train=40&test=8&seed=9';
    const a = await openDataset(uri);
    const b = await openDataset(uri);
    expect(a.name).toBe('synthetic-shapes');
    expect(a.imageShape).toEqual([12, 12, 1]);
    expect([a.train.size, a.test.size, a.classNames.length]).toEqual([40, 8, 4]);
    expect(Buffer.from(a.train.images).equals(Buffer.from(b.train.images))).toBe(true);
    const c = await openDataset(uri.replace('seed=9', 'seed=10'));
    expect(Buffer.from(a.train.images).equals(Buffer.from(c.train.images))).toBe(false);
  });

  it.each([
    ['synthetic:circles', /unknown synthetic generator "circles"; expected "shapes"/],
    ['synthetic:shapes?classes=1', /query parameter classes: expected an integer in \[2, 1000\], got "1"/],
    ['synthetic:shapes?train=1e3', /query parameter train: expected an integer in \[1, 1000000\], got "1e3"/],
    ['synthetic:shapes?channels=2', /query parameter channels: expected one of 1, 3, got "2"/],
    ['synthetic:shapes?seed=-1', /query parameter seed/],
    ['synthetic:shapes?size=512&train=1000000', /bytes of images, more than the limit/],
  ])('refuse %j', async (uri, message) => {
    await expect(openDataset(uri)).rejects.toThrow(message);
  });

  it('validate file-scheme parameters before touching the file system', async () => {
    await expect(openDataset('imagefolder:/nowhere?size=0', { dataRoots: [root] })).rejects.toThrow(
      /query parameter size: expected N or HxW with sides in \[1, 4096\], got "0"/,
    );
    await expect(openDataset('cifar100:/nowhere?label=medium', { dataRoots: [root] })).rejects.toThrow(
      /query parameter label: expected one of fine, coarse, got "medium"/,
    );
  });
});

describe('datasetFromImages', () => {
  const shape = [1, 2, 1] as const;
  it('computes the normalisation statistics from the training split only', () => {
    const ds = datasetFromImages('t:', 't', {
      train: {
        imageShape: shape,
        images: Uint8Array.from([0, 255, 0, 255]),
        labels: Int32Array.from([0, 1]),
      },
      test: { imageShape: shape, images: Uint8Array.from([255, 255]), labels: Int32Array.from([1]) },
      classNames: ['a', 'b'],
    });
    expect(ds.mean).toEqual([0.5]);
    expect(ds.std).toEqual([0.5]);
    expect(ds.test.mean).toBe(ds.mean);
  });

  it('refuses labels out of range, wrong sizes and constant channels', () => {
    const make = (images: number[], labels: number[]) => () =>
      datasetFromImages('t:', 't', {
        train: { imageShape: shape, images: Uint8Array.from(images), labels: Int32Array.from(labels) },
        test: { imageShape: shape, images: new Uint8Array(0), labels: new Int32Array(0) },
        classNames: ['a', 'b'],
      });
    expect(make([0, 1], [2])).toThrow(/train.labels\[0\]: expected a class index in \[0, 1\], got 2/);
    expect(make([0, 1, 2], [1])).toThrow(/train.images.length: expected 1 images of 1x2x1, got 3/);
    expect(make([7, 7], [1])).toThrow(/channel 0 is constant over the training split/);
  });
});
