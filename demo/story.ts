// What a story (demo/node.ts on a real node, demo/local.ts as the fallback) gets from
// demo/main.ts: numbered steps, the register of what to stop, and the claims to check.
import type { Proofs } from './proofs.js';
import type { Teardown } from './teardown.js';

export interface StoryContext {
  /** A numbered step; DEMO_FAIL_AT=<key> makes it fail on purpose. */
  step: <T>(key: string, label: string, title: string, body: () => Promise<T> | T) => Promise<T>;
  teardown: Teardown;
  proofs: Proofs;
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
