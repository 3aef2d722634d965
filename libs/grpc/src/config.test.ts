import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  describeOptions,
  integerOption,
  loadServiceConfig,
  SERVICE_OPTIONS,
  STORAGE_OPTIONS,
  type LoadConfigOptions,
  type OptionSpecs,
  type OptionValues,
  type ServiceConfig,
} from './config';

/** A service that takes every storage option, as the training service does. */
function load<E extends OptionSpecs = Record<never, never>>(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: LoadConfigOptions<E> = {},
): ServiceConfig & OptionValues<typeof STORAGE_OPTIONS> & OptionValues<E> {
  return loadServiceConfig(argv, env, {
    ...options,
    extra: { ...STORAGE_OPTIONS, ...options.extra },
  }) as ServiceConfig & OptionValues<typeof STORAGE_OPTIONS> & OptionValues<E>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rnas-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Dirs inside the temp folder, so tests never create runs/ in the repository. */
function dirs(): string[] {
  return ['--state-dir', path.join(dir, 'state'), '--model-repo', path.join(dir, 'models')];
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadServiceConfig', () => {
  it('reads flags in both spellings, and creates no directory while parsing', () => {
    const config = load(
      [
        '--host',
        '0.0.0.0',
        '--insecure',
        '--port=50051',
        '--metrics-port',
        '9464',
        '--data-root',
        dir,
        ...dirs(),
      ],
      {},
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      insecure: true,
      port: 50051,
      metricsPort: 9464,
      dataRoots: [dir],
      stateDir: path.join(dir, 'state'),
      modelRepo: path.join(dir, 'models'),
      maxMessageBytes: 4 * 1024 * 1024,
      logLevel: 'info',
    });
    // The service creates what it owns when it starts; parsing (and --help) leaves no folders.
    expect(existsSync(path.join(dir, 'state'))).toBe(false);
    expect(existsSync(path.join(dir, 'models'))).toBe(false);
  });

  it('takes only the storage options a service declares', () => {
    const error = configError(() => loadServiceConfig(['--state-dir', dir], {}));
    expect(error.issues[0]).toMatch(/^unknown flag "--state-dir"/);
  });

  it('reads the environment, and a flag wins over its variable', () => {
    const env = {
      RNAS_HOST: '::',
      RNAS_INSECURE: '1',
      RNAS_PORT: '7000',
      RNAS_METRICS_PORT: '7001',
      RNAS_STATE_DIR: path.join(dir, 's'),
      RNAS_MODEL_REPO: path.join(dir, 'm'),
      RNAS_DATA_ROOT: `${dir}${path.delimiter}${dir}`,
      RNAS_LOG_LEVEL: 'debug',
    };
    const config = load(['--port', '7002'], env);
    expect(config).toMatchObject({
      host: '::',
      insecure: true,
      port: 7002,
      metricsPort: 7001,
      dataRoots: [dir, dir],
      logLevel: 'debug',
    });
  });

  it('treats an empty variable as unset and takes per-service defaults', () => {
    const config = load(dirs(), { RNAS_PORT: '' }, { defaults: { port: '50053', metricsPort: '9466' } });
    expect(config.port).toBe(50053);
    expect(config.metricsPort).toBe(9466);
  });

  it('accepts repeated list flags and delimiter-joined lists', () => {
    const other = mkdtempSync(path.join(tmpdir(), 'rnas-config-root-'));
    try {
      const config = load(
        ['--data-root', dir, '--data-root', `${other}${path.delimiter}${dir}`, ...dirs()],
        {},
      );
      expect(config.dataRoots).toEqual([dir, other, dir]);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it.each([
    [['--port', 'abc'], '--port "abc": expected a whole number from 0 to 65535'],
    [['--port', '-1'], '--port "-1": must be at least 0'],
    [['--port', '65536'], '--port "65536": must be at most 65535'],
    [['--port', '1.5'], '--port "1.5": expected a whole number'],
    [['--port='], '--port "": expected a whole number'],
    [['--metrics-port', '1e3'], '--metrics-port "1e3": expected a whole number'],
    [['--max-message-bytes', '10'], '--max-message-bytes "10": must be at least 1024'],
    [['--shutdown-grace-ms', '99999999999'], '--shutdown-grace-ms "99999999999": must be at most 600000'],
    [['--host', 'http://x/'], '--host "http://x/": expected a host name or IP address'],
    [['--log-level', 'loud'], '--log-level "loud": expected one of trace, debug'],
  ])('rejects %p naming the flag and the value', (argv, message) => {
    expect(configError(() => load([...argv, ...dirs()], {})).message).toContain(message);
  });

  it('names the environment variable when the bad value came from it', () => {
    const error = configError(() => load(dirs(), { RNAS_METRICS_PORT: 'ninety' }));
    expect(error.message).toContain(
      'RNAS_METRICS_PORT (environment; flag --metrics-port) "ninety": expected a whole number',
    );
  });

  it('rejects a missing data root and a data root that is a file', () => {
    const file = path.join(dir, 'file');
    writeFileSync(file, 'x');
    const missing = path.join(dir, 'nope');
    const error = configError(() => load(['--data-root', missing, '--data-root', file, ...dirs()], {}));
    expect(error.issues).toEqual([
      `--data-root ${JSON.stringify(missing)}: directory ${missing} does not exist`,
      `--data-root ${JSON.stringify(file)}: ${file} is not a directory`,
    ]);
  });

  it('rejects a state directory that could not be created, and one that is a file', () => {
    const file = path.join(dir, 'file');
    writeFileSync(file, 'x');
    const error = configError(() => load(['--state-dir', path.join(file, 'sub'), '--model-repo', dir], {}));
    expect(error.message).toMatch(
      /--state-dir ".*file\/sub": cannot create the directory: .*file is not a directory/,
    );
    const notDir = configError(() => load(['--state-dir', file, '--model-repo', dir], {}));
    expect(notDir.issues).toEqual([`--state-dir ${JSON.stringify(file)}: ${file} is not a directory`]);
  });

  it('reports every problem at once', () => {
    const error = configError(() => load(['--port', 'x', '--metrics-port', '-5', ...dirs()], {}));
    expect(error.issues).toHaveLength(2);
  });

  it('rejects the same non-zero port for gRPC and metrics', () => {
    expect(
      configError(() => load(['--port', '5000', '--metrics-port', '5000', ...dirs()], {})).message,
    ).toContain('--port and --metrics-port are both 5000');
  });

  it('rejects unknown flags, stray arguments and flags without a value', () => {
    const error = configError(() => load(['--prot', '1', 'stray', '--port', ...dirs()], {}));
    expect(error.issues[0]).toMatch(/^unknown flag "--prot"; known flags: --host, --port/);
    expect(error.issues).toContain('unexpected argument "stray"');
    expect(error.issues).toContain('--port needs a value');
  });

  it('keeps hostile values harmless in the message', () => {
    const hostile = `${'\u001b[31m'}\n${'A'.repeat(100_000)}`;
    const error = configError(() => load(['--host', hostile, ...dirs()], {}));
    expect(error.message).not.toContain('\u001b');
    expect(error.message.split('\n')).toHaveLength(2);
    expect(error.message.length).toBeLessThan(400);
    const nul = configError(() => load(['--state-dir', 'a\u0000b', '--model-repo', dir], {}));
    expect(nul.message).toContain('a path cannot contain a NUL character');
  });

  it('adds service-specific options with their own validation', () => {
    const extra = {
      maxBatchSize: {
        flag: '--max-batch-size',
        env: 'RNAS_MAX_BATCH_SIZE',
        description: 'largest dynamic batch',
        schema: integerOption(1, 1024),
        default: '32',
      },
    } as const;
    expect(load(dirs(), { RNAS_MAX_BATCH_SIZE: '8' }, { extra }).maxBatchSize).toBe(8);
    expect(configError(() => load(['--max-batch-size', '0', ...dirs()], {}, { extra })).message).toContain(
      '--max-batch-size "0": must be at least 1',
    );
  });
});

describe('describeOptions', () => {
  it('lists every flag with its variable', () => {
    const text = describeOptions(SERVICE_OPTIONS);
    for (const spec of Object.values(SERVICE_OPTIONS)) {
      expect(text).toContain(spec.flag);
      expect(text).toContain(spec.env);
    }
  });
});
