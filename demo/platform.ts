// The platform side of the story: the chart installed with the real helm, and the
// webhook run as a local process with the environment of the Deployment the chart
// installed, as the chart's ServiceAccount. There is no kubelet here, so the
// Deployment is stored but never runs: this process is its one replica.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, dumpYaml, type V1Pod } from '@kubernetes/client-node';
import { CHART_DIR as CHART_PATH, helmOk } from '../harness/helm.js';
import type { ControlPlane } from '../harness/kube.js';
import { apiEnvSources, renderContainerEnv } from '../harness/podenv.js';
import type { Teardown } from './teardown.js';

export const RELEASE = 'kaos-memory';
/** As a user types it, relative to the clone. */
export const CHART_DIR = 'charts/kaos-memory';

export interface DemoValues {
  /** The agents' Redis, without its password. */
  redisUrl: string;
  /** The Secret, in the agents' namespace, that holds the Redis password. */
  passwordSecret: { name: string; key: string };
  /** The local port the webhook listens on, reached by URL (there is no kube-proxy). */
  webhookPort: number;
  /** The sidecar's metrics port, where the chart's default is taken on this machine. */
  metricsPort?: number;
}

/** The values file a user would write for an external Redis and an out-of-cluster webhook. */
export function valuesYaml(v: DemoValues): string {
  return dumpYaml({
    agentDefaults: { memory: { redisUrl: v.redisUrl, passwordSecret: v.passwordSecret } },
    redis: { enabled: false },
    webhook: { url: `https://127.0.0.1:${v.webhookPort}/mutate`, port: v.webhookPort },
    ...(v.metricsPort === undefined ? {} : { sidecar: { metricsPort: v.metricsPort } }),
  });
}

/** `helm install` of the chart; rejects with helm's own message when it fails. */
export async function helmInstall(opts: {
  cluster: ControlPlane;
  namespace: string;
  values: string;
  workDir: string;
  teardown: Teardown;
}): Promise<string> {
  const valuesFile = join(opts.workDir, 'values.yaml');
  writeFileSync(valuesFile, opts.values);
  return helmOk(
    [
      'install',
      RELEASE,
      CHART_PATH,
      '--namespace',
      opts.namespace,
      '--kubeconfig',
      opts.cluster.kubeconfigPath,
      '--values',
      valuesFile,
      // Nothing here runs pods: waiting for the Deployment to become ready would never end.
      '--wait=false',
    ],
    { home: join(opts.workDir, 'helm'), onSpawn: (child) => opts.teardown.track(child) },
  );
}

export interface WebhookDeployment {
  /** The webhook container's environment, as the kubelet would give it. */
  env: Record<string, string>;
  serviceAccount: string;
}

/** Read the installed Deployment back from the API and render its container's environment. */
export async function webhookDeployment(
  cluster: ControlPlane,
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
