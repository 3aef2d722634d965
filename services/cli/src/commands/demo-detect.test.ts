// Detection end to end through the real services, as `make demo-detect` runs it but tiny: synthetic
// shapes in VOC format, SSDLite trained and published by the training service, loaded by the
// inference service, the held-out images sent through Detect as JPEGs, scored and drawn.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DETECT_DEFAULTS, detectResultLine, resolveDetectDemoConfig, runDetectDemo } from './demo-detect';

function captureIo(): { io: Parameters<typeof runDetectDemo>[1]; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s) > 0 },
      stderr: { write: (s: string) => err.push(s) > 0 },
      env: {},
    } as unknown as Parameters<typeof runDetectDemo>[1],
    out,
    err,
  };
}

describe('the detection demo', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rnas-demo-detect-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains, publishes, serves and detects through the services, ending with its AP50 line', async () => {
    const config = {
      ...resolveDetectDemoConfig({ out: dir, channels: 4, layers: 3, inputSize: 64, epochs: 1 }, new Date()),
      imageSize: 64,
      trainImages: 16,
      testImages: 6,
      batchSize: 4,
      draw: 2,
    };
    const { io, out, err } = captureIo();
    const code = await runDetectDemo(config, io);
    const text = out.join('');
    // The training's progress goes to stderr, as the CLI's watch prints it.
    expect({ code, failed: err.join('').includes('FAILED') }).toEqual({ code: 0, failed: false });
    expect(err.join('')).toMatch(/epoch 1\/1: train loss [\d.]+; test loss [\d.]+, AP50 [\d.]+/);
    const last = text.trimEnd().split('\n').pop() ?? '';
    expect(last).toMatch(/^demo-detect: AP50=(0|1)\.\d{4} model=shapes-detector version=1$/);
    expect(text).toContain('detecting the 6 held-out images through Detect');
    const drawn = path.join(dir, 'detections', '000017.png');
    expect(existsSync(drawn)).toBe(true);
    expect((await sharp(drawn).metadata()).width).toBe(64);
    expect(existsSync(path.join(dir, 'models', 'shapes-detector', '1', 'task.json'))).toBe(true);
  });

  it('checks its flags before anything starts, naming the flag', () => {
    const now = new Date();
    expect(() => resolveDetectDemoConfig({ inputSize: 100 }, now)).toThrow(
      /^--input-size: expected a multiple of 32/,
    );
    expect(() => resolveDetectDemoConfig({ channels: 7 }, now)).toThrow(/^--channels: .*even/);
    expect(() => resolveDetectDemoConfig({ layers: 1 }, now)).toThrow(/^--layers: expected at least 2/);
    expect(() => resolveDetectDemoConfig({ model: 'Bad Name' }, now)).toThrow(/^--model: /);
    expect(() => resolveDetectDemoConfig({ genotype: 'NoSuchGenotype' }, now)).toThrow(/NoSuchGenotype/);
    expect(resolveDetectDemoConfig({}, now)).toMatchObject({
      inputSize: DETECT_DEFAULTS.inputSize,
      modelName: DETECT_DEFAULTS.model,
    });
    expect(detectResultLine(0.71234, 'm', 3)).toBe('demo-detect: AP50=0.7123 model=m version=3');
    expect(() => detectResultLine(Number.NaN, 'm', 1)).toThrow(/AP50 NaN/);
  });
});
