import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { answerBytes, base64, fastPod, fastReview, review, schemas } from './admission.js';
import { DEFAULT_RESOURCES, type InjectConfig } from './config.js';
import { prng } from '../test/webhook/prng.js';

const config: InjectConfig = {
  memoryType: 'redis',
  redisUrl: 'redis://r:6379',
  sidecarImage: 'kaos-memory:test',
  sidecarPort: 8790,
  sidecarMetricsPort: 9790,
  sidecarHealthPort: 9791,
  imagePullPolicy: 'IfNotPresent',
  resources: DEFAULT_RESOURCES,
  nodeOptions: '--max-semi-space-size=2',
  nativeSidecar: true,
  sidecarEnv: {},
  version: '0.0.0-test',
};

function reviewOf(request: Record<string, unknown>) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'agents',
      object: {
        metadata: { generateName: 'agent-', labels: { agent: 'x' } },
        spec: { containers: [{ name: 'app', image: 'app' }] },
      },
      ...request,
    },
  };
}

describe('review', () => {
  it('answers with the uid, allowed, and a base64 JSON patch', () => {
    const reviewed = review(reviewOf({}), config);
    expect(reviewed.status).toBe(200);
    if (reviewed.status !== 200) return;
    expect(reviewed.outcome).toEqual({ result: 'injected' });
    expect(reviewed.context).toEqual({
      uid: 'u-1',
      namespace: 'agents',
      pod: 'agent-*',
      agent: 'x',
      dryRun: false,
    });
    const { response } = reviewed.body;
    expect(response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    expect(response.warnings).toBeUndefined();
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString());
    expect(patch.at(-1)).toMatchObject({ op: 'add', path: '/spec/initContainers' });
  });

  it.each([
    [{ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, 'not-pod'],
    [
      { kind: { group: 'policy', version: 'v1', kind: 'Eviction' }, subResource: 'eviction' },
      'not-pod',
    ],
    [
      { kind: { group: '', version: 'v1', kind: 'Pod' }, subResource: 'ephemeralcontainers' },
      'not-pod',
    ],
    [{ operation: 'UPDATE' }, 'not-create'],
    [{ operation: 'DELETE', object: null }, 'not-create'],
  ])('skips %j as %s without a patch', (request, reason) => {
    const reviewed = review(reviewOf(request), config);
    expect(reviewed.status).toBe(200);
    if (reviewed.status !== 200) return;
    expect(reviewed.outcome).toEqual({ result: 'skipped', reason });
    expect(reviewed.body.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('answers a dry run the same way', () => {
    const dry = review(reviewOf({ dryRun: true }), config);
    const wet = review(reviewOf({}), config);
    if (dry.status !== 200 || wet.status !== 200) throw new Error('expected 200');
    expect(dry.body).toEqual(wet.body);
    expect(dry.context.dryRun).toBe(true);
  });

  it('admits a pod with a bad annotation unchanged, with a warning', () => {
    const object = {
      metadata: {
        name: 'p',
        labels: { agent: 'x' },
        annotations: { 'memory.kaos.tools/sidecar-port': 'http' },
      },
      spec: { containers: [{ name: 'app' }] },
    };
    const reviewed = review(reviewOf({ object }), config);
    if (reviewed.status !== 200) throw new Error('expected 200');
    expect(reviewed.outcome).toEqual({ result: 'skipped', reason: 'invalid-annotation' });
    expect(reviewed.body.response.patch).toBeUndefined();
    expect(reviewed.body.response.warnings?.[0]).toMatch(
      /^memory\.kaos\.tools\/sidecar-port: "http"/,
    );
  });

  it('admits the pod unchanged when injection itself fails', () => {
    const broken = { ...config, resources: undefined } as unknown as InjectConfig;
    const reviewed = review(reviewOf({}), broken);
    if (reviewed.status !== 200) throw new Error('expected 200');
    expect(reviewed.outcome.result).toBe('failed');
    expect(reviewed.body.response).toEqual({
      uid: 'u-1',
      allowed: true,
      warnings: ['kaos-memory: internal error; the pod was admitted without the memory sidecar'],
    });
  });

  it.each([
    [null, 'body'],
    [[], 'body'],
    [
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} },
      'apiVersion',
    ],
    [{ ...reviewOf({}), request: undefined }, 'request'],
    [reviewOf({ uid: '' }), 'request.uid'],
    [reviewOf({ uid: 7 }), 'request.uid'],
  ])('rejects a malformed review (%#) with a message naming %s', (body, where) => {
    const reviewed = review(body, config);
    expect(reviewed.status).toBe(400);
    if (reviewed.status === 400) expect(reviewed.message).toContain(where);
  });

  it.each([
    [{ metadata: { labels: { agent: 'a' } }, spec: { containers: null } }, 'pod.spec.containers'],
    [{ spec: {} }, 'pod.spec.containers'],
    [{ spec: { containers: [{ name: 'a', env: [{ value: 'x' }] }] } }, 'env.0.name'],
    [{ metadata: { labels: { agent: 1 } }, spec: { containers: [] } }, 'labels.agent'],
  ])(
    'admits a pod it cannot read (%#) untouched, with a warning naming %s: the API server validates it',
    (object, where) => {
      const reviewed = review(reviewOf({ object }), config);
      if (reviewed.status !== 200) throw new Error('expected 200');
      expect(reviewed.outcome).toEqual({ result: 'skipped', reason: 'invalid-pod' });
      expect(reviewed.body.response.allowed).toBe(true);
      expect(reviewed.body.response.patch).toBeUndefined();
      expect(reviewed.body.response.warnings?.[0]).toContain(where);
    },
  );
});

describe('the hand-written shape checks', () => {
  const fixtures = new URL('../test/webhook/fixtures/', import.meta.url);
  const reviews: unknown[] = readdirSync(fixtures)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(new URL(f, fixtures), 'utf8')));

  const WRONG = [undefined, null, 42, 1.5, 2 ** 60, -0, true, '', 'x', [], [1, 'a'], {}, { a: 1 }];

  /** Every object and array inside `value`, with its parent and key. */
  function places(value: unknown, out: [any, string | number][] = []): [any, string | number][] {
    if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        out.push([value, Array.isArray(value) ? Number(key) : key]);
        places(child, out);
      }
    }
    return out;
  }

  /** One random change: a value of the wrong type, a key gone, moved last, or an own __proto__. */
  function mutate(review: unknown, random: () => number): unknown {
    const copy = structuredClone(review);
    const all = places(copy);
    const [parent, key] = all[Math.floor(random() * all.length)]!;
    const roll = random();
    if (roll < 0.6) parent[key] = WRONG[Math.floor(random() * WRONG.length)];
    else if (roll < 0.75) delete parent[key];
    else if (roll < 0.9 && !Array.isArray(parent)) {
      const value = parent[key];
      delete parent[key];
      parent[key] = value;
    } else {
      const proto = JSON.parse('{"__proto__": "x"}');
      if (parent[key] && typeof parent[key] === 'object' && !Array.isArray(parent[key]))
        parent[key] = { ...proto, ...parent[key], ...JSON.parse('{"__proto__": {}}') };
      else parent[key] = proto;
    }
    return copy;
  }

  /** Key order of every env entry, which the patch can copy out. */
  const envOrders = (pod: any) =>
    [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])].map((c: any) =>
      (c?.env ?? []).map((e: object) => Object.keys(e).join()),
    );

  it('accept only what zod accepts, whose parsed copy reads the same (4,000 mutated fixtures)', () => {
    const random = prng(20261205);
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 4_000; i++) {
      const body = mutate(reviews[i % reviews.length], random);
      const zodReview = schemas.admissionReview.safeParse(body);
      if (fastReview(body)) {
        expect(zodReview.success).toBe(true);
        expect(zodReview.data?.request).toEqual(body.request);
      }
      const object = (body as any)?.request?.object;
      const zodPod = schemas.pod.safeParse(object);
      if (fastPod(object)) {
        accepted++;
        expect(zodPod.success).toBe(true);
        expect(zodPod.data).toEqual(object);
        expect(envOrders(zodPod.data)).toEqual(envOrders(object));
      } else rejected++;
    }
    // Both sides were exercised.
    expect(accepted).toBeGreaterThan(2_000);
    expect(rejected).toBeGreaterThan(300);
  });

  it('accept every fixture that zod accepts', () => {
    for (const body of reviews) {
      expect(fastReview(body)).toBe(schemas.admissionReview.safeParse(body).success);
      const object = (body as any).request.object;
      expect(fastPod(object)).toBe(schemas.pod.safeParse(object).success);
    }
  });
});

describe('base64', () => {
  it.each([
    '',
    '[{"op":"add","path":"/metadata/annotations","value":{}}]',
    'every ASCII character: ' + String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i)),
    'Latin-1, as UTF-8: café ÿ',
    'beyond: 漢字 and 🧠',
    'a lone surrogate: \ud800 and \udfff',
  ])('gives the UTF-8 bytes of %j, as a Buffer does', (text) => {
    expect(base64(text)).toBe(Buffer.from(text).toString('base64'));
  });
});

describe("the answer's JSON", () => {
  it('is JSON.stringify of the body, whatever the uid, warnings or pod hold', () => {
    const tricky = '"patch":"" \\"patch\\":\\"\\" \\u2028 é';
    const withSecret = { ...config, passwordSecret: { name: 's', key: 'k' } };
    const answers = [
      review(reviewOf({}), config),
      review(reviewOf({ uid: tricky }), config),
      review(reviewOf({ operation: 'UPDATE' }), config),
      review(
        reviewOf({
          uid: tricky,
          object: {
            metadata: { labels: { agent: tricky }, annotations: { [tricky]: tricky } },
            spec: { containers: [{ name: tricky, env: [{ name: tricky, value: tricky }] }] },
          },
        }),
        withSecret,
      ),
    ];
    let written = 0;
    for (const reviewed of answers) {
      if (reviewed.status !== 200) throw new Error('expected 200');
      // Frozen: review() wrote its bytes (an injection); else they are JSON.stringify's own.
      if (Object.isFrozen(reviewed.body)) written++;
      expect(answerBytes(reviewed.body).toString()).toBe(JSON.stringify(reviewed.body));
    }
    expect(written).toBe(3);
  });
});
