// Where things are: the repository, and the cache of binaries that
// scripts/controlplane.sh builds outside the clone.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

export type CachedBinary = 'kube-apiserver' | 'etcd' | 'helm' | 'kube-controller-manager';

/** Where scripts/controlplane.sh put a binary; one clear line when it is not there. */
export function cachedBinary(name: CachedBinary): string {
  const cache = process.env.KAOS_CACHE_DIR ?? join(homedir(), '.cache', 'kaos-memory');
  const path = join(cache, 'bin', name);
  if (!existsSync(path)) {
    throw new Error('control plane not built: run scripts/controlplane.sh (needs Go 1.26+)');
  }
  return path;
}
