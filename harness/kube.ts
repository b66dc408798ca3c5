// A real Kubernetes control plane: etcd and kube-apiserver, built from Go modules
// by scripts/controlplane.sh, started on loopback with random ports, their own
// certificates and data, RBAC and the default admission plugins on. No
// controller-manager or scheduler: pods are stored, never run, and a
// namespace's `default` ServiceAccount is made by hand.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority, rsaKeyPair, type Pem } from '../certs/ca.js';
import { apiGet } from './apiget.js';
import { writeKubeconfig } from './kubeconfig.js';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';
import { cachedBinary } from './root.js';

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, appended after the harness's own. */
  apiserverArgs?: string[];
}

const SERVICE_CIDR = '10.96.0.0/24';
const live = new Set<ControlPlane>();
let exitHookInstalled = false;

export class ControlPlane {
  readonly server: string;
  readonly kubeconfigPath: string;
  /** The API server's gitVersion, e.g. v1.37.2. */
  version = '';
  /** Milliseconds from start() to a ready API server. */
  startMs = 0;
  private readonly procs: ManagedProcess[] = [];
  private stopped = false;

  private constructor(
    readonly dir: string,
    private readonly port: number,
    readonly caCert: string,
    private readonly admin: Pem,
  ) {
    this.server = `https://127.0.0.1:${port}`;
    this.kubeconfigPath = join(dir, 'kubeconfig');
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const began = Date.now();
    // A random port can be taken between picking it and binding it: try again once.
    for (let attempt = 1; ; attempt++) {
      try {
        const cluster = await ControlPlane.startOnce(options);
        cluster.startMs = Date.now() - began;
        return cluster;
      } catch (err) {
        const clash = err instanceof Error && /address already in use/.test(err.message);
        if (!clash || attempt >= 2) throw err;
      }
    }
  }

  private static async startOnce(options: ControlPlaneOptions): Promise<ControlPlane> {
    const etcdBin = cachedBinary('etcd');
    const apiserverBin = cachedBinary('kube-apiserver');
    const dir = mkdtempSync(join(tmpdir(), 'kaos-kube-'));
    // The control plane's own CA, kept to sign its serving and client certificates.
    const ca = CertificateAuthority.create({ commonName: 'kaos-memory-test-ca' });
    const cluster = new ControlPlane(
      dir,
      await freePort(),
      ca.cert,
      ca.issue({ commonName: 'kaos-admin', organizations: ['system:masters'] }),
    );
    live.add(cluster);
    installExitHook();
    try {
      const etcdUrl = await cluster.startEtcd(etcdBin);
      cluster.writeFiles(ca);
      await cluster.startApiserver(apiserverBin, etcdUrl, options.apiserverArgs ?? []);
      const version = JSON.parse(await cluster.get('/version')) as { gitVersion: string };
      cluster.version = version.gitVersion;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** A client-node KubeConfig for the admin (system:masters). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /**
   * A fresh namespace `<prefix>-<random>` with its `default` ServiceAccount,
   * which the ServiceAccount admission plugin needs before any pod is admitted.
   */
  async namespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name, labels } } });
    await core.createNamespacedServiceAccount({
      namespace: name,
      body: { metadata: { name: 'default' } },
    });
    return name;
  }

  /**
   * A kubeconfig at `path` that authenticates with a token of a ServiceAccount, so
   * only that account's RBAC decides what its holder may do.
   */
  async serviceAccountKubeconfig(
    namespace: string,
    serviceAccount: string,
    path: string,
  ): Promise<void> {
    const token = await this.kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
    writeKubeconfig(path, {
      server: this.server,
      caCert: this.caCert,
      user: serviceAccount,
      credentials: { token: token.status?.token ?? '' },
    });
  }

  /** A GET on the API server as the admin; rejects on a non-2xx status. */
  get(path: string): Promise<string> {
    const { cert, key } = this.admin;
    return apiGet({ host: '127.0.0.1', port: this.port, ca: this.caCert, cert, key }, path);
  }

  /** Stop the API server, then etcd, and remove every file. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const proc of [...this.procs].reverse()) await proc.stop();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Synchronous last resort for process exit: no waiting, nothing left behind. */
  killNow(): void {
    for (const proc of this.procs) proc.signal('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startEtcd(bin: string): Promise<string> {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const etcd = this.spawn('etcd', bin, [
      '--name=kaos-test',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=kaos-test=${peer}`,
      // Test data is thrown away: skip fsync, as envtest does.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await etcd.waitUntil('etcd /health', async () => (await fetch(`${client}/health`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    return client;
  }

  private writeFiles(ca: CertificateAuthority): void {
    const serving = ca.issue({
      commonName: 'kube-apiserver',
      dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ips: ['127.0.0.1', '10.96.0.1'],
    });
    const sa = rsaKeyPair(); // Signs service-account tokens.
    const files: Record<string, string> = {
      'ca.crt': this.caCert,
      'apiserver.crt': serving.cert,
      'apiserver.key': serving.key,
      'sa.pub': sa.publicKey,
      'sa.key': sa.privateKey,
    };
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(this.dir, name), content, { mode: 0o600 });
    }
    writeKubeconfig(this.kubeconfigPath, {
      server: this.server,
      caCert: this.caCert,
      user: 'kaos-admin',
      credentials: this.admin,
    });
  }

  private async startApiserver(bin: string, etcdUrl: string, extra: string[]): Promise<void> {
    const file = (name: string) => join(this.dir, name);
    const apiserver = this.spawn('kube-apiserver', bin, [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${this.port}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--cert-dir=${file('certs')}`,
      `--tls-cert-file=${file('apiserver.crt')}`,
      `--tls-private-key-file=${file('apiserver.key')}`,
      `--client-ca-file=${file('ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${file('sa.pub')}`,
      `--service-account-signing-key-file=${file('sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=RBAC',
      // No kubelet will ever run these pods; no endpoint reconciling to do.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      ...extra,
    ]);
    await apiserver.waitUntil(
      'kube-apiserver /readyz',
      async () => (await this.get('/readyz')) === 'ok',
      { timeoutMs: 120_000, intervalMs: 100 },
    );
  }

  private spawn(name: string, bin: string, args: string[]): ManagedProcess {
    const proc = new ManagedProcess({
      name,
      command: bin,
      args,
      logFile: join(this.dir, `${name}.log`),
    });
    this.procs.push(proc);
    return proc;
  }
}

// A control plane's files are removed even when the test process dies (its processes
// are killed by process.ts's own hook).
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const cluster of live) cluster.killNow();
    live.clear();
  });
}
