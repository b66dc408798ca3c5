// The chart as it ships, installed with helm on a real node, and the kubectl reads the
// node suites and the demo share.
import { join } from 'node:path';
import { REPO_ROOT } from '../root.js';
import { NodeCluster, unavailableReason } from './cluster.js';

export const CHART = join(REPO_ROOT, 'charts/kaos-memory');
export const RELEASE = 'kaos-memory';
export const RELEASE_NS = 'kaos-system';

/**
 * `helm install` of the chart as the README says (`--wait`, so the webhook replicas and
 * the bundled Redis are Ready), plus any `--set` values; resolves with the seconds taken.
 */
export async function installChart(
  cluster: NodeCluster,
  set: string[] = [],
  log: (line: string) => void = () => undefined,
): Promise<number> {
  await cluster.kubectl(['create', 'namespace', RELEASE_NS]);
  const began = Date.now();
  const values = set.flatMap((value) => ['--set', value]);
  await cluster.helm(
    ['install', RELEASE, CHART, '--namespace', RELEASE_NS, ...values, '--wait', '--timeout=5m'],
    { timeoutMs: 330_000 },
  );
  const seconds = (Date.now() - began) / 1000;
  log(`helm install --wait took ${seconds.toFixed(1)}s`);
  return seconds;
}

const nodeLog = (line: string) => console.log(`node: ${line}`);

/**
 * What every node suite starts from: a fresh node (failing at once, with the reason, where
 * none can run here) and the chart installed on it with `set`; install lines go to `log`.
 */
export async function startNodeWithChart(
  set: string[] = [],
  log: (line: string) => void = nodeLog,
): Promise<NodeCluster> {
  const reason = unavailableReason();
  if (reason) throw new Error(reason);
  const cluster = await NodeCluster.start({ log: nodeLog });
  await installChart(cluster, set, log);
  return cluster;
}

/** `kubectl get … -o json`, parsed. */
export async function getJson<T = unknown>(cluster: NodeCluster, ...args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json'])) as T;
}

export interface PodJson {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { initContainers?: { name: string }[]; containers: { name: string }[] };
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
