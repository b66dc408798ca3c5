// `npm run bench`: the sidecar benchmark, then the webhook's.
// Each prints its own markdown tables.
import { benchSidecar } from './sidecar.js';
import { benchWebhook } from './webhook.js';

async function main(): Promise<void> {
  const started = Date.now();
  await benchSidecar();
  console.log('');
  await benchWebhook();
  console.log(`\nBenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
