// The Segment response from serving records: nearest resize, class counts, encodings.
import sharp from 'sharp';
import { LabelMapEncoding } from '@rnas/proto';
import { labelsFromColours, vocPalette } from '@rnas/data';
import { classPixels, imageSegmentations, resizeNearest, resolveLabelMapEncoding } from './segment-output';

describe('resizeNearest', () => {
  const map = Uint8Array.from([0, 1, 2, 3, 4, 5]); // 3 wide, 2 high

  it('keeps a map at its own size and doubles each pixel at twice the size', () => {
    expect(resizeNearest(map, 3, 2, 3, 2)).toBe(map);
    expect([...resizeNearest(map, 3, 2, 6, 4)]).toEqual([
      0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 3, 3, 4, 4, 5, 5,
    ]);
  });

  it('reads the pixel under each output centre when shrinking or stretching one side', () => {
    expect([...resizeNearest(map, 3, 2, 1, 1)]).toEqual([4]);
    expect([...resizeNearest(map, 3, 2, 3, 1)]).toEqual([3, 4, 5]);
    expect([...resizeNearest(Uint8Array.from([7, 9]), 2, 1, 5, 1)]).toEqual([7, 7, 9, 9, 9]);
  });
});

describe('classPixels', () => {
  it('counts the classes present, most first, ties by index', () => {
    expect(classPixels(Uint8Array.from([2, 0, 2, 1, 0, 2]), ['bg', 'cat', 'dog'])).toEqual([
      { classIndex: 2, label: 'dog', pixels: 3 },
      { classIndex: 0, label: 'bg', pixels: 2 },
      { classIndex: 1, label: 'cat', pixels: 1 },
    ]);
    expect(classPixels(new Uint8Array(0), ['bg'])).toEqual([]);
  });
});

describe('resolveLabelMapEncoding', () => {
  it('takes PNG when unset, and refuses an unknown value naming the field', () => {
    expect(resolveLabelMapEncoding(LabelMapEncoding.LABEL_MAP_ENCODING_UNSPECIFIED)).toBe('png');
    expect(resolveLabelMapEncoding(LabelMapEncoding.LABEL_MAP_ENCODING_PNG)).toBe('png');
    expect(resolveLabelMapEncoding(LabelMapEncoding.LABEL_MAP_ENCODING_RAW)).toBe('raw');
    expect(() => resolveLabelMapEncoding(-1 as LabelMapEncoding)).toThrow(/^invalid encoding=-1: expected/);
  });
});

describe('imageSegmentations', () => {
  const labels = ['bg', 'a', 'b'];
  // Two 2x2 records: [[0, 1], [2, 1]] and all background.
  const records = Float32Array.from([0, 1, 2, 1, 0, 0, 0, 0]);
  const input = { height: 2, width: 2 };

  it('resizes each record to its image and encodes raw bytes or a palette PNG of the same labels', async () => {
    const sizes = [
      { width: 4, height: 2 },
      { width: 1, height: 3 },
    ];
    const raw = imageSegmentations(records, input, sizes, labels, 'raw');
    expect([...raw[0].labelMap]).toEqual([0, 0, 1, 1, 2, 2, 1, 1]);
    expect(raw[0].classes).toEqual([
      { classIndex: 1, label: 'a', pixels: 4 },
      { classIndex: 0, label: 'bg', pixels: 2 },
      { classIndex: 2, label: 'b', pixels: 2 },
    ]);
    expect([...raw[1].labelMap]).toEqual([0, 0, 0]);
    const png = imageSegmentations(records, input, sizes, labels, 'png');
    const { data, info } = await sharp(png[0].labelMap)
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([4, 2]);
    expect([...labelsFromColours(data, vocPalette()).labels]).toEqual([...raw[0].labelMap]);
    expect(png[0].classes).toEqual(raw[0].classes);
  });

  it('refuses a record that is no class of the model (a broken model, not a request error)', () => {
    const bad = Float32Array.from([0, 1, 3, 0]);
    expect(() => imageSegmentations(bad, input, [{ width: 2, height: 2 }], labels, 'raw')).toThrow(
      /pixel 2 has class 3, the model has 3/,
    );
    expect(() =>
      imageSegmentations(Float32Array.from([0, NaN, 0, 0]), input, [{ width: 2, height: 2 }], labels, 'raw'),
    ).toThrow(/class NaN/);
  });
});
