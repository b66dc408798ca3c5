// The webhook as the API server meets it in the tests: `kaos-memory webhook`
// as a local process on 127.0.0.1, registered through a
// MutatingWebhookConfiguration whose clientConfig.url points straight at it
// (there is no kube-proxy to route a Service).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, V1MutatingWebhookConfiguration, V1Pod } from '@kubernetes/client-node';
import { kaosMemory, REPO_ROOT } from './cli.js';
import { pollUntil } from './poll.js';
import { freePort, waitFor } from './ports.js';
import { exitReason, stopChild } from './process.js';

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
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    const keep = (chunk: Buffer) =>
      (this.output = (this.output + chunk.toString('utf8')).slice(-20_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    live.add(this);
  }

  static async start(options: WebhookStartOptions): Promise<WebhookProcess> {
    const port = options.port ?? (await freePort());
    const { command, args } = kaosMemory(['webhook']);
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        ...options.env,
        WEBHOOK_PORT: String(port),
        WEBHOOK_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const webhook = new WebhookProcess(child, port);
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

  /** Everything the process printed so far (the end of it): for failure messages. */
  get logs(): string {
    return this.output;
  }

  /** GET a route over TLS; the caller's CA decides trust (undefined: not verified). */
  status(path: string, ca?: string): Promise<number> {
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
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await pollUntil('webhook /readyz', async () => (await this.status('/readyz')) === 200, {
      timeoutMs,
      dead: () => exitReason(this.child),
    }).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`webhook not ready: ${reason}\n--- webhook output ---\n${this.output}`, {
        cause: err,
      });
    });
  }

  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  async stop(): Promise<void> {
    live.delete(this);
    await stopChild(this.child);
  }

  killNow(): void {
    this.child.kill('SIGKILL');
  }
}

const live = new Set<WebhookProcess>();
process.once('exit', () => {
  for (const webhook of live) webhook.killNow();
});

export interface WebhookRegistration {
  name: string;
  /** clientConfig.url; for a webhook that is down, any URL nothing listens on. */
  url: string;
  /** PEM; omitted for the self-managed path, where the webhook patches it in. */
  caBundle?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
}

/** The same MutatingWebhookConfiguration the chart renders, pointed at a URL. */
export function webhookConfiguration(reg: WebhookRegistration): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: reg.name },
    webhooks: [
      {
        name: 'inject.memory.kaos.tools',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: reg.failurePolicy ?? 'Fail',
        timeoutSeconds: reg.timeoutSeconds ?? 10,
        reinvocationPolicy: 'IfNeeded',
        matchPolicy: 'Equivalent',
        clientConfig: {
          url: reg.url,
          ...(reg.caBundle ? { caBundle: Buffer.from(reg.caBundle).toString('base64') } : {}),
        },
        rules: [
          {
            operations: ['CREATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        objectSelector: { matchExpressions: [{ key: 'agent', operator: 'Exists' }] },
        namespaceSelector: {
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', 'kube-public', 'kube-node-lease'],
            },
            { key: 'memory.kaos.tools/injection', operator: 'NotIn', values: ['disabled'] },
          ],
        },
      },
    ],
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
  await waitFor(
    'the API server to call the webhook',
    async () => {
      const pod = await core.createNamespacedPod({ namespace, body: probe, dryRun: 'All' });
      return pod.metadata?.annotations?.['memory.kaos.tools/status'] === 'injected';
    },
    timeoutMs,
    200,
  );
}

/** Remove a folder made by {@link writeWebhookCerts}. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
