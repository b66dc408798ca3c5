import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

/** The metric names a registry exports. */
async function names(registry: Registry): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((line) => line.startsWith('# TYPE '))
    .map((line) => line.split(' ')[2] as string);
}

describe('the sidecar metrics', () => {
  it("export every one of prom-client's default metrics, though the sidecar picks their collectors itself", async () => {
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults, prefix: 'kaos_memory_sidecar_' });
    const sidecar = createMetrics();
    try {
      expect(await names(sidecar.registry)).toEqual(expect.arrayContaining(await names(defaults)));
    } finally {
      sidecar.loopDelay.close();
    }
  });
});
