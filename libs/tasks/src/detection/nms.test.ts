import { nms } from './nms';

const BOXES = [0, 0, 1, 1, 0, 0, 1, 0.9, 0, 0, 1, 0.5, 2, 2, 3, 3];

describe('nms', () => {
  it('keeps the best box and drops those overlapping it by more than the threshold', () => {
    // IoUs with box 0: 0.9 (dropped), 0.5 (dropped at 0.45), 0 (kept).
    expect(nms(BOXES, [0.9, 0.8, 0.7, 0.6], 0.45)).toEqual([0, 3]);
    // Box 2 overlaps box 0 by 0.5 (0.499995 with the epsilon): kept at 0.5; box 1 still goes.
    expect(nms(BOXES, [0.9, 0.8, 0.7, 0.6], 0.5)).toEqual([0, 2, 3]);
    // Sorted by score first: box 1 is now the best and suppresses 0 (IoU 0.9) but not 2 (IoU 0.56).
    expect(nms(BOXES, [0.5, 0.8, 0.7, 0.6], 0.6)).toEqual([1, 2, 3]);
  });

  it('considers only the top candidates, ties broken by index', () => {
    expect(nms(BOXES, [0.9, 0.8, 0.7, 0.6], 0.45, 2)).toEqual([0]);
    expect(nms(BOXES, [0.5, 0.5, 0.5, 0.5], 0.95, 3)).toEqual([0, 1, 2]);
    expect(nms([], [], 0.45)).toEqual([]);
    expect(() => nms(BOXES, [1], 0.45)).toThrow(/nms: 1 scores but 16 box values/);
  });
});
