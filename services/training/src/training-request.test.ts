import {
  ANONYMOUS,
  InvalidArgumentError,
  NotFoundError,
  PeerCredentials,
  startFakeService,
  UnauthenticatedError,
  type FakeService,
  type Principal,
} from '@rnas/grpc';
import { Search, SearchServiceService, SearchState, Task } from '@rnas/proto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { CIFAR_RECIPE } from '@rnas/train';
import { SearchLookup } from './search-lookup';
import { resolveStartTraining } from './training-request';
import { TINY_GENOTYPE } from './test-util';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-training-request-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveStartTraining', () => {
  it('takes the paper’s CIFAR network and recipe for absent fields and picks a seed', async () => {
    const resolved = await resolveStartTraining(
      {
        architecture: { $case: 'genotype', value: TINY_GENOTYPE },
        datasetUri: 'synthetic:shapes',
        modelName: 'm',
        task: Task.TASK_UNSPECIFIED,
      },
      { dataRoots: [], searchGenotype: () => Promise.reject(new Error('no search was named')) },
    );
    expect(resolved.spec).toEqual({
      variant: 'cifar',
      channels: 36,
      layers: 20,
      classes: 0,
      inChannels: 0,
      inputSize: 0,
      auxiliary: false,
    });
    expect(resolved.recipe).toEqual({ ...CIFAR_RECIPE, seed: resolved.recipe.seed });
    expect(resolved.searchId).toBe('');
    expect(resolved.genotype.normal[0]).toEqual(['sep_conv_3x3', 0]);
  });
});

describe('SearchLookup', () => {
  let searchService: FakeService;
  const genotype = {
    normal: TINY_GENOTYPE.normal.map((e) => [e.op, e.input]),
    normalConcat: [2, 3],
    reduce: TINY_GENOTYPE.reduce.map((e) => [e.op, e.input]),
    reduceConcat: [2, 3],
  };

  /** The ids the fake search service was asked for, in order. */
  const askedFor: string[] = [];

  beforeAll(async () => {
    const searches: Record<string, Partial<Search>> = {
      done: {
        owner: 'alice',
        state: SearchState.SEARCH_STATE_SUCCEEDED,
        best: { genotype: TINY_GENOTYPE, valLoss: 1, valAccuracy: 0.5, generation: 1, member: 0 },
      },
      failed: { state: SearchState.SEARCH_STATE_FAILED },
      alicesFailed: { owner: 'alice', state: SearchState.SEARCH_STATE_FAILED },
      empty: { state: SearchState.SEARCH_STATE_SUCCEEDED },
      broken: {
        state: SearchState.SEARCH_STATE_SUCCEEDED,
        best: {
          genotype: { ...TINY_GENOTYPE, normal: [] },
          valLoss: 1,
          valAccuracy: 0,
          generation: 0,
          member: 0,
        },
      },
    };
    searchService = await startFakeService(SearchServiceService, {
      getSearch: ({ searchId }, { metadata }) => {
        askedFor.push(searchId);
        // As a search service whose token file does not list this service's peer token.
        if (metadata.get('authorization')[0] === 'Bearer wrong')
          throw new UnauthenticatedError('unknown bearer token');
        if (searchId.length > 128) throw new InvalidArgumentError('search_id', searchId, 'too long');
        const search = searches[searchId];
        if (search === undefined) throw new NotFoundError('search', searchId);
        return { search: Search.fromPartial({ ...search, id: searchId }) };
      },
    });
  });

  afterAll(async () => {
    await searchService.server.shutdown();
  });

  it('asks the search service: the genotype of a succeeded search, NOT_FOUND for one it does not know', async () => {
    const lookup = new SearchLookup(searchService.address);
    try {
      expect(await lookup.genotype('done', ANONYMOUS)).toEqual(genotype);
      await expect(lookup.genotype('nope', ANONYMOUS)).rejects.toMatchObject({ code: status.NOT_FOUND });
      await expect(lookup.genotype('x'.repeat(300), ANONYMOUS)).rejects.toMatchObject({
        code: status.NOT_FOUND,
      });
      await expect(lookup.genotype('', ANONYMOUS)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      // Each id reached the search service as given; an empty one never left.
      expect(askedFor).toEqual(['done', 'nope', 'x'.repeat(300)]);
    } finally {
      lookup.close();
    }
  });

  it('refuses a search that has not succeeded or has no usable result, saying why', async () => {
    const lookup = new SearchLookup(searchService.address);
    try {
      await expect(lookup.genotype('failed', ANONYMOUS)).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        message: 'search "failed" is failed; only a succeeded search can be trained',
      });
      await expect(lookup.genotype('empty', ANONYMOUS)).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
      });
      await expect(lookup.genotype('broken', ANONYMOUS)).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
      });
    } finally {
      lookup.close();
    }
  });

  it('answers a search the caller may not see as an unknown id, before saying anything about its state', async () => {
    const lookup = new SearchLookup(searchService.address);
    const bob: Principal = { subject: 'bob', role: 'user', authenticated: true };
    const alice: Principal = { subject: 'alice', role: 'user', authenticated: true };
    const root: Principal = { subject: 'root', role: 'admin', authenticated: true };
    try {
      const unknown = (await lookup.genotype('nope', bob).catch((e: unknown) => e)) as Error;
      const others = (await lookup.genotype('done', bob).catch((e: unknown) => e)) as Error;
      expect(unknown).toMatchObject({ code: status.NOT_FOUND, message: 'search "nope" not found' });
      expect(others).toMatchObject({ code: status.NOT_FOUND, message: 'search "done" not found' });
      // Another's failed search does not say it failed: it does not exist for bob.
      await expect(lookup.genotype('alicesFailed', bob)).rejects.toMatchObject({
        code: status.NOT_FOUND,
        message: 'search "alicesFailed" not found',
      });
      await expect(lookup.genotype('alicesFailed', alice)).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
      });
      expect(await lookup.genotype('done', alice)).toEqual(genotype);
      expect(await lookup.genotype('done', root)).toEqual(genotype);
    } finally {
      lookup.close();
    }
  });

  it('sends the peer token, and says the search service refused it (naming the flag) rather than UNAVAILABLE', async () => {
    const tokenFile = path.join(dir, 'peer-token');
    writeFileSync(tokenFile, 'wrong\n');
    const lookup = new SearchLookup(searchService.address, new PeerCredentials({ tls: false, tokenFile }));
    try {
      const error = (await lookup.genotype('done', ANONYMOUS).catch((e: unknown) => e)) as Error;
      expect(error).toMatchObject({ code: status.FAILED_PRECONDITION });
      expect(error.message).toBe(
        `cannot ask the search service at ${searchService.address} (--search-addr) for search "done": ` +
          "UNAUTHENTICATED unknown bearer token; the search service refused the training service's " +
          "credentials: give --peer-token-file a token of an admin subject in the search service's " +
          '--auth-tokens (or --peer-tls-cert a client certificate whose subject it lists as admin)',
      );
      // The file is read again at the next call once it changed: no restart.
      rmSync(tokenFile);
      writeFileSync(tokenFile, 'right\n');
      expect(await lookup.genotype('done', ANONYMOUS)).toEqual(genotype);
    } finally {
      lookup.close();
    }
  });

  it('is UNAVAILABLE, naming the address, when the search service does not answer before the deadline', async () => {
    const silent = await startFakeService(SearchServiceService, {
      // Answers only when the call is over (the client's deadline passed).
      getSearch: (_request, context) =>
        new Promise((_resolve, reject) =>
          context.signal.addEventListener('abort', () => reject(context.signal.reason as Error)),
        ),
    });
    const lookup = new SearchLookup(silent.address, undefined, 200);
    try {
      const error = (await lookup.genotype('done', ANONYMOUS).catch((e: unknown) => e)) as {
        code: number;
        message: string;
      };
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.message).toContain(`cannot ask the search service at ${silent.address} (--search-addr)`);
      expect(error.message).toContain('DEADLINE_EXCEEDED');
    } finally {
      lookup.close();
      await silent.server.shutdown();
    }
  });

  it('is UNAVAILABLE, naming the address and the flag, when the search service cannot be reached', async () => {
    const lookup = new SearchLookup('127.0.0.1:1', undefined, 2000);
    try {
      const error = (await lookup.genotype('done', ANONYMOUS).catch((e: unknown) => e)) as {
        code: number;
        message: string;
      };
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.message).toContain('cannot ask the search service at 127.0.0.1:1 (--search-addr)');
    } finally {
      lookup.close();
    }
  });
});
