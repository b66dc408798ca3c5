// What an operator meets: the trace context in stored events, erasing a user's
// sessions through the API, and one log line per failed request. The metrics
// listener off loopback: test/monitoring/metrics-listener.test.ts.
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { pollUntil } from '../../harness/poll.js';
import { freePort } from '../../harness/ports.js';
import { RedisServer } from '../../harness/redis.js';
import { randomPrefix } from '../../harness/sidecar.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { Sidecar } from '../../sidecar/server.js';

let redis: RedisServer;
let raw: Redis;
let sidecar: Sidecar;
let url: string;
let prefix: string;
const lines: Record<string, unknown>[] = [];
/** What onceReady ran, in order. */
const readyRuns: string[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  raw = redis.client();
  const port = await freePort();
  prefix = randomPrefix();
  const config = loadSidecarConfig({
    MEMORY_REDIS_URL: redis.url,
    MEMORY_KEY_PREFIX: prefix,
    MEMORY_SIDECAR_PORT: String(port),
    AGENT_NAME: 'ops-agent',
    // Not the default 9790: other files' sidecars run beside this one.
    MEMORY_METRICS_PORT: '0',
    MEMORY_REDIS_TIMEOUT_MS: '500',
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  sidecar = new Sidecar(config, pino({ level: 'info' }, sink));
  sidecar.onceReady(() => readyRuns.push('registered before start'));
  await sidecar.start();
  url = `http://127.0.0.1:${port}`;
  await pollUntil('ready', async () => (await call(url, 'GET', '/readyz')).status === 200);
});

afterAll(async () => {
  await sidecar?.close();
  raw?.disconnect();
  await redis?.stop();
});

describe('onceReady (the heap is compacted after the first /readyz 200)', () => {
  it('runs once the first /readyz 200 has been sent, and at once when asked after it', async () => {
    expect(readyRuns).toEqual(['registered before start']);
    expect((await call(url, 'GET', '/readyz')).status).toBe(200);
    expect(readyRuns).toEqual(['registered before start']);
    sidecar.onceReady(() => readyRuns.push('registered after'));
    expect(readyRuns).toEqual(['registered before start', 'registered after']);
  });
});

describe('trace context', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const SPAN = '00f067aa0ba902b7';

  it('stores traceparent as trace_id and span_id in each new event; caller metadata wins', async () => {
    const res = await call(
      url,
      'POST',
      '/v1/sessions/traced/events',
      [
        { event_type: 'user_message', content: 'hi', metadata: { lang: 'en' }, event_id: 'e1' },
        { event_type: 'agent_response', content: 'hello' },
        { event_type: 'tool_call', content: {}, metadata: { trace_id: 'abc', span_id: 'def' } },
      ],
      { traceparent: `00-${TRACE}-${SPAN}-01` },
    );
    expect(res.status).toBe(201);
    const stored = await raw.lrange(`${prefix}:events:traced`, 0, -1);
    expect(stored[0]).toContain(
      `"metadata": {"lang": "en", "trace_id": "${TRACE}", "span_id": "${SPAN}", "seq": 1}}`,
    );
    expect(JSON.parse(stored[1]!).metadata).toEqual({ trace_id: TRACE, span_id: SPAN, seq: 2 });
    expect(JSON.parse(stored[2]!).metadata).toEqual({ trace_id: 'abc', span_id: 'def', seq: 3 });
  });

  it('leaves a duplicate alone and ignores an invalid traceparent', async () => {
    const other = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const dup = await call(
      url,
      'POST',
      '/v1/sessions/traced/events',
      { event_type: 'user_message', content: 'hi', event_id: 'e1' },
      { traceparent: other },
    );
    expect(dup.body.duplicates).toBe(1);
    await call(
      url,
      'POST',
      '/v1/sessions/traced/events',
      { event_type: 'user_message', content: 'x' },
      { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` },
    );
    const stored = await raw.lrange(`${prefix}:events:traced`, 0, -1);
    expect(stored).toHaveLength(4);
    expect(stored[0]).toContain(TRACE);
    expect(JSON.parse(stored[3]!).metadata).toEqual({ seq: 4 });
  });

  it('is described in the OpenAPI document as a header of appendEvents', async () => {
    const doc = (await call(url, 'GET', '/openapi.json')).body;
    const params = doc.paths['/v1/sessions/{id}/events'].post.parameters as { name: string }[];
    expect(params.find((p) => p.name === 'traceparent')).toMatchObject({ in: 'header' });
  });
});

describe('DELETE /v1/sessions?user_id= (privacy erasure)', () => {
  it("deletes every session of that user and no one else's, and says how many", async () => {
    for (let i = 0; i < 30; i++) {
      await call(url, 'POST', '/v1/sessions', {
        session_id: `erase-${i}`,
        user_id: i % 3 === 0 ? 'erin' : 'other',
      });
    }
    const res = await call(url, 'DELETE', '/v1/sessions?user_id=erin');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: 10, held: 0, complete: true });
    expect(await raw.exists(`${prefix}:session:erase-0`, `${prefix}:session:erase-3`)).toBe(0);
    expect(await raw.exists(`${prefix}:session:erase-1`)).toBe(1);
    expect(await raw.zscore(`${prefix}:sessions`, 'erase-0')).toBeNull();
    expect((await call(url, 'DELETE', '/v1/sessions?user_id=erin')).body).toEqual({
      deleted: 0,
      held: 0,
      complete: true,
    });
  });

  it('needs a user: no user_id is a 400, never "delete everything"', async () => {
    const res = await call(url, 'DELETE', '/v1/sessions');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/user_id/);
    expect((await call(url, 'DELETE', '/v1/sessions?user_id=')).status).toBe(400);
    expect(await raw.exists(`${prefix}:session:erase-1`)).toBe(1);
  });
});

describe('logs', () => {
  it('one structured line per failed request: route, status, code, session, agent', async () => {
    lines.length = 0;
    await call(url, 'GET', '/v1/sessions/missing-one');
    await call(url, 'POST', '/v1/sessions/bad/events', { content: 1 });
    await call(url, 'GET', '/healthz');
    await call(url, 'GET', '/v1/sessions/traced');
    const failed = lines.filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({
      route: '/v1/sessions/{id}',
      method: 'GET',
      status: 404,
      code: 'not_found',
      session: 'missing-one',
      agent: 'ops-agent',
    });
    expect(failed[1]).toMatchObject({ status: 400, code: 'bad_request', session: 'bad' });
    expect(lines).toHaveLength(2);
  });

  it('a Redis failure is one warn line with its kind, and nothing secret', async () => {
    lines.length = 0;
    redis.pause();
    try {
      await call(url, 'GET', '/v1/sessions/slow');
    } finally {
      redis.resume();
    }
    const failed = lines.filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 40,
      status: 503,
      code: 'redis_timeout',
      kind: 'timeout',
      session: 'slow',
    });
    expect(JSON.stringify(lines)).not.toMatch(/password|redis:\/\//);
  });
});
