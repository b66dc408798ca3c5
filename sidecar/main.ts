import { createLogger } from '../lib/logger.js';
import { loadSidecarConfig } from './config.js';
import { Sidecar } from './server.js';

/** `kaos-memory sidecar`: bootstrap only. */
export async function run(_argv: string[]): Promise<void> {
  const config = loadSidecarConfig();
  const log = createLogger('kaos-memory-sidecar');
  const sidecar = new Sidecar(config, log);
  const address = await sidecar.start();
  log.info(
    {
      address: `${address.address}:${address.port}`,
      prefix: config.keyPrefix,
      agent: config.agentName,
    },
    'memory sidecar listening',
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    sidecar.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // A bug in one request must not end the memory of every agent turn after it: every
  // handler is guarded (http.ts), and anything that escapes is logged, not fatal.
  process.on('unhandledRejection', (err) => {
    sidecar.metrics.unhandled.inc();
    log.error({ err }, 'unhandled rejection; the sidecar goes on');
  });
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
