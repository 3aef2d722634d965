import { replaceSection } from './bench';

describe('replaceSection', () => {
  it('creates the file with the section when there is none', () => {
    expect(replaceSection('', '## Search', 'body\n')).toBe('# Benchmarks\n\n## Search\n\nbody\n');
  });

  it('appends the section after the others', () => {
    expect(replaceSection('# Benchmarks\n\n## Engine\n\nfast\n', '## Search', 'b')).toBe(
      '# Benchmarks\n\n## Engine\n\nfast\n\n## Search\n\nb\n',
    );
  });

  it('replaces only its own section, keeping the sections before and after', () => {
    const md = '# Benchmarks\n\n## Engine\n\nfast\n\n## Search\n\nold\n| a |\n\n## Data\n\nx\n';
    expect(replaceSection(md, '## Search', 'new')).toBe(
      '# Benchmarks\n\n## Engine\n\nfast\n\n## Search\n\nnew\n\n## Data\n\nx\n',
    );
  });
});
