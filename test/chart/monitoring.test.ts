// The chart's Prometheus Operator and Grafana objects: off by default; what they select
// matches what the webhook injects; every rule and dashboard query is valid PromQL
// (Prometheus's grammar, and promtool itself where it is built) and names only metrics
// that a running sidecar and a running webhook export.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dumpYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../harness/ports.js';
import { RedisServer } from '../../harness/redis.js';
import { SidecarProcess } from '../../harness/sidecar.js';
import { removeDir, WebhookProcess, writeWebhookCerts } from '../../harness/webhook.js';
import { METRICS_PORT_NAME } from '../../lib/contract.js';
import { CHART, find, parseManifests, template, type Manifest } from './helm.js';
import { exportedNames, parsePromql } from './promql.js';

const run = promisify(execFile);

/** Names Prometheus makes itself, not the processes: the scrape's own `up`. */
const PROMETHEUS_MADE = new Set(['up']);

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}
interface Group {
  name: string;
  rules: Rule[];
}

async function render(files: string[], sets: string[] = []): Promise<Manifest[]> {
  const result = await template(files, sets);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return parseManifests(result.stdout);
}

const groupsOf = (manifests: Manifest[]) =>
  (find(manifests, 'PrometheusRule') as unknown as { spec: { groups: Group[] } }).spec.groups;

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
}

/** Every PromQL query of a dashboard, and the metrics its label_values() variables read. */
function dashboardQueries(dashboard: Dashboard): { exprs: string[]; variableMetrics: string[] } {
  const exprs: string[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) exprs.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  const variableMetrics: string[] = [];
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^label_values\((\w+),\s*\w+\)$/.exec(q ?? '');
    if (m) variableMetrics.push(m[1]!);
  }
  return { exprs, variableMetrics };
}

const dashboardFile = (): Dashboard =>
  JSON.parse(readFileSync(join(CHART, 'dashboards', 'kaos-memory.json'), 'utf8')) as Dashboard;

describe('monitoring objects', () => {
  it('are all off by default', async () => {
    const kinds = (await render([])).map((m) => m.kind);
    for (const kind of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) {
      expect(kinds).not.toContain(kind);
    }
    expect(kinds.filter((k) => k === 'ConfigMap')).toEqual([]);
  });

  it('PodMonitor: agent pods in the listed namespaces, on the port the webhook declares', async () => {
    const monitor = find(await render(['monitoring.yaml']), 'PodMonitor') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: {
        namespaceSelector: unknown;
        selector: unknown;
        podMetricsEndpoints: { port: string; path: string; interval: string }[];
      };
    };
    expect(monitor.metadata.labels.release).toBe('prometheus');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['agents', 'research'] });
    expect(monitor.spec.selector).toEqual({
      matchExpressions: [{ key: 'agent', operator: 'Exists' }],
    });
    expect(monitor.spec.podMetricsEndpoints[0]).toMatchObject({
      port: METRICS_PORT_NAME,
      path: '/metrics',
      interval: '15s',
    });
    const anywhere = find(await render([], ['monitoring.podMonitor.enabled=true']), 'PodMonitor');
    expect((anywhere as unknown as { spec: { namespaceSelector: unknown } }).spec).toMatchObject({
      namespaceSelector: { any: true },
    });
  });

  it("ServiceMonitor: the webhook Service's https port, verified against its CA", async () => {
    const manifests = await render(['monitoring.yaml']);
    const monitor = find(manifests, 'ServiceMonitor') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: unknown[] };
    };
    const service = find(manifests, 'Service', 'kaos-memory-webhook') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { ports: { name: string }[] };
    };
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(service.spec.ports.map((p) => p.name)).toContain('https');
    expect(monitor.spec.endpoints).toEqual([
      {
        port: 'https',
        scheme: 'https',
        path: '/metrics',
        interval: '30s',
        tlsConfig: {
          serverName: 'kaos-memory-webhook.kaos-system.svc',
          ca: { secret: { name: 'kaos-memory-webhook-tls', key: 'ca.crt' } },
        },
      },
    ]);
    const provided = await render(
      ['provided-secret.yaml'],
      ['monitoring.serviceMonitor.enabled=true'],
    );
    expect(find(provided, 'ServiceMonitor')).toMatchObject({
      spec: { endpoints: [{ tlsConfig: { insecureSkipVerify: true } }] },
    });
  });

  it('the webhook tells the sidecar the chart’s metrics port', async () => {
    const manifests = await render(['monitoring.yaml']);
    const deployment = find(manifests, 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    const env = deployment.spec.template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === 'INJECT_SIDECAR_METRICS_PORT')?.value).toBe('9100');
  });

  it('dashboard: a ConfigMap labelled grafana_dashboard "1" holding dashboards/kaos-memory.json', async () => {
    const cm = find(await render(['monitoring.yaml']), 'ConfigMap') as unknown as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Agents' });
    expect(JSON.parse(cm.data['kaos-memory.json']!)).toEqual(dashboardFile());
  });

  it('alerts: each has a severity, a summary and a description', async () => {
    const groups = groupsOf(await render(['monitoring.yaml']));
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(15);
    for (const r of rules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(10);
      expect(r.annotations.description.length, r.alert).toBeGreaterThan(20);
    }
    // The latency alert follows the configured timeout.
    const slow = await render(['monitoring.yaml'], ['webhook.timeoutSeconds=3']);
    const expr = groupsOf(slow)
      .flatMap((g) => g.rules)
      .find((r) => r.alert === 'KaosMemoryWebhookSlow')!.expr;
    expect(expr.trim()).toMatch(/> 1\.5$/);
  });

  it('every rule and dashboard query is valid PromQL', async () => {
    const rules = groupsOf(await render(['monitoring.yaml'])).flatMap((g) => g.rules);
    for (const r of rules) expect(parsePromql(r.expr).errors, `${r.alert}: ${r.expr}`).toEqual([]);
    const { exprs } = dashboardQueries(dashboardFile());
    expect(exprs.length).toBeGreaterThan(15);
    for (const e of exprs) expect(parsePromql(e, { grafana: true }).errors, e).toEqual([]);
    // The check itself catches a broken query.
    expect(parsePromql('sum(rate(x[5m]) by').errors).not.toEqual([]);
  });

  describe('promtool', () => {
    const promtool = join(
      process.env.KAOS_CACHE_DIR ?? join(homedir(), '.cache', 'kaos-memory'),
      'bin',
      'promtool',
    );
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'kaos-rules-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // scripts/promtool.sh builds it; npm test runs that script first, so it is never skipped.
    it('check rules accepts the rendered groups, and the alerts fire on the series they expect', async () => {
      if (!existsSync(promtool)) throw new Error('promtool not built: run scripts/promtool.sh');
      const groups = groupsOf(await render(['monitoring.yaml']));
      writeFileSync(join(dir, 'rules.yaml'), dumpYaml({ groups }));
      const checked = await run(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
      expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
      const rules = groups.flatMap((g) => g.rules);
      writeFileSync(join(dir, 'tests.yaml'), dumpYaml(alertTests(rules)));
      const tested = await run(promtool, ['test', 'rules', join(dir, 'tests.yaml')]).catch(
        (err: { stdout?: string; stderr?: string }) => {
          throw new Error(`promtool test rules failed:\n${err.stdout}\n${err.stderr}`);
        },
      );
      expect(tested.stdout).toMatch(/SUCCESS/);
    });
  });
});

/**
 * promtool unit tests: a few alerts, each fed the series it watches, with the summary
 * its template must print.
 */
function alertTests(rules: Rule[]) {
  const fired = (
    alert: string,
    severity: string,
    labels: Record<string, string>,
    summary: string,
  ) => {
    const rule = rules.find((r) => r.alert === alert && r.labels.severity === severity);
    if (!rule) throw new Error(`no ${severity} ${alert}`);
    return {
      exp_labels: { severity, ...labels },
      exp_annotations: { summary, description: rule.annotations.description },
    };
  };
  return {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          { series: 'kaos_memory_sidecar_redis_up{namespace="agents", pod="a-1"}', values: '0x10' },
          { series: 'kaos_memory_sidecar_redis_up{namespace="agents", pod="a-2"}', values: '1x10' },
          {
            series:
              'kaos_memory_webhook_certificate_expiry_timestamp_seconds{namespace="kaos-system", pod="w-1"}',
            // Expires two days after the test clock's start (0): past the 7-day warning only.
            values: '172800x120',
          },
        ],
        alert_rule_test: [
          {
            eval_time: '6m',
            alertname: 'KaosMemoryRedisUnreachable',
            exp_alerts: [
              fired(
                'KaosMemoryRedisUnreachable',
                'critical',
                { namespace: 'agents' },
                '1 memory sidecars in agents have no Redis connection.',
              ),
            ],
          },
          {
            eval_time: '2m',
            alertname: 'KaosMemoryRedisUnreachable',
            exp_alerts: [],
          },
          {
            eval_time: '90m',
            alertname: 'KaosMemoryWebhookCertificateExpiresSoon',
            exp_alerts: [
              fired(
                'KaosMemoryWebhookCertificateExpiresSoon',
                'warning',
                { namespace: 'kaos-system', pod: 'w-1' },
                "The kaos-memory webhook's serving certificate expires in 1d 22h 30m 0s.",
              ),
            ],
          },
        ],
      },
      {
        interval: '1m',
        input_series: [
          {
            series:
              'kaos_memory_sidecar_http_requests_total{namespace="agents", agent="memory-agent", route="/v1/sessions/{id}/events", status="201"}',
            values: '0+60x20',
          },
          {
            series:
              'kaos_memory_sidecar_http_requests_total{namespace="agents", agent="memory-agent", route="/v1/sessions/{id}/events", status="503"}',
            values: '0+30x20',
          },
        ],
        alert_rule_test: [
          {
            eval_time: '15m',
            alertname: 'KaosMemorySidecarUnavailable',
            exp_alerts: [
              fired(
                'KaosMemorySidecarUnavailable',
                'warning',
                { namespace: 'agents', agent: 'memory-agent' },
                'Agent memory-agent in agents: 33.33% of memory calls fail with 503/507.',
              ),
            ],
          },
        ],
      },
    ],
  };
}

describe('the metrics the rules and the dashboard name', () => {
  let redis: RedisServer;
  let sidecar: SidecarProcess;
  let webhook: WebhookProcess;
  let certs: { dir: string; caCert: string };
  let exported: Set<string>;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const metricsPort = await freePort();
    sidecar = await SidecarProcess.start({
      MEMORY_REDIS_URL: redis.url,
      MEMORY_METRICS_PORT: String(metricsPort),
    });
    certs = writeWebhookCerts();
    webhook = await WebhookProcess.start({
      env: {
        WEBHOOK_TLS_DIR: certs.dir,
        // No API server here: the cluster view would keep /readyz at 503 until it synced.
        WEBHOOK_CLUSTER_VIEW: 'false',
        INJECT_REDIS_URL: 'redis://redis:6379',
        INJECT_SIDECAR_IMAGE: 'kaos-memory:test',
        INJECT_NATIVE_SIDECAR: 'true',
      },
    });
    const sidecarText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const webhookText = await new Promise<string>((resolve, reject) => {
      request(
        { host: '127.0.0.1', port: webhook.port, path: '/metrics', ca: certs.caCert },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        },
      )
        .on('error', reject)
        .end();
    });
    exported = new Set([...exportedNames(sidecarText), ...exportedNames(webhookText)]);
  });
  afterAll(async () => {
    await sidecar?.stop();
    await webhook?.stop();
    if (certs) removeDir(certs.dir);
    await redis?.stop();
  });

  it('are all exported by a running sidecar and a running webhook', async () => {
    expect(exported.has('kaos_memory_sidecar_http_requests_total')).toBe(true);
    expect(exported.has('kaos_memory_webhook_request_duration_seconds_bucket')).toBe(true);
    const rules = groupsOf(await render(['monitoring.yaml'])).flatMap((g) => g.rules);
    const { exprs, variableMetrics } = dashboardQueries(dashboardFile());
    const named = new Map<string, string>();
    for (const r of rules) for (const m of parsePromql(r.expr).metrics) named.set(m, r.alert);
    for (const e of exprs)
      for (const m of parsePromql(e, { grafana: true }).metrics) named.set(m, e);
    for (const m of variableMetrics) named.set(m, 'a dashboard variable');
    expect(named.size).toBeGreaterThan(10);
    const unknown = [...named].filter(([m]) => !exported.has(m) && !PROMETHEUS_MADE.has(m));
    expect(unknown, 'metrics named but not exported (name: where)').toEqual([]);
  });

  it('the metric finder sees what a query selects, and only that', () => {
    expect(
      parsePromql('sum by (le) (rate(a_bucket{code=~"5.."}[5m])) / on (pod) b > 2 and c offset 5m')
        .metrics,
    ).toEqual(['a_bucket', 'b', 'c']);
  });
});
