// `helm install` of the chart into a real kube-apiserver. With no kubelet the webhook
// Deployment is stored but never runs, so the webhook runs here as a local process with
// the environment read back from the installed Deployment and the token of the chart's
// own ServiceAccount: the chart's values and its RBAC are what make injection work.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { apiEnvSources, findContainer, renderContainerEnv, specEnv } from '../../harness/podenv.js';
import { freePort } from '../../harness/ports.js';
import { pollUntil } from '../../harness/poll.js';
import { waitUntilInjecting, WebhookProcess } from '../../harness/webhook.js';
import { readStatus, webhookVersion } from '../../webhook/status.js';
import { CHART, RELEASE, helmOk } from './helm.js';

const STATUS = 'memory.kaos.tools/status';

function agentPod(name: string, extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { name, labels: { app: 'agent', agent: 'memory-agent' }, ...extra },
    spec: { containers: [{ name: 'agent', image: 'python:3.12-slim', command: ['sleep', 'inf'] }] },
  };
}

describe('helm install into a real API server', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  let webhook: WebhookProcess | undefined;
  let releaseNs: string;
  let agentNs: string;
  let tokenDir: string;
  let installNotes = '';
  let webhookEnv: Record<string, string> = {};

  const helmArgs = () => ['--kubeconfig', cluster.kubeconfigPath, '--namespace', releaseNs];

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    releaseNs = await cluster.namespace('kaos-system');
    agentNs = await cluster.namespace('agents');
    tokenDir = mkdtempSync(join(tmpdir(), 'kaos-chart-sa-'));

    // Only what a cluster without kube-proxy needs: the webhook by URL on a local port.
    // No namespace list: the webhook copies the Redis password where it injects.
    const port = await freePort();
    installNotes = await helmOk([
      'install',
      RELEASE,
      CHART,
      ...helmArgs(),
      '--wait=false',
      '--set',
      `webhook.url=https://127.0.0.1:${port}/mutate`,
      '--set',
      `webhook.port=${port}`,
    ]);

    // The webhook's environment, as the kubelet would give it to the Deployment's pod.
    const deployment = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: `${RELEASE}-webhook`, namespace: releaseNs });
    const template = deployment.spec!.template;
    const pod: V1Pod = {
      metadata: { ...template.metadata, namespace: releaseNs },
      spec: template.spec,
    };
    webhookEnv = await renderContainerEnv(
      pod,
      template.spec!.containers[0]!,
      apiEnvSources(kc, releaseNs),
    );

    // Run as the chart's ServiceAccount, so only the chart's RBAC lets it work.
    const serviceAccount = template.spec!.serviceAccountName!;
    const token = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace: releaseNs,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const kubeconfig = join(tokenDir, 'kubeconfig');
    writeFileSync(kubeconfig, serviceAccountKubeconfig(cluster, token.status!.token), {
      mode: 0o600,
    });

    webhook = await WebhookProcess.start({
      env: { ...webhookEnv, KUBECONFIG: kubeconfig },
      port: Number(webhookEnv.WEBHOOK_PORT),
    });
    await waitUntilInjecting(core, agentNs).catch((err: unknown) => {
      throw new Error(
        `${String(err)}\n--- why the API server's calls failed ---\n${webhookCallErrors(cluster)}`,
      );
    });
  });

  afterAll(async () => {
    await webhook?.stop();
    await cluster?.stop();
    if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  });

  it('gives the webhook the chart defaults through the Deployment', () => {
    expect(webhookEnv).toMatchObject({
      WEBHOOK_NAMESPACE: releaseNs,
      WEBHOOK_CONFIG_NAME: RELEASE,
      WEBHOOK_CERT_SECRET: `${RELEASE}-webhook-tls`,
      WEBHOOK_CERT_HOSTS: '127.0.0.1',
      INJECT_MEMORY_TYPE: 'redis',
      INJECT_REDIS_URL: `redis://${RELEASE}-redis.${releaseNs}.svc.cluster.local:6379`,
      INJECT_REDIS_PASSWORD_SECRET: `${RELEASE}-redis/redis-password`,
      INJECT_REDIS_PASSWORD_COPY: 'true',
      INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      INJECT_NATIVE_SIDECAR: 'auto',
    });
    expect(installNotes).toContain('kubectl get pod -n NAMESPACE -l agent');
  });

  it('lets the webhook, as its ServiceAccount, make its certificate Secret and patch its caBundle', async () => {
    const secret = await core.readNamespacedSecret({
      name: `${RELEASE}-webhook-tls`,
      namespace: releaseNs,
    });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const config = await admission.readMutatingWebhookConfiguration({ name: RELEASE });
    const caBundle = Buffer.from(
      config.webhooks![0]!.clientConfig.caBundle ?? '',
      'base64',
    ).toString();
    expect(caBundle).toContain(Buffer.from(secret.data!['ca.crt']!, 'base64').toString().trim());
  });

  it('gives the ServiceAccount nothing more than that and the password copies', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(tokenDir, 'kubeconfig'));
    const asWebhook = kc.makeApiClient(CoreV1Api);
    const forbidden = async (call: Promise<unknown>) => {
      const status = await call.then(
        () => 200,
        (err: { code?: number }) => err.code,
      );
      expect(status).toBe(403);
    };
    await core.createNamespacedSecret({
      namespace: releaseNs,
      body: { metadata: { name: 'unrelated' }, stringData: { k: 'v' } },
    });
    await forbidden(asWebhook.readNamespacedSecret({ name: 'unrelated', namespace: releaseNs }));
    await forbidden(asWebhook.listNamespacedSecret({ namespace: releaseNs }));
    await forbidden(asWebhook.deleteNamespacedPod({ name: 'any', namespace: agentNs }));
    await forbidden(
      kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
        body: { metadata: { name: 'not-mine' }, webhooks: [] },
      }),
    );
  });

  it('injects a pod labelled agent with the defaults from the chart values', async () => {
    const created = await core.createNamespacedPod({
      namespace: agentNs,
      body: agentPod('memory-agent-0'),
    });
    const pod = await core.readNamespacedPod({ name: created.metadata!.name!, namespace: agentNs });
    expect(readStatus(pod.metadata?.annotations)).toMatchObject({
      version: webhookVersion(),
      initContainers: ['kaos-memory'],
      containers: [],
    });

    const sidecar = findContainer(pod, 'kaos-memory');
    expect(sidecar?.image).toBe('ghcr.io/kaos-tools/kaos-memory:0.1.0');
    expect(sidecar?.args).toEqual(['sidecar']);
    expect(sidecar?.command).toBeUndefined(); // the image's ENTRYPOINT runs `sidecar`
    expect(specEnv(sidecar)).toMatchObject({
      MEMORY_SIDECAR_PORT: '8790',
      MEMORY_KEY_PREFIX: 'kaos:memory',
      MEMORY_MAX_SESSION_EVENTS: '500',
      MEMORY_MAX_SESSIONS: '1000',
      MEMORY_SESSION_TTL_SECONDS: '86400',
    });
    expect(sidecar?.resources).toEqual({
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '500m', memory: '256Mi' },
    });
    // auto on a 1.29+ API server: a native sidecar.
    expect(pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([
      ['kaos-memory', 'Always'],
    ]);

    // The agent's environment resolves in its own namespace, with the bundled Redis password.
    const agent = findContainer(pod, 'agent')!;
    const env = await renderContainerEnv(pod, agent, apiEnvSources(cluster.kubeConfig(), agentNs));
    const password = await secretValue(releaseNs, `${RELEASE}-redis`, 'redis-password');
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(env.MEMORY_TYPE).toBe('redis');
    expect(env.MEMORY_API_URL).toBe('http://127.0.0.1:8790');
    const url = new URL(env.MEMORY_REDIS_URL!);
    expect(url.host).toBe(`${RELEASE}-redis.${releaseNs}.svc.cluster.local:6379`);
    expect(decodeURIComponent(url.password)).toBe(password);
    expect(JSON.stringify(pod.spec)).not.toContain(password); // only a secretKeyRef in the spec
  });

  it('leaves the release namespace and opted-out namespaces alone', async () => {
    const inRelease = await core.createNamespacedPod({
      namespace: releaseNs,
      body: agentPod('in-release'),
    });
    expect(inRelease.metadata?.annotations?.[STATUS]).toBeUndefined();
    const optedOut = await cluster.namespace('opted-out', {
      'memory.kaos.tools/injection': 'disabled',
    });
    const pod = await core.createNamespacedPod({
      namespace: optedOut,
      body: agentPod('opted-out'),
    });
    expect(pod.metadata?.annotations?.[STATUS]).toBeUndefined();
    expect(findContainer(pod, 'kaos-memory')).toBeUndefined();
  });

  it('keeps the caBundle and the generated password across helm upgrade', async () => {
    const before = await admission.readMutatingWebhookConfiguration({ name: RELEASE });
    const password = await secretValue(releaseNs, `${RELEASE}-redis`, 'redis-password');
    const admin = await secretValue(releaseNs, `${RELEASE}-redis-admin`, 'admin-password');
    expect(admin).not.toBe(password);
    await helmOk([
      'upgrade',
      RELEASE,
      CHART,
      ...helmArgs(),
      '--reuse-values',
      '--set',
      'webhook.timeoutSeconds=4',
    ]);
    const after = await admission.readMutatingWebhookConfiguration({ name: RELEASE });
    expect(after.webhooks![0]!.timeoutSeconds).toBe(4);
    expect(after.webhooks![0]!.clientConfig.caBundle).toBe(
      before.webhooks![0]!.clientConfig.caBundle,
    );
    expect(await secretValue(releaseNs, `${RELEASE}-redis`, 'redis-password')).toBe(password);
    expect(await secretValue(releaseNs, `${RELEASE}-redis-admin`, 'admin-password')).toBe(admin);
    // The webhook's copy from before the upgrade: not the chart's to touch.
    expect(await secretValue(agentNs, `${RELEASE}-redis`, 'redis-password')).toBe(password);
    const pod = await core.createNamespacedPod({
      namespace: agentNs,
      body: agentPod('after-upgrade'),
    });
    expect(readStatus(pod.metadata?.annotations)?.initContainers).toEqual(['kaos-memory']);
  });

  it('helm uninstall removes the webhook configuration and its cluster-wide RBAC', async () => {
    await helmOk(['uninstall', RELEASE, ...helmArgs(), '--wait=false']);
    const configs = await admission.listMutatingWebhookConfiguration();
    expect(configs.items.map((c) => c.metadata?.name)).not.toContain(RELEASE);
    const roles = await cluster
      .kubeConfig()
      .makeApiClient(RbacAuthorizationV1Api)
      .listClusterRole();
    expect(roles.items.filter((r) => r.metadata?.name?.startsWith(RELEASE))).toEqual([]);
    // The API server drops the webhook a moment after its configuration goes; the webhook
    // itself still runs, so only the uninstall can stop injection.
    await pollUntil('injection to stop', async () => {
      const pod = await core.createNamespacedPod({
        namespace: agentNs,
        body: agentPod('after-uninstall'),
        dryRun: 'All',
      });
      return pod.metadata?.annotations?.[STATUS] === undefined;
    });
  });

  async function secretValue(namespace: string, name: string, key: string): Promise<string> {
    const secret = await core.readNamespacedSecret({ name, namespace });
    return Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
  }
});

/** A kubeconfig that authenticates with a ServiceAccount token (JSON is YAML). */
function serviceAccountKubeconfig(cluster: ControlPlane, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: {
          server: cluster.server,
          'certificate-authority-data': Buffer.from(cluster.caCert).toString('base64'),
        },
      },
    ],
    users: [{ name: 'webhook', user: { token } }],
    contexts: [{ name: 'webhook', context: { cluster: 'test', user: 'webhook' } }],
    'current-context': 'webhook',
  });
}

/** The API server's last complaints about calling the webhook (failurePolicy Ignore hides them). */
function webhookCallErrors(cluster: ControlPlane): string {
  const log = readFileSync(join(cluster.dir, 'kube-apiserver.log'), 'utf8');
  const lines = log.split('\n').filter((line) => line.includes('Failed calling webhook'));
  return lines.slice(-3).join('\n') || '(none logged)';
}
