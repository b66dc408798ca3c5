// How big the sidecar's node runtime may grow. V8 sizes its heap for the
// machine, not the container: on a large node an idle-looking sidecar under load
// reached ~150 MiB with a live heap of ~15 MiB. Measurements: docs/decisions.md.
import { setFlagsFromString } from 'node:v8';

/**
 * Options V8 reads only at start, so they go in NODE_OPTIONS of the injected
 * container: 2 MiB semi-spaces (V8 grows them to 16 MiB on a big machine) and one
 * GC helper thread instead of one per core (the sidecar shares its pod's CPU).
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --v8-pool-size=1';

/**
 * Lets the old generation grow by 30% of its live size between full collections
 * (V8 allows up to 4x on a big machine). Read at every collection, so it can be
 * set once the process runs, but before the modules load: their first full
 * collection sets the limit. No hard cap: a large request still fits.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=30');
}
