import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPublishedGenotype } from './genotypes';
import { parseSpecFile, readSpecFile } from './network-spec';

const FIXTURE_SPEC = {
  variant: 'cifar',
  genotype: 'DARTS_V2',
  channels: 8,
  layers: 5,
  classes: 10,
  input_hw: 16,
  auxiliary: false,
  batchnorm_eps: 1e-5,
  batchnorm_momentum: 0.1,
  drop_path: 0.0,
  lr: 0.1,
  momentum: 0.9,
  weight_decay: 0.0003,
  grad_clip: 5.0,
  loss: 'mean softmax cross-entropy',
  layout: 'torch NCHW; conv weights [out,in,kh,kw]; depthwise [C,1,kh,kw]; linear [out,in]',
};

describe('spec files', () => {
  it('parses the fixture format, with a genotype name or object', () => {
    const s = parseSpecFile(FIXTURE_SPEC);
    expect(s.network).toEqual({
      variant: 'cifar',
      genotype: getPublishedGenotype('DARTS_V2'),
      channels: 8,
      layers: 5,
      classes: 10,
      inChannels: 3,
      auxiliary: false,
    });
    expect([s.inputHw, s.lr, s.momentum, s.weightDecay, s.gradClip, s.bnMomentum, s.dropPath]).toEqual([
      16, 0.1, 0.9, 0.0003, 5, 0.1, 0,
    ]);
    const withObject = parseSpecFile({ ...FIXTURE_SPEC, genotype: getPublishedGenotype('RelativeNAS') });
    expect(withObject.network.genotype).toEqual(getPublishedGenotype('RelativeNAS'));
    expect(parseSpecFile({ ...FIXTURE_SPEC, grad_clip: null }).gradClip).toBeNull();
  });

  it.each([
    [{ genotype: 'DARTS_V3' }, /s\.json: genotype: unknown genotype name "DARTS_V3"/],
    [{ genotype: { normal: [] } }, /genotype/],
    [{ lr: -1 }, /s\.json: lr: /],
    [{ channels: 1.5 }, /s\.json: channels: /],
    [{ variant: 'mnist' }, /s\.json: variant: /],
    [{ lr_max: 1 }, /s\.json: .*lr_max/],
    [{ loss: 'hinge' }, /only 'mean softmax cross-entropy' is supported, got 'hinge'/],
  ])('refuses %j with an error naming the field', (bad, message) => {
    expect(() => parseSpecFile({ ...FIXTURE_SPEC, ...bad }, 's.json')).toThrow(message);
  });

  it('refuses a non-object and reports unreadable or malformed files by path', async () => {
    expect(() => parseSpecFile([], 'x')).toThrow(/^x: /);
    const dir = mkdtempSync(join(tmpdir(), 'rnas-spec-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"variant": ');
    await expect(readSpecFile(bad)).rejects.toThrow(`${bad}: not valid JSON`);
    await expect(readSpecFile(join(dir, 'none.json'))).rejects.toThrow(/none\.json: cannot read spec/);
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(FIXTURE_SPEC));
    expect((await readSpecFile(good)).network.layers).toBe(5);
  });
});
