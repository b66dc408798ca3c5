import type { Logger } from './logger.js';

/**
 * Installs the SIGTERM and SIGINT handlers before anything else starts. In a container
 * the process is PID 1, which the kernel spares from any signal it has no handler for:
 * without one, a pod deleted while its process starts (waiting on Redis or the API
 * server) would wait out its whole grace period. Until `onStop` names the shutdown
 * work, a signal exits at once. A second signal exits without waiting.
 */
export function handleStopSignals(log: Logger): {
  onStop(stop: (signal: string) => Promise<void>): void;
} {
  let stop: ((signal: string) => Promise<void>) | undefined;
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    (stop?.(signal) ?? Promise.resolve()).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
  return {
    onStop(next) {
      stop = next;
    },
  };
}
