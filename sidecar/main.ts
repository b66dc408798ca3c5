import { createLogger } from '../lib/logger.js';
import { handleStopSignals } from '../lib/signals.js';
import { loadSidecarConfig } from './config.js';
import { compactHeapOnce } from './runtime.js';
import { Sidecar } from './server.js';

/** How this process was started, as cli/sidecar.ts knows it: whether V8's code cache served the bundle. */
export interface StartFacts {
  codeCache?: string;
}

/** `kaos-memory sidecar`: bootstrap only. */
export async function run(_argv: string[], start: StartFacts = {}): Promise<void> {
  const log = createLogger('kaos-memory-sidecar');
  const signals = handleStopSignals(log);
  const config = loadSidecarConfig();
  const sidecar = new Sidecar(config, log);
  const address = await sidecar.start();
  log.info(
    {
      address: `${address.address}:${address.port}`,
      prefix: config.keyPrefix,
      agent: config.agentName,
      ...start,
    },
    'memory sidecar listening',
  );
  // The start's garbage, after the first /readyz 200: the collection (tens of ms, once)
  // must not delay readiness, and by then the start has allocated what it will.
  sidecar.onceReady(() => setImmediate(compactHeapOnce));
  signals.onStop(() => sidecar.close());
  // A bug in one request must not end the memory of every agent turn after it: every
  // handler is guarded (http.ts), and anything that escapes is logged, not fatal.
  process.on('unhandledRejection', (err) => {
    sidecar.metrics.unhandled.inc();
    log.error({ err }, 'unhandled rejection; the sidecar goes on');
  });
}
