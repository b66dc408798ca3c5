// The webhook as the API server meets it in the tests: `kaos-memory webhook` as a
// local process on 127.0.0.1, registered through the MutatingWebhookConfiguration
// the chart renders, with clientConfig.url pointing straight at it (the control
// plane alone has no kube-proxy to route a Service).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  type CoreV1Api,
  type V1MutatingWebhookConfiguration,
  type V1Pod,
} from '@kubernetes/client-node';
import { CHART_DIR, helmOk, parseManifests } from './helm.js';
import type { ControlPlane } from './kube.js';
import { kaosMemory } from './kaos.js';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';
import { ManagedProcess, type Exit } from './process.js';
import { REPO_ROOT } from './root.js';
import { readStatus } from '../webhook/status.js';

/** `kaos-memory certs` into a fresh folder: ca.crt, tls.crt, tls.key for 127.0.0.1 and localhost. */
export function writeWebhookCerts(): { dir: string; caCert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kaos-webhook-tls-'));
  const { command, args } = kaosMemory([
    'certs',
    '--out',
    dir,
    '--dns',
    'localhost',
    '--ip',
    '127.0.0.1',
  ]);
  const result = spawnSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kaos-memory certs failed: ${result.stderr}`);
  return { dir, caCert: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

/** Remove a folder made by {@link writeWebhookCerts}. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface WebhookStartOptions {
  /** The webhook's environment (WEBHOOK_*, INJECT_*, KUBECONFIG…); WEBHOOK_PORT and WEBHOOK_HOST are set here. */
  env: Record<string, string>;
  /** Listen here instead of a random free port (to register its URL before it starts). */
  port?: number;
  /** Wait for /readyz 200 before returning. Default true. */
  waitReady?: boolean;
  readyTimeoutMs?: number;
}

export class WebhookProcess {
  private constructor(
    private readonly proc: ManagedProcess,
    readonly port: number,
  ) {}

  static async start(options: WebhookStartOptions): Promise<WebhookProcess> {
    const port = options.port ?? (await freePort());
    const { command, args } = kaosMemory(['webhook']);
    const proc = new ManagedProcess({
      name: 'webhook',
      command,
      args,
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        // Reached by URL, never through a Service's endpoints: nothing to drain.
        WEBHOOK_DRAIN_SECONDS: '0',
        ...options.env,
        WEBHOOK_PORT: String(port),
        WEBHOOK_HOST: '127.0.0.1',
      },
    });
    const webhook = new WebhookProcess(proc, port);
    if (options.waitReady ?? true) {
      await webhook.waitReady(options.readyTimeoutMs).catch(async (err: unknown) => {
        await webhook.stop();
        throw err;
      });
    }
    return webhook;
  }

  /** The URL to register in clientConfig.url. */
  get url(): string {
    return `https://127.0.0.1:${this.port}/mutate`;
  }

  /** Send the process a signal (SIGTERM: its shutdown, which drains first). */
  signal(signal: NodeJS.Signals): void {
    this.proc.signal(signal);
  }

  /** How the process ended, once it has. */
  get exited(): Promise<Exit> {
    return this.proc.exited;
  }

  /** The end of what the process printed: for failure messages. */
  get logs(): string {
    return this.proc.output();
  }

  /** GET a route over TLS; the caller's CA decides trust (undefined: not verified). */
  async status(path: string, ca?: string): Promise<number> {
    return (await this.get(path, ca)).status;
  }

  /** GET a route over TLS: its status and body. */
  get(path: string, ca?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          ...(ca ? { ca } : { rejectUnauthorized: false }),
          timeout: 2_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** How many rounds the password copies loop has finished, whatever their result. */
  async credentialRounds(): Promise<number> {
    const { text } = await this.get('/metrics');
    let rounds = 0;
    for (const [, value] of text.matchAll(
      /^kaos_memory_webhook_credential_sync_rounds_total\{[^}]*\} (\S+)$/gm,
    ))
      rounds += Number(value);
    return rounds;
  }

  /**
   * Resolves once the loop has finished `n` more rounds than now. With n ≥ 2 at least one
   * of them started after the call: what a test proves "the loop left it alone" with.
   */
  async moreCredentialRounds(n = 2): Promise<void> {
    const start = await this.credentialRounds();
    await this.proc.waitUntil(
      `${n} more rounds of the password copies loop`,
      async () => (await this.credentialRounds()) >= start + n,
      { intervalMs: 100 },
    );
  }

  waitReady(timeoutMs = 30_000): Promise<void> {
    return this.proc.waitUntil('GET /readyz', async () => (await this.status('/readyz')) === 200, {
      timeoutMs,
      intervalMs: 100,
    });
  }

  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<Exit> {
    return this.proc.stop();
  }

  killNow(): void {
    this.proc.signal('SIGKILL');
  }
}

export interface WebhookRegistration {
  /** clientConfig.url; for a webhook that is down, any URL nothing listens on. */
  url: string;
  /** PEM; omitted for the self-managed path, where the webhook patches it in. */
  caBundle?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  /** The release namespace, which the configuration leaves out. Default kaos-system. */
  namespace?: string;
}

/** The release name the harness renders the chart as; the configuration is named after it. */
export const WEBHOOK_CONFIG_NAME = 'kaos-memory';

/**
 * The MutatingWebhookConfiguration exactly as `helm template` renders the chart,
 * pointed at a URL: the tests register what users install, not a copy of it.
 */
export async function webhookConfiguration(
  reg: WebhookRegistration,
): Promise<V1MutatingWebhookConfiguration> {
  const sets = [`webhook.url=${reg.url}`];
  if (reg.caBundle) {
    sets.push(
      'certificates.mode=secret',
      'certificates.secret.name=unused',
      `certificates.secret.caBundle=${Buffer.from(reg.caBundle).toString('base64')}`,
    );
  }
  if (reg.failurePolicy) sets.push(`webhook.failurePolicy=${reg.failurePolicy}`);
  if (reg.timeoutSeconds) sets.push(`webhook.timeoutSeconds=${reg.timeoutSeconds}`);
  const rendered = await helmOk([
    'template',
    WEBHOOK_CONFIG_NAME,
    CHART_DIR,
    '--namespace',
    reg.namespace ?? 'kaos-system',
    '--show-only',
    'templates/mutatingwebhookconfiguration.yaml',
    ...sets.flatMap((set) => ['--set', set]),
  ]);
  const [config] = parseManifests(rendered);
  if (config?.kind !== 'MutatingWebhookConfiguration') {
    throw new Error(`the chart rendered no MutatingWebhookConfiguration:\n${rendered}`);
  }
  return config;
}

/**
 * The webhook as each e2e suite starts it: fresh certificates (WEBHOOK_TLS_DIR), the
 * control plane's kubeconfig, and registered there as the chart registers it, pointed at
 * this process. The caller stops the webhook and removes `tlsDir`.
 */
export async function startRegisteredWebhook(
  cluster: ControlPlane,
  env: Record<string, string>,
  registration: Omit<WebhookRegistration, 'url' | 'caBundle'> = {},
): Promise<{ webhook: WebhookProcess; tlsDir: string }> {
  const certs = writeWebhookCerts();
  let webhook: WebhookProcess | undefined;
  try {
    webhook = await WebhookProcess.start({
      env: { WEBHOOK_TLS_DIR: certs.dir, KUBECONFIG: cluster.kubeconfigPath, ...env },
    });
    await cluster
      .kubeConfig()
      .makeApiClient(AdmissionregistrationV1Api)
      .createMutatingWebhookConfiguration({
        body: await webhookConfiguration({
          ...registration,
          url: webhook.url,
          caBundle: certs.caCert,
        }),
      });
    return { webhook, tlsDir: certs.dir };
  } catch (err) {
    await webhook?.stop();
    removeDir(certs.dir);
    throw err;
  }
}

/**
 * The plainest agent pod (labelled agent=memory-agent, one container), for a test to send
 * through the API server to the webhook; `annotations` only where given.
 */
export function agentPod(name: string, annotations?: Record<string, string>): V1Pod {
  return {
    metadata: { name, labels: { agent: 'memory-agent' }, ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'agent', image: 'python:3.12-slim' }] },
  };
}

/**
 * Wait until the API server calls the webhook: it watches webhook configurations,
 * so a new one takes effect a moment after it is stored. Probes with dry-run
 * creates, which store nothing.
 */
export async function waitUntilInjecting(
  core: CoreV1Api,
  namespace: string,
  timeoutMs = 20_000,
): Promise<void> {
  const probe: V1Pod = {
    metadata: { generateName: 'probe-', labels: { agent: 'probe' } },
    spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] },
  };
  await pollUntil(
    'the API server to call the webhook',
    async () => {
      const pod = await core.createNamespacedPod({ namespace, body: probe, dryRun: 'All' });
      return readStatus(pod.metadata?.annotations) !== undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}
