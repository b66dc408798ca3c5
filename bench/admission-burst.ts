// Admission of a burst of agent pods through a real kube-apiserver (issue 23: p99 at 200
// parallel reviews was 4 s, near the 5 s timeout). Creates N pods at once in one namespace
// and reports, beside a run with no webhook registered at all (the API server's own cost
// on this machine): each create's time end to end, the API server's own measure of its
// webhook calls (apiserver_admission_webhook_admission_duration_seconds, bucket bounds),
// and the webhook's own time per review (`ms` of its "admission reviewed" lines).
// Needs the control plane (scripts/controlplane.sh) and a build (npm run build).
// Usage: node --import tsx bench/admission-burst.ts [pods=200]
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { ControlPlane } from '../harness/kube.js';
import { removeDir, WebhookProcess, writeWebhookCerts } from '../harness/webhook.js';
import { fmt, table } from './lib/table.js';

type Variant = 'no webhook' | 'webhook' | 'webhook + password copies';
const VARIANTS: Variant[] = ['no webhook', 'webhook', 'webhook + password copies'];

interface Result {
  variant: Variant;
  createMs: number[];
  failed: number;
  apiserverCall: { p50?: number; p99?: number };
  reviewMs: number[];
}

async function burst(variant: Variant, pods: number): Promise<Result> {
  const cluster = await ControlPlane.start();
  const certs = writeWebhookCerts();
  let webhook: WebhookProcess | undefined;
  try {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const home = await cluster.namespace('kaos-system');
    await core.createNamespacedSecret({
      namespace: home,
      body: { metadata: { name: 'redis-auth' }, stringData: { password: 'bench-password' } },
    });
    webhook = await WebhookProcess.start({
      readyTimeoutMs: 120_000,
      env: {
        WEBHOOK_TLS_DIR: certs.dir,
        KUBECONFIG: cluster.kubeconfigPath,
        WEBHOOK_NAMESPACE: home,
        WEBHOOK_CONFIG_NAME: 'kaos-memory',
        INJECT_REDIS_URL: 'redis://redis.kaos-system.svc:6379',
        INJECT_REDIS_PASSWORD_SECRET: 'redis-auth/password',
        INJECT_SIDECAR_IMAGE: 'kaos-memory:bench',
        INJECT_NATIVE_SIDECAR: 'true',
        ...(variant === 'webhook + password copies' ? { INJECT_REDIS_PASSWORD_COPY: 'true' } : {}),
      },
    });
    const ns = await cluster.namespace('burst');
    if (variant !== 'no webhook') {
      await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
        body: {
          metadata: { name: 'kaos-memory' },
          webhooks: [
            {
              name: 'inject.memory.kaos.tools',
              admissionReviewVersions: ['v1'],
              sideEffects: 'NoneOnDryRun',
              // Fail, so a review past the timeout shows as a refused pod, not a silent skip.
              failurePolicy: 'Fail',
              timeoutSeconds: 10,
              clientConfig: {
                url: webhook.url,
                caBundle: Buffer.from(certs.caCert).toString('base64'),
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
            },
          ],
        },
      });
      // Until the API server calls it (dry runs store nothing and copy nothing).
      for (let i = 0; ; i++) {
        const pod = await core
          .createNamespacedPod({
            namespace: ns,
            dryRun: 'All',
            body: {
              metadata: { generateName: 'warm-', labels: { agent: 'warm' } },
              spec: { containers: [{ name: 'a', image: 'x' }] },
            },
          })
          .catch(() => undefined);
        if (pod?.metadata?.annotations?.['memory.kaos.tools/status']) break;
        if (i > 300) throw new Error('the API server never called the webhook');
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    const before = await callDurations(cluster);
    const logStart = webhook.logs.length;
    const createMs: number[] = [];
    let failed = 0;
    await Promise.all(
      Array.from({ length: pods }, async (_, i) => {
        const started = Date.now();
        await core
          .createNamespacedPod({
            namespace: ns,
            body: {
              metadata: { name: `agent-${i}`, labels: { agent: 'burst' } },
              spec: { containers: [{ name: 'agent', image: 'x' }] },
            },
          })
          .catch(() => failed++);
        createMs.push(Date.now() - started);
      }),
    );
    const after = await callDurations(cluster);
    const calls = [...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)] as const);
    calls.sort((a, b) => a[0] - b[0]);
    const total = calls.at(-1)?.[1] ?? 0;
    const bound = (q: number) =>
      total > 0 ? calls.find(([, n]) => n >= q * total)?.[0] : undefined;
    const reviewMs = webhook.logs
      .slice(logStart)
      .split('\n')
      .flatMap((line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string; namespace?: string; ms?: number };
          return entry.msg === 'admission reviewed' && entry.namespace === ns
            ? [entry.ms ?? 0]
            : [];
        } catch {
          return [];
        }
      });
    return {
      variant,
      createMs,
      failed,
      apiserverCall: { p50: bound(0.5), p99: bound(0.99) },
      reviewMs,
    };
  } finally {
    await webhook?.stop();
    await cluster.stop();
    removeDir(certs.dir);
  }
}

/** The API server's webhook-call histogram for pod creates: bucket bound (s) → count. */
async function callDurations(cluster: ControlPlane): Promise<Map<number, number>> {
  const buckets = new Map<number, number>();
  for (const line of (await cluster.get('/metrics')).split('\n')) {
    const m = /^apiserver_admission_webhook_admission_duration_seconds_bucket\{(.*)\} (\S+)$/.exec(
      line,
    );
    if (!m?.[1]?.includes('operation="CREATE"') || !m[1].includes('type="admit"')) continue;
    const le = /le="([^"]+)"/.exec(m[1])?.[1] ?? '+Inf';
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  return buckets;
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

export async function benchAdmissionBurst(pods = 200): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const variant of VARIANTS) {
    const r = await burst(variant, pods);
    const bound = (s?: number) => (s === undefined ? '–' : s === Infinity ? '> 25 s' : `≤ ${s} s`);
    rows.push([
      r.variant,
      fmt.ms(percentile(r.createMs, 0.5)),
      fmt.ms(percentile(r.createMs, 0.99)),
      r.failed,
      bound(r.apiserverCall.p50),
      bound(r.apiserverCall.p99),
      r.reviewMs.length > 0 ? fmt.ms(percentile(r.reviewMs, 0.5)) : '–',
      r.reviewMs.length > 0 ? fmt.ms(percentile(r.reviewMs, 0.99)) : '–',
    ]);
  }
  console.log(`### Admission: ${pods} agent pods created at once through a real kube-apiserver\n`);
  console.log(
    table(
      [
        'variant',
        'create p50 ms',
        'create p99 ms',
        'refused',
        'API server → webhook p50',
        'p99',
        'review in webhook p50 ms',
        'p99 ms',
      ],
      rows,
    ),
  );
  console.log(
    '\n"review in webhook" is from the webhook\'s log lines (the last lines of its output only).',
  );
}

if (process.argv[1]?.endsWith('admission-burst.ts')) {
  benchAdmissionBurst(Number(process.argv[2] ?? 200)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
