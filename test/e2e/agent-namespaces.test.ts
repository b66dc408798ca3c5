// The credentials loop's list of agent pods, a page at a time, on a real kube-apiserver:
// every namespace whose injected pods read the Secret is found whatever page it falls on,
// and only those.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { ANNOTATIONS } from '../../lib/contract.js';
import { namespacesWith } from '../../webhook/agent-namespaces.js';
import { podUsesSecret } from '../../webhook/credentials.js';

const SECRET = 'kaos-memory-redis';

function pod(name: string, opts: { agent: boolean; injected: boolean }): V1Pod {
  return {
    metadata: {
      name,
      labels: opts.agent ? { agent: 'a' } : { app: 'other' },
      annotations: opts.injected ? { [ANNOTATIONS.status]: 'injected' } : {},
    },
    spec: {
      containers: [{ name: 'agent', image: 'agent:1' }],
      volumes: opts.injected ? [{ name: 'pw', secret: { secretName: SECRET } }] : [],
    },
  };
}

describe('namespacesWith', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  const users: string[] = [];
  const others: string[] = [];

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    // 7 namespaces × 3 pods: with pages of 2, users sit on every page boundary.
    for (let n = 0; n < 7; n++) {
      const ns = await cluster.namespace(`pages-${n}`);
      const uses = n % 2 === 0;
      (uses ? users : others).push(ns);
      for (let p = 0; p < 3; p++) {
        // Only the last pod of a using namespace reads the Secret; the others do not.
        const injected = uses && p === 2;
        await core.createNamespacedPod({
          namespace: ns,
          body: pod(`p${p}`, { agent: p !== 1 || !uses, injected }),
        });
      }
    }
    // An injected pod without the agent label is not the loop's business.
    const stray = await cluster.namespace('pages-stray');
    others.push(stray);
    await core.createNamespacedPod({
      namespace: stray,
      body: pod('p', { agent: false, injected: true }),
    });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it.each([1, 2, 5, 500])(
    'finds exactly the namespaces that use the Secret, %i pods a page',
    async (size) => {
      const found = await namespacesWith(core, (p) => podUsesSecret(p, SECRET), size);
      expect([...found].sort()).toEqual([...users].sort());
      for (const ns of others) expect(found.has(ns)).toBe(false);
    },
  );
});
