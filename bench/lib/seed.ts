// Bulk data in the KAOS RedisMemory layout, written fast (pipelined) so the
// benchmark spends its time measuring rather than seeding; and events appended through a
// running sidecar, where a session must be as the sidecar writes it (its index and copies).
import type { Redis } from 'ioredis';
import { fromMicros } from '../../memory/clock.js';
import { Keys } from '../../memory/keys.js';

const TTL_SECONDS = 86_400;

/**
 * `count` sessions named `${name}-N`, each a hash plus an index entry, with
 * distinct scores one millisecond apart ending an hour ago. Returns the ids.
 */
export async function seedSessions(redis: Redis, prefix: string, name: string, count: number) {
  const keys = new Keys(prefix);
  const end = (Date.now() - 3_600_000) * 1000;
  const ids: string[] = [];
  for (let from = 0; from < count; from += 2000) {
    const pipe = redis.pipeline();
    for (let i = from; i < Math.min(count, from + 2000); i++) {
      const id = `${name}-${i}`;
      const t = fromMicros(end - (count - i) * 1000);
      const k = keys.forSession(id);
      pipe.hset(k.session, {
        session_id: id,
        user_id: 'user',
        app_name: 'agent',
        created_at: t.iso,
        updated_at: t.iso,
      });
      pipe.expire(k.session, TTL_SECONDS);
      pipe.zadd(k.index, t.score, id);
      ids.push(id);
    }
    const results = await pipe.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new Error(`seeding failed: ${String(failed?.[0])}`);
  }
  return ids;
}

/** Appends `events` to `session` through the sidecar at `url`; throws unless it answers 201. */
export async function appendThroughApi(
  url: string,
  session: string,
  events: unknown[],
): Promise<void> {
  const res = await fetch(`${url}/v1/sessions/${session}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 201)
    throw new Error(`appending to ${session}: ${res.status} ${await res.text()}`);
}
