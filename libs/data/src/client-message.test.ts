// clientDataMessage on the messages the loaders really give: the URI as given stays, the data
// root, the resolved dataset directory and a symlink's target do not.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { clientDataMessage } from './client-message';
import { openDataset } from './dataset';
import { writeRefusedDatasets } from './synthetic';

let dir: string;
let root: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-client-message-'));
  root = path.join(dir, 'root');
  writeRefusedDatasets(root, path.join(dir, 'outside'), 2048);
  symlinkSync(path.join(dir, 'outside'), path.join(root, 'link-out'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(uri: string): Promise<string> {
  return openDataset(uri, { dataRoots: [root], maxFileBytes: 1024 }).then(
    () => {
      throw new Error(`${uri} opened`);
    },
    (err: Error) => err.message,
  );
}

describe('clientDataMessage', () => {
  it.each([
    ['a path that escapes with ..', 'fashion-mnist:../outside', /outside the data roots/],
    ['a directory symlinked out of the root', 'fashion-mnist:link-out', /outside the data roots/],
    ['a missing dataset', 'fashion-mnist:nothing-here', /does not exist/],
    ['a missing file', 'fashion-mnist:no-labels', /no-labels has none of train-labels-idx1-ubyte.gz/],
    [
      'a file symlinked out of the root',
      'fashion-mnist:escapes',
      /escapes\/train-images-idx3-ubyte .*outside the data roots/,
    ],
    [
      'an oversized file',
      'fashion-mnist:large',
      /large\/train-images-idx3-ubyte: 2048 bytes is more than the 1024 bytes/,
    ],
  ])('%s: names the URI as given and what is wrong, no server path', async (_, uri, wrong) => {
    const server = await failure(uri);
    expect(server).toContain(dir); // the loader's own message, for the log, has the paths
    const client = clientDataMessage(server, uri, [root]);
    expect(client).toContain(`dataset URI ${JSON.stringify(uri)}`);
    expect(client).toMatch(wrong);
    expect(client).not.toContain(dir);
    expect(client).not.toMatch(/(^|[\s"'(])\//);
  });

  it('keeps an absolute path the client gave, and the URI in full', async () => {
    const uri = `fashion-mnist:${path.join(root, 'large')}`;
    const client = clientDataMessage(await failure(uri), uri, [root]);
    expect(client).toBe(
      `dataset URI ${JSON.stringify(uri)}: ${path.join(root, 'large')}/train-images-idx3-ubyte: 2048 bytes is more than the 1024 bytes a dataset file may have`,
    );
  });

  it('leaves a message without paths as it is', () => {
    expect(clientDataMessage('detection.backbone_model "x": not found', 'voc:v', [root])).toBe(
      'detection.backbone_model "x": not found',
    );
  });

  it('rewrites whole path components only', () => {
    expect(clientDataMessage(`${root}x/y and ${root}/y`, 'mnist:y', [root])).toBe(
      'dataset URI "mnist:y": <server path> and y',
    );
  });
});
