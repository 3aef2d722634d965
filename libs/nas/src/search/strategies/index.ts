// The registry of search strategies: a configuration's `strategy` names one of these keys, and
// SEARCH_STRATEGIES (what the CLI offers and resolveSearchConfig accepts) is this list.
import type { Strategy } from '../strategy';
import { RANDOM } from './random';
import { RELATIVENAS } from './relativenas';

export const STRATEGIES = {
  relativenas: RELATIVENAS,
  random: RANDOM,
} as const satisfies Readonly<Record<string, Strategy>>;

export type SearchStrategy = keyof typeof STRATEGIES;

export { RANDOM, RELATIVENAS };
