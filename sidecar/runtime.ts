// How big the sidecar's node runtime may grow. V8 sizes its heap for the
// machine, not the container: on a large node an idle-looking sidecar under load
// reached ~150 MiB with a live heap of ~15 MiB. Measurements: docs/decisions.md.
// The flags V8 reads only at start travel in the injected NODE_OPTIONS
// (SIDECAR_NODE_OPTIONS in lib/contract.ts); this file sets what can be set later, and
// compacts the heap once the sidecar has started.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Lets the old generation grow by 30% of its live size between full collections
 * (V8 allows up to 4x on a big machine). Read at every collection, so it can be
 * set once the process runs, but before the modules load: their first full
 * collection sets the limit. No hard cap: a large request still fits.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=30');
}

/**
 * Collects what loading the modules and starting left behind, once, and compacts the
 * old generation while doing it. Without this the start's garbage (about 6 MiB of a
 * 13 MiB heap) stays until the first full collection under load, and a full collection
 * frees objects but keeps their pages: RssAnon stayed at ~21 MiB idle, ~16 MiB after this.
 * One synchronous collection of a small heap (tens of ms); the flag is set only for it.
 */
export function compactHeapOnce(): void {
  setFlagsFromString('--expose-gc');
  // A context of its own holds `gc`: the sidecar's global never gets one.
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
