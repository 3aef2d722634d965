import type { Genotype } from '../genotype';
import { edgeOrigins, genotypeSvg } from './diagram';

const before: Genotype = {
  normal: [
    ['sep_conv_3x3', 0],
    ['sep_conv_3x3', 1],
    ['skip_connect', 0],
    ['max_pool_3x3', 2],
  ],
  normalConcat: [2, 3],
  reduce: [
    ['max_pool_3x3', 0],
    ['max_pool_3x3', 1],
    ['avg_pool_3x3', 2],
    ['dil_conv_5x5', 0],
  ],
  reduceConcat: [2, 3],
};
const teacher: Genotype = {
  ...before,
  normal: [
    ['dil_conv_3x3', 1],
    ['sep_conv_3x3', 1],
    ['skip_connect', 0],
    ['avg_pool_3x3', 1],
  ],
};
const after: Genotype = {
  ...before,
  normal: [
    ['dil_conv_3x3', 1],
    ['sep_conv_3x3', 1],
    ['sep_conv_5x5', 2],
    ['max_pool_3x3', 2],
  ],
};

describe('edgeOrigins', () => {
  it('marks kept, taken over from the teacher, and moved elsewhere', () => {
    expect(edgeOrigins(before, teacher, after)).toEqual({
      normal: ['teacher', 'kept', 'moved', 'kept'],
      reduce: ['kept', 'kept', 'kept', 'kept'],
    });
  });

  it('calls an edge kept when student and teacher already agreed on it', () => {
    expect(edgeOrigins(before, before, before).normal).toEqual(['kept', 'kept', 'kept', 'kept']);
  });
});

describe('genotypeSvg', () => {
  it('draws every edge with its op, the concat arrows and both cells', () => {
    const svg = genotypeSvg(after, { title: 'generation 3 <best>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // 4 edges + 2 concat arrows per cell.
    expect(svg.match(/<path d="[^"]*" fill="none"/g)).toHaveLength(12);
    for (const op of ['dil_conv_3x3', 'sep_conv_5x5', 'avg_pool_3x3', 'dil_conv_5x5'])
      expect(svg).toContain(`>${op}<`);
    expect(svg).toContain('normal cell');
    expect(svg).toContain('reduce cell');
    expect(svg).toContain('generation 3 &#60;best&#62;');
    expect(svg).not.toContain('<best>');
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('undefined');
  });

  it('lays nodes out at distinct positions', () => {
    const svg = genotypeSvg(after);
    const rects = [...svg.matchAll(/<rect x="([\d.-]+)" y="([\d.-]+)" width="\d+" height="\d+" rx="6"/g)].map(
      (m) => `${m[1]},${m[2]}`,
    );
    // 2 inputs + 2 nodes + output, per cell; positions within one cell are distinct.
    expect(rects).toHaveLength(10);
    expect(new Set(rects.slice(0, 5)).size).toBe(5);
  });

  it('colours edges by origin and adds a legend only when origins are given', () => {
    const plain = genotypeSvg(after);
    expect(plain).not.toContain('taken over from the teacher');
    const marked = genotypeSvg(after, { origins: edgeOrigins(before, teacher, after) });
    expect(marked).toContain('taken over from the teacher');
    expect(marked.match(/stroke="#d62728" stroke-width="1.6"/g)).toHaveLength(1);
    expect(marked.match(/stroke-dasharray="5,3" marker-end/g)).toHaveLength(1);
    expect(marked.match(/stroke="#1f77b4" stroke-width="1.6"/g)).toHaveLength(6);
  });

  it('draws a node reading the same state twice as two separate arrows', () => {
    const twice: Genotype = {
      ...after,
      normal: [['sep_conv_3x3', 0], ['sep_conv_3x3', 0], ...after.normal.slice(2)],
    };
    const svg = genotypeSvg(twice);
    expect(svg.match(/>sep_conv_3x3</g)).toHaveLength(2);
    expect(svg.match(/<path d="[^"]*" fill="none"/g)).toHaveLength(12);
  });
});
