// Where the node harness keeps things, and the node's fixed addresses. One node per
// machine: it owns a bridge, cgroups and kubelet paths that are machine-wide.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The cache scripts/controlplane.sh builds into (KAOS_CACHE_DIR, else ~/.cache/kaos-memory). */
export function cacheDir(): string {
  return process.env.KAOS_CACHE_DIR ?? join(homedir(), '.cache', 'kaos-memory');
}

export function binDir(): string {
  return join(cacheDir(), 'bin');
}

/** The repository's root (this file is harness/node/paths.ts). */
export const repoDir = resolve(import.meta.dirname, '..', '..');

export type NodeBinary =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'kubectl'
  | 'coredns'
  | 'pause'
  | 'hostpath-provisioner'
  | 'helm';

export const NODE_BINARIES: readonly NodeBinary[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'kubectl',
  'coredns',
  'pause',
  'hostpath-provisioner',
  'helm',
];

export function bin(name: NodeBinary): string {
  return join(binDir(), name);
}

export function missingBinaries(): NodeBinary[] {
  return NODE_BINARIES.filter((name) => !existsSync(bin(name)));
}

/**
 * The node's fixed layout. Everything lives on the bridge `kaos0` (the node's own
 * address is the bridge's) and on loopback: no pod, Service or API traffic uses eth0.
 */
export const NODE = {
  name: 'kaos-node',
  bridge: 'kaos0',
  /** The bridge's address: node IP, API server, kubelet, cluster DNS. */
  ip: '10.244.0.1',
  podCidr: '10.244.0.0/24',
  serviceCidr: '10.96.0.0/24',
  /** ClusterIP of kubernetes.default. */
  apiServiceIp: '10.96.0.1',
  apiPort: 6443,
  kubeletPort: 10250,
  clusterDomain: 'cluster.local',
  cniNetwork: 'kaos-node',
  /** StorageClass (the default) served by the hostpath-provisioner. */
  storageClass: 'kaos-hostpath',
  provisioner: 'kaos-memory.local/hostpath',
} as const;

/** The node's state: certificates, configs, logs, etcd, containerd, kubelet, volumes. */
export function stateDir(): string {
  return process.env.KAOS_NODE_DIR ?? '/var/lib/kaos-memory-node';
}

/** Where the node's files live in its state folder. */
export function nodeFiles(dir: string) {
  const pki = (name: string) => join(dir, 'pki', name);
  return {
    pki,
    kubeconfig: (identity: string) => pki(`${identity}.kubeconfig`),
    log: (component: string) => join(dir, 'logs', `${component}.log`),
    containerdSocket: join(dir, 'run', 'containerd.sock'),
    containerdConfig: join(dir, 'containerd.toml'),
    cniConfig: join(dir, 'cni', 'net.d', '10-kaos-node.conflist'),
    kubeletConfig: join(dir, 'kubelet.yaml'),
    kubeProxyConfig: join(dir, 'kube-proxy.yaml'),
    corefile: join(dir, 'Corefile'),
  };
}

/** The folders the components expect to exist. */
export const STATE_FOLDERS = [
  'pki',
  'logs',
  'run',
  'cni/net.d',
  'cni/ipam',
  'volumes',
  'kubelet',
  'pod-logs',
] as const;

/** Paths the kubelet, containerd and CNI use outside the state folder (hardcoded upstream). */
export const HOST_PATHS = [
  '/var/lib/kubelet',
  '/run/containerd',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/opt/containerd',
] as const;
