// The self-managed certificate path against a real API server: no WEBHOOK_TLS_DIR,
// so the webhook makes its certificate, keeps it in a Secret, patches the caBundle
// into its MutatingWebhookConfiguration, and only then says it is ready.
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { freePort } from '../../harness/ports.js';
import { findContainer } from '../../harness/podenv.js';
import { readStatus } from '../../webhook/status.js';
import {
  waitUntilInjecting,
  webhookConfiguration,
  WebhookProcess,
  WEBHOOK_CONFIG_NAME,
} from '../../harness/webhook.js';

const CONFIG = WEBHOOK_CONFIG_NAME;
const SECRET = 'kaos-memory-webhook-certs';

describe('self-managed webhook certificate', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  const webhooks: WebhookProcess[] = [];
  let webhookNs: string;
  let agentNs: string;
  let env: Record<string, string>;

  const secretData = async () => {
    const secret = await core.readNamespacedSecret({ namespace: webhookNs, name: SECRET });
    const decode = (key: string) =>
      Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
    return {
      resourceVersion: secret.metadata?.resourceVersion,
      keys: Object.keys(secret.data ?? {}).sort(),
      ca: decode('ca.crt'),
      cert: decode('tls.crt'),
    };
  };
  const caBundle = async () => {
    const config = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
    const bundle = config.webhooks?.[0]?.clientConfig.caBundle ?? '';
    return Buffer.from(bundle, 'base64').toString('utf8');
  };

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    webhookNs = await cluster.namespace('kaos-system');
    agentNs = await cluster.namespace('agents');

    // Registered first, without a caBundle, as the chart does in self-managed mode.
    const port = await freePort();
    await admission.createMutatingWebhookConfiguration({
      body: await webhookConfiguration({
        url: `https://127.0.0.1:${port}/mutate`,
        failurePolicy: 'Fail',
      }),
    });
    env = {
      KUBECONFIG: cluster.kubeconfigPath,
      WEBHOOK_NAMESPACE: webhookNs,
      WEBHOOK_CERT_SECRET: SECRET,
      WEBHOOK_CONFIG_NAME: CONFIG,
      WEBHOOK_CERT_HOSTS: '127.0.0.1,localhost',
      INJECT_REDIS_URL: 'redis://redis.memory.svc:6379',
      INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
    };
    webhooks.push(await WebhookProcess.start({ port, env }));
  });
  afterAll(async () => {
    for (const webhook of webhooks) await webhook.stop();
    await cluster?.stop();
  });

  it('keeps ca.crt, tls.crt and tls.key in its Secret, for 127.0.0.1', async () => {
    const secret = await secretData();
    expect(secret.keys).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const cert = new X509Certificate(secret.cert);
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.verify(new X509Certificate(secret.ca).publicKey)).toBe(true);
  });

  it("patches its configuration's caBundle with the Secret's CA, which verifies what it serves", async () => {
    const { ca } = await secretData();
    const bundle = await caBundle();
    expect(bundle).toContain(ca.trim());
    // Verified TLS: only a bundle that really signed the served certificate passes.
    expect(await webhooks[0]!.status('/readyz', bundle)).toBe(200);
  });

  it('is then trusted by the API server: a labelled pod is injected', async () => {
    await waitUntilInjecting(core, agentNs);
    const body: V1Pod = {
      metadata: { name: 'agent', labels: { agent: 'memory-agent' } },
      spec: { containers: [{ name: 'agent', image: 'python:3.12-slim' }] },
    };
    await core.createNamespacedPod({ namespace: agentNs, body });
    const pod = await core.readNamespacedPod({ namespace: agentNs, name: 'agent' });
    expect(readStatus(pod.metadata?.annotations)?.initContainers).toEqual(['kaos-memory']);
    expect(findContainer(pod, 'kaos-memory')).toBeDefined();
  });

  it('a second replica serves the same certificate instead of making its own', async () => {
    const before = await secretData();
    const bundleBefore = await caBundle();
    const second = await WebhookProcess.start({ env });
    webhooks.push(second);
    const after = await secretData();
    expect(after.resourceVersion).toBe(before.resourceVersion);
    expect(await caBundle()).toBe(bundleBefore);
    expect(await second.status('/readyz', bundleBefore)).toBe(200);
  });
});
