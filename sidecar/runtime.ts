// How big the sidecar's node runtime may grow. V8 sizes its heap for the
// machine, not the container: on a large node an idle-looking sidecar under load
// reached ~150 MiB with a live heap of ~15 MiB. Measurements: docs/decisions.md.
// The flags V8 reads only at start travel in the injected NODE_OPTIONS
// (SIDECAR_NODE_OPTIONS in lib/contract.ts); this file sets what can be set later.
import { setFlagsFromString } from 'node:v8';

/**
 * Lets the old generation grow by 30% of its live size between full collections
 * (V8 allows up to 4x on a big machine). Read at every collection, so it can be
 * set once the process runs, but before the modules load: their first full
 * collection sets the limit. No hard cap: a large request still fits.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=30');
}
