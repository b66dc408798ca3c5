// The Python that speaks the Redis-era layout in tests (test/interop/kaos_redis.py):
// the first python3 that imports redis, Debian's first (scripts/ensure-redis.sh installs
// python3-redis there; a python3 earlier on PATH may lack it).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export function findPython(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (candidate.startsWith('/') && !existsSync(candidate)) continue;
    if (spawnSync(candidate, ['-c', 'import redis'], { stdio: 'ignore' }).status === 0) {
      return candidate;
    }
  }
  throw new Error('no python3 with the redis module: run scripts/ensure-redis.sh');
}
