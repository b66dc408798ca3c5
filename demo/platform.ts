// The platform side of the story: the chart installed with the real helm, and the
// webhook run as a local process with the environment of the Deployment the chart
// installed, as the chart's ServiceAccount. There is no kubelet here, so the
// Deployment is stored but never runs: this process is its one replica.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, dumpYaml, type V1Pod } from '@kubernetes/client-node';
import { REPO_ROOT } from '../test/helpers/cli.js';
import { controlPlaneBin, type TestCluster } from '../test/helpers/kube.js';
import { apiEnvSources, renderContainerEnv } from '../test/helpers/podenv.js';
import type { Teardown } from './teardown.js';

export const RELEASE = 'kaos-memory';
export const CHART_DIR = 'charts/kaos-memory';

export interface DemoValues {
  /** The agents' Redis, without its password. */
  redisUrl: string;
  /** The Secret, in the agents' namespace, that holds the Redis password. */
  passwordSecret: { name: string; key: string };
  /** The local port the webhook listens on, reached by URL (there is no kube-proxy). */
  webhookPort: number;
}

/** The values file a user would write for an external Redis and an out-of-cluster webhook. */
export function valuesYaml(v: DemoValues): string {
  return dumpYaml({
    agentDefaults: { memory: { redisUrl: v.redisUrl, passwordSecret: v.passwordSecret } },
    redis: { enabled: false },
    webhook: { url: `https://127.0.0.1:${v.webhookPort}/mutate`, port: v.webhookPort },
  });
}

/** `helm install` of the chart; rejects with helm's own message when it fails. */
export async function helmInstall(opts: {
  cluster: TestCluster;
  namespace: string;
  values: string;
  workDir: string;
  teardown: Teardown;
}): Promise<string> {
  const valuesFile = join(opts.workDir, 'values.yaml');
  writeFileSync(valuesFile, opts.values);
  const args = [
    'install',
    RELEASE,
    join(REPO_ROOT, CHART_DIR),
    '--namespace',
    opts.namespace,
    '--kubeconfig',
    opts.cluster.kubeconfigPath,
    '--values',
    valuesFile,
    // Nothing here runs pods: waiting for the Deployment to become ready would never end.
    '--wait=false',
  ];
  const helm = controlPlaneBin('helm');
  return new Promise((resolve, reject) => {
    const home = join(opts.workDir, 'helm');
    const child = spawn(helm, args, {
      // Its own homes, so helm never reads the user's repositories or plugins.
      env: {
        PATH: process.env.PATH ?? '',
        // client-go keeps its discovery cache under $HOME/.kube; without HOME it uses the cwd.
        HOME: home,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.teardown.track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`helm install failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

export interface WebhookDeployment {
  /** The webhook container's environment, as the kubelet would give it. */
  env: Record<string, string>;
  serviceAccount: string;
}

/** Read the installed Deployment back from the API and render its container's environment. */
export async function webhookDeployment(
  cluster: TestCluster,
  namespace: string,
): Promise<WebhookDeployment> {
  const kc = cluster.kubeConfig();
  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: `${RELEASE}-webhook`, namespace });
  const template = deployment.spec?.template;
  const container = template?.spec?.containers[0];
  if (!template?.spec || !container) throw new Error('the webhook Deployment has no container');
  const pod: V1Pod = { metadata: { ...template.metadata, namespace }, spec: template.spec };
  return {
    env: await renderContainerEnv(pod, container, apiEnvSources(kc, namespace)),
    serviceAccount: template.spec.serviceAccountName ?? 'default',
  };
}

/**
 * A kubeconfig that authenticates with a token of the chart's ServiceAccount, so
 * only the chart's RBAC lets the webhook make its certificate and patch its caBundle.
 */
export async function serviceAccountKubeconfig(
  cluster: TestCluster,
  namespace: string,
  serviceAccount: string,
  path: string,
): Promise<void> {
  const token = await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'demo',
        cluster: {
          server: cluster.server,
          'certificate-authority-data': Buffer.from(cluster.caCert).toString('base64'),
        },
      },
    ],
    users: [{ name: serviceAccount, user: { token: token.status?.token } }],
    contexts: [{ name: 'demo', context: { cluster: 'demo', user: serviceAccount } }],
    'current-context': 'demo',
  };
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 }); // JSON is YAML
}
