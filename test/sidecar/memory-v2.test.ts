// KAOS memory v2 through the sidecar process on a real Redis: the bodies are
// those upstream's MemoryServiceClient sends (kaos_memory/client.py), in the
// order its runtime sends them; what lands in Redis is checked in the KAOS
// layout (with Python's own json) and read back through the v1 API.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call } from '../../harness/http.js';
import { RedisServer } from '../../harness/redis.js';
import { RedisCluster } from '../../harness/redis-topology.js';
import { SidecarProcess, startSidecar } from '../../harness/sidecar.js';
import { countTokens } from '../../sidecar/tokens.js';

const ME = 'kaos://agent/agents/memory-agent';
const OTHER = 'kaos://agent/agents/other-agent';

let redis: RedisServer;
let raw: Redis;
let sc: SidecarProcess;
let P: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  sc = await SidecarProcess.start(
    { MEMORY_REDIS_URL: redis.url, AGENT_IDENTITY: ME },
    { ready: '/readyz' },
  );
  P = sc.prefix;
});

afterAll(async () => {
  await sc?.stop();
  raw?.disconnect();
  await redis?.stop();
});

/** Scope as the client sends it: `scope.model_dump(mode="json")`, every field present. */
function scope(level: string, session_id: string | null, principal: string | null = 'alice') {
  return { level, principal, agent_client_id: ME, session_id, user_scoping_required: false };
}

/** MemoryServiceClient.recall's payload (a budget only when the runtime sets one). */
function recallPayload(s: object, query: string, budget?: number) {
  return {
    scope: s,
    query,
    top_k: 10,
    include_short_term: true,
    ...(budget === undefined ? {} : { short_term_token_budget: budget }),
  };
}

/** MemoryServiceClient.write's payload. */
function writePayload(
  session: string,
  turns: [string, string][],
  infer = true,
  principal = 'alice',
) {
  return {
    attribution: { principal, agent_client_id: ME, session_id: session },
    turns: turns.map(([role, content]) => ({ role, content })),
    infer,
  };
}

const recall = (body: object) => call(sc.url, 'POST', '/v1/recall', body);
const write = (body: object) => call(sc.url, 'POST', '/v1/write', body);
const forget = (body: object) => call(sc.url, 'POST', '/v1/forget', body);

function python(program: string, input: unknown): any {
  return JSON.parse(
    execFileSync('python3', ['-c', program], { input: JSON.stringify(input), encoding: 'utf8' }),
  );
}

describe("upstream's client order: recall, write a batch, recall, forget", () => {
  const S = 'session_0a1b2c3d4e5f';
  const interaction: [string, string][] = [
    ['user', "what's the weather in NYC? Grüße 👋"],
    ['assistant', '[called tool search({"city": "NYC"})]'],
    ['tool', '[tool result search: rainy, 12C]'],
    ['assistant', "It's rainy and 12C in NYC."],
  ];

  it('recalls nothing for a new session', async () => {
    const r = await recall(recallPayload(scope('session', S), 'weather'));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      facts: [],
      short_term: { recent: [] },
      medium_term: { summary: '' },
      block: '',
      degraded: false,
    });
  });

  it('writes the batch as events of the KAOS layout, byte for byte as Python would', async () => {
    const w = await write(writePayload(S, interaction));
    expect(w.status).toBe(200);
    expect(w.body).toEqual({ accepted: true, scheduled: false, degraded: false });

    const entries = await raw.lrange(`${P}:events:${S}`, 0, -1);
    expect(entries.map((e) => JSON.parse(e).event_type)).toEqual([
      'user_message',
      'agent_response',
      'tool_result',
      'agent_response',
    ]);
    const checked = python(
      `import json, sys
from datetime import datetime
out = []
for item in json.load(sys.stdin):
    d = json.loads(item)
    datetime.fromisoformat(d["timestamp"])
    out.append({"same_bytes": json.dumps(d) == item, "keys": list(d.keys()), "content": d["content"]})
print(json.dumps(out))`,
      entries,
    );
    for (const [i, c] of checked.entries()) {
      expect(c.same_bytes).toBe(true);
      expect(c.keys).toEqual(['event_id', 'timestamp', 'event_type', 'content', 'metadata']);
      expect(c.content).toBe(interaction[i]![1]);
    }
    expect(await raw.hget(`${P}:session:${S}`, 'user_id')).toBe('alice');
    expect(await raw.zscore(`${P}:sessions`, S)).not.toBeNull();
  });

  it('recalls the window, through a restart of the sidecar', async () => {
    const expected = {
      facts: [],
      short_term: { recent: interaction },
      medium_term: { summary: '' },
      block: '',
      degraded: false,
    };
    expect((await recall(recallPayload(scope('session', S), 'weather'))).body).toEqual(expected);
    await sc.kill();
    await sc.spawn();
    expect((await recall(recallPayload(scope('session', S), 'weather'))).body).toEqual(expected);
  });

  it('is the same conversation for the v1 API', async () => {
    const events = await call(sc.url, 'GET', `/v1/sessions/${S}/events`);
    expect(events.body.events.map((e: any) => [e.event_type, e.content])).toEqual([
      ['user_message', interaction[0]![1]],
      ['agent_response', interaction[1]![1]],
      ['tool_result', interaction[2]![1]],
      ['agent_response', interaction[3]![1]],
    ]);
    const context = await call(sc.url, 'GET', `/v1/sessions/${S}/context`);
    expect(context.body.context).toBe(
      `User: ${interaction[0]![1]}\nAssistant: ${interaction[1]![1]}\nAssistant: ${interaction[3]![1]}`,
    );
  });

  it('forgets the session: its keys are gone and recall is empty again', async () => {
    const f = await forget({ scope: scope('session', S) });
    expect(f.status).toBe(200);
    expect(f.body).toEqual({ forgotten: true, degraded: false });
    expect(await raw.exists(`${P}:events:${S}`, `${P}:session:${S}`)).toBe(0);
    expect(await raw.zscore(`${P}:sessions`, S)).toBeNull();
    expect(
      (await recall(recallPayload(scope('session', S), 'weather'))).body.short_term.recent,
    ).toEqual([]);
  });
});

describe('one conversation for every generation', () => {
  it("gives a v2 agent the turns KAOS's Python RedisMemory wrote, and reads other roles back", async () => {
    const S = 'py-written';
    const entries: string[] = python(
      `import json, sys
def ev(i, t, c):
    return json.dumps({"event_id": i, "timestamp": "2026-02-17T10:00:00.123456+00:00", "event_type": t, "content": c, "metadata": {}})
print(json.dumps([
  ev("event_aaaa0001", "user_message", "Caf\\u00e9: what's 2+2?"),
  ev("event_aaaa0002", "tool_call", {"tool": "calculator", "arguments": {"expr": "2+2"}}),
  ev("event_aaaa0003", "tool_result", {"tool": "calculator", "result": 4}),
  ev("event_aaaa0004", "agent_response", "4"),
  ev("event_aaaa0005", "error", "ignored"),
]))`,
      null,
    );
    await raw.rpush(`${P}:events:${S}`, ...entries);
    await write(
      writePayload(S, [
        ['system', 'be brief'],
        ['user', 'thanks'],
      ]),
    );
    const r = await recall(recallPayload(scope('session', S), ''));
    expect(r.body.short_term.recent).toEqual([
      ['user', "Café: what's 2+2?"],
      ['assistant', '[called tool calculator({"expr": "2+2"})]'],
      ['tool', '[tool result calculator: 4]'],
      ['assistant', '4'],
      ['system', 'be brief'],
      ['user', 'thanks'],
    ]);
    const stored = JSON.parse((await raw.lindex(`${P}:events:${S}`, -2))!);
    expect(stored).toMatchObject({
      event_type: 'message',
      content: 'be brief',
      metadata: { role: 'system' },
    });
  });
});

describe("KAOS's Redis-era RedisMemory on the same session", () => {
  /** The Redis-era layout as RedisMemory writes and reads it, in Python (test/interop/kaos_redis.py). */
  const driver = fileURLToPath(new URL('../interop/kaos_redis.py', import.meta.url));
  const kaos = (...commands: object[]): any[] =>
    JSON.parse(
      execFileSync('/usr/bin/python3', [driver], {
        input: JSON.stringify({ url: redis.url, prefix: P, commands }),
        encoding: 'utf8',
      }),
    );

  it('reads what a v2 agent wrote, appends to it, and the v2 agent recalls both', async () => {
    const S = 'two-generations';
    await write(
      writePayload(S, [
        ['user', 'Remember this: the secret code is 42'],
        ['assistant', 'I will remember it.'],
      ]),
    );
    const [read, context] = kaos(
      { command: 'read', session_id: S },
      { command: 'context', session_id: S },
    );
    expect(read.map((e: any) => [e.event_type, JSON.parse(e.content)])).toEqual([
      ['user_message', 'Remember this: the secret code is 42'],
      ['agent_response', 'I will remember it.'],
    ]);
    expect(context).toBe(
      'User: Remember this: the secret code is 42\nAssistant: I will remember it.',
    );
    kaos({
      command: 'write',
      session_id: S,
      events: [
        { event_type: 'user_message', content: '"What is the secret code?"' },
        { event_type: 'agent_response', content: '"It is 42."' },
      ],
    });
    const r = await recall(recallPayload(scope('session', S), 'secret code'));
    expect(r.body.short_term.recent).toEqual([
      ['user', 'Remember this: the secret code is 42'],
      ['assistant', 'I will remember it.'],
      ['user', 'What is the secret code?'],
      ['assistant', 'It is 42.'],
    ]);
  });
});

describe('the medium-term digest', () => {
  it('is the newest summary event, and the window starts after the turns it covers', async () => {
    const S = 'digested';
    await write(
      writePayload(S, [
        ['user', 'first question'],
        ['assistant', 'first answer'],
      ]),
    );
    const [, last] = (await call(sc.url, 'GET', `/v1/sessions/${S}/events`)).body.events;
    await call(sc.url, 'POST', `/v1/sessions/${S}/events`, {
      event_type: 'summary',
      content: 'The user asked a first question and got an answer.',
      metadata: { to_event_id: last.event_id, version: 1 },
    });
    await write(writePayload(S, [['user', 'second question']]));
    const r = await recall(recallPayload(scope('session', S), ''));
    expect(r.body.medium_term).toEqual({
      summary: 'The user asked a first question and got an answer.',
    });
    expect(r.body.short_term.recent).toEqual([['user', 'second question']]);

    // A window decided before its reads reach the digest (the session is larger than the first read)
    // still answers the digest.
    const many: [string, string][] = Array.from({ length: 150 }, (_, i) => [
      'user',
      `later ${i} ${'word '.repeat(120)}`.trim(),
    ]);
    await write(writePayload(S, many));
    const newest = many[149]!;
    const small = await recall(recallPayload(scope('session', S), '', countTokens(newest[1])));
    expect(small.body.short_term.recent).toEqual([newest]);
    expect(small.body.medium_term.summary).toBe(
      'The user asked a first question and got an answer.',
    );
  });
});

describe("the medium-term digest from the store's copy", () => {
  it('is answered without reading back for it, and after the list was trimmed past it', async () => {
    const own = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      AGENT_IDENTITY: ME,
      MEMORY_MAX_SESSION_EVENTS: '100',
    });
    try {
      const S = 'digest-copied';
      const post = (path: string, body: object, headers?: Record<string, string>) =>
        call(own.url, 'POST', path, body, headers);
      await post(
        '/v1/write',
        writePayload(S, [
          ['user', 'q'],
          ['assistant', 'a'],
        ]),
      );
      const session = await call(own.url, 'GET', `/v1/sessions/${S}/events`);
      const [first, last] = session.body.events;
      // The store's digest (the summaries route), not a summary event posted as any other.
      const digest = await post(
        `/v1/sessions/${S}/summaries`,
        { summary: 'The user asked q.', from_event_id: first.event_id, to_event_id: last.event_id },
        { 'if-match': session.headers.get('etag') as string },
      );
      expect(digest.status).toBe(201);
      // 150 turns more: the list keeps its newest 100, so the digest's own entry is gone.
      const many: [string, string][] = Array.from({ length: 150 }, (_, i) => [
        'user',
        `later ${i}`,
      ]);
      for (let i = 0; i < many.length; i += 50) {
        expect((await post('/v1/write', writePayload(S, many.slice(i, i + 50)))).status).toBe(200);
      }
      const stored = (await call(own.url, 'GET', `/v1/sessions/${S}/events?limit=1000`)).body;
      expect(stored.events).toHaveLength(100);
      expect(stored.events.some((e: { event_type: string }) => e.event_type === 'summary')).toBe(
        false,
      );

      const reads = vi.spyOn(own.sidecar.store, 'readEvents');
      const newest = many[149]!;
      const r = await call(
        own.url,
        'POST',
        '/v1/recall',
        recallPayload(scope('session', S), '', countTokens(newest[1])),
      );
      expect(r.body.short_term.recent).toEqual([newest]);
      expect(r.body.medium_term.summary).toBe('The user asked q.');
      // One read for the window; none for the digest (a summaries-only read before).
      expect(reads.mock.calls.filter(([id]) => id === S)).toHaveLength(1);
      // A window of the whole list, read to its oldest event, answers the digest too.
      const whole = await call(
        own.url,
        'POST',
        '/v1/recall',
        recallPayload(scope('session', S), '', 100_000),
      );
      expect(whole.body.short_term.recent).toHaveLength(100);
      expect(whole.body.medium_term.summary).toBe('The user asked q.');
    } finally {
      await own.close();
    }
  });
});

describe('the short-term budget', () => {
  const S = 'budgeted';
  const turns: [string, string][] = Array.from({ length: 12 }, (_, i) => [
    i % 2 ? 'assistant' : 'user',
    `turn ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + ((i * 7) % 5))}`.trim(),
  ]);

  beforeAll(async () => {
    expect((await write(writePayload(S, turns))).status).toBe(200);
  });

  it('is honoured exactly by the token counter: within N, and the next older turn would pass it', async () => {
    const cost = turns.map(([, c]) => countTokens(c));
    const total = cost.reduce((a, b) => a + b, 0);
    const budgets = [
      0,
      cost[11]! - 1,
      cost[11]!,
      cost[11]! + cost[10]!,
      Math.floor(total / 2),
      total - 1,
      total,
    ];
    for (const budget of budgets) {
      const recent: [string, string][] = (
        await recall(recallPayload(scope('session', S), '', budget))
      ).body.short_term.recent;
      const used = recent.reduce((n, [, c]) => n + countTokens(c), 0);
      expect(used).toBeLessThanOrEqual(budget);
      expect(recent).toEqual(turns.slice(turns.length - recent.length));
      const older = cost[turns.length - recent.length - 1];
      if (older !== undefined) expect(used + older).toBeGreaterThan(budget);
    }
  });

  it('falls back to MEMORY_SHORT_TERM_TOKEN_BUDGET when the request names none', async () => {
    const small = await startSidecar({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_KEY_PREFIX: P,
      AGENT_IDENTITY: ME,
      MEMORY_SHORT_TERM_TOKEN_BUDGET: String(countTokens(turns[11]![1])),
    });
    try {
      const r = await call(small.url, 'POST', '/v1/recall', recallPayload(scope('session', S), ''));
      expect(r.body.short_term.recent).toEqual([turns[11]]);
    } finally {
      await small.close();
    }
  });
});

describe('facts without a model', () => {
  const facts: [string, string][] = [
    ['user', 'The production cluster runs in eu-west-1'],
    ['user', 'The staging cluster runs in us-east-1'],
    ['user', 'I prefer green tea in the afternoon'],
    ['assistant', 'Noted: your deploys go out on Tuesdays'],
  ];

  beforeAll(async () => {
    const w = await write(writePayload('facts-1', facts, false));
    expect(w.body).toEqual({ accepted: true, scheduled: false, degraded: false });
    await write(writePayload('facts-2', [['user', 'Bob owns the billing service']], false, 'bob'));
  });

  it('recalls by lexical relevance at user, agent and group level, best first, within top_k', async () => {
    const r = await recall(
      recallPayload(scope('user', 'elsewhere'), 'where does the production cluster run?'),
    );
    expect(r.body.facts.map((f: any) => f.memory)).toEqual([facts[0]![1], facts[1]![1]]);
    expect(r.body.facts[0].score).toBeGreaterThan(r.body.facts[1].score);
    expect(r.body.facts[0]).toMatchObject({
      user_id: 'alice',
      agent_id: ME,
      role: 'user',
      metadata: { kaos_group: P, kaos_run: 'facts-1' },
    });
    expect(r.body.block).toBe(`## Relevant memory\n- ${facts[0]![1]}\n- ${facts[1]![1]}`);
    expect(r.body.short_term.recent).toEqual([]);

    const tea = await recall({ ...recallPayload(scope('agent', null), 'tea'), top_k: 1 });
    expect(tea.body.facts.map((f: any) => f.memory)).toEqual([facts[2]![1]]);
    const billing = await recall(recallPayload(scope('group', null, null), 'billing'));
    expect(billing.body.facts.map((f: any) => f.memory)).toEqual(['Bob owns the billing service']);
    const aliceOnly = await recall(recallPayload(scope('user', null), 'billing'));
    expect(aliceOnly.body.facts).toEqual([]);
  });

  it('leaves out of facts a turn the window already holds', async () => {
    const r = await recall(recallPayload(scope('session', 'facts-1'), 'tea'));
    expect(r.body.short_term.recent).toContainEqual(facts[2]);
    expect(r.body.facts).toEqual([]);
  });

  it('lists every fact of a scope, newest first', async () => {
    const l = await call(sc.url, 'POST', '/v1/list', {
      scope: scope('user', null),
      include_short_term: false,
    });
    expect(l.status).toBe(200);
    expect(l.body.facts.map((f: any) => f.memory).sort()).toEqual(facts.map(([, c]) => c).sort());
  });

  it('writes the same text by the same owners once', async () => {
    const before = await raw.hlen(`${P}:facts:{${P}}:data`);
    await write(writePayload('facts-1', [facts[0]!], false));
    expect(await raw.hlen(`${P}:facts:{${P}}:data`)).toBe(before);
  });

  it('forgets a user: their sessions and every fact written for them, and no one else', async () => {
    const f = await forget({ scope: scope('user', null) });
    expect(f.body).toEqual({ forgotten: true, degraded: false });
    expect(await raw.exists(`${P}:events:facts-1`)).toBe(0);
    const left = await raw.hvals(`${P}:facts:{${P}}:data`);
    expect(left.map((v) => JSON.parse(v).memory)).toEqual(['Bob owns the billing service']);
    expect(await raw.exists(`${P}:facts:{${P}}:user:alice`)).toBe(0);
    const group = await recall(recallPayload(scope('group', null, null), 'cluster production'));
    expect(group.body.facts).toEqual([]);
  });
});

describe('scope checked against AGENT_IDENTITY', () => {
  it.each(['session', 'agent', 'user', 'group'])(
    'refuses a %s scope naming another agent, on every operation, and stores nothing',
    async (level) => {
      const keysBefore = (await raw.keys(`${P}:*`)).sort();
      const s = { ...scope(level, 'sx'), agent_client_id: OTHER };
      for (const [path, body] of [
        ['/v1/recall', recallPayload(s, 'q')],
        ['/v1/list', { scope: s }],
        ['/v1/forget', { scope: s }],
        [
          '/v1/write',
          { attribution: { agent_client_id: OTHER, session_id: 'sx' }, role: 'user', content: 'x' },
        ],
      ] as const) {
        const r = await call(sc.url, 'POST', path, body);
        expect(r.status, path).toBe(403);
        expect(r.body.error.code).toBe('forbidden_scope');
      }
      expect((await raw.keys(`${P}:*`)).sort()).toEqual(keysBefore);
    },
  );

  it('refuses an incomplete scope and group erasure; a write without a session is a 400', async () => {
    const incomplete = await recall(
      recallPayload({ ...scope('agent', null), agent_client_id: null }, 'q'),
    );
    expect(incomplete.status).toBe(400);
    expect(incomplete.body.error.message).toMatch(
      /^scope\.agent_client_id: incomplete agent scope/,
    );
    expect((await forget({ scope: scope('group', null) })).status).toBe(403);
    const noSession = await write({
      attribution: { principal: 'alice' },
      role: 'user',
      content: 'x',
    });
    expect(noSession.status).toBe(400);
    expect(noSession.body.error.message).toMatch(/^body\.attribution\.session_id/);
  });

  it('serves no agent by name where the sidecar has no AGENT_IDENTITY', async () => {
    const anonymous = await startSidecar({ MEMORY_REDIS_URL: redis.url, MEMORY_KEY_PREFIX: P });
    try {
      const named = await call(
        anonymous.url,
        'POST',
        '/v1/recall',
        recallPayload(scope('session', 'sy'), 'q'),
      );
      expect(named.status).toBe(403);
      const session = await call(
        anonymous.url,
        'POST',
        '/v1/recall',
        recallPayload({ ...scope('session', 'sy'), agent_client_id: null }, 'q'),
      );
      expect(session.status).toBe(200);
    } finally {
      await anonymous.close();
    }
  });
});

describe('on Redis Cluster', () => {
  it('writes, recalls and forgets across masters: facts in one slot per prefix, each session in its own', async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    const sidecar = await startSidecar({ MEMORY_REDIS_URL: cluster.url(), AGENT_IDENTITY: ME });
    try {
      const post = (path: string, body: object) => call(sidecar.url, 'POST', path, body);
      for (const session of ['c-1', 'c-2', 'c-3']) {
        const w = await post(
          '/v1/write',
          writePayload(session, [['user', `the ${session} cluster fact`]], false),
        );
        expect(w.body).toEqual({ accepted: true, scheduled: false, degraded: false });
      }
      const r = await post('/v1/recall', recallPayload(scope('user', 'c-2'), 'c 1 cluster'));
      // c-2's fact is still a turn of the window recalled beside it, so it is not a fact here.
      expect(r.body.facts.map((f: any) => f.memory)).toEqual([
        'the c-1 cluster fact',
        'the c-3 cluster fact',
      ]);
      expect(r.body.short_term.recent).toEqual([['user', 'the c-2 cluster fact']]);
      expect((await post('/v1/forget', { scope: scope('user', null) })).status).toBe(200);
      const after = await post('/v1/list', { scope: scope('group', 'c-1', null) });
      expect(after.body.facts).toEqual([]);
      expect(after.body.short_term.recent).toEqual([]);
    } finally {
      await sidecar.close();
      await cluster.stop();
    }
  });
});
