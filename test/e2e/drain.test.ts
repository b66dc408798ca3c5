// A webhook replica being replaced (a rollout, a node drain) goes on answering reviews for
// the seconds the API server may still send them. A pod in a namespace made during those
// seconds must be injected like any other: the replica's cluster view and password copies
// stay up until its drain has ended.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { pollUntil } from '../../harness/poll.js';
import { findContainer } from '../../harness/podenv.js';
import {
  agentPod,
  removeDir,
  waitUntilInjecting,
  WebhookProcess,
  startRegisteredWebhook,
} from '../../harness/webhook.js';

const DRAIN_SECONDS = 4;

describe('a webhook replica draining after SIGTERM', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let webhook: WebhookProcess;
  let tlsDir: string;

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    const source = 'redis-auth';
    await core.createNamespace({ body: { metadata: { name: 'kaos-system' } } });
    await core.createNamespacedSecret({
      namespace: 'kaos-system',
      body: { metadata: { name: source }, stringData: { password: 'drain-test-password' } },
    });
    ({ webhook, tlsDir } = await startRegisteredWebhook(
      cluster,
      {
        WEBHOOK_NAMESPACE: 'kaos-system',
        WEBHOOK_DRAIN_SECONDS: String(DRAIN_SECONDS),
        INJECT_REDIS_URL: 'redis://redis.memory.svc:6379',
        INJECT_REDIS_PASSWORD_SECRET: `${source}/password`,
        INJECT_REDIS_PASSWORD_COPY: 'true',
        INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      },
      { failurePolicy: 'Ignore', timeoutSeconds: 5 },
    ));
    await waitUntilInjecting(core, await cluster.namespace('before'));
  });
  afterAll(async () => {
    await webhook?.stop();
    await cluster?.stop();
    if (tlsDir) removeDir(tlsDir);
  });

  it('injects a pod in a namespace made after its SIGTERM, with the Secret copied in', async () => {
    webhook.signal('SIGTERM');
    await pollUntil('the webhook to start draining', async () =>
      webhook.logs.includes('shutting down'),
    );
    const ns = await cluster.namespace('made-while-draining');
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent') });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'agent' });
    expect(pod.metadata?.annotations?.['memory.kaos.tools/status'], webhook.logs).toBe('injected');
    expect(findContainer(pod, 'kaos-memory')).toBeDefined();
    const copy = await core.readNamespacedSecret({ namespace: ns, name: 'redis-auth' });
    expect(copy.data?.password).toBe(Buffer.from('drain-test-password').toString('base64'));
    expect(await webhook.exited).toEqual({ code: 0, signal: null });
  });
});
