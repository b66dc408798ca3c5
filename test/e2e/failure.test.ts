// The webhook is down: what the API server does then is decided by the
// configuration's failurePolicy, and both choices must behave as documented.
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
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
  WEBHOOK_CONFIG_NAME,
} from '../../harness/webhook.js';

const CONFIG = WEBHOOK_CONFIG_NAME;

describe('webhook down', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  let webhook: WebhookProcess;
  let tlsDir: string;
  let ns: string;

  /** The API server's own count of calls to our webhook that failed open. */
  async function failOpenCount(): Promise<number> {
    const metrics = await cluster.get('/metrics');
    const line = metrics
      .split('\n')
      .find((l) =>
        l.startsWith(
          'apiserver_admission_webhook_fail_open_count{name="inject.memory.kaos.tools",type="admit"}',
        ),
      );
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    ({ webhook, tlsDir } = await startRegisteredWebhook(
      cluster,
      {
        INJECT_REDIS_URL: 'redis://redis.memory.svc:6379',
        INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      },
      { failurePolicy: 'Ignore', timeoutSeconds: 5 },
    ));
    ns = await cluster.namespace('down');
    // Proof that the API server calls this webhook before it goes away.
    await waitUntilInjecting(core, ns);
    await webhook.stop();
  });
  afterAll(async () => {
    await webhook?.stop();
    await cluster?.stop();
    if (tlsDir) removeDir(tlsDir);
  });

  it('with failurePolicy Ignore, creates the pod without the sidecar', async () => {
    const failedOpen = await failOpenCount();
    await core.createNamespacedPod({ namespace: ns, body: agentPod('ignored') });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'ignored' });
    expect(pod.metadata?.annotations?.['memory.kaos.tools/status']).toBeUndefined();
    expect(findContainer(pod, 'kaos-memory')).toBeUndefined();
    expect(pod.spec?.containers[0]?.env).toBeUndefined();
    // The API server did call the webhook, failed, and let the pod through.
    expect(await failOpenCount()).toBeGreaterThan(failedOpen);
  });

  it('with failurePolicy Fail, refuses the pod and stores nothing', async () => {
    const current = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
    current.webhooks![0]!.failurePolicy = 'Fail';
    await admission.replaceMutatingWebhookConfiguration({ name: CONFIG, body: current });
    // The API server picks up the change through a watch: wait until it refuses.
    await pollUntil(
      'failurePolicy Fail to take effect',
      () =>
        core.createNamespacedPod({ namespace: ns, body: agentPod('probe'), dryRun: 'All' }).then(
          () => false,
          () => true,
        ),
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    const refused = await core
      .createNamespacedPod({ namespace: ns, body: agentPod('refused') })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refused).toBeInstanceOf(ApiException);
    const error = refused as ApiException<string>;
    expect(error.code).toBe(500);
    expect(String(error.body)).toContain('failed calling webhook \\"inject.memory.kaos.tools\\"');
    await expect(core.readNamespacedPod({ namespace: ns, name: 'refused' })).rejects.toMatchObject({
      code: 404,
    });
  });

  it('with failurePolicy Fail, still admits pods without the agent label', async () => {
    // The objectSelector keeps every other pod off the webhook's path.
    const body: V1Pod = {
      metadata: { name: 'web' },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    };
    await core.createNamespacedPod({ namespace: ns, body });
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'web' });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['web']);
  });
});
