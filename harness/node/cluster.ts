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
//
// This file is the handle on a node: start (the machine lock, then boot.ts's steps),
// attach, the clients, stop, and the exit hooks that never leave a node behind.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { apiGet } from '../apiget.js';
import { helmOk } from '../helm.js';
import { pollUntil } from '../poll.js';
import type { ManagedProcess } from '../process.js';
import { BOOT_STEPS } from './boot.js';
import { run } from './exec.js';
import type { BuiltImage } from './images.js';
import { acquireLock, lockPath, releaseLock } from './lock.js';
import { bin, missingBinaries, NODE, nodeFiles, stateDir } from './paths.js';
import { runSteps, seconds } from './steps.js';
import { cleanUpEarlierRun, leftovers, teardown } from './teardown.js';

export { lockPath };

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
  private readonly procs: ManagedProcess[] = [];
  private stopped = false;
  private attached = false;
  /** The admin's TLS material, read once (get() runs in every poll of the API server). */
  private tls?: { ca: Buffer; cert: Buffer; key: Buffer };

  private constructor(readonly dir: string) {
    this.kubeconfigPath = nodeFiles(dir).kubeconfig('admin');
    this.caPath = nodeFiles(dir).pki('ca.crt');
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
      cleanUpEarlierRun(dir, log, [`path ${lockPath(dir)}`]);
      const boot = {
        node: cluster,
        log,
        timeoutMs: options.timeoutMs ?? 120_000,
        began: Date.now(),
        procs: cluster.procs,
      };
      await runSteps(BOOT_STEPS, boot, log);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    cluster.timings.total = Date.now() - began;
    log(`node ${NODE.name} Ready in ${seconds(cluster.timings.total)}`);
    return cluster;
  }

  /**
   * A handle on the node another process started and owns (say a vitest globalSetup,
   * so that several test files share one node): everything but stop(), which is a no-op.
   */
  static attach(): NodeCluster {
    const dir = stateDir();
    if (!existsSync(nodeFiles(dir).kubeconfig('admin'))) {
      throw new Error(`no node is running (nothing at ${dir})`);
    }
    const cluster = new NodeCluster(dir);
    cluster.attached = true;
    return cluster;
  }

  /** containerd's socket, for `ctr --address`. */
  get containerdSocket(): string {
    return nodeFiles(this.dir).containerdSocket;
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
    await pollUntil(
      `ServiceAccount ${name}/default`,
      async () => {
        await this.get(`/api/v1/namespaces/${name}/serviceaccounts/default`);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
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

  /** helm against this cluster (its caches kept in the state folder); resolves with stdout. */
  helm(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const home = join(this.dir, 'helm-home');
    mkdirSync(home, { recursive: true });
    return helmOk(args, {
      env: { KUBECONFIG: this.kubeconfigPath },
      home,
      timeoutMs: options.timeoutMs ?? 300_000,
    });
  }

  /** A GET on the API server as the admin; rejects on a non-2xx status. */
  get(path: string): Promise<string> {
    const pki = (name: string) => readFileSync(nodeFiles(this.dir).pki(name));
    this.tls ??= { ca: pki('ca.crt'), cert: pki('admin.crt'), key: pki('admin.key') };
    return apiGet({ host: NODE.ip, port: NODE.apiPort, ...this.tls }, path);
  }

  /** Log file of a component (etcd, kube-apiserver, kubelet, containerd, …). */
  logPath(component: string): string {
    return nodeFiles(this.dir).log(component);
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
