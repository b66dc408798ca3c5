// `npm run bench`: the sidecar benchmark, then the webhook's when it is there.
// Each prints its own markdown tables.
import { existsSync } from 'node:fs';
import { benchSidecar } from './sidecar.js';

async function main(): Promise<void> {
  const started = Date.now();
  await benchSidecar();
  const webhook = new URL('./webhook.ts', import.meta.url);
  if (existsSync(webhook)) {
    // A computed specifier: the file may not exist yet, and typecheck must not need it.
    const mod = (await import(webhook.href)) as { benchWebhook?: () => Promise<void> };
    if (typeof mod.benchWebhook !== 'function')
      throw new Error('bench/webhook.ts has no benchWebhook');
    console.log('');
    await mod.benchWebhook();
  } else {
    console.log('\n(bench/webhook.ts is not there yet: no webhook benchmark.)');
  }
  console.log(`\nBenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
