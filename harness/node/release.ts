// The chart as it ships, installed with helm on a real node, and the kubectl reads the
// node suites and the demo share.
import { join } from 'node:path';
import { pollUntil } from '../poll.js';
import { REPO_ROOT } from '../root.js';
import { NodeCluster, unavailableReason } from './cluster.js';
import { sharedNode } from './shared.js';

export const CHART = join(REPO_ROOT, 'charts/kaos-memory');
export const RELEASE = 'kaos-memory';
export const RELEASE_NS = 'kaos-system';

/** helm with `--wait` (so the webhook replicas and the bundled Redis are Ready); the seconds taken. */
async function helmWait(cluster: NodeCluster, args: string[]): Promise<number> {
  const began = Date.now();
  await cluster.helm([...args, '--wait', '--timeout=5m'], { timeoutMs: 330_000 });
  return (Date.now() - began) / 1000;
}

/** `helm install` of the chart as the README says; resolves with the seconds taken. */
export async function installChart(cluster: NodeCluster): Promise<number> {
  await cluster.kubectl(['create', 'namespace', RELEASE_NS]);
  return helmWait(cluster, ['install', RELEASE, CHART, '--namespace', RELEASE_NS]);
}

/**
 * The release and its namespace gone (whichever of them is there); `wait`: until the
 * namespace is deleted, not only going. The namespace controller starts on a deleted
 * namespace 5 s after the deletion, deletes its pods first, and comes back for the rest
 * only after half their grace period (and again after 8 s for the Redis PVC's finalizer):
 * about 27 s here. With the pods stopped and the PVC deleted first, about 13 s in all.
 */
export async function removeRelease(cluster: NodeCluster, wait: boolean): Promise<void> {
  await cluster.helm([
    'uninstall',
    RELEASE,
    '--namespace',
    RELEASE_NS,
    '--ignore-not-found',
    ...(wait ? ['--wait'] : []),
  ]);
  if (wait) {
    await pollUntil(
      `the pods of namespace ${RELEASE_NS} to be gone`,
      async () =>
        (await cluster.kubectl(['-n', RELEASE_NS, 'get', 'pods', '-o', 'name'])).trim() === '',
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await cluster.kubectl(['-n', RELEASE_NS, 'delete', 'pvc', '--all', '--wait']);
  }
  await cluster.kubectl([
    'delete',
    'namespace',
    RELEASE_NS,
    '--ignore-not-found',
    `--wait=${wait}`,
  ]);
}

const nodeLog = (line: string) => console.log(`node: ${line}`);

/**
 * The release as a suite needs it, on a node that may hold it already (an earlier suite
 * of the run): installed if absent, else upgraded to exactly the chart's defaults plus
 * `set`, which also undoes what an earlier suite changed by hand (replicas scaled down,
 * a value set with --reuse-values); `--wait`, so every replica is Ready again.
 */
export async function ensureRelease(
  cluster: NodeCluster,
  set: string[] = [],
  log: (line: string) => void = () => undefined,
): Promise<number> {
  const values = set.flatMap((value) => ['--set', value]);
  const seconds = await helmWait(cluster, [
    'upgrade',
    '--install',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NS,
    '--create-namespace',
    '--reset-values',
    ...values,
  ]);
  const how = set.length ? ` (${set.join(', ')})` : '';
  log(`helm upgrade --install --wait${how} took ${seconds.toFixed(1)}s`);
  return seconds;
}

/**
 * The run's one node (started by the first suite that asks: harness/node/shared.ts),
 * failing at once with the reason where none can run here.
 */
export async function startNode(log: (line: string) => void = nodeLog): Promise<NodeCluster> {
  const reason = unavailableReason();
  if (reason) throw new Error(reason);
  return sharedNode(log);
}

/** What every suite with the chart starts from: the run's node, the release as `set` says. */
export async function startNodeWithChart(
  set: string[] = [],
  log: (line: string) => void = nodeLog,
): Promise<NodeCluster> {
  const cluster = await startNode();
  await ensureRelease(cluster, set, log);
  return cluster;
}

const KEPT_NAMESPACES = new Set([
  'default',
  'kube-system',
  'kube-public',
  'kube-node-lease',
  RELEASE_NS,
]);

/**
 * A suite's end on the run's node: the namespaces it made go (not waited for), so their
 * pods stop using the node's cores while the next suite runs. Suites run one at a time,
 * so every namespace but the system's and the release's is the ending suite's.
 */
export async function endSuite(cluster: NodeCluster | undefined): Promise<void> {
  if (!cluster) return;
  const names = (await cluster.kubectl(['get', 'namespaces', '-o', 'name']))
    .split('\n')
    .map((line) => line.replace(/^namespace\//, '').trim())
    .filter((name) => name && !KEPT_NAMESPACES.has(name));
  if (!names.length) return;
  await cluster.kubectl(['delete', 'namespace', ...names, '--ignore-not-found', '--wait=false']);
}

/** `kubectl get … -o json`, parsed. */
export async function getJson<T = unknown>(cluster: NodeCluster, ...args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json'])) as T;
}

export interface ContainerJson {
  name: string;
  readinessProbe?: {
    periodSeconds?: number;
    failureThreshold?: number;
    httpGet?: { path?: string; port?: number | string };
    exec?: { command?: string[] };
  };
}

export interface PodJson {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: {
    initContainers?: ContainerJson[];
    containers: ContainerJson[];
  };
  status: {
    phase?: string;
    initContainerStatuses?: ContainerStatusJson[];
    containerStatuses?: ContainerStatusJson[];
  };
}

export interface ContainerStatusJson {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  state: Record<string, { startedAt?: string; finishedAt?: string; reason?: string } | undefined>;
  lastState?: Record<string, { reason?: string; exitCode?: number } | undefined>;
}

/** The pods matching a label selector that are not being deleted. */
export async function livePods(
  cluster: NodeCluster,
  namespace: string,
  selector: string,
): Promise<PodJson[]> {
  const list = await getJson<{ items: PodJson[] }>(
    cluster,
    '-n',
    namespace,
    'get',
    'pods',
    '-l',
    selector,
  );
  return list.items.filter((pod) => !pod.metadata.deletionTimestamp);
}

/** A container's status, whether it is a native sidecar (init) or a regular container. */
export function containerStatus(pod: PodJson, name: string): ContainerStatusJson | undefined {
  return [
    ...(pod.status.initContainerStatuses ?? []),
    ...(pod.status.containerStatuses ?? []),
  ].find((status) => status.name === name);
}

/** `kubectl exec` of a shell command in one container; resolves with stdout. */
export function execIn(
  cluster: NodeCluster,
  namespace: string,
  pod: string,
  container: string,
  command: string,
): Promise<string> {
  return cluster.kubectl([
    '-n',
    namespace,
    'exec',
    pod,
    '-c',
    container,
    '--',
    'sh',
    '-c',
    command,
  ]);
}
