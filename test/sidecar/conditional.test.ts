// Conditional appends through HTTP on real Redis, on every topology: the ETag a
// session read answers with, If-Match appends (one winner among racing writers),
// If-None-Match create-only, gap-free metadata.seq under concurrency, a tag that
// follows a raw RPUSH as KAOS's Python RedisMemory writes, and an agent's own
// digest refused once its range went stale (docs/adr/0032-conditional-appends.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type ApiReply } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import { StoreError } from '../../memory/errors.js';
import type { Sidecar } from '../../sidecar/server.js';
import type { FoldOutcome } from '../../sidecar/summarizer.js';
import { pollUntil } from '../../harness/poll.js';
import { ModelServer } from './model-server.js';

interface Topology {
  url: string;
  stop(): Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  single: async () => {
    const redis = await RedisServer.start();
    return { url: redis.url, stop: () => redis.stop() };
  },
  sentinel: async () => {
    const group = await SentinelGroup.start({ replicas: 1 });
    return { url: group.url(), stop: () => group.stop() };
  },
  cluster: async () => {
    const cluster = await RedisCluster.start();
    return { url: cluster.url(), stop: () => cluster.stop() };
  },
};

const TAG_HEADER = /^"[0-9]+-[0-9a-f]{16}"$/;

describe.each(Object.keys(TOPOLOGIES))('conditional appends on %s', (name) => {
  let topology: Topology;
  let sc: RunningSidecar & { sidecar: Sidecar };

  beforeAll(async () => {
    topology = await (TOPOLOGIES[name] as () => Promise<Topology>)();
    sc = await startSidecar({ MEMORY_REDIS_URL: topology.url });
  });

  afterAll(async () => {
    await sc?.close();
    await topology?.stop();
  });

  const post = (path: string, body?: unknown, headers?: Record<string, string>) =>
    call(sc.url, 'POST', path, body, headers);
  const get = (path: string) => call(sc.url, 'GET', path);
  const say = (content: string) => ({ event_type: 'user_message', content });
  const etagOf = (res: ApiReply) => res.headers.get('etag');
  /** An event as KAOS's Python RedisMemory writes it: json.dumps, RPUSH, no sidecar. */
  const rpush = (id: string, eventId: string) =>
    sc.sidecar.redis.rpush(
      sc.sidecar.store.keys.forSession(id).events,
      `{"event_id": "${eventId}", "timestamp": "2026-03-01T10:00:00.000000+00:00", "event_type": "agent_response", "content": "from python", "metadata": {}}`,
    );

  it('answers reads and writes with the same tag until the session changes', async () => {
    const id = `tags-${name}`;
    const written = await post(`/v1/sessions/${id}/events`, say('hello'));
    expect(written.status).toBe(201);
    const tag = etagOf(written);
    expect(tag).toMatch(TAG_HEADER);
    expect(etagOf(await get(`/v1/sessions/${id}`))).toBe(tag);
    expect(etagOf(await get(`/v1/sessions/${id}/events`))).toBe(tag);
    expect(etagOf(await get(`/v1/sessions/${id}/context`))).toBe(tag);
    expect(etagOf(await get(`/v1/sessions/${id}/context?max_tokens=1000`))).toBe(tag);
    // A retry stores nothing and leaves the tag as it was.
    const eventId = written.body.events[0].event_id;
    const retry = await post(`/v1/sessions/${id}/events`, { ...say('hello'), event_id: eventId });
    expect(retry.status).toBe(200);
    expect(etagOf(retry)).toBe(tag);
    const next = await post(`/v1/sessions/${id}/events`, say('again'));
    expect(etagOf(next)).not.toBe(tag);
    expect(etagOf(await get(`/v1/sessions/${id}`))).toBe(etagOf(next));
    // No session, no tag.
    expect(etagOf(await get(`/v1/sessions/no-such-${name}/events`))).toBeNull();
  });

  it('lets exactly one of 20 parallel If-Match appends with one tag through', async () => {
    const id = `race-${name}`;
    const tag = etagOf(await post(`/v1/sessions/${id}/events`, say('start'))) as string;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(`/v1/sessions/${id}/events`, say(`writer ${i}`), { 'if-match': tag }),
      ),
    );
    const won = answers.filter((r) => r.status === 201);
    const lost = answers.filter((r) => r.status === 412);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    const now = etagOf(won[0] as ApiReply);
    for (const r of lost) {
      expect(r.body.error.code).toBe('precondition_failed');
      expect(etagOf(r)).toBe(now);
    }
    // The session holds the first event and the winner's, nothing of the 19 others.
    const events = (await get(`/v1/sessions/${id}/events`)).body.events;
    expect(events.map((e: { event_id: string }) => e.event_id)).toEqual([
      expect.any(String),
      (won[0] as ApiReply).body.events[0].event_id,
    ]);
    // The loser's retry with the tag it was given goes through.
    const retry = await post(`/v1/sessions/${id}/events`, say('retried'), {
      'if-match': now as string,
    });
    expect(retry.status).toBe(201);
  });

  it('numbers events 1..N with no gap or repeat under 100 concurrent appends', async () => {
    const id = `seq-${name}`;
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        post(
          `/v1/sessions/${id}/events`,
          // Some batches of two, and a seq the caller sets, which the store replaces.
          i % 10 === 0 ? [say(`${i}a`), { ...say(`${i}b`), metadata: { seq: 999 } }] : say(`${i}`),
        ),
      ),
    );
    expect(answers.every((r) => r.status === 201)).toBe(true);
    const total = 110;
    const answered = answers.flatMap((r) => r.body.events.map((e: { seq: number }) => e.seq));
    expect([...answered].sort((a, b) => a - b)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    const events = (await get(`/v1/sessions/${id}/events`)).body.events;
    expect(events.map((e: { metadata: { seq: number } }) => e.metadata.seq)).toEqual(
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // A batch is stored together, in its order.
    const a = events.findIndex((e: { content: string }) => e.content === '10a');
    expect(events[a + 1].content).toBe('10b');
  });

  it('changes the tag with a raw RPUSH, and refuses the old one after it', async () => {
    const id = `python-${name}`;
    const tag = etagOf(await post(`/v1/sessions/${id}/events`, say('from the sidecar')));
    expect(etagOf(await get(`/v1/sessions/${id}`))).toBe(tag);
    await rpush(id, 'event_python01');
    const after = etagOf(await get(`/v1/sessions/${id}`));
    expect(after).toMatch(TAG_HEADER);
    expect(after).not.toBe(tag);
    expect(etagOf(await get(`/v1/sessions/${id}/events`))).toBe(after);
    const stale = await post(`/v1/sessions/${id}/events`, say('stale'), {
      'if-match': tag as string,
    });
    expect(stale.status).toBe(412);
    expect(etagOf(stale)).toBe(after);
    // At the cap Python trims as it pushes: the length stays, the tag still changes.
    const key = sc.sidecar.store.keys.forSession(id).events;
    const length = await sc.sidecar.redis.llen(key);
    await rpush(id, 'event_python02');
    await sc.sidecar.redis.ltrim(key, -length, -1);
    expect(await sc.sidecar.redis.llen(key)).toBe(length);
    const trimmed = etagOf(await get(`/v1/sessions/${id}`));
    expect(trimmed).not.toBe(after);
    expect(
      (await post(`/v1/sessions/${id}/events`, say('stale'), { 'if-match': after as string }))
        .status,
    ).toBe(412);
    // Any of a list matches; a weak tag is compared as the strong one.
    const listed = await post(`/v1/sessions/${id}/events`, say('fresh'), {
      'if-match': `${tag as string}, W/${trimmed as string}`,
    });
    expect(listed.status).toBe(201);
    const seqs = (await get(`/v1/sessions/${id}/events`)).body.events.map(
      (e: { metadata: { seq?: number } }) => e.metadata.seq,
    );
    // Python's events have no seq; the sidecar's go on from its own (the first was trimmed).
    expect(seqs).toEqual([undefined, undefined, 2]);
  });

  it('refuses If-Match on a session that does not exist, and takes * once it does', async () => {
    const id = `absent-${name}`;
    const absent = await post(`/v1/sessions/${id}/events`, say('x'), { 'if-match': '*' });
    expect(absent.status).toBe(412);
    expect(etagOf(absent)).toBeNull();
    const tagged = await post(`/v1/sessions/${id}/events`, say('x'), {
      'if-match': '"1-0123456789abcdef"',
    });
    expect(tagged.status).toBe(412);
    expect((await get(`/v1/sessions/${id}`)).status).toBe(404);
    expect((await post(`/v1/sessions`, { session_id: id })).status).toBe(201);
    const any = await post(`/v1/sessions/${id}/events`, say('x'), { 'if-match': '*' });
    expect(any.status).toBe(201);
    // A header that names no tag a session could have matches nothing.
    const junk = await post(`/v1/sessions/${id}/events`, say('y'), { 'if-match': 'garbage' });
    expect(junk.status).toBe(412);
  });

  it('creates only with If-None-Match: *', async () => {
    const id = `create-only-${name}`;
    const first = await post('/v1/sessions', { session_id: id }, { 'if-none-match': '*' });
    expect(first.status).toBe(201);
    const tag = etagOf(first);
    expect(tag).toMatch(TAG_HEADER);
    const second = await post('/v1/sessions', { session_id: id }, { 'if-none-match': '*' });
    expect(second.status).toBe(412);
    expect(second.body.error.code).toBe('precondition_failed');
    expect(etagOf(second)).toBe(tag);
    // Without the header an existing session is still a 200; with another tag, too.
    expect((await post('/v1/sessions', { session_id: id })).status).toBe(200);
    const other = await post(
      '/v1/sessions',
      { session_id: id },
      { 'if-none-match': '"9-0123456789abcdef"' },
    );
    expect(other.status).toBe(200);
    const same = await post('/v1/sessions', { session_id: id }, { 'if-none-match': tag as string });
    expect(same.status).toBe(412);
  });

  describe("an agent's own digest", () => {
    const id = `digest-${name}`;
    let ids: string[];
    let tag: string;

    beforeAll(async () => {
      const res = await post(
        `/v1/sessions/${id}/events`,
        Array.from({ length: 6 }, (_, i) => say(`turn ${i}`)),
      );
      ids = res.body.events.map((e: { event_id: string }) => e.event_id);
      tag = etagOf(res) as string;
    });

    const digest = (from: number | string, to: number | string, headers = { 'if-match': tag }) =>
      post(
        `/v1/sessions/${id}/summaries`,
        {
          summary: 'The user counted turns.',
          from_event_id: typeof from === 'number' ? ids[from] : from,
          to_event_id: typeof to === 'number' ? ids[to] : to,
        },
        headers,
      );

    it('refuses a range that is not in the session, or runs backwards', async () => {
      const unknown = await digest('event_nosuch01', 3);
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.message).toMatch(/from_event_id: event_nosuch01 is not an event/);
      expect((await digest(0, 'event_nosuch01')).status).toBe(400);
      const backwards = await digest(3, 1);
      expect(backwards.status).toBe(400);
      expect(backwards.body.error.message).toMatch(/comes after/);
      // Nothing was stored: the tag is unchanged.
      expect(etagOf(await get(`/v1/sessions/${id}`))).toBe(tag);
    });

    it('needs If-Match naming a tag, and a session', async () => {
      const none = await digest(0, 3, {} as { 'if-match': string });
      expect(none.status).toBe(428);
      expect(none.body.error.code).toBe('precondition_required');
      expect((await digest(0, 3, { 'if-match': '*' })).status).toBe(428);
      const absent = await post(
        `/v1/sessions/no-such-${name}/summaries`,
        { summary: 's', from_event_id: 'a', to_event_id: 'b' },
        { 'if-match': tag },
      );
      expect(absent.status).toBe(404);
    });

    it('is stored with a fresh tag, and refused once the session changed', async () => {
      const res = await digest(0, 3);
      expect(res.status).toBe(201);
      expect(res.body.summary).toMatchObject({
        event_type: 'summary',
        content: 'The user counted turns.',
        metadata: {
          from_event_id: ids[0],
          to_event_id: ids[3],
          source: 'agent',
          version: 1,
          seq: 7,
        },
      });
      const after = etagOf(res);
      expect(after).not.toBe(tag);
      expect(etagOf(await get(`/v1/sessions/${id}`))).toBe(after);
      const listed = (await get(`/v1/sessions/${id}/summaries`)).body.summaries;
      expect(listed).toEqual([res.body.summary]);
      // The same tag again: the digest itself changed the session.
      expect((await digest(0, 3)).status).toBe(412);
      // Another append, then a digest with the tag from before it: 412 with the current tag.
      const more = await post(`/v1/sessions/${id}/events`, say('a later turn'));
      const stale = await digest(4, 5, { 'if-match': after as string });
      expect(stale.status).toBe(412);
      expect(etagOf(stale)).toBe(etagOf(more));
      const fresh = await digest(4, 5, { 'if-match': etagOf(more) as string });
      expect(fresh.status).toBe(201);
      expect(fresh.body.summary.metadata).toMatchObject({ version: 2, seq: 9 });
      // The context starts from the newest digest.
      const ctx = await get(`/v1/sessions/${id}/context?max_tokens=1000`);
      expect(ctx.body.window.digest_event_id).toBe(fresh.body.summary.event_id);
    });

    it('refuses a fold written against a digest version that moved on (the summarizer)', async () => {
      const store = sc.sidecar.store;
      const before = await store.getSessionTagged(id);
      expect(before?.digestVersion).toBe(2);
      const range = { summary: 'fold', fromEventId: ids[0] as string, toEventId: ids[5] as string };
      const stale = store.appendDigest(id, range, { expectVersion: 1 });
      await expect(stale).rejects.toBeInstanceOf(StoreError);
      await expect(stale).rejects.toMatchObject({ kind: 'precondition' });
      // An append in between does not stop a fold; only another digest does.
      await post(`/v1/sessions/${id}/events`, say('meanwhile'));
      const folded = await store.appendDigest(id, range, { expectVersion: 2 });
      expect(folded).toMatchObject({ stored: true, version: 3 });
    });
  });
});

// Folds racing another digest, made to race for certain: the model holds every
// request until the test releases it, so both writers have read the session first.
describe('a fold racing another digest (single Redis)', () => {
  let redis: RedisServer;
  let model: ModelServer;
  let a: RunningSidecar & { sidecar: Sidecar };
  let b: RunningSidecar & { sidecar: Sidecar };
  const outcomes: { by: string; session: string; outcome: FoldOutcome }[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    model = await ModelServer.start();
    const env = {
      MEMORY_REDIS_URL: redis.url,
      MEMORY_SUMMARY_MODEL_URL: model.url,
      MEMORY_SUMMARY_MODEL: 'summariser-1',
      MEMORY_COMPACTION_TRIGGER_TOKENS: '400',
      MEMORY_COMPACTION_TARGET_TOKENS: '200',
    };
    a = await startSidecar(env);
    b = await startSidecar({ ...env, MEMORY_KEY_PREFIX: a.prefix });
    for (const [by, sc] of [
      ['a', a],
      ['b', b],
    ] as const) {
      sc.sidecar.summarizer!.onOutcome = (session, outcome) =>
        outcomes.push({ by, session, outcome });
    }
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await model?.stop();
    await redis?.stop();
  });

  const turns = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      event_type: i % 2 ? 'agent_response' : 'user_message',
      content: `turn ${i}: ${'words to fold '.repeat(4)}`,
    }));
  const outcomesOf = (session: string) =>
    outcomes.filter((o) => o.session === session).map((o) => o.outcome.kind);
  const digestsOf = async (session: string) =>
    (await call(a.url, 'GET', `/v1/sessions/${session}/summaries`)).body.summaries;

  it('lets one of two sidecars folding the same session write, the other raced', async () => {
    const id = 'two-folds';
    model.mode = 'hold';
    expect((await call(a.url, 'POST', `/v1/sessions/${id}/events`, turns(40))).status).toBe(201);
    await pollUntil('a at the model', () => model.pending === 1);
    expect((await call(b.url, 'POST', `/v1/sessions/${id}/events`, turns(1))).status).toBe(201);
    await pollUntil('b at the model too', () => model.pending === 2);
    // An ordinary append meanwhile does not stop a fold.
    expect((await call(a.url, 'POST', `/v1/sessions/${id}/events`, turns(1))).status).toBe(201);
    model.mode = 'ok';
    model.release();
    await pollUntil('both outcomes', () => outcomesOf(id).length >= 2);
    expect(outcomesOf(id).sort()).toEqual(['folded', 'raced']);
    const digests = await digestsOf(id);
    expect(digests).toHaveLength(1);
    expect(digests[0].metadata).toMatchObject({ version: 1, source: 'sidecar' });
  });

  it("refuses a fold that an agent's own digest overtook", async () => {
    const id = 'agent-first';
    model.mode = 'hold';
    const res = await call(a.url, 'POST', `/v1/sessions/${id}/events`, turns(40));
    await pollUntil('the fold at the model', () => model.pending === 1);
    const ids = res.body.events.map((e: { event_id: string }) => e.event_id);
    const own = await call(
      b.url,
      'POST',
      `/v1/sessions/${id}/summaries`,
      { summary: 'My own summary.', from_event_id: ids[0], to_event_id: ids[30] },
      { 'if-match': res.headers.get('etag') as string },
    );
    expect(own.status).toBe(201);
    model.mode = 'ok';
    model.release();
    await pollUntil('the fold outcome', () => outcomesOf(id).includes('raced'));
    const digests = await digestsOf(id);
    expect(digests.map((d: { content: string }) => d.content)).toEqual(['My own summary.']);
    expect(digests[0].metadata).toMatchObject({ version: 1, source: 'agent' });
  });
});
