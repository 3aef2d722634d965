import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import { InferenceServiceService, type DetectRequest, type DetectResponse } from '@rnas/proto';
import { rnas } from '../test-util';
import { drawPaths } from './detect';

/** `rnas detect --model m --addr ADDRESS ...args`. */
let detect: (...args: string[]) => ReturnType<typeof rnas>;

const SQUARE = {
  classIndex: 0,
  label: 'square',
  score: 0.93,
  box: { xMin: 4, yMin: 6, xMax: 30, yMax: 40.25 },
};
const CIRCLE = { classIndex: 1, label: 'circle', score: 0.5, box: { xMin: 40, yMin: 2, xMax: 60, yMax: 20 } };

describe('rnas detect', () => {
  let fake: FakeService;
  let address: string;
  let dir: string;
  const requests: DetectRequest[] = [];
  const file = (name: string): string => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-detect-'));
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const blank = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808081' } })
      .png()
      .toBuffer();
    await writeFile(file('a.png'), png);
    await writeFile(file('b.png'), blank);
    await writeFile(file('empty.png'), '');
    await writeFile(file('not-a-dir'), 'x');
    // A stand-in service: a.png holds a square and a circle, any other image nothing; model 'short'
    // answers no image at all; an empty image is refused as the inference service refuses it.
    fake = await startFakeService(InferenceServiceService, {
      detect: (request): DetectResponse => {
        requests.push(request);
        const images = request.input?.$case === 'images' ? request.input.value.images : [];
        if (request.modelName === 'short') return { modelName: 'short', version: 1, images: [] };
        return {
          modelName: request.modelName,
          version: request.version ?? 2,
          images: images.map((bytes, i) => {
            if (bytes.length === 0)
              throw new InvalidArgumentError(`images.images[${i}]`, bytes, 'empty image');
            return { detections: png.equals(bytes) ? [SQUARE, CIRCLE] : [], width: 64, height: 48 };
          }),
        };
      },
      classify: () => ({ modelName: '', version: 0, classifications: [] }),
      listModels: () => ({ models: [] }),
      getModel: () => ({ model: undefined }),
    });
    address = fake.address;
    detect = (...args) => rnas(['detect', '--model', 'm', '--addr', address, ...args]);
  });

  afterAll(async () => {
    await fake.server.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the objects of each file and passes the flags in the request', async () => {
    requests.length = 0;
    const { code, out, err } = await rnas([
      'detect',
      '--model',
      'shapes',
      '--version',
      '3',
      '--addr',
      address,
      '--threshold',
      '0.4',
      '--max-detections',
      '7',
      '--classes',
      'square, circle',
      '--batch',
      '1',
      file('a.png'),
      file('b.png'),
    ]);
    expect([code, err]).toEqual([0, '']);
    expect(out).toBe(
      `${file('a.png')}: 2 objects\n  square 0.93 [4.0, 6.0, 30.0, 40.3]\n  circle 0.50 [40.0, 2.0, 60.0, 20.0]\n` +
        `${file('b.png')}: 0 objects\n`,
    );
    expect(
      requests.map((r) => [
        r.modelName,
        r.version,
        r.scoreThreshold !== undefined && Math.round(r.scoreThreshold * 1e6) / 1e6,
        r.maxDetections,
        r.classes,
        r.input?.$case === 'images' && r.input.value.images.length,
      ]),
    ).toEqual([
      ['shapes', 3, 0.4, 7, ['square', 'circle'], 1],
      ['shapes', 3, 0.4, 7, ['square', 'circle'], 1],
    ]);
  });

  it('leaves the service its defaults when no flag is given', async () => {
    requests.length = 0;
    expect((await detect(file('a.png'))).code).toBe(0);
    expect([requests[0].scoreThreshold, requests[0].maxDetections, requests[0].classes]).toEqual([
      undefined,
      undefined,
      [],
    ]);
  });

  it('prints one JSON object per file with --json', async () => {
    const { code, out } = await detect('--json', file('a.png'));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      file: file('a.png'),
      model: 'm',
      version: 2,
      width: 64,
      height: 48,
      detections: [
        { classIndex: 0, label: 'square', score: expect.closeTo(0.93, 6), box: [4, 6, 30, 40.25] },
        { classIndex: 1, label: 'circle', score: 0.5, box: [40, 2, 60, 20] },
      ],
    });
  });

  it('draws each image with its boxes to DIR/<name>.png and prints the paths', async () => {
    const out = path.join(dir, 'drawn', 'deeper');
    const text = await detect('--draw', out, file('a.png'), file('b.png'));
    expect(text.code).toBe(0);
    expect(text.out).toContain(`  drawn: ${path.join(out, 'a.png')}\n`);
    expect(text.out).toContain(`  drawn: ${path.join(out, 'b.png')}\n`);
    const { data, info } = await sharp(await readFile(path.join(out, 'a.png')))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 48]);
    // The square's left edge (x = 4) changed colour; a far corner did not.
    const at = (x: number, y: number): number[] =>
      Array.from(data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    expect(at(4, 30)).not.toEqual([128, 128, 128]);
    expect(at(63, 47)).toEqual([128, 128, 128]);
    const json = await detect('--draw', out, '--json', file('b.png'));
    expect(JSON.parse(json.out).drawn).toBe(path.join(out, 'b.png'));
  });

  it("reports the service's refusal with the file, the address and the status, exit code 1", async () => {
    const { code, out, err } = await detect(file('a.png'), file('empty.png'));
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(
      `rnas: detect failed for ${file('empty.png')} at ${address}: INVALID_ARGUMENT: invalid images.images[1]=<0 bytes>: empty image\n`,
    );
  });

  it('refuses a response without one result per image', async () => {
    const { code, err } = await rnas(['detect', '--model', 'short', '--addr', address, file('a.png')]);
    expect([code, err]).toEqual([
      1,
      `rnas: detect at ${address}: 0 results for 1 images (expected one per image)\n`,
    ]);
  });

  it('says where to look when nothing answers', async () => {
    const { code, err } = await rnas(['detect', '--model', 'm', '--addr', '127.0.0.1:1', file('a.png')]);
    expect(code).toBe(1);
    expect(err).toMatch(
      /^rnas: detect failed at 127\.0\.0\.1:1: UNAVAILABLE: .*\(is `rnas serve inference` running there\?/,
    );
  });

  it('names a file it cannot read and a folder it cannot draw to, before calling the service', async () => {
    requests.length = 0;
    const notDir = file('not-a-dir');
    for (const [args, message] of [
      [[file('missing.png')], `image file ${file('missing.png')} (argument FILE): cannot read: no such file`],
      [[dir], `image file ${dir} (argument FILE): not a regular file`],
      [['--draw', notDir, file('a.png')], `--draw ${notDir}: cannot write there: not a directory`],
      [
        ['--draw', path.join(notDir, 'x'), file('a.png')],
        `--draw ${path.join(notDir, 'x')}: cannot write there: not a directory`,
      ],
      [
        ['--draw', dir, file('a.png')],
        `--draw ${dir}: drawing ${file('a.png')} would overwrite input ${file('a.png')}`,
      ],
    ] as const) {
      expect(await detect(...args)).toEqual({ code: 1, out: '', err: `rnas: ${message}\n` });
    }
    expect(requests).toHaveLength(0);
  });

  it('refuses drawings that would collide or overwrite an input', () => {
    expect(() => drawPaths(['x/a.jpg', 'y/a.png'], 'out')).toThrow(
      '--draw out: x/a.jpg and y/a.png would both be drawn to out/a.png',
    );
    expect(drawPaths(['x/a.jpg', 'b.webp', '.hidden'], 'out')).toEqual([
      'out/a.png',
      'out/b.png',
      'out/.hidden.png',
    ]);
  });

  it.each([
    [
      ['--threshold', '1.5'],
      "option '--threshold <score>' argument '1.5' is invalid. expected a number in [0, 1], got \"1.5\"",
    ],
    [['--threshold', 'high'], 'expected a number, got "high"'],
    [['--max-detections', '500'], 'expected an integer in [1, 200], got "500"'],
    [['--max-detections', '0'], 'expected a positive integer, got "0"'],
    [['--classes', 'a,,b'], 'expected labels separated by commas, got "a,,b"'],
  ])('refuses bad flags %j', async (flags, message) => {
    const { code, err } = await detect(...flags, file('a.png'));
    expect(code).not.toBe(0);
    expect(err).toContain(message);
  });
});
