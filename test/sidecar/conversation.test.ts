// The conversation features through HTTP on real Redis, on every topology: a
// token-budgeted, pair-safe context, automatic folds into digests by a real
// OpenAI-compatible server the test starts, and live tails as server-sent events.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster, SentinelGroup } from '../../harness/redis-topology.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';
import type { Sidecar } from '../../sidecar/server.js';
import type { TailSource } from '../../sidecar/streams.js';
import type { FoldOutcome } from '../../sidecar/summarizer.js';
import { countTokens } from '../../sidecar/tokens.js';
import { pollUntil } from '../../harness/poll.js';
import { ModelServer } from './model-server.js';
import { SseClient } from './sse.js';

interface Topology {
  url: string;
  stop(): Promise<void>;
  /** Sentinel: kills the primary and waits until a replica took over. */
  failover?: () => Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  single: async () => {
    const redis = await RedisServer.start();
    return { url: redis.url, stop: () => redis.stop() };
  },
  sentinel: async () => {
    const group = await SentinelGroup.start({ replicas: 1 });
    return {
      url: group.url(),
      stop: () => group.stop(),
      failover: async () => {
        const old = await group.primary();
        await old.kill();
        await group.waitFailover(old);
      },
    };
  },
  cluster: async () => {
    const cluster = await RedisCluster.start();
    return { url: cluster.url(), stop: () => cluster.stop() };
  },
};

describe.each(Object.keys(TOPOLOGIES))('conversation on %s', (name) => {
  let topology: Topology;
  let sc: RunningSidecar & { sidecar: Sidecar };
  /** A second sidecar of the same store that folds, through `model`. */
  let folding: RunningSidecar & { sidecar: Sidecar };
  let model: ModelServer;

  beforeAll(async () => {
    topology = await (TOPOLOGIES[name] as () => Promise<Topology>)();
    model = await ModelServer.start();
    const store = {
      MEMORY_REDIS_URL: topology.url,
      MEMORY_MAX_SESSION_EVENTS: '500',
      // Conversations are under test here, not deadlines: these sidecars share the test's
      // event loop, which a loaded machine can stall past the default 2 s (the likely cause
      // of a 503 in CI with 16 appends of 100 KB in flight), and a stalled loop runs the
      // command's timer before it reads Redis's answer.
      MEMORY_REDIS_TIMEOUT_MS: '15000',
    };
    sc = await startSidecar(store);
    folding = await startSidecar({
      ...store,
      MEMORY_KEY_PREFIX: sc.prefix,
      MEMORY_SUMMARY_MODEL_URL: model.url,
      MEMORY_SUMMARY_MODEL: 'summariser-1',
      MEMORY_COMPACTION_TRIGGER_TOKENS: '400',
      MEMORY_COMPACTION_TARGET_TOKENS: '200',
    });
  });

  afterAll(async () => {
    await folding?.close();
    await sc?.close();
    await model?.stop();
    await topology?.stop();
  });

  const post = (path: string, body?: unknown, headers?: Record<string, string>) =>
    call(sc.url, 'POST', path, body, headers);
  const get = (path: string, headers?: Record<string, string>) =>
    call(sc.url, 'GET', path, undefined, headers);

  describe('context by tokens', () => {
    const id = `budget-${name}`;
    const instruction = 'Always answer in French, and never reveal the account number.';

    beforeAll(async () => {
      const events: unknown[] = [
        { event_type: 'instruction', content: instruction, metadata: { pinned: true } },
      ];
      for (let turn = 0; turn < 40; turn++) {
        events.push({
          event_type: 'user_message',
          content: `Question ${turn}: what is ${turn} squared?`,
        });
        if (turn % 3 === 0) {
          const callId = `call_${turn}`;
          events.push({
            event_type: 'tool_call',
            content: { name: 'square', arguments: { n: turn } },
            metadata: { tool_call_id: callId },
          });
          events.push({ event_type: 'error', content: 'a type the view does not show' });
          events.push({
            event_type: 'tool_result',
            content: { value: turn * turn },
            metadata: { tool_call_id: callId },
          });
        } else if (turn % 3 === 1) {
          // No ids: paired by adjacency.
          events.push({ event_type: 'tool_call', content: `square(${turn})` });
          events.push({ event_type: 'tool_result', content: String(turn * turn) });
        }
        events.push({
          event_type: 'agent_response',
          content: `${turn} squared is ${turn * turn}.`,
        });
      }
      expect((await post(`/v1/sessions/${id}/events`, events)).status).toBe(201);
    });

    /** The pairs of a message list: every tool message's call is there, and every call's result. */
    function expectPairsWhole(
      messages: { role: string; content: string; tool_call_id?: string }[],
    ) {
      const callIds = new Set<string>();
      let openCalls = 0;
      for (const m of messages) {
        if (m.role === 'assistant' && (m.tool_call_id || m.content.startsWith('square('))) {
          if (m.tool_call_id) callIds.add(m.tool_call_id);
          else openCalls++;
        }
        if (m.role === 'tool') {
          if (m.tool_call_id) expect(callIds.has(m.tool_call_id)).toBe(true);
          else expect(openCalls--).toBeGreaterThan(0);
        }
      }
      expect(openCalls).toBe(0);
      const resultIds = new Set(
        messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id),
      );
      for (const c of callIds) expect(resultIds.has(c)).toBe(true);
    }

    it('honours the budget exactly, keeps the pinned instruction, never orphans a result', async () => {
      for (const budget of [60, 97, 150, 233, 400]) {
        const res = await get(`/v1/sessions/${id}/context?max_tokens=${budget}&format=messages`);
        expect(res.status).toBe(200);
        const { messages, window } = res.body;
        const counted = messages.reduce(
          (sum: number, m: { content: string }) => sum + countTokens(m.content) + 4,
          0,
        );
        expect(window.tokens).toBe(counted);
        expect(counted).toBeLessThanOrEqual(budget);
        expect(messages[0]).toEqual({ role: 'system', content: instruction });
        expect(window.pinned).toBe(1);
        expect(window.dropped.budget).toBeGreaterThan(0);
        expectPairsWhole(messages);
        // The newest turn is always there; the budget was full: the exact count comes back the same.
        expect(messages.at(-1).content).toBe('39 squared is 1521.');
        const tight = await get(
          `/v1/sessions/${id}/context?max_tokens=${window.tokens}&format=messages`,
        );
        expect(tight.body.messages).toEqual(messages);
        const less = await get(
          `/v1/sessions/${id}/context?max_tokens=${window.tokens - 1}&format=messages`,
        );
        expect(less.body.window.events).toBeLessThan(window.events);
      }
    });

    it('counts lines in the text form the same way', async () => {
      const res = await get(`/v1/sessions/${id}/context?max_tokens=120`);
      const lines: string[] = res.body.context.split('\n');
      expect(lines[0]).toBe(`System: ${instruction}`);
      expect(lines.at(-1)).toBe('Assistant: 39 squared is 1521.');
      const counted = lines.reduce((sum, line) => sum + countTokens(line) + 1, 0);
      expect(res.body.window.tokens).toBe(counted);
      expect(counted).toBeLessThanOrEqual(120);
      expect(res.body.window.counter).toBe('o200k-estimate-1');
    });

    it('returns the whole conversation when it fits, and max_events still caps it', async () => {
      const all = await get(`/v1/sessions/${id}/context?max_tokens=100000&format=messages`);
      // 1 instruction, 40 questions and answers, 27 calls with their results (not the errors).
      expect(all.body.messages).toHaveLength(1 + 80 + 54);
      expect(all.body.window).toMatchObject({ events: 135, dropped: { budget: 0, unpaired: 0 } });
      expectPairsWhole(all.body.messages);
      const capped = await get(`/v1/sessions/${id}/context?max_tokens=100000&max_events=5`);
      expect(capped.body.context.split('\n')).toHaveLength(5);
      // Without max_tokens, the v1 view as before: the newest 20 user and agent turns.
      const v1 = await get(`/v1/sessions/${id}/context`);
      expect(v1.body).not.toHaveProperty('window');
      expect(v1.body.context.split('\n')).toHaveLength(20);
    });

    it('refuses a budget smaller than the pinned events, naming what they take', async () => {
      const res = await get(`/v1/sessions/${id}/context?max_tokens=5`);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^max_tokens: 5 is less than the \d+ tokens/);
    });

    it('keeps a pinned event written long before the events that fit', async () => {
      const sid = `pinned-early-${name}`;
      await post(`/v1/sessions/${sid}/events`, {
        event_type: 'instruction',
        content: 'Be brief.',
        metadata: { pinned: true },
      });
      const long = 'x'.repeat(2000);
      const batch = Array.from({ length: 400 }, (_, i) => ({
        event_type: i % 2 ? 'agent_response' : 'user_message',
        content: `${i} ${long}`,
      }));
      expect((await post(`/v1/sessions/${sid}/events`, batch)).status).toBe(201);
      const res = await get(`/v1/sessions/${sid}/context?max_tokens=300&format=messages`);
      expect(res.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
      expect(res.body.window.pinned).toBe(1);
      // From the store's copy: the read stopped at the budget, not at the session's start.
      expect(res.body.window.events_read).toBeLessThan(40);
    });

    /** What `request` returned, and how many pages of events the sidecar's store read for it. */
    const countPages = async <T>(request: () => Promise<T>) => {
      // A spy that calls through: the reads still go to Redis, they are only counted.
      const reads = vi.spyOn(sc.sidecar.store, 'readEvents');
      try {
        return { result: await request(), count: reads.mock.calls.length };
      } finally {
        reads.mockRestore();
      }
    };

    /** Turns of 2 KB each through the API: far more than a small budget holds. */
    const longTurns = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        event_type: i % 2 ? 'agent_response' : 'user_message',
        content: `${i} ${'x'.repeat(2000)}`,
      }));

    it('keeps a pinned event that KAOS wrote itself however far back, reading it all', async () => {
      const sid = `pinned-python-${name}`;
      expect((await post(`/v1/sessions/${sid}/events`, longTurns(2))).status).toBe(201);
      // As KAOS's Python writes an event (json.dumps, RPUSH): the store keeps no copy of it.
      await sc.sidecar.redis.rpush(
        sc.sidecar.store.keys.forSession(sid).events,
        '{"event_id": "event_py_pinned", "timestamp": "2026-03-01T10:00:00.000000+00:00", "event_type": "instruction", "content": "Answer in Welsh.", "metadata": {"pinned": true}}',
      );
      expect((await post(`/v1/sessions/${sid}/events`, longTurns(300))).status).toBe(201);
      const pages = await countPages(() =>
        get(`/v1/sessions/${sid}/context?max_tokens=300&format=messages`),
      );
      const res = pages.result;
      expect(res.body.messages[0]).toEqual({ role: 'system', content: 'Answer in Welsh.' });
      expect(res.body.window.events_read).toBe(303);
      // The pages that chose the window, then the rest, read only for what the store has
      // no copy of, in one more.
      expect(pages.count).toBeLessThanOrEqual(3);
    });

    it('starts from a summary a client wrote however far back, reading it all', async () => {
      const sid = `summary-client-${name}`;
      const first = await post(`/v1/sessions/${sid}/events`, longTurns(2));
      await post(`/v1/sessions/${sid}/events`, {
        event_type: 'summary',
        content: 'Two long turns.',
        metadata: {
          from_event_id: first.body.events[0].event_id,
          to_event_id: first.body.events[1].event_id,
        },
      });
      expect((await post(`/v1/sessions/${sid}/events`, longTurns(300))).status).toBe(201);
      const res = await get(`/v1/sessions/${sid}/context?max_tokens=300`);
      expect(res.body.context.split('\n')[0]).toBe('Summary: Two long turns.');
      expect(res.body.window.events_read).toBe(303);
    });

    it("starts from the store's digest however far back, reading only the newest events", async () => {
      const sid = `digest-far-${name}`;
      const first = await post(`/v1/sessions/${sid}/events`, longTurns(2));
      const digest = await sc.sidecar.store.appendDigest(
        sid,
        {
          summary: 'Two long turns, folded.',
          fromEventId: first.body.events[0].event_id,
          toEventId: first.body.events[1].event_id,
        },
        {},
      );
      expect(digest.stored).toBe(true);
      expect((await post(`/v1/sessions/${sid}/events`, longTurns(300))).status).toBe(201);
      const res = await get(`/v1/sessions/${sid}/context?max_tokens=300`);
      expect(res.body.context.split('\n')[0]).toBe('Summary: Two long turns, folded.');
      expect(res.body.window.digest_event_id).toBe(
        digest.stored ? digest.event.event_id : undefined,
      );
      expect(res.body.window.events_read).toBeLessThan(40);
    });

    it('starts from the newest digest and leaves out what it summarises', async () => {
      const sid = `digested-${name}`;
      const first = await post(`/v1/sessions/${sid}/events`, [
        { event_type: 'user_message', content: 'My name is Ada.' },
        { event_type: 'agent_response', content: 'Hello Ada.' },
      ]);
      const to = first.body.events[1].event_id;
      await post(`/v1/sessions/${sid}/events`, [
        {
          event_type: 'summary',
          content: 'The user is called Ada.',
          metadata: { version: 1, from_event_id: first.body.events[0].event_id, to_event_id: to },
        },
        { event_type: 'user_message', content: 'What is my name?' },
      ]);
      const res = await get(`/v1/sessions/${sid}/context?max_tokens=1000`);
      expect(res.body.context).toBe('Summary: The user is called Ada.\nUser: What is my name?');
      expect(res.body.window).toMatchObject({ events: 2, dropped: { summarised: 2 } });
    });
  });

  describe('live tail', () => {
    const stream = (id: string, headers?: Record<string, string>) =>
      SseClient.open(`${sc.url}/v1/sessions/${id}/events/stream`, headers);
    const append = async (id: string, content: string) => {
      const res = await post(`/v1/sessions/${id}/events`, { event_type: 'user_message', content });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.events[0].event_id as string;
    };
    /** An event as KAOS's Python RedisMemory writes it: json.dumps, RPUSH, no sidecar. */
    const rpush = async (id: string, eventId: string) => {
      const key = sc.sidecar.store.keys.forSession(id).events;
      await sc.sidecar.redis.rpush(
        key,
        `{"event_id": "${eventId}", "timestamp": "2026-03-01T10:00:00.000000+00:00", "event_type": "agent_response", "content": "from python", "metadata": {}}`,
      );
    };
    /**
     * A stream on `id` that sees a raw RPUSH of `eventId`, then (after `between`) an API
     * append: the stream, holding both, and the append's event id.
     */
    const rawThenAppended = async (
      id: string,
      eventId: string,
      between: (s: SseClient) => Promise<void> = async () => undefined,
    ) => {
      await append(id, 'before the stream');
      const s = await stream(id);
      await rpush(id, eventId);
      await between(s);
      const after = await append(id, 'after it');
      await s.waitFor(2);
      return { s, after };
    };

    it('sees an API write and a raw RPUSH, each once, in order', async () => {
      const id = `tail-${name}`;
      await append(id, 'before the stream');
      const s = await stream(id);
      expect(s.status).toBe(200);
      const first = await append(id, 'through the API');
      await s.waitFor(1);
      await rpush(id, 'event_python1');
      await s.waitFor(2);
      const third = await append(id, 'and again');
      await s.waitFor(3);
      expect(s.ids).toEqual([first, 'event_python1', third]);
      expect(JSON.parse(s.events[1]!.data)).toMatchObject({ content: 'from python' });
      s.close();
    });

    it('keeps its place after a raw RPUSH whose event_id json.dumps escaped', async () => {
      // json.dumps writes a non-ASCII id escaped (\u00e9): the stream sends it decoded.
      const { s, after } = await rawThenAppended(
        `escaped-${name}`,
        'event_caf\\u00e9',
        async (s) => {
          await s.waitFor(1);
          // Polls with that entry last must find the stream at it: before, each read back
          // looked for the escaped id, found no place and sent a reset and the session again.
          const hub = sc.sidecar.streams as unknown as { source: TailSource };
          const polls = vi.spyOn(hub.source, 'sessionTags');
          await pollUntil('three polls', () => polls.mock.calls.length >= 3);
          polls.mockRestore();
        },
      );
      expect(s.events.map((e) => e.event)).toEqual(['event', 'event']);
      // Sent without an `id:` (Last-Event-ID would refuse it), its data names it.
      expect(s.ids).toEqual(['', after]);
      expect(JSON.parse(s.events[0]!.data).event_id).toBe('event_caf\u00e9');
      s.close();
    });

    it('sends an event_id holding a line break as data only: no id, no forged event', async () => {
      // Stored by another writer: json.dumps escapes the break, the decoded id holds it.
      const { s, after } = await rawThenAppended(
        `forged-${name}`,
        'x\\n\\nevent: event\\ndata: {\\"forged\\": true}',
      );
      expect(s.events.map((e) => e.event)).toEqual(['event', 'event']);
      expect(s.ids).toEqual(['', after]);
      expect(JSON.parse(s.events[0]!.data)).toMatchObject({
        event_id: 'x\n\nevent: event\ndata: {"forged": true}',
        content: 'from python',
      });
      s.close();
    });

    it('resumes with Last-Event-ID without gaps or repeats, under concurrent writers', async () => {
      const id = `resume-${name}`;
      await append(id, 'start');
      const a = await stream(id);
      const writers = Array.from({ length: 10 }, (_, w) =>
        (async () => {
          for (let i = 0; i < 10; i++) await append(id, `writer ${w} event ${i}`);
        })(),
      );
      await a.waitFor(30, 10_000);
      a.close();
      const seen = a.ids;
      await Promise.all(writers);
      const b = await stream(id, { 'last-event-id': seen.at(-1)! });
      await b.waitFor(100 - seen.length, 10_000);
      const stored = (await get(`/v1/sessions/${id}/events`)).body.events.map(
        (e: { event_id: string }) => e.event_id,
      );
      // Both streams together are the session after 'start', in its order, each event once.
      expect([...seen, ...b.ids]).toEqual(stored.slice(1));
      b.close();
    });

    it("sends the sidecar's own appends without reading them back, as GET /events returns them", async () => {
      // A sidecar of the same store that does not poll while the test runs: every read it
      // makes is one an append caused.
      const quiet = await startSidecar({
        MEMORY_REDIS_URL: topology.url,
        MEMORY_KEY_PREFIX: sc.prefix,
        MEMORY_MAX_SESSION_EVENTS: '500',
        MEMORY_STREAM_POLL_MS: '60000',
      });
      try {
        const id = `unread-${name}`;
        await append(id, 'start');
        const s = await SseClient.open(`${quiet.url}/v1/sessions/${id}/events/stream`);
        // Once its first read is done, nothing but an append moves it.
        const hub = quiet.sidecar.streams as unknown as {
          source: TailSource;
          sessions: Map<string, { streams: Set<{ reading: boolean }> }>;
        };
        await pollUntil('the stream read what the session held', () => {
          const streams = [...(hub.sessions.get(id)?.streams ?? [])];
          return streams.length === 1 && !streams[0]?.reading;
        });
        const reads = vi.spyOn(hub.source, 'readSince');
        for (let i = 0; i < 20; i++) {
          const res = await call(quiet.url, 'POST', `/v1/sessions/${id}/events`, [
            { event_type: 'user_message', content: `turn ${i}`, metadata: { turn: i } },
            { event_type: 'agent_response', content: { text: `answer ${i}`, unicode: 'é ✓' } },
          ]);
          expect(res.status).toBe(201);
        }
        await s.waitFor(40);
        // Two reads per append before (40): one to send, one to find nothing more.
        expect(reads).not.toHaveBeenCalled();
        const stored = (await get(`/v1/sessions/${id}/events?limit=100`)).body.events;
        expect(stored).toHaveLength(41);
        expect(s.events.map((e) => JSON.parse(e.data))).toEqual(stored.slice(1));
        expect(s.ids).toEqual(stored.slice(1).map((e: { event_id: string }) => e.event_id));
        s.close();
      } finally {
        await quiet.close();
      }
    });

    it('holds a client that stops reading to its socket, then sends the rest once, in order', async () => {
      const id = `slow-${name}`;
      await append(id, 'start');
      const s = await stream(id);
      s.pause();
      // 16 MB, 16 appends at a time: more than loopback's socket buffers hold, so the stream
      // waits for a drain while appends keep coming.
      for (let i = 0; i < 160; i += 16) {
        await Promise.all(
          Array.from({ length: 16 }, (_, j) => append(id, `${i + j} ${'x'.repeat(100_000)}`)),
        );
      }
      s.resume();
      await s.waitFor(160, 30_000);
      // Each event once and in the session's order: its sequence numbers 2 to 161 ('start' is 1).
      const seqs = s.events
        .filter((e) => e.event === 'event')
        .map((e) => (JSON.parse(e.data) as { metadata: { seq: number } }).metadata.seq);
      expect(seqs).toEqual(Array.from({ length: 160 }, (_, i) => i + 2));
      s.close();
    }, 60_000);

    it('says reset when the session is deleted under it, then streams the new one', async () => {
      const id = `deleted-${name}`;
      await append(id, 'before');
      const s = await stream(id);
      const first = await append(id, 'one');
      await s.waitFor(1);
      expect((await call(sc.url, 'DELETE', `/v1/sessions/${id}`)).status).toBe(204);
      // Only the poll sees a delete: it says so once the list is gone.
      await pollUntil('a reset on the stream', () => s.events.some((e) => e.event === 'reset'));
      const after = await append(id, 'after');
      await pollUntil('the new event', () => s.ids.includes(after));
      expect(s.events.map((e) => e.event)).toEqual(['event', 'reset', 'event']);
      expect(s.ids).toEqual([first, after]);
      s.close();
    });

    it('streams sessions independently (on Cluster, on different shards)', async () => {
      const ids = Array.from({ length: 6 }, (_, i) => `shard-${name}-${i}`);
      for (const id of ids) await append(id, 'exists');
      const streams = await Promise.all(ids.map((id) => stream(id)));
      const written = await Promise.all(ids.map((id) => append(id, `only for ${id}`)));
      for (const [i, s] of streams.entries()) {
        await s.waitFor(1);
        expect(s.ids).toEqual([written[i]]);
        s.close();
      }
    });

    it('refuses an unknown session and a malformed Last-Event-ID', async () => {
      expect((await stream('no-such-session')).status).toBe(404);
      expect((await stream(`tail-${name}`, { 'last-event-id': 'a b' })).status).toBe(400);
    });

    if (name === 'sentinel') {
      it('goes on across a primary failover, missing nothing', async () => {
        const id = 'failover-tail';
        await append(id, 'before');
        const s = await stream(id);
        const first = await append(id, 'one');
        await s.waitFor(1);
        await topology.failover!();
        let second: string | undefined;
        await pollUntil(
          'a write after the failover',
          async () => {
            const res = await post(`/v1/sessions/${id}/events`, {
              event_type: 'user_message',
              content: 'two',
              event_id: 'event_after_failover',
            });
            second = res.body?.events?.[0]?.event_id;
            return res.status === 201 || res.status === 200;
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        await s.waitFor(2, 10_000);
        expect(s.ids).toEqual([first, second]);
        s.close();
        // The store's folding sidecar, which the next tests use, follows the same failover in
        // its own time: until it has, its writes are 503s to retry, which is not under test there.
        await pollUntil(
          'the folding sidecar writing after the failover',
          async () =>
            (
              await call(folding.url, 'POST', `/v1/sessions/${id}-folding/events`, {
                event_type: 'user_message',
                content: 'after',
                event_id: 'event_folding_after_failover',
              })
            ).status < 300,
          { timeoutMs: 30_000, intervalMs: 200 },
        );
      });
    }
  });

  describe('automatic folds', () => {
    it('folds past the trigger under 20 concurrent appenders, losing nothing', async () => {
      const id = `fold-${name}`;
      const outcomes: FoldOutcome[] = [];
      folding.sidecar.summarizer!.onOutcome = (session, outcome) => {
        if (session === id) outcomes.push(outcome);
      };
      const folds = () => outcomes.filter((o) => o.kind === 'folded').length;
      // Twenty writers, ten events each, all at once: far past the trigger.
      const stored = await Promise.all(
        Array.from({ length: 20 }, async (_, writer) => {
          const ids: string[] = [];
          for (let i = 0; i < 10; i++) {
            const res = await call(folding.url, 'POST', `/v1/sessions/${id}/events`, {
              event_type: i % 2 ? 'agent_response' : 'user_message',
              content: `writer ${writer} says ${i}: ${'words to fold '.repeat(3)}`,
            });
            expect(res.status, JSON.stringify(res.body)).toBe(201);
            ids.push(res.body.events[0].event_id);
          }
          return ids;
        }),
      );
      await pollUntil('a fold', () => folds() >= 1, { timeoutMs: 30_000 });
      // More turns, past the trigger again, until the next fold (which carries this one).
      const more: string[] = [];
      for (let i = 0; folds() < 2 && i < 150; i++) {
        const res = await call(folding.url, 'POST', `/v1/sessions/${id}/events`, {
          event_type: i % 2 ? 'agent_response' : 'user_message',
          content: `later turn ${i}: ${'words to fold '.repeat(3)}`,
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        more.push(res.body.events[0].event_id);
      }
      stored.push(more);
      await pollUntil('two folds', () => folds() >= 2, { timeoutMs: 30_000 });
      // Every raw event is still in Redis, each writer's in its order; the digests are extra.
      const key = sc.sidecar.store.keys.forSession(id).events;
      const storedNow = async () =>
        (await sc.sidecar.redis.lrange(key, 0, -1)).map((e) => JSON.parse(e));
      const raw = await storedNow();
      const rawIds = raw.filter((e) => e.event_type !== 'summary').map((e) => e.event_id);
      expect(rawIds).toHaveLength(stored.flat().length);
      for (const ids of stored) {
        expect(rawIds.filter((x: string) => ids.includes(x))).toEqual(ids);
      }
      const digests = raw.filter((e) => e.event_type === 'summary');
      expect(digests.map((d) => d.metadata.version)).toEqual(digests.map((_, i) => i + 1));
      for (const d of digests) {
        expect(rawIds).toContain(d.metadata.from_event_id);
        expect(rawIds).toContain(d.metadata.to_event_id);
        expect(d.content).toMatch(/^Folded \d+ turns after: /);
      }
      // Each fold carries the one before it, and the model saw only what was new.
      expect(digests[1].content).toContain(digests[0].content);
      expect(model.requests.at(-1)?.body.model).toBe('summariser-1');
      // The last appends may pass the trigger again, so a third fold can land from here on:
      // what is read below is checked against the digests as they are after it.
      // The digests are listed, oldest first.
      const listed = await get(`/v1/sessions/${id}/summaries`);
      expect(
        listed.body.summaries.map((d: { event_id: string }) => d.event_id).slice(0, digests.length),
      ).toEqual(digests.map((d) => d.event_id));
      expect((await get('/v1/sessions/no-such/summaries')).status).toBe(404);
      // The context starts from the newest digest.
      const ctx = await get(`/v1/sessions/${id}/context?max_tokens=100000`);
      const later = (await storedNow()).filter((e) => e.event_type === 'summary');
      const used = later.find((d) => d.event_id === ctx.body.window.digest_event_id);
      expect(used?.metadata.version).toBeGreaterThanOrEqual(digests.length);
      expect(ctx.body.context.split('\n')[0]).toBe(`Summary: ${used?.content}`);
    });

    it('with no model configured, nothing folds and nothing claims to', async () => {
      const id = `nofold-${name}`;
      const events = Array.from({ length: 100 }, (_, i) => ({
        event_type: 'user_message',
        content: `a long conversation, turn ${i}, ${'and more words '.repeat(4)}`,
      }));
      expect((await post(`/v1/sessions/${id}/events`, events)).status).toBe(201);
      expect(sc.sidecar.summarizer).toBeUndefined();
      const res = await get(`/v1/sessions/${id}/events?types=summary`);
      expect(res.body.events).toEqual([]);
    });
  });
});

describe('a summary model that fails', () => {
  let redis: RedisServer;
  let model: ModelServer;
  let sc: RunningSidecar & { sidecar: Sidecar };
  const outcomes: FoldOutcome[] = [];
  const id = 'flaky-model';

  beforeAll(async () => {
    redis = await RedisServer.start();
    model = await ModelServer.start();
    sc = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_SUMMARY_MODEL_URL: model.url,
      MEMORY_SUMMARY_MODEL: 'summariser-1',
      MEMORY_COMPACTION_TRIGGER_TOKENS: '200',
      MEMORY_COMPACTION_TARGET_TOKENS: '100',
      MEMORY_SUMMARY_TIMEOUT_MS: '1500',
      MEMORY_SUMMARY_RETRY_MS: '300',
    });
    sc.sidecar.summarizer!.onOutcome = (session, outcome) => {
      if (session === id) outcomes.push(outcome);
    };
  });

  afterAll(async () => {
    await sc?.close();
    await model?.stop();
    await redis?.stop();
  });

  let turn = 0;
  /** Appends concurrently; every one must be acknowledged. */
  async function appendMany(count: number): Promise<void> {
    const results = await Promise.all(
      Array.from({ length: count }, () =>
        call(sc.url, 'POST', `/v1/sessions/${id}/events`, {
          event_type: 'user_message',
          content: `turn ${turn++}: ${'something worth remembering '.repeat(3)}`,
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
  }
  const failedWith = (pattern: RegExp) => () =>
    outcomes.some((o) => o.kind === 'failed' && pattern.test(o.reason));
  const summaries = async () =>
    (await call(sc.url, 'GET', `/v1/sessions/${id}/events?types=summary`)).body.events;

  it('never fails or holds up an append, whether the model is slow, talks garbage or is down', async () => {
    // Slow: the fold's call is held open; appends go on being acknowledged meanwhile.
    model.mode = 'hold';
    await appendMany(10);
    await pollUntil('the model is asked', () => model.pending > 0);
    await appendMany(20);
    expect(model.pending).toBeGreaterThan(0);
    await pollUntil('the fold times out', failedWith(/timed out/));

    // Garbage.
    model.mode = 'garbage';
    await appendMany(5);
    await pollUntil('the fold refuses garbage', failedWith(/not JSON/));

    // Down.
    await model.stop();
    await appendMany(5);
    await pollUntil('the fold finds no model', failedWith(/unreachable/));
    expect(await summaries()).toEqual([]);

    // Back: the next append's fold succeeds; every event is still there.
    model.mode = 'ok';
    await model.start();
    await appendMany(5);
    await pollUntil('a fold', () => outcomes.some((o) => o.kind === 'folded'), {
      timeoutMs: 30_000,
    });
    const digests = await summaries();
    expect(digests).toHaveLength(1);
    const all = await call(sc.url, 'GET', `/v1/sessions/${id}/events?types=user_message`);
    expect(all.body.events).toHaveLength(45);
  });
});

describe('streams: the cap, heartbeats and shutdown', () => {
  let redis: RedisServer;
  let sc: RunningSidecar & { sidecar: Sidecar };

  beforeAll(async () => {
    redis = await RedisServer.start();
    sc = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_MAX_STREAMS: '2',
      MEMORY_STREAM_HEARTBEAT_MS: '100',
      // Far longer than the test waits: only ending the streams lets it stop in time.
      MEMORY_SHUTDOWN_TIMEOUT_MS: '120000',
    });
    await call(sc.url, 'POST', '/v1/sessions/capped/events', {
      event_type: 'user_message',
      content: 'hi',
    });
  });

  afterAll(async () => {
    await sc?.close();
    await redis?.stop();
  });

  const open = () => SseClient.open(`${sc.url}/v1/sessions/capped/events/stream`);

  it('refuses a stream past MEMORY_MAX_STREAMS, and takes one again once one closed', async () => {
    const a = await open();
    const b = await open();
    const c = await open();
    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    expect(JSON.parse(c.body).error.code).toBe('too_many_streams');
    a.close();
    await pollUntil('a place again', async () => {
      const d = await open();
      d.close();
      return d.status === 200;
    });
    b.close();
  });

  it('sends heartbeats while nothing happens', async () => {
    const s = await open();
    await pollUntil('three heartbeats', () => s.comments >= 3, { timeoutMs: 2000 });
    s.close();
  });

  it('ends its streams when the sidecar stops, so stopping does not wait for them', async () => {
    const s = await open();
    await pollUntil('the stream is open', () => sc.sidecar.streams.open === 1);
    let stopped = false;
    const closing = sc.close().then(() => (stopped = true));
    await pollUntil('the stream ended and the sidecar stopped', () => s.ended && stopped, {
      timeoutMs: 5000,
    });
    await closing;
  });
});
