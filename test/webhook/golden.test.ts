// Golden tests: each AdmissionReview in fixtures/ goes through the webhook's admission
// logic; the patch is applied with fast-json-patch and the patched pod compared to
// golden/<name>.json. namespaces/<name>.json, when present, is what the webhook's cluster
// view knows of the pod's namespace (null: a view that has not seen it). Refresh with:
//   REFRESH_GOLDEN=true npx vitest run test/webhook/golden.test.ts
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { review, type NamespaceLookup } from '../../webhook/admission.js';
import { loadConfig, type InjectConfig } from '../../webhook/config.js';
import { readStatus } from '../../webhook/status.js';
import { podSchemaErrors } from './pod-schema.js';

const HERE = new URL('.', import.meta.url).pathname;
const FIXTURES = join(HERE, 'fixtures');
const GOLDEN = join(HERE, 'golden');
const NAMESPACES = join(HERE, 'namespaces');
const REFRESH = process.env.REFRESH_GOLDEN === 'true';

/** The chart's defaults, as environment; some fixtures run with a variation. */
const BASE_ENV = {
  INJECT_REDIS_URL: 'redis://kaos-memory-redis.kaos-system.svc:6379/0',
  INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos/kaos-memory:0.1.0',
  INJECT_NATIVE_SIDECAR: 'true',
};
const VARIANTS: Record<string, Record<string, string>> = {
  '05-job-pod-ordinary-sidecar': { INJECT_NATIVE_SIDECAR: 'false' },
  '19-password-secret': {
    INJECT_REDIS_URL: 'rediss://default@redis.example.com:6380/0',
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/password',
  },
  '34-own-redis-url-seed-walkthrough': {
    INJECT_REDIS_URL: 'redis://kaos-memory-redis.kaos-system.svc:6379/0',
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/password',
  },
  '36-several-redis-urls-annotation': {
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/password',
  },
  '42-isolated-namespace': {
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/redis-password',
    INJECT_KEY_PREFIX: 'team:memory',
    WEBHOOK_TENANTS: 'provided',
  },
  '43-isolated-by-default': {
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/redis-password',
    INJECT_ISOLATION_DEFAULT: 'namespace',
    WEBHOOK_TENANTS: 'provided',
  },
  '44-isolated-own-redis-url': {
    INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/redis-password',
  },
  '31-quota-limits-cpu': {
    INJECT_SIDECAR_RESOURCES:
      '{"requests":{"cpu":"10m","memory":"64Mi"},"limits":{"memory":"256Mi"}}',
  },
  '23-empty-agent-label-sidecar-settings': {
    INJECT_KEY_PREFIX: 'team-a:memory',
    INJECT_MAX_SESSION_EVENTS: '200',
    INJECT_MAX_SESSIONS: '50',
    INJECT_SESSION_TTL_SECONDS: '3600',
    INJECT_SIDECAR_RESOURCES:
      '{"requests":{"cpu":"20m","memory":"48Mi"},"limits":{"cpu":"200m","memory":"192Mi"}}',
    INJECT_IMAGE_PULL_POLICY: 'Always',
  },
};

function configFor(name: string): InjectConfig {
  const config = loadConfig({ ...BASE_ENV, ...VARIANTS[name] });
  // The version the status records is pinned, so a release does not rewrite every golden
  // (where it comes from is tested in webhook/config.test.ts).
  return { ...config.inject, nativeSidecar: config.nativeSidecar === 'true', version: '0.0.0' };
}

/** A fresh deep copy on every load, so no test can leak edits into another. */
function loadFixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
}

/** The cluster view a fixture runs with: none, unless namespaces/<name>.json says. */
function lookupFor(name: string): NamespaceLookup | undefined {
  const file = join(NAMESPACES, `${name}.json`);
  if (!existsSync(file)) return undefined;
  const facts = JSON.parse(readFileSync(file, 'utf8'));
  return () => facts ?? undefined;
}

function run(name: string) {
  const body = loadFixture(name);
  const config = configFor(name);
  const lookup = lookupFor(name);
  const reviewed = review(body, config, lookup);
  if (reviewed.status !== 200) throw new Error(`${name}: ${reviewed.message}`);
  const response = reviewed.body.response;
  const patch: Operation[] = response.patch
    ? JSON.parse(Buffer.from(response.patch, 'base64').toString())
    : [];
  const original = loadFixture(name).request.object;
  const pod = jsonpatch.applyPatch(structuredClone(original), patch, true, false).newDocument;
  return { body, config, lookup, reviewed, response, patch, pod, original };
}

const names = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

describe('golden AdmissionReviews', () => {
  it('has a fixture for every namespace file', () => {
    const files = readdirSync(NAMESPACES).map((f) => f.slice(0, -'.json'.length));
    expect(files.filter((f) => !names.includes(f))).toEqual([]);
  });

  it('has at least 15 fixtures, and a golden for each and no other', () => {
    expect(names.length).toBeGreaterThanOrEqual(15);
    if (REFRESH) return;
    const goldens = readdirSync(GOLDEN)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .sort();
    expect(goldens).toEqual(names);
  });

  describe.each(names)('%s', (name) => {
    it('matches its golden file', () => {
      const { reviewed, response, patch, pod } = run(name);
      if (reviewed.status !== 200) return;
      const outcome =
        reviewed.outcome.result === 'skipped'
          ? `skipped: ${reviewed.outcome.reason}`
          : reviewed.outcome.result;
      const actual = {
        outcome,
        allowed: response.allowed,
        warnings: response.warnings ?? [],
        patch,
        pod,
      };
      const file = join(GOLDEN, `${name}.json`);
      if (REFRESH) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      }
      const golden = JSON.parse(readFileSync(file, 'utf8'));
      expect(actual).toEqual(golden);
    });

    it('answers for the request it was asked about, without touching the request', () => {
      const { body, response } = run(name);
      expect(response.uid).toBe(body.request.uid);
      expect(response.allowed).toBe(true);
      expect(body).toEqual(loadFixture(name));
    });

    it('yields a pod that fits the Kubernetes Pod schema', () => {
      const { pod, body } = run(name);
      if (body.request.kind.kind !== 'Pod')
        return void expect(podSchemaErrors(pod)).not.toEqual([]);
      expect(podSchemaErrors(pod)).toEqual([]);
    });

    it('records in its status annotation exactly what the patch added', () => {
      const { reviewed, original, pod } = run(name);
      if (reviewed.status !== 200 || reviewed.outcome.result !== 'injected') return;
      const names = (list?: { name: string }[]) => (list ?? []).map((c) => c.name);
      const added = (before?: { name: string }[], after?: { name: string }[]) =>
        names(after).filter((n) => !names(before).includes(n));
      const env: Record<string, string[]> = {};
      for (const container of pod.spec.containers) {
        const before = original.spec.containers.find((c: any) => c.name === container.name);
        const vars = added(before?.env, container.env);
        if (before && vars.length > 0) env[container.name] = vars;
      }
      const volumes = added(original.spec.volumes, pod.spec.volumes);
      const { redis, ...status } = readStatus(pod.metadata.annotations) ?? {};
      // The Redis the sidecar follows: an app container's own URL, the sidecar's first one.
      if (redis) {
        const own = (c: any) => (c.env ?? []).some((e: any) => e.name === 'MEMORY_REDIS_URL');
        const from = original.spec.containers.find((c: any) => c.name === redis.from);
        expect(from && own(from)).toBe(true);
        for (const other of redis.others ?? [])
          expect(own(original.spec.containers.find((c: any) => c.name === other))).toBe(true);
      }
      expect(status).toEqual({
        version: '0.0.0',
        initContainers: added(original.spec.initContainers, pod.spec.initContainers),
        containers: added(original.spec.containers, pod.spec.containers),
        ...(volumes.length > 0 ? { volumes } : {}),
        env,
      });
    });

    it('changes nothing when run over its own output', () => {
      const { pod, body, config, lookup } = run(name);
      body.request.object = pod;
      const again = review(body, config, lookup);
      expect(again.status).toBe(200);
      if (again.status === 200) expect(again.body.response.patch).toBeUndefined();
    });
  });
});

describe('the Pod schema check', () => {
  it('catches what the API server would reject', () => {
    const pod = loadFixture('02-named-pod').request.object;
    expect(podSchemaErrors(pod)).toEqual([]);
    const broken = structuredClone(pod);
    broken.spec.containers[0].env = [{ value: 'no name' }];
    broken.spec.containers[0].ports = [{ containerPort: '80' }];
    broken.spec.containers[0].restartPolicy = 'Always';
    broken.spec.containers.push({ name: 'agent', image: 'x', resourcez: {} });
    expect(podSchemaErrors(broken)).toEqual([
      'pod.spec.containers[0].env[0].name: required by V1EnvVar',
      'pod.spec.containers[0].ports[0].containerPort: expected a number',
      'pod.spec.containers[1].resourcez: unknown field of V1Container',
    ]);
    delete broken.spec.containers[1].resourcez;
    broken.spec.containers[0].ports = [];
    broken.spec.containers[0].env = [];
    expect(podSchemaErrors(broken)).toEqual([
      'container name agent is not unique',
      'agent: restartPolicy on a container',
    ]);
  });
});
