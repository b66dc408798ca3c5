// The node's boot, in order: a state folder, the network, certificates, then the
// control plane (started as harness/kube.ts starts the API-only one) and the node's
// components, each through the one process model. Image building and importing run
// beside the control plane's start; the kubelet waits for the import.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiserverArgs, startApiserver, startEtcd } from '../kube.js';
import { pollUntil } from '../poll.js';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';
import {
  cniConfig,
  containerdConfig,
  corefile,
  kubeletConfig,
  kubeProxyConfig,
} from './configs.js';
import { run } from './exec.js';
import { buildImages, type BuiltImage } from './images.js';
import { setUpNetwork } from './network.js';
import { bin, NODE, nodeFiles, STATE_FOLDERS } from './paths.js';
import { nodeIdentities, writePki } from './pki.js';
import { background, seconds, type Step } from './steps.js';
import { writeOwner } from './teardown.js';

/** What the boot fills in on the cluster it starts. */
export interface BootTarget {
  readonly dir: string;
  readonly server: string;
  readonly timings: { images: number; apiserver: number; nodeReady: number };
  images: BuiltImage[];
  get(path: string): Promise<string>;
  kubectl(args: string[], options?: { input?: string }): Promise<string>;
}

export interface Boot {
  readonly node: BootTarget;
  readonly log: (line: string) => void;
  /** For the node to become Ready. */
  readonly timeoutMs: number;
  readonly began: number;
  /** Every process started, for stop() to reap. */
  readonly procs: ManagedProcess[];
  // Handed from a step to a later one.
  images?: Promise<BuiltImage[]>;
  imported?: Promise<void>;
  etcdUrl?: string;
  kubelet?: ManagedProcess;
  nodeReady?: Promise<void>;
  dns?: { proc: ManagedProcess; readyPort: number };
}

// What the node's processes waited for before the one process model (whose default is 15 s).
const WAIT = { timeoutMs: 60_000, intervalMs: 100 };

function files(boot: Boot) {
  return nodeFiles(boot.node.dir);
}

/** Set by an earlier step, or a bug in the step order. */
function handed<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not there yet: steps out of order`);
  return value;
}

function component(boot: Boot, name: string, command: string, args: string[]): ManagedProcess {
  // The node's components see this process's environment, as the kubelet needs (PATH, HOME).
  const env = process.env;
  const proc = new ManagedProcess({ name, command, args, env, logFile: files(boot).log(name) });
  boot.procs.push(proc);
  return proc;
}

async function nodeObject<T>(boot: Boot): Promise<{ status?: T }> {
  return JSON.parse(await boot.node.get(`/api/v1/nodes/${NODE.name}`)) as { status?: T };
}

const stateFolder: Step<Boot> = {
  name: 'state folder on a tmpfs',
  // etcd, image unpacking and container writes at memory speed, and stopping frees it
  // in one unmount instead of deleting thousands of files from a slow disk (13 s here).
  async run({ node: { dir } }) {
    mkdirSync(dir, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8g,mode=0755', 'kaos-node', dir]);
    for (const sub of STATE_FOLDERS) mkdirSync(join(dir, sub), { recursive: true });
    writeOwner(dir);
  },
};

const images: Step<Boot> = {
  name: 'images: build or find cached (in the background)',
  run(boot) {
    boot.images = background(buildImages({ log: boot.log }));
  },
};

const network: Step<Boot> = {
  name: 'network: bridge, Service route, sysctls, nftables',
  run: setUpNetwork,
};

const certificates: Step<Boot> = {
  name: 'certificates and kubeconfigs',
  run({ node }) {
    writePki(join(node.dir, 'pki'), node.server, nodeIdentities());
  },
};

const containerd: Step<Boot> = {
  name: 'containerd (importing the images in the background)',
  run(boot) {
    const { dir } = boot.node;
    const paths = files(boot);
    writeFileSync(paths.containerdConfig, containerdConfig(dir));
    writeFileSync(paths.cniConfig, cniConfig(dir));
    const proc = component(boot, 'containerd', '/usr/bin/containerd', [
      '--config',
      paths.containerdConfig,
    ]);
    boot.imported = background(importImages(boot, proc));
  },
};

async function importImages(boot: Boot, containerd: ManagedProcess): Promise<void> {
  const sock = files(boot).containerdSocket;
  await containerd.waitUntil(
    'containerd',
    async () => {
      await run('ctr', ['--address', sock, 'version']);
      return true;
    },
    WAIT,
  );
  const built = await handed(boot.images, 'the image build');
  boot.node.images = built;
  const t = Date.now();
  await Promise.all(
    built.map((image) =>
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
  boot.node.timings.images = Date.now() - boot.began;
  const names = built.map((i) => i.name).join(', ');
  boot.log(`images imported in ${seconds(Date.now() - t)}: ${names}`);
}

const etcd: Step<Boot> = {
  name: 'etcd',
  async run(boot) {
    const { proc, url } = await startEtcd({
      name: 'kaos-node',
      dataDir: join(boot.node.dir, 'etcd'),
      logFile: files(boot).log('etcd'),
      env: process.env,
    });
    boot.procs.push(proc);
    boot.etcdUrl = url;
  },
};

const apiserver: Step<Boot> = {
  name: 'kube-apiserver',
  async run(boot) {
    const pki = files(boot).pki;
    const common = apiserverArgs({
      etcdUrl: handed(boot.etcdUrl, 'etcd'),
      address: NODE.ip,
      port: NODE.apiPort,
      dir: join(boot.node.dir, 'pki'),
      serviceCidr: NODE.serviceCidr,
    });
    const proc = await startApiserver({
      args: [
        ...common,
        `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
        // The node is known by its InternalIP only: its name resolves nowhere.
        '--kubelet-preferred-address-types=InternalIP',
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
      ],
      logFile: files(boot).log('kube-apiserver'),
      env: process.env,
      get: (path) => boot.node.get(path),
    });
    boot.procs.push(proc);
    boot.node.timings.apiserver = Date.now() - boot.began;
  },
};

const storageClass: Step<Boot> = {
  name: 'default StorageClass',
  async run({ node }) {
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
    await node.kubectl(['apply', '-f', '-'], { input: JSON.stringify(storageClass) });
  },
};

const controllerManager: Step<Boot> = {
  name: 'kube-controller-manager',
  run(boot) {
    const { pki, kubeconfig } = files(boot);
    component(boot, 'kube-controller-manager', bin('kube-controller-manager'), [
      `--kubeconfig=${kubeconfig('controller-manager')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki('sa.key')}`,
      `--root-ca-file=${pki('ca.crt')}`,
      '--cluster-name=kaos-node',
      '--profiling=false',
    ]);
  },
};

const scheduler: Step<Boot> = {
  name: 'kube-scheduler',
  run(boot) {
    component(boot, 'kube-scheduler', bin('kube-scheduler'), [
      `--kubeconfig=${files(boot).kubeconfig('scheduler')}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--profiling=false',
    ]);
  },
};

const coredns: Step<Boot> = {
  name: 'CoreDNS',
  async run(boot) {
    const ports = { health: await freePort(), ready: await freePort() };
    writeFileSync(files(boot).corefile, corefile(boot.node.dir, ports));
    const proc = component(boot, 'coredns', bin('coredns'), ['-conf', files(boot).corefile]);
    boot.dns = { proc, readyPort: ports.ready };
  },
};

const provisioner: Step<Boot> = {
  name: 'hostpath-provisioner',
  run(boot) {
    component(boot, 'hostpath-provisioner', bin('hostpath-provisioner'), [
      `--kubeconfig=${files(boot).kubeconfig('admin')}`,
      `--dir=${join(boot.node.dir, 'volumes')}`,
      `--name=${NODE.provisioner}`,
    ]);
  },
};

const imported: Step<Boot> = {
  // Before the kubelet: its cAdvisor fails to start ("failed to get rootfs info") when
  // it finds containerd's temporary unpack mounts under the image store.
  name: 'images imported',
  async run(boot) {
    await handed(boot.imported, 'the image import');
  },
};

const kubelet: Step<Boot> = {
  name: 'kubelet',
  async run(boot) {
    const paths = files(boot);
    writeFileSync(paths.kubeletConfig, kubeletConfig(boot.node.dir, await freePort()));
    const proc = component(boot, 'kubelet', bin('kubelet'), [
      `--config=${paths.kubeletConfig}`,
      `--kubeconfig=${paths.kubeconfig('kubelet')}`,
      `--hostname-override=${NODE.name}`,
      `--root-dir=${join(boot.node.dir, 'kubelet')}`,
      `--node-ip=${NODE.ip}`,
    ]);
    boot.kubelet = proc;
    type Conditions = { conditions?: { type: string; status: string }[] };
    boot.nodeReady = background(
      proc
        .waitUntil(
          `node ${NODE.name} Ready`,
          async () => {
            const { status } = await nodeObject<Conditions>(boot);
            return (
              status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
            );
          },
          { ...WAIT, timeoutMs: boot.timeoutMs },
        )
        .then(() => {
          boot.node.timings.nodeReady = Date.now() - boot.began;
        }),
    );
  },
};

const kubeProxy: Step<Boot> = {
  // kube-proxy takes the node's addresses from its Node object once, at start: started
  // before the kubelet registers the node, it assumes loopback and exits when the real
  // address appears.
  name: 'kube-proxy (once the Node has its address)',
  async run(boot) {
    type Addresses = { addresses?: { type: string; address: string }[] };
    await handed(boot.kubelet, 'the kubelet').waitUntil(
      `node ${NODE.name} registered with its address`,
      async () => {
        const { status } = await nodeObject<Addresses>(boot);
        return status?.addresses?.some((a) => a.address === NODE.ip) ?? false;
      },
      { ...WAIT, timeoutMs: boot.timeoutMs },
    );
    const ports = { health: await freePort(), metrics: await freePort() };
    const config = files(boot).kubeProxyConfig;
    writeFileSync(config, kubeProxyConfig(boot.node.dir, ports));
    const proc = component(boot, 'kube-proxy', bin('kube-proxy'), [`--config=${config}`]);
    await proc.waitUntil(
      'kube-proxy synced',
      async () => (await fetch(`http://127.0.0.1:${ports.health}/healthz`)).ok,
      WAIT,
    );
  },
};

const ready: Step<Boot> = {
  name: 'node Ready, CoreDNS ready, default ServiceAccount',
  async run(boot) {
    const dns = handed(boot.dns, 'CoreDNS');
    await Promise.all([
      handed(boot.nodeReady, 'the kubelet'),
      dns.proc.waitUntil(
        'CoreDNS ready',
        async () => (await fetch(`http://127.0.0.1:${dns.readyPort}/ready`)).ok,
        WAIT,
      ),
      // Pods need their namespace's ServiceAccount, which the controller manager makes.
      pollUntil(
        'ServiceAccount default/default',
        async () => {
          await boot.node.get('/api/v1/namespaces/default/serviceaccounts/default');
          return true;
        },
        { ...WAIT, timeoutMs: boot.timeoutMs },
      ),
    ]);
  },
};

/** The node's boot, in order. */
export const BOOT_STEPS: readonly Step<Boot>[] = [
  stateFolder,
  images,
  network,
  certificates,
  containerd,
  etcd,
  apiserver,
  storageClass,
  controllerManager,
  scheduler,
  coredns,
  provisioner,
  imported,
  kubelet,
  kubeProxy,
  ready,
];
