// The one section writer every benchmark uses (these cases were each benchmark's own before).
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BENCHMARKS_DOC, replaceSection, sectionLines, writeDocSection } from './docs-section';

describe('replaceSection', () => {
  it('replaces only its own section and keeps the others', () => {
    const doc =
      '# Benchmarks\n\nIntro.\n\n## Search\n\nsearch numbers\n\n## Engine kernels\n\nold table\n\n## Serving\n\nqps\n';
    const out = replaceSection(doc, 'Engine kernels', 'new table\n');
    expect(out).toBe(
      '# Benchmarks\n\nIntro.\n\n## Search\n\nsearch numbers\n\n## Engine kernels\n\nnew table\n\n## Serving\n\nqps\n',
    );
    expect(replaceSection(out, 'Engine kernels', 'newer\n')).toBe(out.replace('new table', 'newer'));
    const data =
      '# Benchmarks\n\n## Engine\n\nold engine\n\n## Data pipeline\n\nold data\n\n## Networks\n\nnets\n';
    const replaced = replaceSection(data, 'Data pipeline', 'new data');
    expect(replaced).toBe(
      '# Benchmarks\n\n## Engine\n\nold engine\n\n## Data pipeline\n\nnew data\n\n## Networks\n\nnets\n',
    );
    expect(replaceSection(replaced, 'Data pipeline', 'new data')).toBe(replaced);
    const md = '# Benchmarks\n\n## Engine\n\nfast\n\n## Search\n\nold\n| a |\n\n## Data\n\nx\n';
    expect(replaceSection(md, 'Search', 'new')).toBe(
      '# Benchmarks\n\n## Engine\n\nfast\n\n## Search\n\nnew\n\n## Data\n\nx\n',
    );
    const serving = '# Benchmarks\n\n## Engine kernels\n\nfast\n\n## Serving\n\nold\n\n## Search\n\nslow\n';
    expect(replaceSection(serving, 'Serving', 'new\n')).toBe(
      '# Benchmarks\n\n## Engine kernels\n\nfast\n\n## Serving\n\nnew\n\n## Search\n\nslow\n',
    );
  });

  it('appends its section when the file has none, and handles it being last', () => {
    expect(replaceSection('# Benchmarks\n\nIntro.\n', 'Engine kernels', 't\n')).toBe(
      '# Benchmarks\n\nIntro.\n\n## Engine kernels\n\nt\n',
    );
    expect(replaceSection('# B\n\n## Engine kernels\n\nold\n', 'Engine kernels', 'new\n')).toBe(
      '# B\n\n## Engine kernels\n\nnew\n',
    );
    expect(replaceSection('# Benchmarks\n\n## Engine\n\nx\n', 'Data pipeline', 'd')).toBe(
      '# Benchmarks\n\n## Engine\n\nx\n\n## Data pipeline\n\nd\n',
    );
    expect(replaceSection('# Benchmarks\n\n## Search\n\nslow\n', 'Serving', 'new')).toBe(
      '# Benchmarks\n\n## Search\n\nslow\n\n## Serving\n\nnew\n',
    );
  });

  it('creates the document when there is none', () => {
    expect(replaceSection('', 'Search', 'body\n')).toBe('# Benchmarks\n\n## Search\n\nbody\n');
    expect(replaceSection('', 'Data pipeline', 'd')).toBe('# Benchmarks\n\n## Data pipeline\n\nd\n');
  });

  it('does not take a heading that merely starts like its own, or a ### heading, for a section end', () => {
    const doc = '# B\n\n## Search speed\n\nkeep\n\n## Search\n\nold\n\n### detail\n\nold too\n';
    expect(replaceSection(doc, 'Search', 'new')).toBe('# B\n\n## Search speed\n\nkeep\n\n## Search\n\nnew\n');
  });
});

describe('sectionLines', () => {
  it("gives a section's lines without its heading, and nothing for a missing one", () => {
    expect(sectionLines('# B\n\n## Networks\n\na\nb\n\n## Search\n\nc\n', 'Networks')).toEqual([
      '',
      'a',
      'b',
      '',
    ]);
    expect(sectionLines('# B\n', 'Networks')).toEqual([]);
  });
});

describe('writeDocSection', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rnas-bench-doc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes docs/benchmarks.md of the repository by default', () => {
    expect(BENCHMARKS_DOC).toBe(path.resolve(__dirname, '..', '..', 'docs', 'benchmarks.md'));
  });

  it('creates a missing file with the introduction, then rewrites only its section, leaving no temporary file', async () => {
    const file = path.join(dir, 'nested', 'benchmarks.md');
    await writeDocSection('Serving', 'qps 1', file);
    const created = await readFile(file, 'utf8');
    expect(created).toMatch(/^# Benchmarks\n\nMeasured performance of the platform\./);
    expect(created.endsWith('\n## Serving\n\nqps 1\n')).toBe(true);
    await writeDocSection('Search', 'slow', file);
    await writeDocSection('Serving', 'qps 2', file);
    expect(await readFile(file, 'utf8')).toBe(
      created.replace('qps 1', 'qps 2').replace(/\n$/, '\n\n## Search\n\nslow\n'),
    );
    expect(await readdir(path.dirname(file))).toEqual(['benchmarks.md']);
  });

  it('keeps an existing file as it is outside its section', async () => {
    const file = path.join(dir, 'benchmarks.md');
    await writeFile(file, '# Benchmarks\n\n## Networks\n\nnets\n');
    await writeDocSection('Networks', 'faster', file);
    expect(await readFile(file, 'utf8')).toBe('# Benchmarks\n\n## Networks\n\nfaster\n');
  });
});
