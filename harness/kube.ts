// A real Kubernetes control plane: etcd and kube-apiserver, built from Go modules
// by scripts/controlplane.sh, started on loopback with random ports, their own
// certificates and data, RBAC and the default admission plugins on. No
// controller-manager or scheduler: pods are stored, never run, and a
// namespace's `default` ServiceAccount is made by hand. The real node
// (harness/node/boot.ts) starts its etcd and API server with the same functions.
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
    // Fail with the build hint before making anything.
    cachedBinary('etcd');
    cachedBinary('kube-apiserver');
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
      const etcd = await startEtcd({
        name: 'kaos-test',
        dataDir: join(dir, 'etcd'),
        logFile: join(dir, 'etcd.log'),
      });
      cluster.procs.push(etcd.proc);
      cluster.writeFiles(ca);
      await cluster.startApiserver(etcd.url, options.apiserverArgs ?? []);
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

  private async startApiserver(etcdUrl: string, extra: string[]): Promise<void> {
    const file = (name: string) => join(this.dir, name);
    const args = apiserverArgs({
      etcdUrl,
      address: '127.0.0.1',
      port: this.port,
      dir: this.dir,
      serviceCidr: SERVICE_CIDR,
    });
    this.procs.push(
      await startApiserver({
        args: [
          ...args,
          '--authorization-mode=RBAC',
          // No kubelet will ever run these pods; no endpoint reconciling to do.
          '--endpoint-reconciler-type=none',
          ...extra,
        ],
        logFile: file('kube-apiserver.log'),
        get: (path) => this.get(path),
      }),
    );
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

/** An API server's store, address and files (named in `dir` as writeFiles names them). */
export interface ApiserverArgs {
  etcdUrl: string;
  /** The address it binds and advertises. */
  address: string;
  port: number;
  /** Holds ca.crt, apiserver.crt/.key, sa.pub/.key; its certs/ is the API server's own. */
  dir: string;
  serviceCidr: string;
}

/** The flags every API server of the harness has; callers add authorization and their own. */
export function apiserverArgs(options: ApiserverArgs): string[] {
  const file = (name: string) => join(options.dir, name);
  return [
    `--etcd-servers=${options.etcdUrl}`,
    `--secure-port=${options.port}`,
    `--bind-address=${options.address}`,
    `--advertise-address=${options.address}`,
    `--cert-dir=${file('certs')}`,
    `--tls-cert-file=${file('apiserver.crt')}`,
    `--tls-private-key-file=${file('apiserver.key')}`,
    `--client-ca-file=${file('ca.crt')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${file('sa.pub')}`,
    `--service-account-signing-key-file=${file('sa.key')}`,
    `--service-cluster-ip-range=${options.serviceCidr}`,
    '--profiling=false',
  ];
}

export interface StartOptions {
  logFile: string;
  /** Default: PATH only (see process.ts). */
  env?: NodeJS.ProcessEnv;
}

/**
 * etcd on two free loopback ports, resolved once healthy with its client URL; stopped
 * again when it never gets there.
 */
export async function startEtcd(
  options: StartOptions & { name: string; dataDir: string },
): Promise<{ proc: ManagedProcess; url: string }> {
  const client = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const proc = new ManagedProcess({
    name: 'etcd',
    command: cachedBinary('etcd'),
    args: [
      `--name=${options.name}`,
      `--data-dir=${options.dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${options.name}=${peer}`,
      // Test data is thrown away: skip fsync, as envtest does.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    logFile: options.logFile,
    ...(options.env && { env: options.env }),
  });
  await readyOrStopped(
    proc,
    'etcd /health',
    async () => (await fetch(`${client}/health`)).ok,
    30_000,
  );
  return { proc, url: client };
}

/** kube-apiserver with `args`, resolved once /readyz says ok; stopped again when it never does. */
export async function startApiserver(
  options: StartOptions & { args: string[]; get: (path: string) => Promise<string> },
): Promise<ManagedProcess> {
  const proc = new ManagedProcess({
    name: 'kube-apiserver',
    command: cachedBinary('kube-apiserver'),
    args: options.args,
    logFile: options.logFile,
    ...(options.env && { env: options.env }),
  });
  await readyOrStopped(
    proc,
    'kube-apiserver /readyz',
    async () => (await options.get('/readyz')) === 'ok',
    120_000,
  );
  return proc;
}

async function readyOrStopped(
  proc: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await proc.waitUntil(what, check, { timeoutMs, intervalMs: 100 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
