// Fuzz /mutate over real HTTPS with malformed bodies: every one must get a 4xx with a
// JSON message, none a 5xx, and the server must keep answering afterwards.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { loadConfig } from '../../webhook/config.js';
import { WebhookServer } from '../../webhook/server.js';
import { call, loopbackCerts } from './client.js';
import { prng } from './prng.js';

const FIXTURE = readFileSync(
  new URL('fixtures/01-kaos-operator-agent.json', import.meta.url),
  'utf8',
);
const VALID = JSON.parse(FIXTURE);

// Fields the webhook relies on, each with values of the wrong type for it.
const C0 = ['request', 'object', 'spec', 'containers', 0];
const BREAKS: [(string | number)[], unknown[]][] = [
  [['apiVersion'], ['admission.k8s.io/v1beta1', 42, null]],
  [['kind'], ['Pod', null, {}]],
  [['request'], [null, 'x', 42, []]],
  [
    ['request', 'uid'],
    [42, null, '', []],
  ],
  [
    ['request', 'kind'],
    [null, 'Pod', 42, {}],
  ],
  [
    ['request', 'kind', 'kind'],
    [42, null, {}],
  ],
  [
    ['request', 'operation'],
    [42, null, '', []],
  ],
  [
    ['request', 'object', 'spec'],
    [null, 'x', {}, []],
  ],
  [
    ['request', 'object', 'spec', 'containers'],
    [null, 'x', 42, { a: 1 }],
  ],
  [C0, [null, 'x', 42, {}]],
  [
    [...C0, 'name'],
    [42, null, [], {}, true],
  ],
  [
    [...C0, 'env'],
    [null, 'x', 42, { a: 1 }],
  ],
  [
    [...C0, 'env', 0, 'name'],
    [42, null, [], {}],
  ],
  [
    [...C0, 'ports', 0, 'containerPort'],
    ['80', 1.5, null, {}],
  ],
  [
    ['request', 'object', 'metadata', 'labels'],
    [42, 'x', [1]],
  ],
  [
    ['request', 'object', 'metadata', 'labels', 'agent'],
    [42, null, [], {}],
  ],
  [
    ['request', 'object', 'metadata', 'annotations'],
    [42, 'x', [1]],
  ],
];
const WRONG: unknown[] = [null, 42, -1.5, true, 'x', '', [], [1, 'a'], { a: 1 }];

function set(target: any, path: (string | number)[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = node[key];
  node[path.at(-1)!] = value;
}

/**
 * What the webhook must answer: `reject` (400, not an AdmissionReview it can read) or
 * `admit` (an AdmissionReview of a pod injection cannot read: allowed untouched, with a
 * warning, so the API server's own validation speaks).
 */
type Expect = 'reject' | 'admit';

function malformedBodies(
  count: number,
  random: () => number,
): { body: Buffer; why: string; expect: Expect }[] {
  const out: { body: Buffer; why: string; expect: Expect }[] = [];
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const makers: (() => { body: Buffer | string; why: string; expect?: Expect })[] = [
    () => {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 512));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      if (bytes[0] === 0x7b || bytes[0] === 0x5b) bytes[0] = 0x21; // Not `{` or `[`: never valid JSON.
      return { body: bytes, why: 'random bytes' };
    },
    () => ({
      body: FIXTURE.slice(0, Math.floor(random() * (FIXTURE.length - 2)) + 1),
      why: 'truncated JSON',
    }),
    () => {
      const review = structuredClone(VALID);
      const [path, values] = pick(BREAKS);
      const value = pick(values);
      set(review, path, value);
      const inPod = path[0] === 'request' && path[1] === 'object';
      return {
        body: JSON.stringify(review),
        why: `${path.join('.')} = ${JSON.stringify(value)}`,
        expect: inPod ? 'admit' : 'reject',
      };
    },
    () => ({
      body: pick(['null', 'true', '42', '"text"', '[]', '[1,2,3]', '{}', '{"request":{}}', '']),
      why: 'not a review',
    }),
    () => {
      const depth = 1_000 + Math.floor(random() * 20_000);
      return { body: '['.repeat(depth) + ']'.repeat(depth), why: `nested ${depth} deep` };
    },
    () => ({ body: FIXTURE.replace('"uid"', '"uid" "'), why: 'syntax error mid-document' }),
    () => ({
      body: Buffer.concat([
        Buffer.from('{"a":"'),
        Buffer.from([0xff, 0xfe, 0xc0]),
        Buffer.from('"'),
      ]),
      why: 'bad UTF-8',
    }),
  ];
  while (out.length < count) {
    const { body, why, expect = 'reject' } = pick(makers)();
    out.push({ body: Buffer.isBuffer(body) ? body : Buffer.from(body), why, expect });
  }
  return out;
}

describe('fuzzing /mutate', () => {
  const certs = loopbackCerts();
  let server: WebhookServer;
  let port: number;
  const env = { INJECT_REDIS_URL: 'redis://r:6379', INJECT_SIDECAR_IMAGE: 'kaos-memory:test' };

  beforeAll(async () => {
    server = new WebhookServer({
      inject: { ...loadConfig(env).inject, nativeSidecar: true },
      tls: certs.tls,
      logger: createLogger('fuzz', 'silent'),
      defaultMetrics: false,
    });
    port = await server.listen(0, '127.0.0.1');
  });
  afterAll(() => server.close());

  it('answers 1,200 malformed bodies with a 400 and a message, or admits a pod it cannot read untouched with a warning, and stays up', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20260301);
    const bodies = malformedBodies(1_200, prng(seed));
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const failures: string[] = [];
    let admitted = 0;
    for (let i = 0; i < bodies.length; i += 8) {
      const batch = bodies.slice(i, i + 8);
      const replies = await Promise.all(
        batch.map(({ body }) => call(port, 'POST', '/mutate', { ca: certs.ca, agent, body })),
      );
      replies.forEach((reply, j) => {
        const { why, expect: expected } = batch[j]!;
        let parsed: any;
        try {
          parsed = JSON.parse(reply.text);
        } catch {
          parsed = undefined;
        }
        const message = parsed?.error?.message;
        const response = parsed?.response;
        const ok =
          expected === 'reject'
            ? reply.status === 400 && typeof message === 'string' && message !== ''
            : reply.status === 200 &&
              response?.allowed === true &&
              response.patch === undefined &&
              /^kaos-memory: not injected: pod\./.test(response.warnings?.[0] ?? '');
        if (!ok) {
          failures.push(
            `seed ${seed} #${i + j} (${why}, expected ${expected}): ${reply.status} ${reply.text.slice(0, 120)}`,
          );
        }
      });
      admitted += batch.filter((b) => b.expect === 'admit').length;
    }
    agent.destroy();
    expect(failures).toEqual([]);

    expect((await call(port, 'GET', '/healthz', certs)).status).toBe(200);
    const ok = await call(port, 'POST', '/mutate', { ...certs, body: FIXTURE });
    expect(ok.status).toBe(200);
    const metrics = (await call(port, 'GET', '/metrics', certs)).text;
    expect(admitted).toBeGreaterThan(0);
    expect(metrics).toContain(`kaos_memory_webhook_requests_total{code="400"} ${1200 - admitted}`);
    expect(metrics).not.toMatch(/code="5\d\d"/);
  });

  it('never answers 5xx to random type changes anywhere in a review', async () => {
    const random = prng(7);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const review = structuredClone(VALID);
      // Walk to a random node and replace it with a random value.
      let node: any = review;
      const path: (string | number)[] = [];
      while (node && typeof node === 'object' && random() < 0.8) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const key = keys[Math.floor(random() * keys.length)]!;
        path.push(Array.isArray(node) ? Number(key) : key);
        node = node[key];
      }
      if (path.length > 0) set(review, path, WRONG[Math.floor(random() * WRONG.length)]);
      const reply = await call(port, 'POST', '/mutate', {
        ca: certs.ca,
        agent,
        body: JSON.stringify(review),
      });
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      expect(reply.status, `${path.join('.')}: ${reply.text.slice(0, 200)}`).toBeLessThan(500);
      if (reply.status === 200) expect(JSON.parse(reply.text).response.allowed).toBe(true);
    }
    agent.destroy();
    expect([...statuses.keys()].every((s) => s === 200 || s === 400)).toBe(true);
  });
});
