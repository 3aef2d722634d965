import { SEARCH_STRATEGIES, resolveSearchConfig } from '../search-config';
import type { SearchHistory } from '../history';
import { STRATEGIES } from '.';

describe('the strategy registry', () => {
  it('names each strategy by its key, and is the list a configuration may choose from', () => {
    for (const [key, strategy] of Object.entries(STRATEGIES)) expect(strategy.name).toBe(key);
    expect(SEARCH_STRATEGIES).toEqual(['relativenas', 'random']);
    for (const name of SEARCH_STRATEGIES) expect(resolveSearchConfig({ strategy: name }).strategy).toBe(name);
    expect(() => resolveSearchConfig({ strategy: 'toString' })).toThrow(/strategy must be one of/);
    expect(() => resolveSearchConfig({ strategy: '__proto__' })).toThrow(/strategy must be one of/);
  });

  it('shows lineage in the cell diagrams of RelativeNAS only, never for generation 0', () => {
    const history = { generations: [] } as unknown as SearchHistory;
    expect(STRATEGIES.relativenas.originsOf(history, 0, 0)).toBeUndefined();
    expect(STRATEGIES.random.originsOf(history, 1, 0)).toBeUndefined();
  });
});
