// `rnas pose` against a fake inference service answering EstimatePose with crafted poses.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError, startFakeService, type FakeService } from '@rnas/grpc';
import {
  InferenceServiceService,
  type BoundingBox,
  type EstimatePoseRequest,
  type EstimatePoseResponse,
  type PersonPose,
} from '@rnas/proto';
import { rnas } from '../test-util';
import { classColour } from './draw-detections';
import { boxList, MAX_BOXES_PER_IMAGE } from './person-boxes';

const [W, H] = [64, 48];
const GREY = 128;
const SKELETON = [0, 1, 1, 2];

/** The fake's pose in a box: head at its top centre, hip at its centre, foot (score 0.1) bottom right. */
function pose(box: BoundingBox): PersonPose {
  const cx = (box.xMin + box.xMax) / 2;
  return {
    box,
    keypoints: [
      { name: 'head', x: cx, y: box.yMin + 2, score: 0.9 },
      { name: 'hip', x: cx, y: (box.yMin + box.yMax) / 2, score: 0.75 },
      { name: 'foot', x: box.xMax - 1, y: box.yMax - 1, score: 0.1 },
    ],
    score: 0.8,
  };
}

describe('rnas pose', () => {
  let fake: FakeService;
  let address: string;
  let dir: string;
  const requests: EstimatePoseRequest[] = [];
  const file = (name: string): string => path.join(dir, name);
  let poseCli: (...args: string[]) => ReturnType<typeof rnas>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-pose-'));
    const grey = sharp({
      create: { width: W, height: H, channels: 3, background: { r: GREY, g: GREY, b: GREY } },
    });
    await writeFile(file('a.png'), await grey.clone().png().toBuffer());
    await writeFile(file('b.png'), await grey.clone().png({ compressionLevel: 0 }).toBuffer());
    await writeFile(file('empty.png'), '');
    await writeFile(file('not-json.json'), '{ nope');
    fake = await startFakeService(InferenceServiceService, {
      estimatePose: (request): EstimatePoseResponse => {
        requests.push(request);
        const images = request.images?.images ?? [];
        if (request.modelName === 'short')
          return { modelName: 'short', version: 1, images: [], skeleton: [] };
        return {
          modelName: request.modelName,
          version: request.version ?? 4,
          skeleton: SKELETON,
          images: images.map((bytes, i) => {
            if (bytes.length === 0)
              throw new InvalidArgumentError(`images.images[${i}]`, bytes, 'empty image');
            const given = request.boxes[i]?.boxes ?? [];
            const boxes = given.length > 0 ? given : [{ xMin: 0, yMin: 0, xMax: W, yMax: H }];
            return { width: W, height: H, people: boxes.map(pose) };
          }),
        };
      },
    });
    address = fake.address;
    poseCli = (...args) => rnas(['pose', '--model', 'kp', '--addr', address, ...args]);
  });

  afterAll(async () => {
    await fake.server.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints each person with its keypoints; without boxes each image is one person', async () => {
    requests.length = 0;
    const { code, out, err } = await poseCli('--version', '2', file('a.png'));
    expect([code, err]).toEqual([0, '']);
    expect(out).toBe(
      `${file('a.png')}: 1 person\n  person 1 [0.0, 0.0, 64.0, 48.0] score 0.80\n` +
        '    head 32.0 2.0 0.90\n    hip 32.0 24.0 0.75\n    foot 63.0 47.0 0.10\n',
    );
    expect(requests.map((r) => [r.modelName, r.version, r.images?.images.length, r.boxes])).toEqual([
      ['kp', 2, 1, []],
    ]);
  });

  it('passes boxes up to the service tolerance past the edge (it clips them)', async () => {
    requests.length = 0;
    expect((await poseCli('--boxes', '-0.5,0,65,49', file('a.png'))).code).toBe(0);
    expect(requests[0].boxes).toEqual([{ boxes: [{ xMin: -0.5, yMin: 0, xMax: 65, yMax: 49 }] }]);
  });

  it('sends --boxes for every image, a batch at a time', async () => {
    requests.length = 0;
    const { code, out } = await poseCli(
      '--boxes',
      '2,2,30,40; 32,0,64,48;',
      '--batch',
      '1',
      file('a.png'),
      file('b.png'),
    );
    expect(code).toBe(0);
    expect(out.match(/: 2 people\n/g)).toHaveLength(2);
    expect(out).toContain('  person 2 [32.0, 0.0, 64.0, 48.0] score 0.80\n    head 48.0 2.0 0.90\n');
    const boxes = [
      { xMin: 2, yMin: 2, xMax: 30, yMax: 40 },
      { xMin: 32, yMin: 0, xMax: 64, yMax: 48 },
    ];
    expect(requests.map((r) => [r.images?.images.length, r.boxes])).toEqual([
      [1, [{ boxes }]],
      [1, [{ boxes }]],
    ]);
  });

  it('sends the boxes of --boxes-file per image, by path or base name, none for images not in it', async () => {
    const boxesFile = file('boxes.json');
    await writeFile(boxesFile, JSON.stringify({ 'b.png': [[1, 2, 3, 4]], [file('a.png')]: [] }));
    requests.length = 0;
    const { code } = await poseCli('--boxes-file', boxesFile, file('a.png'), file('b.png'), file('a.png'));
    expect(code).toBe(0);
    expect(requests[0].boxes).toEqual([
      { boxes: [] },
      { boxes: [{ xMin: 1, yMin: 2, xMax: 3, yMax: 4 }] },
      { boxes: [] },
    ]);
  });

  it('prints one JSON object per file with --json', async () => {
    const { out } = await poseCli('--json', '--boxes', '0,0,10,20', file('a.png'));
    expect(JSON.parse(out)).toEqual({
      file: file('a.png'),
      model: 'kp',
      version: 4,
      width: W,
      height: H,
      people: [
        {
          box: [0, 0, 10, 20],
          score: expect.closeTo(0.8, 6),
          keypoints: [
            { name: 'head', x: 5, y: 2, score: expect.closeTo(0.9, 6) },
            { name: 'hip', x: 5, y: 10, score: expect.closeTo(0.75, 6) },
            { name: 'foot', x: 9, y: 19, score: expect.closeTo(0.1, 6) },
          ],
        },
      ],
    });
  });

  it('draws each image with its skeletons to DIR/<name>.png', async () => {
    const out = path.join(dir, 'drawn');
    const r = await poseCli('--draw', out, file('a.png'));
    expect(r.out).toContain(`  drawn: ${path.join(out, 'a.png')}\n`);
    const { data, info } = await sharp(await readFile(path.join(out, 'a.png')))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([W, H]);
    const at = (x: number, y: number): number[] =>
      Array.from(data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));
    const colour = [1, 3, 5].map((i) => parseInt(classColour(0).slice(i, i + 2), 16));
    // The limb head-hip runs down x = 32; the foot (score 0.1) has no limb and no dot.
    expect(at(32, 14)).toEqual(colour);
    expect(at(48, 36)).toEqual([GREY, GREY, GREY]);
    expect(at(62, 46)).toEqual([GREY, GREY, GREY]);
  });

  it("reports the service's refusal with the file, and a short answer", async () => {
    const refused = await poseCli(file('a.png'), file('empty.png'));
    expect(refused).toEqual({
      code: 1,
      out: '',
      err: `rnas: pose failed for ${file('empty.png')} at ${address}: INVALID_ARGUMENT: invalid images.images[1]=<0 bytes>: empty image\n`,
    });
    const short = await rnas(['pose', '--model', 'short', '--addr', address, file('a.png')]);
    expect(short.err).toBe(`rnas: pose at ${address}: 0 results for 1 images (expected one per image)\n`);
  });

  it('names a bad box, boxes file or folder, with the flag and the value, before calling the service', async () => {
    const write = async (name: string, json: unknown): Promise<string> => {
      await writeFile(file(name), typeof json === 'string' ? json : JSON.stringify(json));
      return file(name);
    };
    const f = (name: string): string => `--boxes-file ${file(name)}`;
    const cases: [string[], string][] = [
      [
        ['--boxes', '0,0,65.5,10', file('a.png')],
        `--boxes 0,0,65.5,10: box 1 (0,0,65.5,10) reaches outside ${file('a.png')} (64x48)`,
      ],
      [
        ['--boxes', '-2,0,10,10', file('a.png')],
        `--boxes -2,0,10,10: box 1 (-2,0,10,10) reaches outside ${file('a.png')} (64x48)`,
      ],
      [
        ['--boxes', '0,0,5,5;1,1,2,49.5', file('a.png')],
        `--boxes 0,0,5,5;1,1,2,49.5: box 2 (1,1,2,49.5) reaches outside ${file('a.png')} (64x48)`,
      ],
      [
        ['--boxes', '1,1,2,2', '--boxes-file', 'x.json', file('a.png')],
        'give at most one of --boxes and --boxes-file',
      ],
      [['--boxes-file', file('none.json'), file('a.png')], `${f('none.json')}: cannot read: no such file`],
      [['--boxes-file', dir, file('a.png')], `--boxes-file ${dir}: cannot read: not a regular file`],
      [['--boxes-file', file('not-json.json'), file('a.png')], `${f('not-json.json')}: not JSON: `],
      [
        ['--boxes-file', await write('list.json', [[0, 0, 1, 1]]), file('a.png')],
        `${f('list.json')}: expected an object mapping image files to [[x0, y0, x1, y1], ...]`,
      ],
      [
        ['--boxes-file', await write('other.json', { 'c.png': [] }), file('a.png')],
        `${f('other.json')}: "c.png" is none of the image files given`,
      ],
      [
        ['--boxes-file', await write('twice.json', { 'a.png': [], [file('a.png')]: [] }), file('a.png')],
        `${f('twice.json')}: "a.png" and "${file('a.png')}" both name ${file('a.png')}`,
      ],
      [
        ['--boxes-file', await write('ambiguous.json', { 'a.png': [] }), file('a.png'), 'other/a.png'],
        `${f('ambiguous.json')}: "a.png" names 2 of the image files; use the path as given`,
      ],
      [
        ['--boxes-file', await write('flat.json', { 'a.png': [0, 0, 1, 1] }), file('a.png')],
        `${f('flat.json')}: "a.png"[0] 0: expected an array of 4 numbers [x0, y0, x1, y1]`,
      ],
      [
        ['--boxes-file', await write('strings.json', { 'a.png': [['0', 0, 1, 1]] }), file('a.png')],
        `${f('strings.json')}: "a.png"[0] ["0",0,1,1]: expected an array of 4 numbers [x0, y0, x1, y1]`,
      ],
      [
        [
          '--boxes-file',
          await write('three.json', {
            'a.png': [
              [0, 0, 1, 1],
              [0, 0, 1],
            ],
          }),
          file('a.png'),
        ],
        `${f('three.json')}: "a.png"[1] [0,0,1]: expected 4 numbers x0,y0,x1,y1, got 3`,
      ],
      [
        ['--boxes-file', await write('flat-box.json', { 'a.png': [[5, 0, 5, 10]] }), file('a.png')],
        `${f('flat-box.json')}: "a.png"[0] [5,0,5,10]: expected x1 > x0 and y1 > y0 (a box of positive area)`,
      ],
      [
        ['--boxes-file', await write('outside.json', { 'a.png': [[0, 0, 10, 100]] }), file('a.png')],
        `${f('outside.json')}: box 1 (0,0,10,100) reaches outside ${file('a.png')} (64x48)`,
      ],
      [
        [
          '--boxes-file',
          await write('crowd.json', {
            'a.png': Array.from({ length: MAX_BOXES_PER_IMAGE + 1 }, () => [0, 0, 1, 1]),
          }),
          file('a.png'),
        ],
        `${f('crowd.json')}: "a.png": expected at most ${MAX_BOXES_PER_IMAGE} boxes, got ${MAX_BOXES_PER_IMAGE + 1}`,
      ],
      [
        ['--draw', dir, file('a.png')],
        `--draw ${dir}: drawing ${file('a.png')} would overwrite input ${file('a.png')}`,
      ],
    ];
    for (const [args, message] of cases) {
      requests.length = 0;
      const r = await poseCli(...args);
      expect([r.code, r.out]).toEqual([1, '']);
      expect(r.err.startsWith(`rnas: ${message}`)).toBe(true);
      expect(requests).toHaveLength(0);
    }
  });

  it.each([
    ['1,2,3', 'box 1 "1,2,3": expected 4 numbers x0,y0,x1,y1, got 3'],
    ['1,2,3,4,5', 'box 1 "1,2,3,4,5": expected 4 numbers x0,y0,x1,y1, got 5'],
    ['a,b,c,d', 'box 1 "a,b,c,d": expected finite numbers'],
    ['0,0,10,10;;1,1,2,2', 'box 2 "": empty'],
    ['', 'box 1 "": empty'],
    ['0,0,,10', 'box 1 "0,0,,10": expected finite numbers'],
    ['0,0,1e999,10', 'box 1 "0,0,1e999,10": expected finite numbers'],
    ['10,0,5,10', 'box 1 "10,0,5,10": expected x1 > x0 and y1 > y0 (a box of positive area)'],
    ['0,3,10,3', 'box 1 "0,3,10,3": expected x1 > x0 and y1 > y0 (a box of positive area)'],
  ])('refuses --boxes %j', async (value, message) => {
    requests.length = 0;
    const { code, err } = await poseCli('--boxes', value, file('a.png'));
    expect(code).not.toBe(0);
    expect(err).toContain(`option '--boxes <boxes>' argument '${value}' is invalid. ${message}`);
    expect(requests).toHaveLength(0);
  });

  it('refuses a huge --boxes and takes fractional ones', () => {
    const many = Array.from({ length: MAX_BOXES_PER_IMAGE + 1 }, () => '0,0,1,1').join(';');
    expect(() => boxList(many)).toThrow(
      `expected at most ${MAX_BOXES_PER_IMAGE} boxes, got ${MAX_BOXES_PER_IMAGE + 1}`,
    );
    expect(boxList(' 0.5 , 1,2.25,3 ')).toEqual([[0.5, 1, 2.25, 3]]);
  });

  it('is in the help', async () => {
    const help = await rnas(['pose', '--help']);
    for (const flag of ['--boxes <boxes>', '--boxes-file <file>', '--draw <dir>'])
      expect(help.out).toContain(flag);
    expect((await rnas(['--help'])).out).toMatch(
      /pose \[options\] <files\.\.\.>\s+estimate people's keypoints/,
    );
  });
});
