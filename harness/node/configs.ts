// The node's config files, each built from a typed value by a pure function (the steps
// write them): containerd's TOML, the CNI network, the kubelet's and kube-proxy's
// configurations and CoreDNS's Corefile.
import { join } from 'node:path';
import { CONTEXT } from '../kubeconfig.js';
import { IMAGE_NAMES } from './images.js';
import { NODE, nodeFiles } from './paths.js';

type TomlValue = string | number | boolean | string[] | TomlTable;
interface TomlTable {
  [key: string]: TomlValue;
}

/** TOML for nested tables of strings, numbers, booleans and string arrays. */
export function toToml(table: TomlTable, path: string[] = []): string {
  const scalars: string[] = [];
  const tables: string[] = [];
  for (const [key, value] of Object.entries(table)) {
    if (typeof value === 'object' && !Array.isArray(value)) {
      tables.push(toToml(value, [...path, key]));
    } else {
      scalars.push(`${tomlKey(key)} = ${JSON.stringify(value)}\n`);
    }
  }
  const header = path.length && scalars.length ? `[${path.map(tomlKey).join('.')}]\n` : '';
  return [header + scalars.join(''), ...tables].filter(Boolean).join('\n');
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

export function containerdConfig(dir: string): string {
  const files = nodeFiles(dir);
  return toToml({
    version: 2,
    root: join(dir, 'containerd', 'root'),
    state: join(dir, 'containerd', 'state'),
    disabled_plugins: [
      'io.containerd.snapshotter.v1.btrfs',
      'io.containerd.snapshotter.v1.zfs',
      'io.containerd.snapshotter.v1.aufs',
      'io.containerd.snapshotter.v1.devmapper',
      'io.containerd.internal.v1.tracing',
      'io.containerd.tracing.processor.v1.otlp',
    ],
    grpc: { address: files.containerdSocket },
    ttrpc: { address: `${files.containerdSocket}.ttrpc` },
    plugins: {
      'io.containerd.internal.v1.opt': { path: join(dir, 'containerd', 'opt') },
      'io.containerd.grpc.v1.cri': {
        sandbox_image: IMAGE_NAMES.pause(),
        netns_mounts_under_state_dir: true,
        // This machine's root lacks CAP_SYS_RESOURCE: lowering oom_score_adj fails, so
        // containerd must not try (runc reports "can't get final child's PID from pipe").
        restrict_oom_score_adj: true,
        containerd: {
          snapshotter: 'overlayfs',
          default_runtime_name: 'runc',
          runtimes: {
            runc: {
              runtime_type: 'io.containerd.runc.v2',
              options: {
                BinaryName: '/usr/sbin/runc',
                Root: join(dir, 'runc'),
                SystemdCgroup: false,
              },
            },
          },
        },
        cni: { bin_dir: '/usr/lib/cni', conf_dir: join(dir, 'cni', 'net.d') },
      },
    },
  });
}

export function cniConfig(dir: string): string {
  const conflist = {
    cniVersion: '1.0.0',
    name: NODE.cniNetwork,
    plugins: [
      {
        type: 'bridge',
        bridge: NODE.bridge,
        isGateway: true,
        // No masquerade: pod traffic has nowhere to go but the bridge.
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: NODE.podCidr, gateway: NODE.ip }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(dir, 'cni', 'ipam'),
        },
      },
      { type: 'loopback' },
    ],
  };
  return JSON.stringify(conflist, null, 2);
}

// The two components' configs are YAML; JSON is YAML.

export function kubeletConfig(dir: string, healthzPort: number): string {
  const files = nodeFiles(dir);
  const runtime = `unix://${files.containerdSocket}`;
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    containerRuntimeEndpoint: runtime,
    imageServiceEndpoint: runtime,
    address: NODE.ip,
    port: NODE.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    tlsCertFile: files.pki('kubelet-serving.crt'),
    tlsPrivateKeyFile: files.pki('kubelet-serving.key'),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: files.pki('ca.crt') },
    },
    authorization: { mode: 'AlwaysAllow' },
    clusterDNS: [NODE.ip],
    clusterDomain: NODE.clusterDomain,
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    resolvConf: '',
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
    staticPodPath: '',
    localStorageCapacityIsolation: true,
    // Faster status and pod-worker turnaround than the defaults, for tests. The pod sync
    // also refreshes mounted Secrets: a rotation reaches a pod's files within this period.
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '5s',
    fileCheckFrequency: '10s',
    shutdownGracePeriod: '0s',
  };
  return JSON.stringify(config, null, 2);
}

export function kubeProxyConfig(dir: string, ports: { health: number; metrics: number }): string {
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'nftables',
    clientConnection: { kubeconfig: nodeFiles(dir).kubeconfig('kube-proxy') },
    hostnameOverride: NODE.name,
    clusterCIDR: NODE.podCidr,
    healthzBindAddress: `127.0.0.1:${ports.health}`,
    metricsBindAddress: `127.0.0.1:${ports.metrics}`,
    nodePortAddresses: [`${NODE.ip}/32`],
    // Leave the machine's conntrack sysctls alone.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
    },
    nftables: { syncPeriod: '30s', minSyncPeriod: '0s' },
  };
  return JSON.stringify(config, null, 2);
}

/** A Corefile directive: `name args… { block }`. */
export interface Directive {
  name: string;
  args?: string[];
  block?: Directive[];
}

export function toCorefile(directives: Directive[], indent = ''): string {
  return directives
    .map((d) => {
      const line = `${indent}${[d.name, ...(d.args ?? [])].join(' ')}`;
      if (!d.block) return `${line}\n`;
      return `${line} {\n${toCorefile(d.block, `${indent}    `)}${indent}}\n`;
    })
    .join('');
}

export function corefile(dir: string, ports: { health: number; ready: number }): string {
  const reverse = ['in-addr.arpa', 'ip6.arpa'];
  return toCorefile([
    {
      name: '.:53',
      block: [
        { name: 'bind', args: [NODE.ip] },
        { name: 'errors' },
        { name: 'health', args: [`127.0.0.1:${ports.health}`] },
        { name: 'ready', args: [`127.0.0.1:${ports.ready}`] },
        {
          name: 'kubernetes',
          args: [NODE.clusterDomain, ...reverse],
          block: [
            { name: 'kubeconfig', args: [nodeFiles(dir).kubeconfig('admin'), CONTEXT] },
            { name: 'pods', args: ['insecure'] },
            { name: 'fallthrough', args: reverse },
            { name: 'ttl', args: ['5'] },
          ],
        },
        { name: 'cache', args: ['5'] },
        { name: 'loadbalance' },
      ],
    },
  ]);
}
