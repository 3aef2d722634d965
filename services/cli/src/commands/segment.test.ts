// `rnas segment` against a fake inference service answering Segment with crafted label maps.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { encodeLabelPng, vocPalette } from '@rnas/data';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import {
  InferenceServiceService,
  LabelMapEncoding,
  type SegmentRequest,
  type SegmentResponse,
} from '@rnas/proto';
import { rnas } from '../test-util';

const [W, H] = [40, 30];
const GREY = 128;
const PALETTE = vocPalette();

/** The service's answer for every image: class 0 left, circle (1) top right, square (2) bottom right. */
function labelIndices(): Uint8Array {
  const indices = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = W / 2; x < W; x++) indices[y * W + x] = y < H / 2 ? 1 : 2;
  return indices;
}
const LABEL_PNG = encodeLabelPng(labelIndices(), W, H);
const CLASSES = [
  { classIndex: 0, label: 'background', pixels: 600 },
  { classIndex: 1, label: 'circle', pixels: 300 },
  { classIndex: 2, label: 'square', pixels: 300 },
];

describe('rnas segment', () => {
  let fake: FakeService;
  let address: string;
  let dir: string;
  const requests: SegmentRequest[] = [];
  const file = (name: string): string => path.join(dir, name);
  let segment: (...args: string[]) => ReturnType<typeof rnas>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-segment-'));
    const grey = (v: number): Promise<Buffer> =>
      sharp({ create: { width: W, height: H, channels: 3, background: { r: v, g: v, b: v } } })
        .png()
        .toBuffer();
    await writeFile(file('a.png'), await grey(GREY));
    await writeFile(file('b.png'), await grey(GREY + 1));
    await writeFile(file('empty.png'), '');
    await writeFile(file('not-a-dir'), 'x');
    fake = await startFakeService(InferenceServiceService, {
      segment: (request): SegmentResponse => {
        requests.push(request);
        const images = request.input?.$case === 'images' ? request.input.value.images : [];
        if (request.modelName === 'short') return { modelName: 'short', version: 1, images: [] };
        return {
          modelName: request.modelName,
          version: request.version ?? 2,
          images: images.map((bytes, i) => {
            if (bytes.length === 0)
              throw new InvalidArgumentError(`images.images[${i}]`, bytes, 'empty image');
            // Model 'garbled' answers a label map that is no PNG.
            const labelMap = request.modelName === 'garbled' ? Buffer.from('garbage') : LABEL_PNG;
            return { width: W, height: H, labelMap, classes: CLASSES };
          }),
        };
      },
    });
    address = fake.address;
    segment = (...args) => rnas(['segment', '--model', 'seg', '--addr', address, ...args]);
  });

  afterAll(async () => {
    await fake.server.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the classes of each file with their share of the pixels, and sends the flags', async () => {
    requests.length = 0;
    const { code, out, err } = await rnas([
      'segment',
      '--model',
      'seg',
      '--version',
      '3',
      '--addr',
      address,
      '--batch',
      '1',
      file('a.png'),
      file('b.png'),
    ]);
    expect([code, err]).toEqual([0, '']);
    const lines = (f: string): string =>
      `${f}: 40x30, 3 classes\n  background 50.0% (600 px)\n  circle 25.0% (300 px)\n  square 25.0% (300 px)\n`;
    expect(out).toBe(lines(file('a.png')) + lines(file('b.png')));
    expect(
      requests.map((r) => [
        r.modelName,
        r.version,
        r.encoding,
        r.input?.$case === 'images' && r.input.value.images.length,
      ]),
    ).toEqual([
      ['seg', 3, LabelMapEncoding.LABEL_MAP_ENCODING_PNG, 1],
      ['seg', 3, LabelMapEncoding.LABEL_MAP_ENCODING_PNG, 1],
    ]);
    requests.length = 0;
    await segment(file('a.png'), file('b.png'));
    expect(requests).toHaveLength(1);
    expect(requests[0].version).toBeUndefined();
  });

  it('prints one JSON object per file with --json', async () => {
    const { code, out } = await segment('--json', file('a.png'));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      file: file('a.png'),
      model: 'seg',
      version: 2,
      width: W,
      height: H,
      classes: [
        { classIndex: 0, label: 'background', pixels: 600, share: 0.5 },
        { classIndex: 1, label: 'circle', pixels: 300, share: 0.25 },
        { classIndex: 2, label: 'square', pixels: 300, share: 0.25 },
      ],
    });
  });

  it('writes colour overlays at the image size and the label maps as returned', async () => {
    const overlays = path.join(dir, 'overlays', 'deeper');
    const raws = path.join(dir, 'raw');
    const r = await segment('--overlay', overlays, '--raw', raws, '--alpha', '0.25', file('a.png'));
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `  overlay: ${path.join(overlays, 'a.png')}\n  label map: ${path.join(raws, 'a.png')}\n`,
    );
    const { data, info } = await sharp(await readFile(path.join(overlays, 'a.png')))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([W, H, 3]);
    const at = (x: number, y: number): number[] =>
      Array.from(data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));
    const tint = (c: readonly number[]): number[] => c.map((v) => Math.round(0.75 * GREY + 0.25 * v));
    expect(at(2, 2)).toEqual([GREY, GREY, GREY]);
    expect(at(25, 5)).toEqual(tint(PALETTE[1]));
    expect(at(25, 25)).toEqual(tint(PALETTE[2]));
    expect((await readFile(path.join(raws, 'a.png'))).equals(LABEL_PNG)).toBe(true);
    const json = JSON.parse((await segment('--overlay', overlays, '--json', file('b.png'))).out);
    expect(json.overlay).toBe(path.join(overlays, 'b.png'));
    expect(json.labelMap).toBeUndefined();
  });

  it("reports the service's refusal with the file, a short answer and an unreadable label map", async () => {
    const refused = await segment(file('a.png'), file('empty.png'));
    expect(refused).toEqual({
      code: 1,
      out: '',
      err: `rnas: segment failed for ${file('empty.png')} at ${address}: INVALID_ARGUMENT: invalid images.images[1]=<0 bytes>: empty image\n`,
    });
    const short = await rnas(['segment', '--model', 'short', '--addr', address, file('a.png')]);
    expect(short.err).toBe(`rnas: segment at ${address}: 0 results for 1 images (expected one per image)\n`);
    const garbled = await rnas([
      'segment',
      '--model',
      'garbled',
      '--addr',
      address,
      '--overlay',
      path.join(dir, 'g'),
      file('a.png'),
    ]);
    expect(garbled.code).toBe(1);
    expect(garbled.err).toMatch(
      new RegExp(`^rnas: overlaying ${file('a.png')}: the label map is not an image`),
    );
  });

  it('names bad files, folders and flags before calling the service', async () => {
    requests.length = 0;
    const notDir = file('not-a-dir');
    for (const [args, message] of [
      [[file('missing.png')], `image file ${file('missing.png')} (argument FILE): cannot read: no such file`],
      [['--overlay', notDir, file('a.png')], `--overlay ${notDir}: cannot write there: not a directory`],
      [
        ['--raw', path.join(notDir, 'x'), file('a.png')],
        `--raw ${path.join(notDir, 'x')}: cannot write there: not a directory`,
      ],
      [
        ['--overlay', dir, file('a.png')],
        `--overlay ${dir}: the overlay of ${file('a.png')} would overwrite input ${file('a.png')}`,
      ],
      [
        ['--raw', 'out', 'x/a.jpg', 'y/a.png'],
        '--raw out: x/a.jpg and y/a.png would both be written to out/a.png',
      ],
      [
        ['--overlay', 'out', '--raw', 'out/', file('a.png')],
        '--overlay out and --raw out/: both write <name>.png there; give two folders',
      ],
      [['--alpha', '0.3', file('a.png')], "--alpha 0.3: only with --overlay (it is the overlay's opacity)"],
    ] as const) {
      expect(await segment(...args)).toEqual({ code: 1, out: '', err: `rnas: ${message}\n` });
    }
    expect(requests).toHaveLength(0);
  });

  it.each([
    [['--alpha', '1.5'], 'expected a number in [0, 1], got "1.5"'],
    [['--alpha', 'half'], 'expected a number, got "half"'],
    [['--version', '0'], 'expected a positive integer, got "0"'],
  ])('refuses bad flags %j', async (flags, message) => {
    const { code, err } = await segment('--overlay', path.join(dir, 'o'), ...flags, file('a.png'));
    expect(code).not.toBe(0);
    expect(err).toContain(message);
  });

  it('is in the help', async () => {
    const help = await rnas(['segment', '--help']);
    expect(help.out).toContain('--overlay <dir>');
    expect(help.out).toContain('--raw <dir>');
    expect(help.out).toContain('--alpha <x>');
    expect((await rnas(['--help'])).out).toMatch(/segment \[options\] <files\.\.\.>\s+label every pixel/);
  });
});
