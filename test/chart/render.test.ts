// The chart rendered by the real helm: lint, golden renders, and what the renders promise
// (selectors, least privilege, hardened pods, values reaching the webhook's environment).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadYaml } from '@kubernetes/client-node';
import {
  CHART,
  GOLDEN_DIR,
  NAMESPACE,
  VALUES_DIR,
  find,
  helm,
  parseManifests,
  template,
  type Manifest,
} from './helm.js';

const REFRESH = process.env.REFRESH_GOLDEN === 'true';
const MASK = 'MASKED-GENERATED-PASSWORD';

/** Golden name → fixture files under test/chart/values. */
const CASES: Record<string, string[]> = {
  defaults: [],
  'bundled-redis': ['bundled-redis.yaml'],
  'external-redis': ['external-redis.yaml'],
  'cert-manager': ['cert-manager.yaml'],
  'cert-manager-issuer': ['cert-manager-issuer.yaml'],
  'failure-policy-fail': ['failure-policy-fail.yaml'],
  'provided-secret': ['provided-secret.yaml'],
  'webhook-url': ['webhook-url.yaml'],
  monitoring: ['monitoring.yaml'],
};

// The memory user's and the admin user's (docs/adr/0034-least-privilege.md).
const PASSWORD_LINE = /^(\s+(?:redis|admin)-password: )(\S+)$/gm;

/** The generated password differs on every render; the golden holds a mask instead. */
function maskPasswords(text: string): { masked: string; passwords: string[] } {
  const passwords: string[] = [];
  const masked = text.replace(PASSWORD_LINE, (_line, head: string, value: string) => {
    passwords.push(Buffer.from(value, 'base64').toString('utf8'));
    return `${head}${MASK}`;
  });
  return { masked, passwords };
}

async function render(files: string[], sets: string[] = []): Promise<Manifest[]> {
  const result = await template(files, sets);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return parseManifests(result.stdout);
}

type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: { name: string; secret?: { secretName: string } }[];
  topologySpreadConstraints?: unknown[];
};

function podSpec(workload: Manifest): PodSpec {
  return (workload as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}

function webhookEnv(manifests: Manifest[]): Record<string, string> {
  const container = podSpec(find(manifests, 'Deployment')).containers[0]!;
  const env: Record<string, string> = {};
  for (const e of container.env ?? [])
    env[e.name] = e.value ?? `<from ${JSON.stringify(e.valueFrom)}>`;
  return env;
}

type Webhook = {
  name: string;
  clientConfig: {
    url?: string;
    service?: { name: string; namespace: string; path: string; port: number };
    caBundle?: string;
  };
  failurePolicy: string;
  timeoutSeconds: number;
  sideEffects: string;
  reinvocationPolicy: string;
  admissionReviewVersions: string[];
  rules: unknown[];
  objectSelector: unknown;
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
};

function mutatingWebhook(manifests: Manifest[]): Webhook {
  const config = find(manifests, 'MutatingWebhookConfiguration') as unknown as {
    webhooks: Webhook[];
  };
  expect(config.webhooks).toHaveLength(1);
  return config.webhooks[0]!;
}

describe('helm lint --strict', () => {
  it.each(['(defaults)', ...readdirSync(VALUES_DIR).sort()])('is clean with %s', async (file) => {
    const args = ['lint', '--strict', CHART, '--namespace', NAMESPACE];
    if (file !== '(defaults)') args.push('--values', join(VALUES_DIR, file));
    const result = await helm(args);
    expect(result.stdout + result.stderr).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });
});

describe('golden renders (REFRESH_GOLDEN=true rewrites them)', () => {
  it.each(Object.entries(CASES))('%s matches its golden', async (name, files) => {
    const result = await template(files);
    expect(result.code, result.stderr).toBe(0);
    const { masked } = maskPasswords(result.stdout);
    const path = join(GOLDEN_DIR, `${name}.yaml`);
    if (REFRESH) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(path, masked);
      return;
    }
    expect(existsSync(path), `${path} is missing: run REFRESH_GOLDEN=true`).toBe(true);
    expect(masked, `${path} is stale: rerun with REFRESH_GOLDEN=true and review the diff`).toBe(
      readFileSync(path, 'utf8'),
    );
  });

  it('has no golden without a case', () => {
    const goldens = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.yaml'));
    expect(goldens.sort()).toEqual(
      Object.keys(CASES)
        .map((n) => `${n}.yaml`)
        .sort(),
    );
  });

  it('masks only the generated password, in the one Secret of the release namespace', async () => {
    const result = await template(['bundled-redis.yaml']);
    const { passwords } = maskPasswords(result.stdout);
    // The memory user's and the admin's; agent namespaces get the webhook's copies instead.
    expect(passwords).toHaveLength(2);
    expect(passwords[0]).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(passwords[1]).toMatch(/^[A-Za-z0-9]{40}$/);
    const again = maskPasswords((await template(['bundled-redis.yaml'])).stdout).passwords;
    expect(again[0]).not.toBe(passwords[0]); // random without a cluster; kept by lookup in one
    expect(again[1]).not.toBe(passwords[1]);
  });
});

describe('default install', () => {
  it('registers the webhook for agent pods, outside system and opted-out namespaces', async () => {
    const webhook = mutatingWebhook(await render([]));
    expect(webhook).toMatchObject({
      failurePolicy: 'Ignore',
      timeoutSeconds: 5,
      // It copies the password Secret into the pod's namespace, except on a dry run.
      sideEffects: 'NoneOnDryRun',
      reinvocationPolicy: 'IfNeeded',
      admissionReviewVersions: ['v1'],
      rules: [
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
      ],
      objectSelector: { matchExpressions: [{ key: 'agent', operator: 'Exists' }] },
      clientConfig: {
        service: { name: 'kaos-memory-webhook', namespace: NAMESPACE, path: '/mutate', port: 443 },
      },
    });
    expect(webhook.clientConfig.caBundle).toBeUndefined(); // the webhook patches it in
    expect(webhook.clientConfig.url).toBeUndefined();
    expect(webhook.namespaceSelector.matchExpressions).toEqual([
      {
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: ['kube-system', 'kube-public', 'kube-node-lease', NAMESPACE],
      },
      { key: 'memory.kaos.tools/injection', operator: 'NotIn', values: ['disabled'] },
    ]);
  });

  it('points agents at the bundled Redis and its generated password Secret', async () => {
    const manifests = await render([]);
    const env = webhookEnv(manifests);
    expect(env).toMatchObject({
      WEBHOOK_PORT: '8443',
      WEBHOOK_SERVICE_NAME: 'kaos-memory-webhook',
      WEBHOOK_CONFIG_NAME: 'kaos-memory',
      WEBHOOK_CERT_SECRET: 'kaos-memory-webhook-tls',
      INJECT_MEMORY_TYPE: 'redis',
      INJECT_REDIS_URL: `redis://kaos-memory-redis.${NAMESPACE}.svc.cluster.local:6379`,
      INJECT_REDIS_PASSWORD_SECRET: 'kaos-memory-redis/redis-password',
      INJECT_REDIS_PASSWORD_COPY: 'true',
      INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
      INJECT_SIDECAR_PORT: '8790',
      INJECT_SIDECAR_METRICS_PORT: '9790',
      INJECT_SIDECAR_HEALTH_PORT: '9791',
      INJECT_NATIVE_SIDECAR: 'auto',
      INJECT_KEY_PREFIX: 'kaos:memory',
      INJECT_MAX_SESSION_EVENTS: '500',
      INJECT_MAX_SESSIONS: '1000',
      INJECT_SESSION_TTL_SECONDS: '86400',
      LOG_LEVEL: 'info',
    });
    expect(env.WEBHOOK_NAMESPACE).toContain('metadata.namespace');
    expect(env.WEBHOOK_TLS_DIR).toBeUndefined();
    // Unset, so the webhook's built-in default (sidecar/runtime.ts) applies.
    expect(env.INJECT_SIDECAR_NODE_OPTIONS).toBeUndefined();
    expect(JSON.parse(env.INJECT_SIDECAR_RESOURCES!)).toEqual({
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '500m', memory: '256Mi' },
    });
    const secret = find(manifests, 'Secret', 'kaos-memory-redis') as unknown as {
      data: Record<string, string>;
    };
    expect(Object.keys(secret.data)).toEqual(['redis-password']);
    find(manifests, 'Service', 'kaos-memory-redis');
  });

  it('runs Redis with an append-only file on a PersistentVolumeClaim', async () => {
    const redis = find(await render([]), 'StatefulSet', 'kaos-memory-redis') as unknown as {
      spec: { volumeClaimTemplates: { metadata: { name: string } }[] };
    };
    const script = podSpec(redis as unknown as Manifest).containers[0]!.args!.join('\n');
    expect(script).toContain('appendonly yes');
    expect(script).toContain('user default on');
    expect(script).toContain('aclfile');
    expect(script).not.toContain('requirepass');
    expect(redis.spec.volumeClaimTemplates.map((t) => t.metadata.name)).toEqual(['data']);
  });

  it('runs the webhook command of the image with 2 spread replicas and a budget', async () => {
    const manifests = await render([]);
    const deployment = find(manifests, 'Deployment') as unknown as { spec: { replicas: number } };
    expect(deployment.spec.replicas).toBe(2);
    const spec = podSpec(deployment as unknown as Manifest);
    expect(spec.containers[0]!.args).toEqual(['webhook']);
    expect(spec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'kaos-memory',
            'app.kubernetes.io/instance': 'kaos-memory',
            'app.kubernetes.io/component': 'webhook',
          },
        },
      },
    ]);
    expect(find(manifests, 'PodDisruptionBudget')).toMatchObject({ spec: { maxUnavailable: 1 } });
  });

  it('grants only its own Secrets, agent pods to list, and its own webhook configuration', async () => {
    const manifests = await render([]);
    const env = webhookEnv(manifests);
    const rules = (kind: string, name?: string) =>
      (find(manifests, kind, name) as unknown as { rules: unknown[] }).rules;
    expect(manifests.filter((m) => m.kind === 'ClusterRole')).toHaveLength(3);
    expect(manifests.filter((m) => m.kind === 'Role')).toHaveLength(2);
    // The cluster view: read-only namespaces, LimitRanges and quotas.
    expect(rules('ClusterRole', `kaos-memory-webhook-view-${NAMESPACE}`)).toEqual([
      {
        apiGroups: [''],
        resources: ['namespaces', 'limitranges', 'resourcequotas'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    // The credentials loop's Lease: create, and get/update on that one name.
    expect(rules('Role', 'kaos-memory-webhook-lease')).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['kaos-memory-credentials'],
        verbs: ['get', 'update'],
      },
    ]);
    expect(rules('Role', 'kaos-memory-webhook')).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [env.WEBHOOK_CERT_SECRET],
        verbs: ['get', 'update', 'patch'],
      },
    ]);
    expect(rules('ClusterRole', `kaos-memory-webhook-${NAMESPACE}`)).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [env.WEBHOOK_CONFIG_NAME],
        verbs: ['get', 'update', 'patch'],
      },
    ]);
    // The password copies: Secrets of one name, created anywhere as far as RBAC goes (the
    // ValidatingAdmissionPolicy below narrows that), and pods to list.
    expect(rules('ClusterRole', `kaos-memory-webhook-credentials-${NAMESPACE}`)).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['kaos-memory-redis'],
        verbs: ['get', 'list', 'update', 'delete'],
      },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [env.WEBHOOK_CONFIG_NAME],
        verbs: ['get'],
      },
    ]);
    const binding = find(manifests, 'ValidatingAdmissionPolicyBinding') as unknown as {
      spec: { policyName: string; validationActions: string[] };
    };
    expect(binding.spec).toEqual({
      policyName: 'kaos-memory-webhook-secrets',
      validationActions: ['Deny'],
    });
    const policy = find(manifests, 'ValidatingAdmissionPolicy') as unknown as {
      spec: { matchConditions: { expression: string }[] };
    };
    expect(policy.spec.matchConditions[0]!.expression).toBe(
      `request.userInfo.username == 'system:serviceaccount:${NAMESPACE}:kaos-memory'`,
    );
    expect(find(manifests, 'MutatingWebhookConfiguration').metadata.name).toBe(
      env.WEBHOOK_CONFIG_NAME,
    );
  });
});

describe('every render', () => {
  it.each(Object.entries(CASES))('%s: standard labels and hardened pods', async (_name, files) => {
    const manifests = await render(files);
    for (const m of manifests) {
      expect(m.metadata.labels, `${m.kind} ${m.metadata.name}`).toMatchObject({
        'helm.sh/chart': 'kaos-memory-0.1.0',
        'app.kubernetes.io/name': 'kaos-memory',
        'app.kubernetes.io/instance': 'kaos-memory',
        'app.kubernetes.io/version': '0.1.0',
        'app.kubernetes.io/managed-by': 'Helm',
      });
    }
    const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');
    expect(workloads.length).toBeGreaterThan(0);
    for (const workload of workloads) {
      const spec = podSpec(workload);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const c of spec.containers) {
        expect(c.securityContext, `${workload.metadata.name}/${c.name}`).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
      }
    }
  });
});

describe('values reach the webhook', () => {
  it('external Redis: its URL and password Secret, sidecar settings, no bundled Redis', async () => {
    const manifests = await render(['external-redis.yaml']);
    expect(manifests.filter((m) => m.metadata.name.includes('redis'))).toEqual([]);
    expect(webhookEnv(manifests)).toMatchObject({
      INJECT_REDIS_URL: 'rediss://redis.shared-data.svc.cluster.local:6380/2',
      INJECT_REDIS_PASSWORD_SECRET: 'agent-redis/password',
      INJECT_SIDECAR_IMAGE: 'registry.example.com/kaos/memory-sidecar:0.1.0-rc1',
      INJECT_IMAGE_PULL_POLICY: 'Always',
      INJECT_NATIVE_SIDECAR: 'false',
      INJECT_SIDECAR_NODE_OPTIONS: '--max-semi-space-size=8 --v8-pool-size=2',
      INJECT_KEY_PREFIX: 'team-a:memory',
      INJECT_MAX_SESSION_EVENTS: '200',
      INJECT_MAX_SESSIONS: '5000',
      INJECT_SESSION_TTL_SECONDS: '604800',
    });
  });

  it('bundled Redis: one password Secret, whatever the deprecated secretNamespaces say', async () => {
    const manifests = await render(['bundled-redis.yaml']);
    const secrets = manifests
      .filter((m) => m.kind === 'Secret')
      .map((m) => `${m.metadata.namespace}/${m.metadata.name}`);
    // The memory user's, which pods get, and the admin's, which only Redis mounts.
    expect(secrets).toEqual([
      `${NAMESPACE}/kaos-memory-redis`,
      `${NAMESPACE}/kaos-memory-redis-admin`,
    ]);
    expect(manifests.some((m) => m.kind === 'NetworkPolicy')).toBe(false);
  });

  it('copyToAgentNamespaces false: no copies, no rights to them, no side effects', async () => {
    const manifests = await render(
      ['cert-manager.yaml'],
      ['agentDefaults.memory.passwordSecret.copyToAgentNamespaces=false'],
    );
    expect(webhookEnv(manifests).INJECT_REDIS_PASSWORD_COPY).toBeUndefined();
    expect(webhookEnv(manifests).INJECT_REDIS_PASSWORD_SECRET).toBe(
      'kaos-memory-redis/redis-password',
    );
    expect(mutatingWebhook(manifests).sideEffects).toBe('None');
    // Only the cluster view's read-only rights are left.
    expect(
      manifests.filter((m) => /Role|AdmissionPolicy/.test(m.kind)).map((m) => m.metadata.name),
    ).toEqual([`kaos-memory-webhook-view-${NAMESPACE}`, `kaos-memory-webhook-view-${NAMESPACE}`]);
  });

  it('cert-manager: a Certificate whose Secret is mounted, CA injection, RBAC for the copies only', async () => {
    const manifests = await render(['cert-manager.yaml']);
    const certificate = find(manifests, 'Certificate', 'kaos-memory-webhook') as unknown as {
      spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string } };
    };
    expect(certificate.spec.dnsNames).toContain(`kaos-memory-webhook.${NAMESPACE}.svc`);
    expect(certificate.spec.issuerRef.name).toBe('kaos-memory-ca');
    const config = find(manifests, 'MutatingWebhookConfiguration');
    expect(config.metadata.annotations).toEqual({
      'cert-manager.io/inject-ca-from': `${NAMESPACE}/kaos-memory-webhook`,
    });
    expect(webhookEnv(manifests).WEBHOOK_TLS_DIR).toBe('/etc/kaos-memory/tls');
    expect(webhookEnv(manifests).WEBHOOK_CERT_SECRET).toBeUndefined();
    const spec = podSpec(find(manifests, 'Deployment'));
    expect(spec.volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: certificate.spec.secretName },
    });
    expect(manifests.filter((m) => /Role$/.test(m.kind)).map((m) => m.metadata.name)).toEqual([
      `kaos-memory-webhook-credentials-${NAMESPACE}`,
      `kaos-memory-webhook-view-${NAMESPACE}`,
      'kaos-memory-webhook-lease',
    ]);
    const issuer = await render(['cert-manager-issuer.yaml']);
    expect(issuer.filter((m) => m.kind === 'Issuer')).toEqual([]);
    expect(find(issuer, 'Certificate')).toMatchObject({
      spec: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' }, duration: '720h' },
    });
  });

  it('provided Secret: its CA as caBundle and its certificate mounted', async () => {
    const manifests = await render(['provided-secret.yaml']);
    expect(mutatingWebhook(manifests).clientConfig.caBundle).toMatch(/^LS0t/);
    expect(podSpec(find(manifests, 'Deployment')).volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: 'my-webhook-tls' },
    });
  });

  it('failurePolicy Fail, a shorter timeout, more replicas, extra excluded namespaces', async () => {
    const manifests = await render(['failure-policy-fail.yaml']);
    const webhook = mutatingWebhook(manifests);
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.timeoutSeconds).toBe(3);
    expect(webhook.namespaceSelector.matchExpressions[0]!.values).toContain('batch-jobs');
    expect(find(manifests, 'PodDisruptionBudget')).toMatchObject({ spec: { minAvailable: 2 } });
    expect(webhookEnv(manifests).LOG_LEVEL).toBe('debug');
  });

  it('webhook.url: called by URL, whose host joins the certificate names', async () => {
    const manifests = await render(['webhook-url.yaml']);
    expect(mutatingWebhook(manifests).clientConfig).toEqual({
      url: 'https://127.0.0.1:9443/mutate',
    });
    expect(webhookEnv(manifests)).toMatchObject({
      WEBHOOK_PORT: '9443',
      WEBHOOK_CERT_HOSTS: 'webhook.example.test,127.0.0.1',
    });
  });
});

describe('chart README', () => {
  // Maps whose keys are the user's (resources, selectors, annotations) are one row each.
  const WHOLE = new Set([
    'resources',
    'nodeSelector',
    'affinity',
    'podAnnotations',
    'annotations',
    'issuerRef',
    'labels',
    'tlsConfig',
  ]);

  function leaves(value: Record<string, unknown>, prefix = ''): [string, unknown][] {
    return Object.entries(value).flatMap(([key, v]): [string, unknown][] => {
      const path = prefix ? `${prefix}.${key}` : key;
      const nested = v !== null && typeof v === 'object' && !Array.isArray(v) && !WHOLE.has(key);
      return nested ? leaves(v as Record<string, unknown>, path) : [[path, v]];
    });
  }

  it('lists every value with its default, and nothing else', () => {
    const values = loadYaml<Record<string, unknown>>(
      readFileSync(join(CHART, 'values.yaml'), 'utf8'),
    );
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const rows = new Map(
      [...readme.matchAll(/^\|\s*`([\w.]+)`\s*\|\s*`(.*?)`\s*\|/gm)].map(
        (m) => [m[1]!, m[2]!] as const,
      ),
    );
    const expected = leaves(values);
    for (const [path, value] of expected) {
      expect(rows.get(path), `README row for ${path}`).toBe(JSON.stringify(value));
    }
    expect([...rows.keys()].sort()).toEqual(expected.map(([path]) => path).sort());
  });
});
