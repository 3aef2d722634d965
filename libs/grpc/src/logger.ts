import pino from 'pino';

export type Logger = pino.Logger;
export type LogLevel = pino.LevelWithSilent;

/** The levels `--log-level` accepts, quietest last. */
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LoggerOptions {
  /** The service name, on every line (`search`, `training`, `inference`). */
  service: string;
  /** Minimum level written [info]. */
  level?: LogLevel;
  /** Where lines go [stdout]; tests pass a stream to read them back. */
  destination?: pino.DestinationStream;
}

/**
 * One JSON object per line: `level` as a word and `time` as an ISO string so that log pipelines
 * and people read the same thing, `err` with its stack through pino's serializer.
 */
export function createLogger({ service, level = 'info', destination }: LoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
    // Credentials never reach a log line, whoever passes them in: an authorization header (alone,
    // in metadata or headers) and a bearer token.
    redact: {
      paths: ['authorization', '*.authorization', '*.*.authorization', 'token', '*.token'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
