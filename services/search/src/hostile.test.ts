// The hostile-input corpus of the search service: one service, started once, and a table of
// requests no client should send (wrong kinds and ranges, NaN/Inf and extreme numbers, uint64
// edges, dataset URIs that escape the data roots through `..`, absolute paths and symlinks, URI
// schemes, NUL bytes, very long strings, undecodable and oversized messages). Each row names the
// status code and what the message must say (the field); after each, the service still reports
// SERVING, logged no unexpected error, created no search, and leaked no server path.
import { mkdirSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { checkHealth, hostileFailure, wire, type HostileCase } from '@rnas/grpc';
import {
  SearchServiceService,
  SearchState,
  SearchStrategy,
  type SearchConfig,
  type StartSearchRequest,
} from '@rnas/proto';
import { loadSearchServiceConfig } from './config';
import { startSearchService, type RunningService } from './service';
import {
  buildService,
  memoryLogger,
  searchClient,
  type SearchClient,
  tinyConfig,
  tinyDataRoot,
} from './test-util';

const MAX_MESSAGE_BYTES = 256 * 1024;

let dir: string;
let dataRoot: string;
let datasetUri: string;
let service: RunningService;
let client: SearchClient;
let lines: Record<string, unknown>[];
let address: string;

beforeAll(async () => {
  buildService();
  ({ dir, dataRoot, datasetUri } = await tinyDataRoot());
  // A real image folder outside the data root, and ways to reach out of the root from inside it.
  cpSync(path.join(dataRoot, 'shapes'), path.join(dir, 'outside'), { recursive: true });
  symlinkSync(path.join(dir, 'outside'), path.join(dataRoot, 'escape'));
  symlinkSync('/etc', path.join(dataRoot, 'etc-link'));
  symlinkSync(path.join(dataRoot, 'loop'), path.join(dataRoot, 'loop'));
  symlinkSync(path.join(dir, 'nothing'), path.join(dataRoot, 'dangling'));
  writeFileSync(path.join(dataRoot, 'a-file'), 'not a folder');
  mkdirSync(path.join(dataRoot, 'empty'));
  const captured = memoryLogger();
  lines = captured.lines;
  const config = loadSearchServiceConfig(
    [
      ...['--port', '0', '--metrics-port', '0', '--state-dir', path.join(dir, 'state')],
      ...['--data-root', dataRoot, '--max-message-bytes', String(MAX_MESSAGE_BYTES)],
    ],
    {},
  );
  service = await startSearchService(config, { logger: captured.logger, shutdownSignals: [] });
  client = searchClient(service.port);
  address = `127.0.0.1:${service.port}`;
}, 300_000);

afterAll(async () => {
  client?.close();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Case = HostileCase<typeof SearchServiceService>;

/** StartSearch with a valid request changed by `overrides`. */
function start(
  name: string,
  overrides: () => Partial<StartSearchRequest>,
  message: RegExp,
  code = status.INVALID_ARGUMENT,
): Case {
  return {
    name: `StartSearch: ${name}`,
    method: 'startSearch',
    request: () => ({ datasetUri, seed: 3, config: tinyConfig(), ...overrides() }),
    code,
    message,
  };
}

/** StartSearch with one config field set to `value`; the message names the field and the value. */
function configField(field: keyof SearchConfig & string, value: unknown, shown: string): Case {
  const proto = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return start(
    `config.${proto}=${shown}`,
    () => ({ config: tinyConfig({ [field]: value }) }),
    new RegExp(`^invalid config\\.${proto}=${shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
  );
}

/** StartSearch with `uri` as the dataset; the message names the field and the URI as given. */
function uri(name: string, value: () => string, reason: RegExp): Case {
  return start(`dataset_uri ${name}`, () => ({ datasetUri: value() }), reason);
}

const UINT32_MAX = 4294967295;
const UINT64_MAX = '18446744073709551615';
const LONG = 'x'.repeat(100_000);

const corpus: Case[] = [
  // Integers out of range, at the uint32 edges.
  configField('population', 0, '0'),
  configField('population', 1, '1'),
  configField('population', 3, '3'),
  configField('population', UINT32_MAX, String(UINT32_MAX)),
  configField('generations', 0, '0'),
  configField('generations', UINT32_MAX, String(UINT32_MAX)),
  configField('layers', 0, '0'),
  configField('layers', 101, '101'),
  configField('channels', 0, '0'),
  configField('channels', UINT32_MAX, String(UINT32_MAX)),
  configField('batchSize', 0, '0'),
  configField('batchSize', 4097, '4097'),
  configField('trainImages', UINT32_MAX, String(UINT32_MAX)),
  configField('valImages', 10_000_001, '10000001'),
  configField('cutout', 1025, '1025'),
  configField('workers', 257, '257'),
  configField('pairsPerWave', 0, '0'),
  configField('pairsPerWave', UINT32_MAX, String(UINT32_MAX)),
  // NaN, infinities and extreme finite doubles.
  configField('lrMax', Number.NaN, 'NaN'),
  configField('lrMax', Number.POSITIVE_INFINITY, 'Infinity'),
  configField('lrMax', 3e38, '3e+38'),
  configField('lrMax', -Number.MAX_VALUE, String(-Number.MAX_VALUE)),
  configField('lrMin', Number.NEGATIVE_INFINITY, '-Infinity'),
  configField('momentum', Number.NaN, 'NaN'),
  configField('momentum', -5e-324, '-5e-324'),
  configField('weightDecay', Number.POSITIVE_INFINITY, 'Infinity'),
  configField('gradClip', Number.NaN, 'NaN'),
  configField('gradClip', 3e38, '3e+38'),
  configField('dropPath', 1, '1'),
  configField('trainPortion', 1, '1'),
  configField('trainPortion', Number.NaN, 'NaN'),
  configField('strategy', 99, '99'),
  configField('strategy', -1, '-1'),
  // Op names: unknown, empty, with a NUL byte, very long, too many.
  start(
    'an empty primitive',
    () => ({ config: tinyConfig({ primitives: [''] }) }),
    /config\.primitives\[0\]=""/,
  ),
  start(
    'a primitive with a NUL byte',
    () => ({ config: tinyConfig({ primitives: ['skip_connect\0', 'sep_conv_3x3'] }) }),
    /config\.primitives\[0\]="skip_connect\\u0000"/,
  ),
  start(
    'a 100000-character primitive',
    () => ({ config: tinyConfig({ primitives: ['sep_conv_3x3', LONG] }) }),
    /^invalid config\.primitives\[1\]="x+"…\(100000 chars\): expected an op name$/,
  ),
  start(
    '65 primitives',
    () => ({ config: tinyConfig({ primitives: new Array<string>(65).fill('skip_connect') }) }),
    /^invalid config\.primitives=.*: expected at most 64 op names/,
  ),
  start(
    'an op name with a trailing space',
    () => ({ config: tinyConfig({ primitives: ['sep_conv_3x3 ', 'skip_connect'] }) }),
    /config\.primitives\[0\]="sep_conv_3x3 "/,
  ),
  // Dataset URIs: escapes, schemes, NUL bytes, lengths.
  uri('empty', () => '', /^invalid dataset_uri="": expected a dataset URI/),
  uri(
    'with .. out of the root',
    () => 'imagefolder:../../../etc',
    /dataset_uri="imagefolder:\.\.\/\.\.\/\.\.\/etc".*outside the data roots/,
  ),
  uri(
    'with .. inside an absolute path',
    () => `imagefolder:${dataRoot}/../outside`,
    /dataset_uri=.*outside the data roots/,
  ),
  uri(
    'with a percent-encoded ..',
    () => 'imagefolder:%2e%2e/%2e%2e/etc',
    /dataset_uri="imagefolder:%2e%2e\/%2e%2e\/etc"/,
  ),
  uri(
    'an absolute path outside the roots',
    () => 'imagefolder:/etc',
    /dataset_uri="imagefolder:\/etc".*outside the data roots/,
  ),
  uri('the filesystem root', () => 'cifar10:/', /dataset_uri="cifar10:\/".*outside the data roots/),
  uri('a bare absolute path', () => '/etc/passwd', /^invalid dataset_uri="\/etc\/passwd"/),
  uri(
    'a symlink to a folder outside the root',
    () => 'imagefolder:escape',
    /dataset_uri="imagefolder:escape".*outside the data roots/,
  ),
  uri(
    'a symlink to /etc',
    () => 'imagefolder:etc-link',
    /dataset_uri="imagefolder:etc-link".*outside the data roots/,
  ),
  uri('a symlink loop', () => 'imagefolder:loop', /^invalid dataset_uri="imagefolder:loop"/),
  uri('a dangling symlink', () => 'imagefolder:dangling', /^invalid dataset_uri="imagefolder:dangling"/),
  uri('a regular file', () => 'imagefolder:a-file', /^invalid dataset_uri="imagefolder:a-file"/),
  uri('file://', () => 'file:///etc/passwd', /^invalid dataset_uri="file:\/\/\/etc\/passwd"/),
  uri(
    'http://',
    () => 'http://example.com/data.tar',
    /^invalid dataset_uri="http:\/\/example\.com\/data\.tar"/,
  ),
  uri('s3://', () => 's3://bucket/data', /^invalid dataset_uri="s3:\/\/bucket\/data"/),
  uri('an unknown scheme', () => 'gopher:shapes', /^invalid dataset_uri="gopher:shapes"/),
  uri(
    'a NUL byte',
    () => 'imagefolder:shapes\0/../../etc',
    /^invalid dataset_uri="imagefolder:shapes\\u0000/,
  ),
  uri(
    'a NUL byte in a query',
    () => 'synthetic:shapes?classes=3\0',
    /^invalid dataset_uri="synthetic:shapes\?classes=3\\u0000"/,
  ),
  uri(
    'of 5000 characters',
    () => `imagefolder:${'a/'.repeat(2500)}`,
    /^invalid dataset_uri="imagefolder:a\/a\/.*at most 4096 characters/,
  ),
  uri(
    'a huge query number',
    () => 'synthetic:shapes?train=18446744073709551616',
    /dataset_uri=.*query parameter train/,
  ),
  uri(
    'a backslash escape',
    () => 'imagefolder:..\\..\\etc',
    /^invalid dataset_uri="imagefolder:\.\.\\\\\.\.\\\\etc"/,
  ),
  // Ids, pages and sequences.
  {
    name: 'GetSearch: an empty id',
    method: 'getSearch',
    request: () => ({ searchId: '' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid search_id="": /,
  },
  {
    name: 'GetSearch: an unknown id',
    method: 'getSearch',
    request: () => ({ searchId: 'no-such' }),
    code: status.NOT_FOUND,
    message: /^search "no-such" not found$/,
  },
  {
    name: 'GetSearch: a path as id',
    method: 'getSearch',
    request: () => ({ searchId: '../../etc/passwd' }),
    code: status.NOT_FOUND,
    message: /^search "\.\.\/\.\.\/etc\/passwd" not found$/,
  },
  {
    name: 'GetSearch: a NUL byte in the id',
    method: 'getSearch',
    request: () => ({ searchId: 'a\0b' }),
    code: status.NOT_FOUND,
    message: /^search "a\\u0000b" not found$/,
  },
  {
    name: 'GetSearch: a 100000-character id',
    method: 'getSearch',
    request: () => ({ searchId: LONG }),
    code: status.NOT_FOUND,
    message: /^search "x+"…\(100000 chars\) not found$/,
  },
  {
    name: 'CancelSearch: an empty id',
    method: 'cancelSearch',
    request: () => ({ searchId: '' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid search_id="": /,
  },
  {
    name: 'CancelSearch: an unknown id',
    method: 'cancelSearch',
    request: () => ({ searchId: "'; DROP TABLE jobs; --" }),
    code: status.NOT_FOUND,
    message: /^search "'; DROP TABLE jobs; --" not found$/,
  },
  {
    name: 'ListSearches: page_size 1001',
    method: 'listSearches',
    request: () => ({ pageSize: 1001, pageToken: '', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_size=1001: /,
  },
  {
    name: 'ListSearches: page_size 2^32-1',
    method: 'listSearches',
    request: () => ({ pageSize: UINT32_MAX, pageToken: '', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_size=4294967295: /,
  },
  {
    name: 'ListSearches: a garbage page token',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: 'garbage!', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_token="garbage!": /,
  },
  {
    name: 'ListSearches: a page token with a NUL byte',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: 'AAAA\0', state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_token="AAAA\\u0000": /,
  },
  {
    name: 'ListSearches: a 100000-character page token',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: LONG, state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_token="x+.*": /,
  },
  {
    name: 'ListSearches: a page token of a huge offset',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: Buffer.from(UINT64_MAX).toString('base64url'), state: 0 }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_token=/,
  },
  {
    name: 'ListSearches: an unknown state',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: '', state: 99 as SearchState }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid state=99: /,
  },
  {
    name: 'ListSearches: a negative state',
    method: 'listSearches',
    request: () => ({ pageSize: 10, pageToken: '', state: -1 as SearchState }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid state=-1: /,
  },
  {
    name: 'WatchSearch: an empty id',
    method: 'watchSearch',
    request: () => ({ searchId: '', afterSequence: '0' }),
    code: status.INVALID_ARGUMENT,
    message: /^invalid search_id="": /,
  },
  {
    name: 'WatchSearch: an unknown id after 0',
    method: 'watchSearch',
    request: () => ({ searchId: 'ghost', afterSequence: '0' }),
    code: status.NOT_FOUND,
    message: /^search "ghost" not found$/,
  },
  {
    name: 'WatchSearch: an unknown id after 2^53+1',
    method: 'watchSearch',
    request: () => ({ searchId: 'ghost', afterSequence: '9007199254740993' }),
    code: status.NOT_FOUND,
    message: /^search "ghost" not found$/,
  },
  {
    name: 'WatchSearch: an unknown id after 2^64-1',
    method: 'watchSearch',
    request: () => ({ searchId: 'ghost', afterSequence: UINT64_MAX }),
    code: status.NOT_FOUND,
    message: /^search "ghost" not found$/,
  },
  // Bytes no generated client sends.
  {
    name: 'StartSearch: bytes that are no protobuf',
    method: 'startSearch',
    raw: () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<11 bytes>: not a valid .*StartSearch request/,
  },
  {
    name: 'StartSearch: a string longer than the message',
    method: 'startSearch',
    raw: () => Buffer.concat([wire.varint((2 << 3) | 2), wire.varint(1000), Buffer.from('imagefolder:')]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<\d+ bytes>: not a valid .*StartSearch request/,
  },
  {
    name: 'StartSearch: wire type 7',
    method: 'startSearch',
    raw: () => Buffer.from([(2 << 3) | 7, 0]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<2 bytes>: not a valid .*StartSearch request/,
  },
  {
    name: 'StartSearch: the dataset URI as a varint',
    method: 'startSearch',
    raw: () => wire.uint(2, 5),
    code: status.INVALID_ARGUMENT,
    message: /^invalid dataset_uri="": /,
  },
  {
    name: 'StartSearch: invalid UTF-8 in the dataset URI',
    method: 'startSearch',
    raw: () => wire.bytes(2, Buffer.from([0x69, 0x6d, 0xc3, 0x28, 0xff, 0x3a])),
    code: status.INVALID_ARGUMENT,
    message: /^invalid dataset_uri="im/,
  },
  {
    name: 'StartSearch: population as a uint64 of 2^64-1',
    method: 'startSearch',
    raw: () =>
      Buffer.concat([wire.bytes(1, wire.uint(2, 2n ** 64n - 1n)), wire.bytes(2, 'synthetic:shapes')]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid config\.population=4294967295: /,
  },
  {
    name: 'StartSearch: the seed as a uint64 of 2^53+1',
    method: 'startSearch',
    raw: () =>
      Buffer.concat([
        wire.bytes(1, wire.uint(3, 4)),
        wire.bytes(2, 'synthetic:shapes?train=0'),
        wire.uint(3, 2n ** 53n + 1n),
      ]),
    code: status.INVALID_ARGUMENT,
    message: /dataset_uri="synthetic:shapes\?train=0".*query parameter train/,
  },
  {
    name: 'StartSearch: an oversized message',
    method: 'startSearch',
    raw: () => wire.bytes(2, 'a'.repeat(MAX_MESSAGE_BYTES + 1)),
    code: status.RESOURCE_EXHAUSTED,
    message: /^Received message larger than max \(\d+ vs 262144\)$/,
  },
  {
    name: 'GetSearch: an oversized message',
    method: 'getSearch',
    raw: () => wire.bytes(1, 'a'.repeat(MAX_MESSAGE_BYTES + 1)),
    code: status.RESOURCE_EXHAUSTED,
    message: /^Received message larger than max/,
  },
  {
    name: 'GetSearch: a truncated varint',
    method: 'getSearch',
    raw: () => Buffer.from([0x0a, 0x80]),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<2 bytes>: not a valid .*GetSearch request/,
  },
  {
    name: 'ListSearches: page_size of 2^64-1 on the wire',
    method: 'listSearches',
    raw: () => wire.uint(1, 2n ** 64n - 1n),
    code: status.INVALID_ARGUMENT,
    message: /^invalid page_size=4294967295: /,
  },
  {
    name: 'ListSearches: a state of -2^31 on the wire',
    method: 'listSearches',
    raw: () => wire.uint(3, -(2 ** 31)),
    code: status.INVALID_ARGUMENT,
    message: /^invalid state=-2147483648: /,
  },
  {
    name: 'WatchSearch: garbage bytes',
    method: 'watchSearch',
    raw: () => Buffer.from('\x0a\xff\xff\xff\xff\x0f', 'latin1'),
    code: status.INVALID_ARGUMENT,
    message: /^invalid request=<6 bytes>: not a valid .*WatchSearch request/,
  },
  {
    name: 'WatchSearch: after_sequence 2^64-1 on the wire',
    method: 'watchSearch',
    raw: () => Buffer.concat([wire.bytes(1, 'ghost'), wire.uint(2, 2n ** 64n - 1n)]),
    code: status.NOT_FOUND,
    message: /^search "ghost" not found$/,
  },
  {
    name: 'CancelSearch: an oversized message',
    method: 'cancelSearch',
    raw: () => wire.bytes(1, 'a'.repeat(MAX_MESSAGE_BYTES + 1)),
    code: status.RESOURCE_EXHAUSTED,
    message: /^Received message larger than max/,
  },
];

describe('the search service under hostile input', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, row) => {
    const before = (await client.listSearches({ pageSize: 1000, pageToken: '', state: 0 })).searches.length;
    const logged = lines.length;
    const error = await hostileFailure(SearchServiceService, address, row);
    expect({ code: status[error.code], details: error.details }).toEqual({
      code: status[row.code],
      details: expect.stringMatching(row.message),
    });
    // No server path in the answer but what the request itself named.
    expect(error.details).not.toContain(path.join(dir, 'state'));
    expect(await checkHealth(address, 'relativenas.v1.SearchService')).toBe('SERVING');
    expect(await checkHealth(address, '')).toBe('SERVING');
    const after = (await client.listSearches({ pageSize: 1000, pageToken: '', state: 0 })).searches.length;
    expect(after).toBe(before);
    expect(lines.slice(logged).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  it('still runs a search after the whole corpus', async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    const started = await client.startSearch({
      datasetUri,
      seed: 3,
      config: tinyConfig({ strategy: SearchStrategy.SEARCH_STRATEGY_RANDOM, generations: 1 }),
    });
    await client.watchAll(started.search?.id ?? '');
    const done = await client.getSearch({ searchId: started.search?.id ?? '' });
    expect(SearchState[done.search?.state ?? 0]).toBe('SEARCH_STATE_SUCCEEDED');
  });
});
