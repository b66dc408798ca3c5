// Requests pipelined on one connection by a client that does not read the answers, or
// leaves: the sidecar (its own process, on a real Redis) holds no more than one unsent
// answer per connection, runs nothing for a client that has gone, and closes a
// connection that keeps piling requests up.
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../harness/http.js';
import { SIDECAR_NODE_OPTIONS } from '../../lib/contract.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess } from '../../harness/sidecar.js';

const MIB = 1024 * 1024;
const JSON_TYPE = { 'content-type': 'application/json' };

let redis: RedisServer;
let sc: SidecarProcess;

/** Stores `events` events of `bytes` characters each in session `id`, 10 per request. */
async function seed(id: string, events: number, bytes: number): Promise<void> {
  for (let i = 0; i < events; i += 10) {
    const batch = Array.from({ length: Math.min(10, events - i) }, () => ({
      event_type: 'tool_result',
      content: 'x'.repeat(bytes),
    }));
    const res = await call(sc.url, 'POST', `/v1/sessions/${id}/events`, batch, JSON_TYPE);
    expect(res.status).toBe(201);
  }
}

/** The sum of the samples of `name` whose labels contain every one of `labels`. */
async function metric(name: string, ...labels: string[]): Promise<number> {
  const text = (await call(sc.url, 'GET', '/metrics')).text;
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{.*\})? (\S+)$/.exec(line);
    if (m?.[1] !== name || !labels.every((l) => (m[2] ?? '').includes(l))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

const requestsTo = (route: string) =>
  metric('kaos_memory_sidecar_http_requests_total', `route="${route}"`);
const abandoned = () => metric('kaos_memory_sidecar_http_requests_abandoned_total');

const get = (path: string, close = false) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
/** A connection that sends `requests` in one write and, unless `reading`, reads nothing until `read()`. */
function pipeline(requests: string[], reading = false) {
  const socket = new Socket();
  let received = 0;
  let firstByte: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstByte = resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const statuses: number[] = [];
  let tail = '';
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    firstByte();
    // Status lines only: a body never holds "HTTP/1.1 " (its content is x's). A line
    // across two chunks is found in the tail kept from the first, and counted once.
    const text = tail + chunk.toString('latin1');
    for (const m of text.matchAll(/HTTP\/1\.1 (\d{3}) /g)) {
      if (m.index + m[0].length > tail.length) statuses.push(Number(m[1]));
    }
    tail = text.slice(-16);
  });
  socket.on('error', () => undefined);
  socket.connect(Number(new URL(sc.url).port), '127.0.0.1', () => {
    if (!reading) socket.pause();
    socket.write(requests.join(''));
  });
  return {
    socket,
    first,
    closed,
    statuses,
    received: () => received,
    isClosed: () => isClosed,
    /** Reads everything from now on, until the sidecar closes the connection. */
    read: () => {
      socket.on('data', () => undefined);
      socket.resume();
      return closed;
    },
  };
}

beforeAll(async () => {
  redis = await RedisServer.start();
  // As the webhook injects it: NODE_OPTIONS included.
  sc = await SidecarProcess.start(
    { MEMORY_REDIS_URL: redis.url, NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
    { ready: '/readyz' },
  );
  await seed('large', 60, 60_000); // 3.6 MB, all of it in one read (MEMORY_MAX_READ_BYTES 4 MiB)
  await seed('medium', 20, 50_000); // 1 MB
});
afterAll(async () => {
  await sc?.close();
  await redis?.stop();
});

describe('requests pipelined by a client that does not read', () => {
  it('are answered one at a time: 60 reads of 3.6 MB never sit in memory together', async () => {
    const healthzBefore = await requestsTo('/healthz');
    const reads = Array.from({ length: 60 }, () => get('/v1/sessions/large/events?limit=60'));
    const client = pipeline([...reads, get('/healthz', true)]);
    // Either every read is answered though the client takes nothing (the answers queue in
    // memory), or the sidecar holds the reads back: wait for whichever happens.
    await pollUntil(
      'the reads answered, or held back',
      async () =>
        (await requestsTo('/healthz')) > healthzBefore ||
        (await metric('kaos_memory_sidecar_http_requests_queued')) >= 50,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await client.read();
    expect(client.statuses).toEqual(Array.from({ length: 61 }, () => 200));
    expect(client.received()).toBeGreaterThan(60 * 3_600_000);
    // Idle the sidecar holds ~65 MiB; here it peaks at ~100 (all 60 answers held at once: 300).
    const peak = sc.proc.memory().peak;
    expect(peak / MIB).toBeLessThan(160);
  });

  it('closes a connection with more requests waiting than it may (64)', async () => {
    const before = await abandoned();
    const reads = Array.from({ length: 100 }, () => get('/v1/sessions/medium/events?limit=20'));
    const client = pipeline(reads);
    await pollUntil('the sidecar to close the connection', () => client.isClosed(), {
      timeoutMs: 30_000,
    });
    expect(client.statuses.length).toBeLessThan(100);
    expect(await abandoned()).toBeGreaterThan(before);
    expect((await call(sc.url, 'GET', '/readyz')).status).toBe(200);
  });
});

describe('requests pipelined by a client that leaves', () => {
  it('are not run once it has gone: of 20 reads of 3.6 MB, those queued are dropped', async () => {
    const ranBefore = await requestsTo('/v1/sessions/{id}/events');
    const abandonedBefore = await abandoned();
    const reads = Array.from({ length: 20 }, () => get('/v1/sessions/large/events?limit=60'));
    const client = pipeline(reads, true);
    await client.first;
    client.socket.destroy();
    // Every one of the 20 reads either ran (and was counted) or was dropped unrun.
    const ran = async () => (await requestsTo('/v1/sessions/{id}/events')) - ranBefore;
    const dropped = async () => (await abandoned()) - abandonedBefore;
    await pollUntil(
      'the 20 reads accounted for',
      async () => (await ran()) + (await dropped()) >= 20,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // Those the client could still take (the socket's buffers hold about two), no more.
    expect(await ran()).toBeLessThanOrEqual(4);
    expect(await dropped()).toBe(20 - (await ran()));
  });
});
