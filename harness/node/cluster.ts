// A real single-node Kubernetes cluster for the tests and the demo: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet on containerd
// and runc, kube-proxy (nftables), CoreDNS and a hostPath volume provisioner, all
// host processes built by scripts/controlplane.sh, with images made by images.ts.
//
// Networking stays on the machine: the node's address is the bridge kaos0's
// (10.244.0.1), pods get 10.244.0.0/24 on that bridge, Services 10.96.0.0/24 are
// routed to it, and an nftables table drops anything forwarded between the bridge
// and another interface. The API server, kubelet and DNS listen on the bridge
// address only; everything else on 127.0.0.1.
//
// Needs root on Linux (cgroup v1 or hybrid here), and scripts/node-deps.sh's packages.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { apiGet } from '../apiget.js';
import { CONTEXT } from '../kubeconfig.js';
import { alive, run, waitFor } from './exec.js';
import { buildImages, type BuiltImage, IMAGE_NAMES } from './images.js';
import { bin, missingBinaries, NODE, stateDir } from './paths.js';
import { writePki } from './pki.js';
import { leftovers, readSysctl, teardown, writeSysctl, type Owner } from './teardown.js';

export interface StartOptions {
  /** Progress lines (what is starting, how long it took). */
  log?: (line: string) => void;
  /** Milliseconds to wait for the node to be Ready (default 120 s). */
  timeoutMs?: number;
  /** Milliseconds to wait while another process's node runs on this machine (default 10 min). */
  waitForOtherMs?: number;
}

/** Milliseconds from start() for each step, for the notes and the demo. */
export interface Timings {
  images: number;
  apiserver: number;
  nodeReady: number;
  total: number;
}

/** Why a real node cannot run here, or undefined when it can. */
export function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'a real node needs Linux';
  if (process.getuid?.() !== 0) return 'a real node needs root (cgroups, mounts, a bridge)';
  const missing = missingBinaries();
  if (missing.length) return `not built: ${missing.join(', ')} (run scripts/controlplane.sh)`;
  for (const tool of [
    '/usr/bin/containerd',
    '/usr/sbin/runc',
    '/usr/lib/cni/bridge',
    '/usr/sbin/nft',
    '/usr/bin/ctr',
    '/bin/busybox',
    '/usr/bin/redis-server',
    '/usr/bin/redis-cli',
  ]) {
    if (!existsSync(tool)) return `${tool} missing (run scripts/node-deps.sh)`;
  }
  return undefined;
}

let live: NodeCluster | undefined;
let hooksInstalled = false;

export class NodeCluster {
  readonly server = `https://${NODE.ip}:${NODE.apiPort}`;
  readonly nodeName = NODE.name;
  readonly kubeconfigPath: string;
  readonly caPath: string;
  readonly timings: Timings = { images: 0, apiserver: 0, nodeReady: 0, total: 0 };
  images: BuiltImage[] = [];
  private readonly procs: Proc[] = [];
  private stopped = false;
  private attached = false;

  private constructor(readonly dir: string) {
    this.kubeconfigPath = join(dir, 'pki', 'admin.kubeconfig');
    this.caPath = join(dir, 'pki', 'ca.crt');
  }

  /**
   * Starts a fresh node (cleaning up after a crashed run first) and resolves when the
   * node is Ready, DNS answers, Services route and the images are in containerd.
   */
  static async start(options: StartOptions = {}): Promise<NodeCluster> {
    const reason = unavailableReason();
    if (reason) throw new Error(`cannot start a real node: ${reason}`);
    if (live) throw new Error('a node is already running in this process');
    const dir = stateDir();
    const log = options.log ?? (() => undefined);
    const began = Date.now();
    // One node per machine: another checkout's tests may hold it; wait for them.
    await acquireLock(dir, options.waitForOtherMs ?? 600_000, log);
    const cluster = new NodeCluster(dir);
    live = cluster;
    installHooks();
    try {
      const stale = leftovers(dir).filter((item) => item !== `path ${lockPath(dir)}`);
      if (stale.length) {
        log(`cleaning up after an earlier run (${stale.length} leftovers)`);
        teardown(dir, { graceMs: 1_000 });
      }
      await cluster.boot(log, options.timeoutMs ?? 120_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    cluster.timings.total = Date.now() - began;
    log(`node ${NODE.name} Ready in ${(cluster.timings.total / 1000).toFixed(1)}s`);
    return cluster;
  }

  /**
   * A handle on the node another process started and owns (say a vitest globalSetup,
   * so that several test files share one node): everything but stop(), which is a no-op.
   */
  static attach(): NodeCluster {
    const dir = stateDir();
    if (!existsSync(join(dir, 'pki', 'admin.kubeconfig'))) {
      throw new Error(`no node is running (nothing at ${dir})`);
    }
    const cluster = new NodeCluster(dir);
    cluster.attached = true;
    return cluster;
  }

  private async boot(log: (line: string) => void, timeoutMs: number): Promise<void> {
    const began = Date.now();
    const dir = this.dir;
    // All state on a tmpfs: etcd, image unpacking and container writes at memory speed,
    // and stopping frees it in one unmount instead of deleting thousands of files from a
    // slow disk (13 s here).
    mkdirSync(dir, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8g,mode=0755', 'kaos-node', dir]);
    for (const sub of [
      'pki',
      'logs',
      'run',
      'cni/net.d',
      'cni/ipam',
      'volumes',
      'kubelet',
      'pod-logs',
    ]) {
      mkdirSync(join(dir, sub), { recursive: true });
    }
    const owner: Owner = {
      pid: process.pid,
      ipForward: readSysctl('net/ipv4/ip_forward'),
      bridgeNfCall: readSysctl('net/bridge/bridge-nf-call-iptables'),
      started: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'owner.json'), JSON.stringify(owner));

    // Images are built (or found in the cache) while the node's network and PKI are made.
    const imagesBuilt = buildImages({ log });
    imagesBuilt.catch(() => undefined);
    await this.network();
    const ports = { etcd: await freePort(), etcdPeer: await freePort() };
    this.pki();
    this.writeConfigs();

    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const etcd = this.spawn('etcd', [
      '--name=kaos-node',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=kaos-node=http://127.0.0.1:${ports.etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    const containerd = this.spawnPath('containerd', '/usr/bin/containerd', [
      '--config',
      join(dir, 'containerd.toml'),
    ]);
    const sock = this.containerdSocket;

    const imported = (async () => {
      await containerd.waitUntil('containerd', async () => {
        await run('ctr', ['--address', sock, 'version']);
        return true;
      });
      this.images = await imagesBuilt;
      const t = Date.now();
      await Promise.all(
        this.images.map((image) =>
          run('ctr', [
            '--address',
            sock,
            '-n',
            'k8s.io',
            'images',
            'import',
            '--no-unpack=false',
            image.archive,
          ]),
        ),
      );
      this.timings.images = Date.now() - began;
      log(
        `images imported in ${((Date.now() - t) / 1000).toFixed(1)}s: ${this.images.map((i) => i.name).join(', ')}`,
      );
    })();
    imported.catch(() => undefined);

    await etcd.waitUntil('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok);
    const pki = (name: string) => join(dir, 'pki', name);
    const apiserver = this.spawn('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${NODE.ip}`,
      `--advertise-address=${NODE.ip}`,
      `--secure-port=${NODE.apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
      // The node is known by its InternalIP only: its name resolves nowhere.
      '--kubelet-preferred-address-types=InternalIP',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      `--service-cluster-ip-range=${NODE.serviceCidr}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      '--profiling=false',
    ]);
    await apiserver.waitUntil(
      'kube-apiserver /readyz',
      async () => (await this.get('/readyz')) === 'ok',
      120_000,
    );
    this.timings.apiserver = Date.now() - began;
    log(`kube-apiserver ready in ${(this.timings.apiserver / 1000).toFixed(1)}s`);

    await this.bootstrapObjects();
    const kubeconfig = (name: string) => pki(`${name}.kubeconfig`);
    this.spawn('kube-controller-manager', [
      `--kubeconfig=${kubeconfig('controller-manager')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki('sa.key')}`,
      `--root-ca-file=${pki('ca.crt')}`,
      '--cluster-name=kaos-node',
      '--profiling=false',
    ]);
    this.spawn('kube-scheduler', [
      `--kubeconfig=${kubeconfig('scheduler')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--profiling=false',
    ]);
    const proxyHealth = await freePort();
    this.writeKubeProxyConfig(proxyHealth, await freePort());
    const dnsPorts = { health: await freePort(), ready: await freePort() };
    this.writeCorefile(dnsPorts.health, dnsPorts.ready);
    const dns = this.spawn('coredns', ['-conf', join(dir, 'Corefile')]);
    this.spawn('hostpath-provisioner', [
      `--kubeconfig=${kubeconfig('admin')}`,
      `--dir=${join(dir, 'volumes')}`,
      `--name=${NODE.provisioner}`,
    ]);
    // After the import: the kubelet's cAdvisor fails to start ("failed to get rootfs
    // info") when it finds containerd's temporary unpack mounts under the image store.
    await imported;
    const kubeletHealth = await freePort();
    this.writeKubeletConfig(kubeletHealth);
    const kubelet = this.spawn('kubelet', [
      `--config=${join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${kubeconfig('kubelet')}`,
      `--hostname-override=${NODE.name}`,
      `--root-dir=${join(dir, 'kubelet')}`,
      `--node-ip=${NODE.ip}`,
    ]);

    const nodeReady = kubelet
      .waitUntil(
        `node ${NODE.name} Ready`,
        async () => {
          const node = JSON.parse(await this.get(`/api/v1/nodes/${NODE.name}`)) as {
            status?: { conditions?: { type: string; status: string }[] };
          };
          return (
            node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
          );
        },
        timeoutMs,
      )
      .then(() => {
        this.timings.nodeReady = Date.now() - began;
      });
    // kube-proxy takes the node's addresses from its Node object once, at start: started
    // before the kubelet registers the node (30 s, a cold image build), it assumes loopback
    // and exits when the real address appears. So it starts once the Node has an address.
    const proxySynced = (async () => {
      await kubelet.waitUntil(
        `node ${NODE.name} registered with its address`,
        async () => {
          const node = JSON.parse(await this.get(`/api/v1/nodes/${NODE.name}`)) as {
            status?: { addresses?: { type: string; address: string }[] };
          };
          return node.status?.addresses?.some((a) => a.address === NODE.ip) ?? false;
        },
        timeoutMs,
      );
      const proxy = this.spawn('kube-proxy', [`--config=${join(dir, 'kube-proxy.yaml')}`]);
      await proxy.waitUntil(
        'kube-proxy synced',
        async () => (await fetch(`http://127.0.0.1:${proxyHealth}/healthz`)).ok,
      );
    })();
    const step = (what: string, promise: Promise<unknown>) =>
      promise.then(() => log(`${what} after ${((Date.now() - began) / 1000).toFixed(1)}s`));
    await Promise.all([
      step(`node ${NODE.name} Ready`, nodeReady),
      step('kube-proxy synced', proxySynced),
      step(
        'CoreDNS ready',
        dns.waitUntil(
          'CoreDNS ready',
          async () => (await fetch(`http://127.0.0.1:${dnsPorts.ready}/ready`)).ok,
        ),
      ),
      // Pods need their namespace's ServiceAccount, which the controller manager makes.
      step(
        'ServiceAccount default/default',
        waitFor(
          'ServiceAccount default/default',
          async () => {
            await this.get('/api/v1/namespaces/default/serviceaccounts/default');
            return true;
          },
          { timeoutMs },
        ),
      ),
    ]);
  }

  /** The bridge with the node's address, routes for Services, forwarding kept on the bridge. */
  private async network(): Promise<void> {
    const { bridge, ip, serviceCidr, podCidr } = NODE;
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${ip}/24`, 'dev', bridge]);
    await run('ip', ['link', 'set', bridge, 'up']);
    // Host-originated Service traffic (the API server calling a webhook's ClusterIP)
    // goes to the bridge, where kube-proxy's DNAT applies; never to the default route.
    await run('ip', ['route', 'add', serviceCidr, 'dev', bridge, 'src', ip]);
    // Pod -> Service -> pod on the same bridge needs forwarding, and bridged replies
    // must pass netfilter so conntrack undoes the DNAT.
    writeSysctl('net/ipv4/ip_forward', '1');
    writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
    await run('nft', ['-f', '-'], {
      input: `table inet kaos-node {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${bridge}" oifname "${bridge}" accept
    iifname "${bridge}" counter drop comment "pod traffic never leaves the node's bridge"
    oifname "${bridge}" counter drop comment "nothing from another interface reaches a pod"
  }
  chain output {
    type filter hook output priority filter; policy accept;
    ip daddr { ${podCidr}, ${serviceCidr} } oifname != { "${bridge}", "lo" } counter drop
  }
}
`,
    });
  }

  private pki(): void {
    const { ip, apiServiceIp, name, clusterDomain } = NODE;
    writePki(join(this.dir, 'pki'), this.server, {
      apiserver: {
        commonName: 'kube-apiserver',
        dns: [
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          `kubernetes.default.svc.${clusterDomain}`,
          'localhost',
        ],
        ips: [ip, apiServiceIp, '127.0.0.1'],
      },
      'kubelet-serving': { commonName: `system:node:${name}`, dns: [name], ips: [ip] },
      'apiserver-kubelet-client': {
        commonName: 'kube-apiserver-kubelet-client',
        organizations: ['system:masters'],
      },
      admin: { commonName: 'kaos-admin', organizations: ['system:masters'], kubeconfig: true },
      kubelet: {
        commonName: `system:node:${name}`,
        organizations: ['system:nodes'],
        kubeconfig: true,
      },
      'controller-manager': { commonName: 'system:kube-controller-manager', kubeconfig: true },
      scheduler: { commonName: 'system:kube-scheduler', kubeconfig: true },
      'kube-proxy': { commonName: 'system:kube-proxy', kubeconfig: true },
    });
  }

  private writeConfigs(): void {
    const dir = this.dir;
    writeFileSync(
      join(dir, 'containerd.toml'),
      `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${dir}/run/containerd.sock"

[ttrpc]
  address = "${dir}/run/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGE_NAMES.pause()}"
  netns_mounts_under_state_dir = true
  # This machine's root lacks CAP_SYS_RESOURCE: lowering oom_score_adj fails, so
  # containerd must not try (runc reports "can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "${dir}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/cni/net.d"
`,
    );
    writeFileSync(
      join(dir, 'cni', 'net.d', '10-kaos-node.conflist'),
      JSON.stringify(
        {
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
        },
        null,
        2,
      ),
    );
  }

  private writeKubeletConfig(healthzPort: number): void {
    const dir = this.dir;
    const pki = (name: string) => join(dir, 'pki', name);
    writeFileSync(
      join(dir, 'kubelet.yaml'),
      JSON.stringify(
        {
          apiVersion: 'kubelet.config.k8s.io/v1beta1',
          kind: 'KubeletConfiguration',
          failCgroupV1: false,
          cgroupDriver: 'cgroupfs',
          failSwapOn: false,
          containerRuntimeEndpoint: `unix://${join(dir, 'run', 'containerd.sock')}`,
          imageServiceEndpoint: `unix://${join(dir, 'run', 'containerd.sock')}`,
          address: NODE.ip,
          port: NODE.kubeletPort,
          readOnlyPort: 0,
          healthzBindAddress: '127.0.0.1',
          healthzPort,
          tlsCertFile: pki('kubelet-serving.crt'),
          tlsPrivateKeyFile: pki('kubelet-serving.key'),
          authentication: {
            anonymous: { enabled: false },
            webhook: { enabled: false },
            x509: { clientCAFile: pki('ca.crt') },
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
          // Faster status and pod-worker turnaround than the defaults, for tests.
          nodeStatusUpdateFrequency: '4s',
          syncFrequency: '10s',
          fileCheckFrequency: '10s',
          shutdownGracePeriod: '0s',
        },
        null,
        2,
      ),
    );
  }

  private writeKubeProxyConfig(healthPort: number, metricsPort: number): void {
    writeFileSync(
      join(this.dir, 'kube-proxy.yaml'),
      JSON.stringify(
        {
          apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
          kind: 'KubeProxyConfiguration',
          mode: 'nftables',
          clientConnection: { kubeconfig: join(this.dir, 'pki', 'kube-proxy.kubeconfig') },
          hostnameOverride: NODE.name,
          clusterCIDR: NODE.podCidr,
          healthzBindAddress: `127.0.0.1:${healthPort}`,
          metricsBindAddress: `127.0.0.1:${metricsPort}`,
          nodePortAddresses: [`${NODE.ip}/32`],
          // Leave the machine's conntrack sysctls alone.
          conntrack: {
            maxPerCore: 0,
            min: 0,
            tcpEstablishedTimeout: '0s',
            tcpCloseWaitTimeout: '0s',
          },
          nftables: { syncPeriod: '30s', minSyncPeriod: '0s' },
        },
        null,
        2,
      ),
    );
  }

  private writeCorefile(healthPort: number, readyPort: number): void {
    writeFileSync(
      join(this.dir, 'Corefile'),
      `.:53 {
    bind ${NODE.ip}
    errors
    health 127.0.0.1:${healthPort}
    ready 127.0.0.1:${readyPort}
    kubernetes ${NODE.clusterDomain} in-addr.arpa ip6.arpa {
        kubeconfig ${join(this.dir, 'pki', 'admin.kubeconfig')} ${CONTEXT}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loadbalance
}
`,
    );
  }

  /** The default StorageClass, served by the hostpath-provisioner. */
  private async bootstrapObjects(): Promise<void> {
    const storageClass = {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: NODE.storageClass,
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: NODE.provisioner,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
    };
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify(storageClass) });
  }

  /** containerd's socket, for `ctr --address`. */
  get containerdSocket(): string {
    return join(this.dir, 'run', 'containerd.sock');
  }

  /** A client-node KubeConfig for the admin (system:masters). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /**
   * A fresh namespace `<prefix>-<random>`, resolved once its `default` ServiceAccount
   * exists (the controller manager makes it; pods are refused until then).
   */
  async namespace(
    prefix: string,
    labels: Record<string, string> = {},
    annotations: Record<string, string> = {},
  ): Promise<string> {
    const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    await this.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels, annotations },
      }),
    });
    await waitFor(`ServiceAccount ${name}/default`, async () => {
      await this.get(`/api/v1/namespaces/${name}/serviceaccounts/default`);
      return true;
    });
    return name;
  }

  /** ctr in containerd's k8s.io namespace (the CRI's); resolves with stdout. */
  ctr(args: string[]): Promise<string> {
    return run('ctr', ['--address', this.containerdSocket, '-n', 'k8s.io', ...args]);
  }

  /** kubectl as the cluster's admin; resolves with stdout. */
  kubectl(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return run(bin('kubectl'), ['--kubeconfig', this.kubeconfigPath, ...args], {
      ...(options.input !== undefined && { input: options.input }),
      timeout: options.timeoutMs ?? 120_000,
    });
  }

  /** helm against this cluster (its caches kept in the state folder). */
  helm(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const home = join(this.dir, 'helm-home');
    mkdirSync(home, { recursive: true });
    return run(bin('helm'), ['--kubeconfig', this.kubeconfigPath, ...args], {
      env: {
        ...process.env,
        HOME: home,
        XDG_CACHE_HOME: join(home, 'cache'),
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_DATA_HOME: join(home, 'data'),
      },
      timeout: options.timeoutMs ?? 300_000,
    });
  }

  /** A GET on the API server as the admin; rejects on a non-2xx status. */
  get(path: string): Promise<string> {
    const pki = (name: string) => readFileSync(join(this.dir, 'pki', name));
    const target = { host: NODE.ip, port: NODE.apiPort, ca: pki('ca.crt') };
    return apiGet({ ...target, cert: pki('admin.crt'), key: pki('admin.key') }, path);
  }

  /** Log file of a component (etcd, kube-apiserver, kubelet, containerd, …). */
  logPath(component: string): string {
    return join(this.dir, 'logs', `${component}.log`);
  }

  /** Everything the node left on the machine (empty after stop()). */
  leftovers(): string[] {
    return leftovers(this.dir);
  }

  /** Stops every process and undoes every change to the machine. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped || this.attached) return;
    this.stopped = true;
    teardown(this.dir);
    // Let Node reap its children, so no zombie keeps a name in the process table.
    await Promise.all(this.procs.map((p) => p.exited));
    releaseLock(this.dir);
    if (live === this) live = undefined;
  }

  private spawn(name: Parameters<typeof bin>[0], args: string[]): Proc {
    return this.spawnPath(name, bin(name), args);
  }

  private spawnPath(name: string, path: string, args: string[]): Proc {
    const proc = new Proc(name, path, args, this.logPath(name));
    this.procs.push(proc);
    return proc;
  }
}

/** A child process whose output goes to a log file, quoted when it fails. */
class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    path: string,
    args: string[],
    readonly logPath: string,
  ) {
    const fd = openSync(logPath, 'a');
    this.child = spawn(path, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.exited = new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      this.child.once('exit', () => resolve());
      this.child.once('error', () => resolve());
    });
  }

  private dead(): string | undefined {
    const { exitCode, signalCode } = this.child;
    return exitCode === null && signalCode === null
      ? undefined
      : `${this.name} exited (${exitCode ?? signalCode})`;
  }

  async waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    try {
      await waitFor(what, check, { timeoutMs, intervalMs: 100, dead: () => this.dead() });
    } catch (err) {
      let tail = '';
      try {
        tail = readFileSync(this.logPath, 'utf8').split('\n').slice(-30).join('\n');
      } catch {
        // no log
      }
      throw new Error(`${(err as Error).message}\n--- ${this.name} log (last lines) ---\n${tail}`, {
        cause: err,
      });
    }
  }
}

/** The machine-wide lock of the node: a file holding its owner's pid, created exclusively. */
export function lockPath(dir = stateDir()): string {
  return `${dir}.lock`;
}

async function acquireLock(
  dir: string,
  waitMs: number,
  log: (line: string) => void,
): Promise<void> {
  const path = lockPath(dir);
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(path, { force: true }); // its owner died: the node it left is cleaned up next
      continue;
    }
    if (holder === process.pid) throw new Error('a node is already running in this process');
    if (Date.now() > deadline) {
      throw new Error(
        `another process (pid ${holder}) kept the node of this machine for ${waitMs} ms`,
      );
    }
    if (!said) log(`waiting for the node of pid ${holder} to stop (one node per machine)`);
    said = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function releaseLock(dir: string): void {
  try {
    if (Number(readFileSync(lockPath(dir), 'utf8').trim()) === process.pid) rmSync(lockPath(dir));
  } catch {
    // not held
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// A failed test, a thrown hook or Ctrl-C must not leave a node behind.
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanup = () => {
    if (live) {
      teardown(live.dir, { graceMs: 1_000 });
      releaseLock(live.dir);
      live = undefined;
    }
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanup();
      // Die of the signal as before, unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}
