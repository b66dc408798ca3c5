import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES, type InjectConfig } from './config.js';
import { envDefaults, escapePointer, inject, urlWithPasswordRef } from './inject.js';
import { applyOverrides, parseQuantity, type SidecarSettings } from './overrides.js';
import { probeCommand, sidecarContainer } from './container.js';
import { readStatus } from './status.js';

const config: InjectConfig = {
  memoryType: 'redis',
  redisUrl: 'redis://redis.kaos:6379/0',
  sidecarImage: 'kaos-memory:test',
  sidecarPort: 8790,
  sidecarMetricsPort: 9790,
  sidecarHealthPort: 9791,
  imagePullPolicy: 'IfNotPresent',
  resources: DEFAULT_RESOURCES,
  nodeOptions: '--max-semi-space-size=2',
  nativeSidecar: true,
  sidecarEnv: {},
  version: '0.0.0-test',
};
const withSecret: InjectConfig = {
  ...config,
  passwordSecret: { name: 'redis-auth', key: 'password' },
};

/** The memory v2 defaults every app container of an `agent: a` pod in namespace `n` gets. */
const V2 = ['MEMORY_STORE_ENDPOINT', 'AGENT_IDENTITY'];

function agentPod(
  extra: Partial<V1Pod['metadata']> = {},
  spec: Partial<V1Pod['spec']> = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'a', namespace: 'n', labels: { agent: 'a' }, ...extra },
    spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec },
  };
}

function apply(pod: V1Pod, cfg = config): V1Pod {
  const result = inject(pod, cfg);
  return jsonpatch.applyPatch(structuredClone(pod), result.patch, true, false).newDocument;
}

describe('inject', () => {
  it('skips pods without the agent label, opted out, or already injected', () => {
    expect(inject({ ...agentPod(), metadata: { labels: { app: 'x' } } }, config).skipReason).toBe(
      'no-agent-label',
    );
    expect(
      inject(agentPod({ annotations: { 'memory.kaos.tools/inject': 'False' } }), config).skipReason,
    ).toBe('opted-out');
    expect(
      inject(agentPod({ annotations: { 'memory.kaos.tools/status': 'injected' } }), config)
        .skipReason,
    ).toBe('already-injected');
    const named = agentPod({}, { initContainers: [{ name: 'kaos-memory' }] });
    expect(inject(named, config)).toEqual({
      patch: [],
      warnings: [],
      skipReason: 'already-injected',
    });
  });

  it('leaves hostNetwork pods alone, with a warning', () => {
    const result = inject(agentPod({}, { hostNetwork: true }), config);
    expect(result.skipReason).toBe('host-network');
    expect(result.warnings).toHaveLength(1);
  });

  it('injects into an agent labelled with an empty value', () => {
    expect(inject(agentPod({ labels: { agent: '' } }), config).skipReason).toBeUndefined();
  });

  it('records in the status annotation what it added, and where', () => {
    const pod = agentPod(
      {},
      {
        containers: [
          { name: 'app', image: 'app:1' },
          {
            name: 'has-url',
            image: 'x',
            env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://own' }],
          },
          {
            name: 'has-all',
            env: ['MEMORY_TYPE', 'MEMORY_REDIS_URL', 'MEMORY_API_URL'].map((name) => ({
              name,
              value: 'own',
            })),
          },
        ],
      },
    );
    expect(readStatus(apply(pod).metadata?.annotations)).toEqual({
      version: '0.0.0-test',
      initContainers: ['kaos-memory'],
      containers: [],
      env: {
        app: ['MEMORY_TYPE', 'MEMORY_REDIS_URL', 'MEMORY_API_URL', ...V2],
        'has-url': ['MEMORY_TYPE', 'MEMORY_API_URL', ...V2],
        'has-all': V2,
      },
      redis: { from: 'has-url' },
    });
    const ordinary = apply(agentPod(), { ...withSecret, nativeSidecar: false });
    expect(readStatus(ordinary.metadata?.annotations)).toEqual({
      version: '0.0.0-test',
      initContainers: [],
      containers: ['kaos-memory'],
      volumes: ['kaos-memory-redis-password'],
      env: {
        app: ['MEMORY_TYPE', 'MEMORY_REDIS_PASSWORD', 'MEMORY_REDIS_URL', 'MEMORY_API_URL', ...V2],
      },
    });
  });

  it('mounts the password Secret into the sidecar alone, as a file it can follow', () => {
    const pod = apply(agentPod({}, { volumes: [{ name: 'data', emptyDir: {} }] }), withSecret);
    expect(pod.spec?.volumes).toEqual([
      { name: 'data', emptyDir: {} },
      {
        name: 'kaos-memory-redis-password',
        secret: {
          secretName: 'redis-auth',
          items: [{ key: 'password', path: 'password' }],
          defaultMode: 0o444,
        },
      },
    ]);
    const sidecar = pod.spec?.initContainers?.[0];
    expect(sidecar?.volumeMounts).toEqual([
      {
        name: 'kaos-memory-redis-password',
        mountPath: '/var/run/secrets/kaos-memory/redis',
        readOnly: true,
      },
    ]);
    expect(sidecar?.env).toEqual(
      expect.arrayContaining([
        {
          name: 'MEMORY_REDIS_PASSWORD_FILE',
          value: '/var/run/secrets/kaos-memory/redis/password',
        },
      ]),
    );
    expect(pod.spec?.containers[0]?.volumeMounts).toBeUndefined();
    // Without a Secret there is nothing to mount.
    expect(apply(agentPod(), config).spec?.volumes).toBeUndefined();
  });

  it("takes a volume of the password volume's name as an earlier injection", () => {
    const pod = agentPod({}, { volumes: [{ name: 'kaos-memory-redis-password', emptyDir: {} }] });
    expect(inject(pod, withSecret).skipReason).toBe('already-injected');
  });

  it('takes any status annotation, the legacy word `injected` too, as already injected', () => {
    for (const value of ['injected', '{}', '']) {
      const pod = agentPod({ annotations: { 'memory.kaos.tools/status': value } });
      expect(inject(pod, config).skipReason).toBe('already-injected');
      expect(readStatus(pod.metadata?.annotations)).toBeUndefined();
    }
  });

  it('is idempotent: its own output gets no patch', () => {
    for (const cfg of [config, withSecret, { ...config, nativeSidecar: false }]) {
      const once = apply(agentPod(), cfg);
      expect(inject(once, cfg)).toEqual({
        patch: [],
        warnings: [],
        skipReason: 'already-injected',
      });
    }
  });

  it('adds a native sidecar as the last init container, and an ordinary one as the last container', () => {
    const native = apply(agentPod({}, { initContainers: [{ name: 'setup', image: 'x' }] }));
    expect(native.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([
      ['setup', undefined],
      ['kaos-memory', 'Always'],
    ]);
    const ordinary = apply(agentPod(), { ...config, nativeSidecar: false });
    expect(ordinary.spec?.containers.map((c) => c.name)).toEqual(['app', 'kaos-memory']);
    expect(ordinary.spec?.containers[1]?.restartPolicy).toBeUndefined();
  });

  it('warns that an ordinary sidecar keeps a Job pod running', () => {
    const result = inject(agentPod({}, { restartPolicy: 'Never' }), {
      ...config,
      nativeSidecar: false,
    });
    expect(result.warnings).toEqual([expect.stringContaining('restartPolicy Never')]);
    expect(inject(agentPod({}, { restartPolicy: 'Never' }), config).warnings).toEqual([]);
  });

  it('moves the sidecar to the next free port on a clash and tells the apps', () => {
    const pod = agentPod(
      {},
      {
        containers: [
          { name: 'app', ports: [{ containerPort: 8790 }] },
          { name: 'metrics', ports: [{ containerPort: 8791 }] },
        ],
      },
    );
    const result = inject(pod, config);
    expect(result.warnings).toEqual([expect.stringContaining('listens on 127.0.0.1:8792')]);
    const out = apply(pod);
    const sidecar = out.spec?.initContainers?.[0];
    expect(sidecar?.env?.find((e) => e.name === 'MEMORY_SIDECAR_PORT')?.value).toBe('8792');
    // The probes stay on the health listener, which kubelet reaches on the pod IP.
    expect(sidecar?.readinessProbe?.httpGet).toEqual({
      path: '/readyz',
      port: 9791,
      scheme: 'HTTP',
    });
    expect(out.spec?.containers[0]?.env?.find((e) => e.name === 'MEMORY_API_URL')?.value).toBe(
      'http://127.0.0.1:8792',
    );
  });

  it('declares the metrics and health ports as named ports and tells the sidecar', () => {
    const sidecar = apply(agentPod()).spec?.initContainers?.[0];
    expect(sidecar?.ports).toEqual([
      { name: 'memory-metrics', containerPort: 9790, protocol: 'TCP' },
      { name: 'memory-health', containerPort: 9791, protocol: 'TCP' },
    ]);
    expect(sidecar?.env?.find((e) => e.name === 'MEMORY_METRICS_PORT')?.value).toBe('9790');
    expect(sidecar?.env?.find((e) => e.name === 'MEMORY_HEALTH_PORT')?.value).toBe('9791');
  });

  it('moves the metrics port past the pod’s ports and the API port', () => {
    const pod = agentPod(
      { annotations: { 'memory.kaos.tools/sidecar-port': '9791' } },
      { containers: [{ name: 'app', ports: [{ containerPort: 9790 }] }] },
    );
    const result = inject(pod, config);
    expect(result.warnings).toEqual([
      expect.stringContaining('serves /metrics on port 9792 (memory-metrics)'),
      // Then the health port, past those and the metrics port.
      expect.stringContaining("answers kubelet's probes on port 9793 (memory-health)"),
    ]);
    const sidecar = apply(pod).spec?.initContainers?.[0];
    expect(sidecar?.ports?.map((p) => p.containerPort)).toEqual([9792, 9793]);
    expect(sidecar?.env?.find((e) => e.name === 'MEMORY_METRICS_PORT')?.value).toBe('9792');
    expect(sidecar?.env?.find((e) => e.name === 'MEMORY_HEALTH_PORT')?.value).toBe('9793');
    for (const probe of [sidecar?.startupProbe, sidecar?.livenessProbe, sidecar?.readinessProbe]) {
      expect(probe?.httpGet?.port).toBe(9793);
    }
  });

  it('serves no metrics when they are off or their port name is taken', () => {
    const off = apply(agentPod(), { ...config, sidecarMetricsPort: 0 }).spec?.initContainers?.[0];
    expect(off?.ports?.map((p) => p.name)).toEqual(['memory-health']);
    expect(off?.env?.find((e) => e.name === 'MEMORY_METRICS_PORT')?.value).toBe('0');
    const pod = agentPod(
      {},
      { containers: [{ name: 'app', ports: [{ name: 'memory-metrics', containerPort: 80 }] }] },
    );
    expect(inject(pod, config).warnings).toEqual([
      expect.stringContaining('already declares a port named memory-metrics'),
    ]);
    expect(apply(pod).spec?.initContainers?.[0]?.ports?.map((p) => p.name)).toEqual([
      'memory-health',
    ]);
  });

  it('probes by exec when the health listener is off', () => {
    const off = apply(agentPod(), { ...config, sidecarHealthPort: 0 }).spec?.initContainers?.[0];
    expect(off?.env?.find((e) => e.name === 'MEMORY_HEALTH_PORT')?.value).toBe('0');
    expect(off?.ports?.map((p) => p.name)).toEqual(['memory-metrics']);
    // Nothing answers probes on the pod IP: node in the container asks loopback instead.
    expect(off?.readinessProbe?.exec?.command).toEqual(probeCommand(8790, '/readyz'));
    expect(off?.readinessProbe?.httpGet).toBeUndefined();
  });

  it('probes by exec when a container already declares its port name', () => {
    const pod = agentPod(
      {},
      { containers: [{ name: 'app', ports: [{ name: 'memory-health', containerPort: 80 }] }] },
    );
    expect(inject(pod, config).warnings).toEqual([
      expect.stringContaining('already declares a port named memory-health'),
    ]);
    const named = apply(pod).spec?.initContainers?.[0];
    expect(named?.livenessProbe?.exec?.command).toEqual(probeCommand(8790, '/healthz'));
    expect(named?.env?.find((e) => e.name === 'MEMORY_HEALTH_PORT')?.value).toBe('0');
  });

  it('times the readiness probe from its annotations, and only the readiness probe', () => {
    const sidecarOf = (annotations?: Record<string, string>) =>
      apply(agentPod(annotations ? { annotations } : {})).spec?.initContainers?.find(
        (c) => c.name === 'kaos-memory',
      );
    const plain = sidecarOf();
    expect(plain?.readinessProbe).toMatchObject({
      periodSeconds: 10,
      failureThreshold: 3,
      timeoutSeconds: 3,
    });
    const tuned = sidecarOf({
      'memory.kaos.tools/readiness-period-seconds': '2',
      'memory.kaos.tools/readiness-failure-threshold': '2',
    });
    expect(tuned?.readinessProbe).toEqual({
      ...plain?.readinessProbe,
      periodSeconds: 2,
      failureThreshold: 2,
    });
    expect(tuned?.livenessProbe).toEqual(plain?.livenessProbe);
    expect(tuned?.startupProbe).toEqual(plain?.startupProbe);
    expect(
      sidecarOf({ 'memory.kaos.tools/readiness-period-seconds': '5' })?.readinessProbe,
    ).toMatchObject({ periodSeconds: 5, failureThreshold: 3 });
    expect(
      sidecarOf({ 'memory.kaos.tools/readiness-failure-threshold': '30' })?.readinessProbe,
    ).toMatchObject({ periodSeconds: 10, failureThreshold: 30 });
  });

  it.each([
    ['memory.kaos.tools/readiness-period-seconds', '0', '(1-300)'],
    ['memory.kaos.tools/readiness-period-seconds', '-1', '(1-300)'],
    ['memory.kaos.tools/readiness-period-seconds', '2.5', '(1-300)'],
    ['memory.kaos.tools/readiness-period-seconds', 'abc', '(1-300)'],
    ['memory.kaos.tools/readiness-period-seconds', '301', '(1-300)'],
    ['memory.kaos.tools/readiness-period-seconds', '', '(1-300)'],
    ['memory.kaos.tools/readiness-failure-threshold', '0', '(1-30)'],
    ['memory.kaos.tools/readiness-failure-threshold', '-1', '(1-30)'],
    ['memory.kaos.tools/readiness-failure-threshold', '2.5', '(1-30)'],
    ['memory.kaos.tools/readiness-failure-threshold', 'abc', '(1-30)'],
    ['memory.kaos.tools/readiness-failure-threshold', '31', '(1-30)'],
  ])('admits a pod whose %s is %j without the sidecar, naming it', (name, value, range) => {
    const result = inject(agentPod({ annotations: { [name]: value } }), config);
    expect(result.patch).toEqual([]);
    expect(result.skipReason).toBe('invalid-annotation');
    expect(result.warnings).toEqual([
      `${name}: ${JSON.stringify(value)} is not a whole number of ` +
        `${name.endsWith('seconds') ? 'seconds' : 'failures'} ${range}; ` +
        'the pod was admitted without the kaos-memory sidecar',
    ]);
  });

  it('refuses a port annotation that clashes, naming the annotation', () => {
    const pod = agentPod(
      { annotations: { 'memory.kaos.tools/sidecar-port': '8080' } },
      { containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
    );
    const result = inject(pod, config);
    expect(result.skipReason).toBe('invalid-annotation');
    expect(result.warnings[0]).toMatch(
      /^memory\.kaos\.tools\/sidecar-port: port 8080 is already used/,
    );
  });

  it('warns that an isolated pod waits for its tenant Secret when no tenant controller runs', () => {
    const isolated = { ...withSecret, isolateAll: true };
    const warning = /namespace n is isolated, but no tenant controller runs/;
    const without = inject(agentPod(), isolated);
    expect(without.tenant).toBe(true);
    expect(without.warnings.join('\n')).toMatch(warning);
    for (const tenantSecrets of ['managed', 'provided'] as const) {
      const withController = inject(agentPod(), { ...isolated, tenantSecrets });
      expect(withController.tenant).toBe(true);
      expect(withController.warnings.join('\n')).not.toMatch(warning);
    }
  });

  it('escapes the annotation key and creates absent arrays and maps', () => {
    const result = inject(agentPod({ annotations: { 'a/b~c': 'x' } }), config);
    expect(result.patch.slice(0, 2)).toEqual([
      { op: 'add', path: '/metadata/annotations/memory.kaos.tools~1status', value: 'injected' },
      {
        op: 'add',
        path: '/metadata/annotations/memory.kaos.tools~1injected',
        value:
          '{"version":"0.0.0-test","initContainers":["kaos-memory"],"containers":[],' +
          '"env":{"app":["MEMORY_TYPE","MEMORY_REDIS_URL","MEMORY_API_URL",' +
          '"MEMORY_STORE_ENDPOINT","AGENT_IDENTITY"]}}',
      },
    ]);
    const bare = inject(agentPod(), config);
    expect(bare.patch.map((op) => op.path)).toEqual([
      '/metadata/annotations',
      '/spec/containers/0/env',
      '/spec/initContainers',
    ]);
  });
});

describe('probe timing', () => {
  const settings: SidecarSettings = {
    image: 'kaos-memory:test',
    port: 8790,
    portFromAnnotation: false,
    resources: DEFAULT_RESOURCES,
  };

  it('probes through kubelet on the health listener, each probe its route', () => {
    const sidecar = sidecarContainer(config, settings, { metrics: 9790, health: 9791 });
    const httpGet = (path: string) => ({ path, port: 9791, scheme: 'HTTP' });
    expect(sidecar.startupProbe?.httpGet).toEqual(httpGet('/healthz'));
    expect(sidecar.livenessProbe?.httpGet).toEqual(httpGet('/healthz'));
    expect(sidecar.readinessProbe).toEqual({
      httpGet: httpGet('/readyz'),
      timeoutSeconds: 3,
      periodSeconds: 10,
      failureThreshold: 3,
    });
  });

  it('probes readiness every 10 s with 3 failures by default', () => {
    const { readinessProbe, livenessProbe } = sidecarContainer(config, settings);
    expect(readinessProbe).toEqual({
      exec: { command: probeCommand(8790, '/readyz') },
      timeoutSeconds: 3,
      periodSeconds: 10,
      failureThreshold: 3,
    });
    expect(livenessProbe).toMatchObject({ periodSeconds: 20, failureThreshold: 3 });
  });

  it('takes the readiness timing the settings carry, each field on its own', () => {
    const both = sidecarContainer(config, {
      ...settings,
      readiness: { periodSeconds: 2, failureThreshold: 2 },
    });
    expect(both.readinessProbe).toMatchObject({
      periodSeconds: 2,
      failureThreshold: 2,
      timeoutSeconds: 3,
    });
    expect(both.livenessProbe).toMatchObject({ periodSeconds: 20, failureThreshold: 3 });
    expect(both.startupProbe).toMatchObject({ periodSeconds: 1, failureThreshold: 60 });
    const period = sidecarContainer(config, { ...settings, readiness: { periodSeconds: 5 } });
    expect(period.readinessProbe).toMatchObject({ periodSeconds: 5, failureThreshold: 3 });
    const threshold = sidecarContainer(config, { ...settings, readiness: { failureThreshold: 7 } });
    expect(threshold.readinessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 7 });
  });
});

describe('envDefaults', () => {
  it('adds only what the container lacks', () => {
    expect(envDefaults([{ name: 'MEMORY_TYPE', value: 'local' }], config, 8790)).toEqual([
      { name: 'MEMORY_REDIS_URL', value: 'redis://redis.kaos:6379/0' },
      { name: 'MEMORY_API_URL', value: 'http://127.0.0.1:8790' },
      { name: 'MEMORY_STORE_ENDPOINT', value: 'http://127.0.0.1:8790' },
    ]);
    const identity = 'kaos://agent/n/a';
    expect(
      envDefaults([{ name: 'MEMORY_STORE_ENDPOINT', value: 'http://store:8080' }], config, 8790, {
        identity,
      }).map((e) => [e.name, e.value]),
    ).toEqual([
      ['MEMORY_TYPE', 'redis'],
      ['MEMORY_REDIS_URL', 'redis://redis.kaos:6379/0'],
      ['MEMORY_API_URL', 'http://127.0.0.1:8790'],
      ['AGENT_IDENTITY', identity],
    ]);
    expect(
      envDefaults([{ name: 'AGENT_IDENTITY', value: 'kaos://agent/x/y' }], config, 8790, {
        identity,
      }).map((e) => e.name),
    ).toEqual(['MEMORY_TYPE', 'MEMORY_REDIS_URL', 'MEMORY_API_URL', 'MEMORY_STORE_ENDPOINT']);
  });

  it('puts the password reference before the URL that expands it', () => {
    expect(envDefaults([], withSecret, 8790)).toEqual([
      { name: 'MEMORY_TYPE', value: 'redis' },
      {
        name: 'MEMORY_REDIS_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } },
      },
      { name: 'MEMORY_REDIS_URL', value: 'redis://:$(MEMORY_REDIS_PASSWORD)@redis.kaos:6379/0' },
      { name: 'MEMORY_API_URL', value: 'http://127.0.0.1:8790' },
      { name: 'MEMORY_STORE_ENDPOINT', value: 'http://127.0.0.1:8790' },
    ]);
  });

  it('leaves Redis alone when the container brings its own URL; reuses its own password', () => {
    const ownUrl = envDefaults(
      [{ name: 'MEMORY_REDIS_URL', value: 'redis://mine' }],
      withSecret,
      8790,
    );
    expect(ownUrl.map((e) => e.name)).toEqual([
      'MEMORY_TYPE',
      'MEMORY_API_URL',
      'MEMORY_STORE_ENDPOINT',
    ]);
    const ownPassword = envDefaults(
      [{ name: 'MEMORY_REDIS_PASSWORD', value: 'x' }],
      withSecret,
      8790,
    );
    expect(ownPassword.map((e) => e.name)).toEqual([
      'MEMORY_TYPE',
      'MEMORY_REDIS_URL',
      'MEMORY_API_URL',
      'MEMORY_STORE_ENDPOINT',
    ]);
  });

  it('builds password URLs with and without a user', () => {
    expect(urlWithPasswordRef('rediss://default@r:6380')).toBe(
      'rediss://default:$(MEMORY_REDIS_PASSWORD)@r:6380',
    );
    expect(urlWithPasswordRef('redis://r')).toBe('redis://:$(MEMORY_REDIS_PASSWORD)@r');
  });
});

describe('overrides', () => {
  const defaults = { image: 'img:1', port: 8790, resources: DEFAULT_RESOURCES };

  it('applies every annotation', () => {
    const result = applyOverrides(
      {
        'memory.kaos.tools/sidecar-image': 'registry.local:5000/mem/kaos-memory:dev',
        'memory.kaos.tools/sidecar-port': '9100',
        'memory.kaos.tools/sidecar-cpu-request': '50m',
        'memory.kaos.tools/sidecar-cpu-limit': '1',
        'memory.kaos.tools/sidecar-memory-request': '100Mi',
        'memory.kaos.tools/sidecar-memory-limit': '1Gi',
      },
      defaults,
    );
    expect(result).toEqual({
      ok: true,
      settings: {
        image: 'registry.local:5000/mem/kaos-memory:dev',
        port: 9100,
        portFromAnnotation: true,
        resources: {
          requests: { cpu: '50m', memory: '100Mi' },
          limits: { cpu: '1', memory: '1Gi' },
        },
      },
    });
  });

  it('applies the readiness annotations, and sets no readiness without them', () => {
    const tuned = applyOverrides(
      {
        'memory.kaos.tools/readiness-period-seconds': '300',
        'memory.kaos.tools/readiness-failure-threshold': '1',
      },
      defaults,
    );
    expect(tuned.ok && tuned.settings.readiness).toEqual({
      periodSeconds: 300,
      failureThreshold: 1,
    });
    const period = applyOverrides({ 'memory.kaos.tools/readiness-period-seconds': '2' }, defaults);
    expect(period.ok && period.settings.readiness).toEqual({ periodSeconds: 2 });
    const plain = applyOverrides({}, defaults);
    expect(plain.ok && 'readiness' in plain.settings).toBe(false);
  });

  it.each([
    ['memory.kaos.tools/sidecar-image', 'UPPER CASE'],
    ['memory.kaos.tools/sidecar-port', '0'],
    ['memory.kaos.tools/sidecar-port', '70000'],
    ['memory.kaos.tools/sidecar-port', '80a'],
    ['memory.kaos.tools/sidecar-cpu-request', 'fast'],
    ['memory.kaos.tools/sidecar-memory-limit', '1GB'],
    ['memory.kaos.tools/sidecar-memory-limit', '16Mi'],
    ['memory.kaos.tools/readiness-period-seconds', '1000'],
    ['memory.kaos.tools/readiness-failure-threshold', '+3'],
  ])('names %s when its value %j is bad', (name, value) => {
    const result = applyOverrides({ [name]: value }, defaults);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.warning.startsWith(`${name}: `)).toBe(true);
  });

  it('compares quantities by value', () => {
    expect(parseQuantity('100m')).toBeCloseTo(0.1);
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('128Mi') > parseQuantity('100M')).toBe(true);
  });
});

describe('escapePointer and probes', () => {
  it('escapes ~ before /', () => {
    expect(escapePointer('a~/b')).toBe('a~0~1b');
  });

  it('probes loopback with node, exiting non-zero unless 200', () => {
    const [cmd, flag, script] = probeCommand(8790, '/readyz');
    expect([cmd, flag]).toEqual(['node', '-e']);
    expect(script).toContain("'http://127.0.0.1:8790/readyz'");
    expect(script).toContain('r.statusCode===200?0:1');
  });
});

describe("the patch's JSON", () => {
  it('is JSON.stringify of the operations, with the sidecar from the cache or not', () => {
    const ordinary: InjectConfig = { ...config, nativeSidecar: false };
    const pods = [
      agentPod(),
      agentPod({ labels: { agent: 'b' } }),
      agentPod({ labels: { agent: '' } }),
      agentPod({ annotations: { 'memory.kaos.tools/sidecar-port': '8800' } }),
      agentPod({ annotations: { 'memory.kaos.tools/cpu-limit': '300m' } }),
      agentPod({ annotations: { 'memory.kaos.tools/readiness-period-seconds': '2' } }),
      agentPod({}, { initContainers: [{ name: 'setup', image: 'setup:1' }] }),
      agentPod({}, { containers: [{ name: 'app', ports: [{ containerPort: 9790 }] }] }),
      agentPod(
        {},
        {
          containers: [
            { name: 'app', env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://own:6379/1' }] },
          ],
        },
      ),
    ];
    for (let round = 0; round < 2; round++) {
      for (const cfg of [config, withSecret, ordinary]) {
        for (const pod of pods) {
          const result = inject(pod, cfg);
          expect(result.json).toBe(JSON.stringify(result.patch));
        }
      }
    }
  });
});
