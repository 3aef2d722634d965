import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import { InferenceServiceService, type ClassifyRequest, type ClassifyResponse } from '@rnas/proto';
import type { CliIo } from '../io';
import { runClassifyCommand } from './classify';

function capture(): CliIo & { out: string[] } {
  const out: string[] = [];
  return { out, stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => true }, env: {} };
}

describe('rnas classify', () => {
  let fake: FakeService;
  let address: string;
  let dir: string;
  const requests: ClassifyRequest[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-classify-'));
    for (const [name, text] of [
      ['a.png', 'aaaa'],
      ['b.jpg', 'bb'],
      ['c.webp', 'cccccc'],
      ['empty.png', ''],
    ]) {
      await writeFile(path.join(dir, name), text);
    }
    // A stand-in service: the label of an image is its length, an empty image is refused.
    fake = await startFakeService(InferenceServiceService, {
      classify: (request): ClassifyResponse => {
        requests.push(request);
        const images = request.input?.$case === 'images' ? request.input.value.images : [];
        return {
          modelName: request.modelName,
          version: request.version ?? 7,
          classifications: images.map((bytes, i) => {
            if (bytes.length === 0)
              throw new InvalidArgumentError(`images.images[${i}]`, bytes, 'empty image');
            return {
              scores: [
                { classIndex: 0, label: `len${bytes.length}`, score: 0.75 },
                { classIndex: 1, label: 'other', score: 0.25 },
              ],
            };
          }),
        };
      },
      detect: () => ({ modelName: '', version: 0, images: [] }),
      listModels: () => ({ models: [] }),
      getModel: () => ({ model: undefined }),
    });
    address = fake.address;
  });

  afterAll(async () => {
    await fake.server.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const file = (name: string): string => path.join(dir, name);

  it('prints the best classes of each file in order, batching the files into requests', async () => {
    requests.length = 0;
    const io = capture();
    const files = [file('a.png'), file('b.jpg'), file('c.webp')];
    expect(await runClassifyCommand(files, { model: 'fashion', addr: address, batch: 2, topK: 2 }, io)).toBe(
      0,
    );
    expect(io.out.join('')).toBe(
      `${files[0]}\tlen4 0.7500  other 0.2500\n${files[1]}\tlen2 0.7500  other 0.2500\n${files[2]}\tlen6 0.7500  other 0.2500\n`,
    );
    expect(
      requests.map((r) => [
        r.modelName,
        r.topK,
        r.version,
        r.input?.$case === 'images' && r.input.value.images.length,
      ]),
    ).toEqual([
      ['fashion', 2, undefined, 2],
      ['fashion', 2, undefined, 1],
    ]);
  });

  it('prints JSON lines with --json and passes the version', async () => {
    const io = capture();
    expect(
      await runClassifyCommand([file('a.png')], { model: 'm', version: 3, addr: address, json: true }, io),
    ).toBe(0);
    expect(JSON.parse(io.out.join(''))).toEqual({
      file: file('a.png'),
      model: 'm',
      version: 3,
      scores: [
        { classIndex: 0, label: 'len4', score: 0.75 },
        { classIndex: 1, label: 'other', score: 0.25 },
      ],
    });
  });

  it('names the file the service refused', async () => {
    await expect(
      runClassifyCommand([file('a.png'), file('empty.png')], { model: 'm', addr: address }, capture()),
    ).rejects.toThrow(
      `classify failed for ${file('empty.png')} at ${address}: INVALID_ARGUMENT: invalid images.images[1]=<0 bytes>: empty image`,
    );
  });

  it('names a file it cannot read', async () => {
    await expect(
      runClassifyCommand([file('missing.png')], { model: 'm', addr: address }, capture()),
    ).rejects.toThrow(`image file ${file('missing.png')} (argument FILE): cannot read: no such file`);
    await expect(runClassifyCommand([dir], { model: 'm', addr: address }, capture())).rejects.toThrow(
      `image file ${dir} (argument FILE): not a regular file`,
    );
  });
});
