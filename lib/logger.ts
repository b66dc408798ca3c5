import { pino, type Logger } from 'pino';

export type { Logger };

// Paths pino blanks wherever they appear, so a secret can't reach a log line by accident.
const REDACT = [
  'password',
  '*.password',
  'redisUrl',
  '*.redisUrl',
  'env.MEMORY_REDIS_PASSWORD',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * One JSON line per event on stdout, written synchronously: a line logged just before
 * the process exits ("shutting down", a fatal configuration error) is never lost in a
 * buffer. Both deployables log a line per decision or failure, not per request, so the
 * cost of the write is small.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { name, level, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.destination({ dest: 1, sync: true }),
  );
}
