// A look inside Redis as `redis-cli` would give it: the keys under the prefix with
// their types and TTLs, the session hash, the raw event list, and the append-only
// file on disk.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

export interface KeyInfo {
  key: string;
  type: string;
  ttl: number;
}

export async function keysUnder(client: Redis, pattern: string): Promise<KeyInfo[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  keys.sort();
  return Promise.all(
    keys.map(async (key) => ({ key, type: await client.type(key), ttl: await client.ttl(key) })),
  );
}

/** The append-only file's bytes, whichever layout this Redis uses (7+: a folder of parts). */
export function appendOnlyFiles(dataDir: string): { name: string; text: string }[] {
  const folder = join(dataDir, 'appendonlydir');
  const names = existsSync(folder)
    ? readdirSync(folder)
        .filter((n) => n.endsWith('.aof'))
        .map((n) => join('appendonlydir', n))
    : ['appendonly.aof'].filter((n) => existsSync(join(dataDir, n)));
  return names.map((name) => ({ name, text: readFileSync(join(dataDir, name), 'utf8') }));
}
