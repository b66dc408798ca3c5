// `npm run bench`: the sidecar on one Redis, what its calls cost Redis, on large
// sessions, on Sentinel and Cluster, then the webhook. Each prints its own markdown tables.
import { benchController } from './controller.js';
import { benchConversation } from './conversation.js';
import { benchLargeSessions } from './large.js';
import { benchMemoryV2 } from './memory-v2.js';
import { benchRedisCost } from './redis-cost.js';
import { benchSidecar } from './sidecar.js';
import { benchTopologies } from './topology.js';
import { benchWebhook } from './webhook.js';
import { REQUIRE_BUILD } from '../harness/kaos.js';

async function main(): Promise<void> {
  // `npm run bench` has just built: a process started from the sources instead is an error.
  process.env[REQUIRE_BUILD] = '1';
  const started = Date.now();
  await benchSidecar();
  console.log('');
  await benchRedisCost();
  await benchLargeSessions();
  await benchMemoryV2();
  await benchConversation();
  console.log('');
  await benchTopologies();
  console.log('');
  await benchWebhook();
  console.log('');
  await benchController();
  console.log(`\nBenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
