import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkDatasetUri, DatasetUriError } from './dataset-uri-check';

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rnas-uri-check-'));
  mkdirSync(path.join(root, 'fashion-mnist'));
  mkdirSync(path.join(root, 'VOC2007'));
  mkdirSync(path.join(root, 'coco', 'train2017'), { recursive: true });
  writeFileSync(path.join(root, 'coco', 'train.json'), '{}');
  writeFileSync(path.join(root, 'coco', 'val.json'), '{}');
  symlinkSync('/etc', path.join(root, 'escape'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function refusal(uri: unknown, roots: readonly string[] = [root]): Promise<DatasetUriError> {
  try {
    await checkDatasetUri(uri, roots);
  } catch (err) {
    if (err instanceof DatasetUriError) return err;
    throw err;
  }
  throw new Error(`expected ${String(uri)} to be refused`);
}

describe('checkDatasetUri', () => {
  it('accepts synthetic data and directories under the roots', async () => {
    expect(await checkDatasetUri('synthetic:shapes?classes=3', [])).toBe('synthetic:shapes?classes=3');
    const uri = `mnist:${path.join(root, 'fashion-mnist')}`;
    expect(await checkDatasetUri(uri, [root])).toBe(uri);
    expect(await checkDatasetUri('mnist:fashion-mnist', [root])).toBe('mnist:fashion-mnist');
  });

  it('says what the field must be and what it got, with the field path', async () => {
    const e = await refusal('mnist:/usr');
    expect(e.path).toEqual(['datasetUri']);
    expect(e.got).toBe('mnist:/usr');
    expect(e.expected).toContain('outside the data roots');
    const named = await checkDatasetUri('', [root], 'dataset').catch((err: DatasetUriError) => err);
    expect((named as DatasetUriError).path).toEqual(['dataset']);
  });

  it.each([
    ['empty', '', 'a dataset URI'],
    ['not a string', 42, 'a dataset URI'],
    ['an object', { uri: 'mnist:/' }, 'a dataset URI'],
    ['huge', `mnist:${'x'.repeat(5000)}`, 'at most 4096 characters'],
    ['an unknown scheme', 'ftp:/data', 'a dataset URI ('],
    ['outside the roots', 'mnist:/usr', 'outside the data roots'],
    ['escaping with ..', `mnist:${root}/../..`, 'outside the data roots'],
    ['escaping through a link', 'mnist:escape', 'outside the data roots'],
    ['missing', 'cifar10:nothing-here', 'does not exist under the data roots'],
    ['a NUL byte', 'mnist:fash\u0000ion', 'a dataset'],
  ])('refuses %s', async (_name, uri, expected) => {
    const e = await refusal(uri);
    expect(e.expected).toContain(expected);
    expect(e.got).toBe(uri);
  });

  it('does not tell the client where a link leads on the server', async () => {
    const e = await refusal('mnist:escape');
    expect(e.expected).toContain('escape');
    expect(e.expected).not.toContain('/etc');
  });

  it.each([
    'synthetic:shapes',
    'synthetic:shapes?',
    'synthetic:shapes?classes=2&size=8&channels=1&train=1&test=0&seed=0',
    'synthetic:shapes?classes=1000&size=512&channels=3&train=1000000&test=1000000&seed=9007199254740991',
    'synthetic:shapes?classes=010',
    'mnist:fashion-mnist',
    'fashion-mnist:fashion-mnist',
    'cifar10:fashion-mnist',
    'cifar100:fashion-mnist?label=coarse',
    'cifar100:fashion-mnist?label=fine',
    'imagefolder:fashion-mnist?size=64&channels=1',
    'imagefolder:fashion-mnist?size=24x4096&channels=3',
    'voc:VOC2007?train=trainval&test=test',
    'voc:VOC2007',
    'coco:coco/train.json?test=coco/val.json',
    'coco:coco/train.json?images=coco/train2017&test=coco/val.json&test_images=coco/train2017',
  ])('accepts %s', async (uri) => {
    expect(await checkDatasetUri(uri, [root])).toBe(uri);
  });

  // Every query parameter, for every scheme, is checked here, when the job is submitted: the
  // message names the parameter and the value as given, and no job starts to fail later.
  it.each([
    ['synthetic:shapes?classes=0', 'query parameter classes: expected an integer in [2, 1000], got "0"'],
    ['synthetic:shapes?classes=1', 'query parameter classes: expected an integer in [2, 1000], got "1"'],
    ['synthetic:shapes?classes=-3', 'query parameter classes: expected an integer in [2, 1000], got "-3"'],
    ['synthetic:shapes?classes=2.5', 'query parameter classes: expected an integer in [2, 1000], got "2.5"'],
    ['synthetic:shapes?classes=1e3', 'query parameter classes: expected an integer in [2, 1000], got "1e3"'],
    [
      'synthetic:shapes?classes=1001',
      'query parameter classes: expected an integer in [2, 1000], got "1001"',
    ],
    [
      'synthetic:shapes?classes=99999999999999999999',
      'query parameter classes: expected an integer in [2, 1000], got "99999999999999999999"',
    ],
    ['synthetic:shapes?classes=', 'query parameter classes: expected an integer in [2, 1000], got ""'],
    ['synthetic:shapes?classes=%200', 'query parameter classes: expected an integer in [2, 1000], got " 0"'],
    ['synthetic:shapes?size=7', 'query parameter size: expected an integer in [8, 512], got "7"'],
    ['synthetic:shapes?size=99999', 'query parameter size: expected an integer in [8, 512], got "99999"'],
    ['synthetic:shapes?size=32x32', 'query parameter size: expected an integer in [8, 512], got "32x32"'],
    ['synthetic:shapes?channels=2', 'query parameter channels: expected one of 1, 3, got "2"'],
    ['synthetic:shapes?train=0', 'query parameter train: expected an integer in [1, 1000000], got "0"'],
    [
      'synthetic:shapes?test=1000001',
      'query parameter test: expected an integer in [0, 1000000], got "1000001"',
    ],
    [
      'synthetic:shapes?seed=-1',
      'query parameter seed: expected an integer in [0, 9007199254740991], got "-1"',
    ],
    ['synthetic:shapes?seed=9007199254740992', 'query parameter seed'],
    ['synthetic:shapes?seed=abc', 'query parameter seed'],
    ['synthetic:shapes?classes=3&classes=4', 'query parameter "classes" given twice'],
    ['synthetic:shapes?classes=3&classes=3', 'query parameter "classes" given twice'],
    ['synthetic:shapes?colour=red', 'unknown query parameter "colour"; synthetic takes classes, size'],
    ['synthetic:shapes?Classes=3', 'unknown query parameter "Classes"'],
    ['synthetic:circles?classes=3', 'unknown synthetic generator "circles"; expected "shapes"'],
    ['fashion-mnist:fashion-mnist?seed=1', 'unknown query parameter "seed"; fashion-mnist takes none'],
    ['mnist:fashion-mnist?size=28', 'unknown query parameter "size"; mnist takes none'],
    ['cifar10:fashion-mnist?label=fine', 'unknown query parameter "label"; cifar10 takes none'],
    [
      'cifar100:fashion-mnist?label=medium',
      'query parameter label: expected one of fine, coarse, got "medium"',
    ],
    ['cifar100:fashion-mnist?label=Fine', 'query parameter label: expected one of fine, coarse, got "Fine"'],
    ['cifar100:fashion-mnist?label=fine&label=coarse', 'query parameter "label" given twice'],
    [
      'imagefolder:fashion-mnist?size=0',
      'query parameter size: expected N or HxW with sides in [1, 4096], got "0"',
    ],
    [
      'imagefolder:fashion-mnist?size=32x0',
      'query parameter size: expected N or HxW with sides in [1, 4096]',
    ],
    [
      'imagefolder:fashion-mnist?size=5000',
      'query parameter size: expected N or HxW with sides in [1, 4096]',
    ],
    ['imagefolder:fashion-mnist?size=-1', 'query parameter size: expected N or HxW with sides in [1, 4096]'],
    ['imagefolder:fashion-mnist?channels=4', 'query parameter channels: expected one of 1, 3, got "4"'],
    [
      'imagefolder:fashion-mnist?label=fine',
      'unknown query parameter "label"; imagefolder takes size, channels',
    ],
    ['voc:VOC2007?train=../secret', 'query parameter train: expected an image-set name'],
    ['voc:VOC2007?test=', 'query parameter test: expected an image-set name'],
    ['voc:VOC2007?classes=3', 'unknown query parameter "classes"; voc takes train, test'],
    ['voc:VOC2007?train=a&train=b', 'query parameter "train" given twice'],
    ['coco:coco/train.json', "query parameter test: expected the test split's instances JSON, got nothing"],
    ['coco:coco/train.json?test=coco/val.json&images=', 'query parameter images: expected a path, got ""'],
    ['coco:coco/train.json?test=', 'query parameter test: expected a path, got ""'],
    ['coco:coco/train.json?test=coco/val.json&test_images=', 'query parameter test_images: expected a path'],
    ['coco:coco/train.json?test=coco/val.json&test=coco/val.json', 'query parameter "test" given twice'],
    ['coco:coco/train.json?test=coco/val.json&label=fine', 'unknown query parameter "label"'],
  ])('refuses %s, naming the parameter and the value', async (uri, named) => {
    const e = await refusal(uri);
    expect(e.got).toBe(uri);
    expect(e.expected).toContain(`dataset URI ${JSON.stringify(uri)}`);
    expect(e.expected).toContain(named);
    expect(e.expected).not.toContain(root);
  });

  it('refuses every path when no data root is configured', async () => {
    expect((await refusal('mnist:/usr', [])).expected).toContain('none configured');
  });
});
