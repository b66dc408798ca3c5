import type { V1OwnerReference, V1Pod, V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { review } from './admission.js';
import { DEFAULT_RESOURCES, type InjectConfig } from './config.js';
import {
  CredentialError,
  copyBody,
  isOwnCopy,
  planCopy,
  podUsesSecret,
  withCredentialCopies,
} from './credentials.js';

const OPTIONS = {
  namespace: 'kaos-system',
  secretName: 'kaos-memory-redis',
  key: 'redis-password',
  webhookConfigName: 'kaos-memory',
};
const OWNER: V1OwnerReference = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  name: 'kaos-memory',
  uid: 'uid-1',
};
const NOW = new Date('2026-03-01T12:00:00Z');
const OLD = Buffer.from('old').toString('base64');
const NEW = Buffer.from('new').toString('base64');

function copy(extra: { annotations?: Record<string, string>; data?: Record<string, string> } = {}) {
  const body = copyBody(OPTIONS, 'agents', OLD, OWNER);
  return {
    ...body,
    metadata: {
      ...body.metadata,
      resourceVersion: '7',
      annotations: { ...body.metadata?.annotations, ...extra.annotations },
    },
    data: extra.data ?? body.data,
  } satisfies V1Secret;
}

const want = (extra: Partial<Parameters<typeof planCopy>[1]> = {}) => ({
  key: OPTIONS.key,
  value: OLD,
  owner: OWNER,
  inUse: true,
  now: NOW,
  unusedGraceMs: 300_000,
  ...extra,
});

describe('copyBody', () => {
  it('is an Opaque Secret of the one key, labelled and owned by the configuration', () => {
    expect(copyBody(OPTIONS, 'agents', OLD, OWNER)).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'kaos-memory-redis',
        namespace: 'agents',
        labels: {
          'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
          'memory.kaos.tools/webhook': 'kaos-memory',
        },
        annotations: {
          'memory.kaos.tools/copied-from': 'kaos-system/kaos-memory-redis',
          'memory.kaos.tools/created-by-webhook': 'kaos-memory',
        },
        ownerReferences: [OWNER],
      },
      type: 'Opaque',
      data: { 'redis-password': OLD },
    });
  });

  it('is told from a Secret someone else made, or another release made', () => {
    expect(isOwnCopy(copy(), 'kaos-memory')).toBe(true);
    expect(isOwnCopy(copy(), 'other-release')).toBe(false);
    expect(isOwnCopy({ metadata: { name: 'kaos-memory-redis' } }, 'kaos-memory')).toBe(false);
  });

  it('is not told by its labels alone: a Secret labelled like a copy, without the proof, is not its own', () => {
    const { metadata } = copy();
    const forged = {
      ...copy(),
      metadata: { ...metadata, annotations: { 'memory.kaos.tools/copied-from': 'x/y' } },
    };
    expect(isOwnCopy(forged, 'kaos-memory')).toBe(false);
    const otherProof = {
      ...copy(),
      metadata: {
        ...metadata,
        annotations: { 'memory.kaos.tools/created-by-webhook': 'other-release' },
      },
    };
    expect(isOwnCopy(otherProof, 'kaos-memory')).toBe(false);
  });
});

describe('planCopy', () => {
  it('keeps a copy in use that matches the source', () => {
    expect(planCopy(copy(), want())).toEqual({ action: 'keep' });
  });

  it('brings a rotated password in, and drops keys the source does not give', () => {
    const plan = planCopy(copy(), want({ value: NEW }));
    expect(plan).toMatchObject({ action: 'update', body: { data: { 'redis-password': NEW } } });
    const extra = planCopy(copy({ data: { 'redis-password': OLD, other: OLD } }), want());
    expect(extra).toMatchObject({ action: 'update', body: { data: { 'redis-password': OLD } } });
    if (extra.action === 'update')
      expect(Object.keys(extra.body.data ?? {})).toEqual(['redis-password']);
  });

  it('writes with the resourceVersion it read, so a concurrent change wins', () => {
    const plan = planCopy(copy(), want({ value: NEW }));
    expect(plan.action === 'update' && plan.body.metadata?.resourceVersion).toBe('7');
  });

  it('leaves the data alone when the source could not be read', () => {
    expect(planCopy(copy(), want({ value: undefined }))).toEqual({ action: 'keep' });
  });

  it('marks an unused copy, deletes it only after the grace period, unmarks it when used', () => {
    const marked = planCopy(copy(), want({ inUse: false }));
    expect(marked).toMatchObject({
      action: 'update',
      body: { metadata: { annotations: { 'memory.kaos.tools/unused-since': NOW.toISOString() } } },
    });
    const since = (ms: number) =>
      copy({
        annotations: {
          'memory.kaos.tools/unused-since': new Date(NOW.getTime() - ms).toISOString(),
        },
      });
    expect(planCopy(since(299_000), want({ inUse: false }))).toEqual({ action: 'keep' });
    expect(planCopy(since(300_000), want({ inUse: false }))).toEqual({ action: 'delete' });
    const unmarked = planCopy(since(400_000), want({ inUse: true }));
    expect(unmarked.action).toBe('update');
    if (unmarked.action === 'update') {
      expect(unmarked.body.metadata?.annotations).not.toHaveProperty(
        'memory.kaos.tools/unused-since',
      );
    }
    // A mark that does not parse is replaced, not taken as old.
    const garbled = copy({ annotations: { 'memory.kaos.tools/unused-since': 'soon' } });
    expect(planCopy(garbled, want({ inUse: false })).action).toBe('update');
  });

  it('moves ownership to a reinstalled configuration of the same name', () => {
    const owner = { ...OWNER, uid: 'uid-2' };
    const plan = planCopy(copy(), want({ owner }));
    expect(plan.action === 'update' && plan.body.metadata?.ownerReferences).toEqual([owner]);
    expect(planCopy(copy(), want({ owner: undefined }))).toEqual({ action: 'keep' });
  });
});

describe('podUsesSecret', () => {
  const pod = (spec: Partial<V1Pod['spec']>, injected = true): V1Pod => ({
    metadata: {
      namespace: 'agents',
      annotations: injected ? { 'memory.kaos.tools/status': 'injected' } : {},
    },
    spec: { containers: [{ name: 'agent' }], ...spec },
  });

  it('counts an injected pod that mounts or references the Secret', () => {
    expect(
      podUsesSecret(
        pod({ volumes: [{ name: 'p', secret: { secretName: 'kaos-memory-redis' } }] }),
        'kaos-memory-redis',
      ),
    ).toBe(true);
    const byEnv = pod({
      containers: [
        {
          name: 'agent',
          env: [
            { name: 'X', valueFrom: { secretKeyRef: { name: 'kaos-memory-redis', key: 'k' } } },
          ],
        },
      ],
    });
    expect(podUsesSecret(byEnv, 'kaos-memory-redis')).toBe(true);
    expect(podUsesSecret(byEnv, 'another')).toBe(false);
  });

  it('does not count a pod the webhook did not inject', () => {
    const volumes = [{ name: 'p', secret: { secretName: 'kaos-memory-redis' } }];
    expect(podUsesSecret(pod({ volumes }, false), 'kaos-memory-redis')).toBe(false);
  });
});

describe('withCredentialCopies', () => {
  const config: InjectConfig = {
    memoryType: 'redis',
    redisUrl: 'redis://redis:6379',
    passwordSecret: { name: 'kaos-memory-redis', key: 'redis-password' },
    sidecarImage: 'kaos-memory:test',
    sidecarPort: 8790,
    sidecarMetricsPort: 9790,
    sidecarHealthPort: 9791,
    imagePullPolicy: 'IfNotPresent',
    resources: DEFAULT_RESOURCES,
    nodeOptions: '',
    nativeSidecar: true,
    sidecarEnv: {},
    version: '0.0.0-test',
  };
  const request = (dryRun = false) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'agents',
      dryRun,
      object: { metadata: { labels: { agent: 'a' } }, spec: { containers: [{ name: 'a' }] } },
    },
  });

  it('answers only once the Secret is in the pod namespace', async () => {
    const asked: string[] = [];
    const reviewer = withCredentialCopies(review, {
      ensure: (ns) => {
        asked.push(ns);
        return Promise.resolve();
      },
    });
    const reviewed = await reviewer(request(), config);
    expect(asked).toEqual(['agents']);
    expect(reviewed.status === 200 && reviewed.body.response.patch).toBeTruthy();
  });

  it('never copies the shared password for a pod of an isolated namespace, following or not', async () => {
    const reviewer = withCredentialCopies(review, {
      ensure: () => Promise.reject(new Error('must not be called')),
    });
    const isolated = { ...config, isolateAll: true };
    const plain = await reviewer(request(), isolated);
    expect(plain.status === 200 && plain.outcome).toEqual({ result: 'injected', tenant: true });
    const own = request();
    (own.request.object.spec.containers[0] as { env?: unknown }).env = [
      { name: 'MEMORY_REDIS_URL', value: 'redis://own:6379' },
    ];
    const following = await reviewer(own, isolated);
    expect(following.status === 200 && following.outcome).toEqual({
      result: 'injected',
      tenant: true,
    });
  });

  it('makes nothing on a dry run', async () => {
    const reviewer = withCredentialCopies(review, {
      ensure: () => Promise.reject(new Error('must not be called')),
    });
    const reviewed = await reviewer(request(true), config);
    expect(reviewed.status === 200 && reviewed.outcome.result).toBe('injected');
  });

  it('admits the pod without the sidecar, saying why, when the copy cannot be made', async () => {
    const reviewer = withCredentialCopies(review, {
      ensure: () => Promise.reject(new CredentialError('the Redis password Secret is missing')),
    });
    const reviewed = await reviewer(request(), config);
    if (reviewed.status !== 200) throw new Error('expected 200');
    expect(reviewed.outcome.result).toBe('failed');
    expect(reviewed.body.response).toEqual({
      uid: 'u1',
      allowed: true,
      warnings: [
        'kaos-memory: the Redis password Secret is missing; the pod was admitted without the memory sidecar',
      ],
    });
  });
});
