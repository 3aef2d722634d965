import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkDatasetUri, DatasetUriError } from './dataset-uri-check';

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rnas-uri-check-'));
  mkdirSync(path.join(root, 'fashion-mnist'));
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

  it('refuses every path when no data root is configured', async () => {
    expect((await refusal('mnist:/usr', [])).expected).toContain('none configured');
  });
});
