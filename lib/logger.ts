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

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
