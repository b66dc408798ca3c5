// Python and the sidecar on one Redis, both ways, judged by Python: Python's own
// json module and Debian's python3-redis (test/interop/kaos_redis.py) write and read
// the Redis-era layout the way KAOS's RedisMemory does, and every comparison of a
// value is made on Python's json.dumps text, which tells 3 from 3.0 and keeps
// integers of any size. Values travel to the sidecar as JSON text spelled exactly as
// in the table below, never through JavaScript numbers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { findPython } from '../../harness/python.js';
import { RedisServer } from '../../harness/redis.js';
import { startSidecar, type RunningSidecar } from '../../harness/sidecar.js';

const DRIVER = new URL('kaos_redis.py', import.meta.url).pathname;

let python: string;
let redis: RedisServer;
let raw: Redis;
let sc: RunningSidecar;

type Command = { command: string } & Record<string, unknown>;

/**
 * Commands of the Python side, run in one process (asynchronously: the sidecar
 * shares this process's event loop); their answers, in order.
 */
async function py(...commands: Command[]): Promise<any[]> {
  const child = promisify(execFile)(python, [DRIVER], { encoding: 'utf8' });
  child.child.stdin?.end(JSON.stringify({ url: redis.url, prefix: sc.prefix, commands }));
  return JSON.parse((await child).stdout) as any[];
}

beforeAll(async () => {
  python = findPython();
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_SESSION_TTL_SECONDS: '3600' });
});

afterAll(async () => {
  await sc?.close();
  raw?.disconnect();
  await redis?.stop();
});

interface Case {
  name: string;
  /** JSON text, as a client or Python would spell it. */
  content: string;
  metadata?: string;
}

const CASES: Case[] = [
  { name: 'an integer past 2^63', content: '{"id": 9223372036854775809}' },
  { name: 'a negative integer past 2^63', content: '-9223372036854775809' },
  {
    name: '2^53 + 1 in content and metadata',
    content: '9007199254740993',
    metadata: '{"request_id": 9007199254740993}',
  },
  { name: 'a 40-digit integer', content: '1234567890123456789012345678901234567890' },
  { name: 'a whole-valued float', content: '3.0' },
  { name: '1e16', content: '1e16' },
  { name: 'a small float', content: '2.5e-05' },
  { name: 'the same float written positionally', content: '0.000025' },
  { name: 'negative zero', content: '-0.0' },
  {
    name: 'floats at the edges of Python repr',
    content: '[0.1, 1e-07, 0.0001, 1e+15, 1.7976931348623157e+308, 5e-324, 1e+22, 123456789.125]',
  },
  { name: 'unicode', content: '"Grüße 👋 日本語 \\u2028 \\u00e9"' },
  { name: 'a lone surrogate', content: '"\\ud800 alone"' },
  { name: 'control characters', content: '"\\u0000 \\u001f \\u007f \\t tab \\n line"' },
  { name: 'quotes and backslashes', content: '"it\'s \\"quoted\\" \\\\ here"' },
  {
    name: 'nested content',
    content:
      '{"tool": "search", "arguments": {"q": "x", "ids": [9223372036854775809, 3.0, {"deep": [[[1e16]]]}]}, "ok": true, "none": null}',
  },
  { name: 'an empty object', content: '{}' },
  { name: 'null', content: 'null' },
  { name: 'a boolean', content: 'false' },
  { name: 'a list of mixed values', content: '[1, 2.5, "x", null, true, []]' },
  {
    name: 'numbers in metadata',
    content: '"hi"',
    metadata: '{"latency": 1.0, "tokens": 12, "cost": 2.5e-05, "big": 18446744073709551615}',
  },
];

const sessionOf = (prefix: string, i: number) => `${prefix}-${i}`;
const ids = (events: { event_id: string }[]) => events.map((e) => e.event_id);

describe('Python writes, the sidecar reads', () => {
  /** Per case: Python's reading of its session, and of each sidecar answer about it. */
  const seen: {
    python: { content: string; metadata: string }[];
    events: { content: string[]; metadata: string[] };
    kaos: string[];
    context: { python: string; sidecar: string };
  }[] = [];

  beforeAll(async () => {
    await py(
      ...CASES.map((c, i) => ({
        command: 'write',
        session_id: sessionOf('py', i),
        events: [{ event_type: 'user_message', content: c.content, metadata: c.metadata }],
      })),
    );
    const answers = await Promise.all(
      CASES.map(async (_, i) => {
        const id = sessionOf('py', i);
        const events = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
        const kaos = await call(sc.url, 'GET', `/memory/events?session_id=${id}`);
        const context = await call(sc.url, 'GET', `/v1/sessions/${id}/context`);
        expect([events.status, kaos.status, context.status]).toEqual([200, 200, 200]);
        return { events, kaos, context };
      }),
    );
    const results = await py(
      ...answers.flatMap(({ events, kaos }, i) => [
        { command: 'read', session_id: sessionOf('py', i) },
        { command: 'loads', text: events.text, path: ['events'], field: 'content' },
        { command: 'loads', text: events.text, path: ['events'], field: 'metadata' },
        { command: 'loads', text: kaos.text, path: ['events'], field: 'content' },
        { command: 'context', session_id: sessionOf('py', i) },
      ]),
    );
    answers.forEach(({ context }, i) => {
      const [python, content, metadata, kaos, text] = results.slice(i * 5, i * 5 + 5);
      seen.push({
        python,
        events: { content, metadata },
        kaos,
        context: { python: text, sidecar: context.body.context },
      });
    });
  });

  describe.each(CASES.map((c, i) => [c.name, i] as const))('%s', (_, i) => {
    it('/v1/sessions/{id}/events answers content and metadata as Python reads them', () => {
      const s = seen[i];
      expect(s?.events.content).toEqual(s?.python.map((e) => e.content));
      expect(s?.events.metadata).toEqual(s?.python.map((e) => e.metadata));
      expect(s?.python).toHaveLength(1);
    });

    it('/memory/events answers the same', () => {
      const s = seen[i];
      expect(s?.kaos).toEqual(s?.python.map((e) => e.content));
    });

    it("/context renders it as Python's str()", () => {
      const s = seen[i];
      expect(s?.context.sidecar).toBe(s?.context.python);
      expect(s?.context.python.startsWith('User: ')).toBe(true);
    });
  });
});

/** JSON object text with `"seq": n` as its last key, as append.lua writes it. */
function withSeq(metadata: string | undefined, n: number): string {
  const text = (metadata ?? '{}').trim();
  return text === '{}' ? `{"seq": ${n}}` : `${text.slice(0, -1)}, "seq": ${n}}`;
}

describe('the sidecar writes, Python reads', () => {
  const seen: { stored: string; own: string; redumped: string; read: string[]; sent: string }[] =
    [];

  beforeAll(async () => {
    const stored: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const body = `{"event_type": "user_message", "content": ${c.content}, "metadata": ${c.metadata ?? '{}'}}`;
      const res = await call(sc.url, 'POST', `/v1/sessions/${sessionOf('sc', i)}/events`, body);
      expect(res.status, res.text).toBe(201);
      const entries = await raw.lrange(`${sc.prefix}:events:${sessionOf('sc', i)}`, 0, -1);
      expect(entries).toHaveLength(1);
      stored.push(entries[0] ?? '');
    }
    const results = await py(
      ...CASES.flatMap((c, i) => [
        // What Python stores for the event with the metadata the sidecar gives it: the
        // sent metadata, then the session's sequence number (the first event: 1).
        {
          command: 'expect',
          entry: stored[i],
          content: c.content,
          metadata: withSeq(c.metadata, 1),
        },
        { command: 'read', session_id: sessionOf('sc', i) },
        { command: 'loads', text: `[{"c": ${c.content}}]`, path: [], field: 'c' },
      ]),
    );
    CASES.forEach((_, i) => {
      const [expected, read, [sent]] = results.slice(i * 3, i * 3 + 3);
      seen.push({
        stored: stored[i] ?? '',
        ...expected,
        read: read.map((e: { content: string }) => e.content),
        sent,
      });
    });
  });

  describe.each(CASES.map((c, i) => [c.name, i] as const))('%s', (_, i) => {
    it('stores byte for byte what Python stores for the same event', () => {
      expect(seen[i]?.stored).toBe(seen[i]?.own);
      expect(seen[i]?.stored).toBe(seen[i]?.redumped);
    });

    it("Python's reader returns it with the value sent", () => {
      expect(seen[i]?.read).toEqual([seen[i]?.sent]);
    });
  });
});

describe("Python's NaN and Infinity", () => {
  const id = 'py-nan';
  const content = '{"score": NaN, "high": Infinity, "low": -Infinity}';

  beforeAll(async () => {
    await py({
      command: 'write',
      session_id: id,
      events: [
        { event_type: 'user_message', content },
        { event_type: 'agent_response', content: '"ok"' },
      ],
    });
  });

  it('are read back, not skipped: every reader shows both events', async () => {
    const [python] = await py({ command: 'read', session_id: id });
    expect(python).toHaveLength(2);
    const page = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
    expect(ids(page.body.events)).toEqual(ids(python));
    expect((await call(sc.url, 'GET', `/memory/events?session_id=${id}`)).body.total).toBe(2);
  });

  it('are answered as null, so the answer is JSON to every client (Python refusing NaN included)', async () => {
    const page = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
    const [contents] = await py({
      command: 'loads',
      text: page.text,
      path: ['events'],
      field: 'content',
    });
    expect(contents).toEqual(['{"score": null, "high": null, "low": null}', '"ok"']);
  });

  it("/context renders them as Python's str() does", async () => {
    const res = await call(sc.url, 'GET', `/v1/sessions/${id}/context`);
    const [python] = await py({ command: 'context', session_id: id });
    expect(res.body.context).toBe(python);
    expect(res.body.context).toBe("User: {'score': nan, 'high': inf, 'low': -inf}\nAssistant: ok");
  });

  it('are refused in a request, which must be JSON', async () => {
    const res = await call(
      sc.url,
      'POST',
      `/v1/sessions/${id}/events`,
      `{"event_type": "x", "content": ${content}}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
  });
});

describe('an event Python stored twice', () => {
  const id = 'py-dup';
  let duplicated = '';

  beforeAll(async () => {
    const [written] = await py({
      command: 'write',
      session_id: id,
      events: [
        { event_type: 'user_message', content: '"once"', times: 2 },
        { event_type: 'agent_response', content: '"reply"' },
      ],
    });
    duplicated = written.ids[0];
  });

  it('is shown once by every reader, as Python shows it', async () => {
    expect(await raw.llen(`${sc.prefix}:events:${id}`)).toBe(3);
    const [python] = await py({ command: 'read', session_id: id });
    expect(python).toHaveLength(2);
    const page = await call(sc.url, 'GET', `/v1/sessions/${id}/events`);
    expect(ids(page.body.events)).toEqual(ids(python));
    expect((await call(sc.url, 'GET', `/memory/events?session_id=${id}`)).body.total).toBe(2);
    expect((await call(sc.url, 'GET', `/v1/sessions/${id}/context`)).body.context).toBe(
      'User: once\nAssistant: reply',
    );
  });

  it('is not stored again when the sidecar is sent its id', async () => {
    const res = await call(sc.url, 'POST', `/v1/sessions/${id}/events`, {
      event_id: duplicated,
      event_type: 'user_message',
      content: 'once',
    });
    expect(res.body.duplicates).toBe(1);
    expect(await raw.llen(`${sc.prefix}:events:${id}`)).toBe(3);
  });
});

describe('sessions the sidecar creates', () => {
  it('are listed, read and parsed by Python (timestamps through datetime.fromisoformat)', async () => {
    const created = await call(sc.url, 'POST', '/v1/sessions', {
      session_id: 'sc-owned',
      user_id: 'u-interop',
      app_name: 'interop',
    });
    expect(created.status).toBe(201);
    const appended = await call(sc.url, 'POST', '/v1/sessions/sc-owned/events', [
      { event_type: 'user_message', content: 'first' },
      { event_type: 'agent_response', content: { answer: 42, ratio: 0.5 } },
    ]);
    const [listed, session, read, context] = await py(
      { command: 'list', user_id: 'u-interop' },
      { command: 'session', session_id: 'sc-owned' },
      { command: 'read', session_id: 'sc-owned' },
      { command: 'context', session_id: 'sc-owned' },
    );
    expect(listed).toEqual(['sc-owned']);
    expect(session.session).toMatchObject({ user_id: 'u-interop', app_name: 'interop' });
    expect(session.events).toBe(2);
    expect(ids(read)).toEqual(ids(appended.body.events));
    expect(context).toBe("User: first\nAssistant: {'answer': 42, 'ratio': 0.5}");
    expect((await call(sc.url, 'GET', '/v1/sessions/sc-owned/context')).body.context).toBe(context);
  });
});
