import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES, type InjectConfig } from './config.js';
import { closure, followAgentUrl, references } from './follow.js';
import { inject } from './inject.js';
import { readStatus } from './status.js';

const config: InjectConfig = {
  memoryType: 'redis',
  redisUrl: 'redis://chart-redis.kaos-system:6379/0',
  passwordSecret: { name: 'kaos-memory-redis', key: 'password' },
  sidecarImage: 'kaos-memory:test',
  sidecarPort: 8790,
  sidecarMetricsPort: 9790,
  sidecarHealthPort: 9791,
  imagePullPolicy: 'IfNotPresent',
  resources: DEFAULT_RESOURCES,
  nodeOptions: '--max-semi-space-size=2',
  nativeSidecar: true,
  sidecarEnv: { MEMORY_KEY_PREFIX: 'kaos:memory' },
  version: '0.0.0-test',
};

const secretRef = (name: string, key: string): V1EnvVar['valueFrom'] => ({
  secretKeyRef: { name, key },
});

function pod(
  containers: V1Container[],
  annotations?: Record<string, string>,
  agent = 'seed',
): V1Pod {
  return {
    metadata: { namespace: 'walkthrough', labels: { agent }, annotations },
    spec: { containers },
  };
}

/** The pod after injection, and the sidecar and warnings. */
function injected(p: V1Pod, cfg = config) {
  const result = inject(p, cfg, { name: 'walkthrough' });
  const out = jsonpatch.applyPatch(structuredClone(p), result.patch, true, false).newDocument;
  const sidecar = out.spec?.initContainers?.find((c) => c.name === 'kaos-memory');
  if (!sidecar) throw new Error(`not injected: ${result.skipReason}`);
  return {
    pod: out,
    sidecar,
    warnings: result.warnings,
    status: readStatus(out.metadata?.annotations),
  };
}

const names = (env?: V1EnvVar[]) => (env ?? []).map((e) => e.name);
const valueOf = (env: V1EnvVar[] | undefined, name: string) =>
  env?.filter((e) => e.name === name).at(-1);

/**
 * Kubernetes' own expansion of a container's env (third_party/forked/golang/expansion),
 * with valueFrom entries standing for what they point at, so a test can compare what the
 * app container and the sidecar end up with.
 */
function expand(env: V1EnvVar[]): Map<string, string> {
  const seen = new Map<string, string>();
  for (const entry of env) {
    const value =
      entry.value !== undefined
        ? entry.value.replace(/\$\$|\$\(([^)]*)\)/g, (m, name: string | undefined) =>
            m === '$$' ? '$' : (seen.get(name ?? '') ?? m),
          )
        : `<${JSON.stringify(entry.valueFrom)}>`;
    seen.set(entry.name, value);
  }
  return seen;
}

describe('references', () => {
  it('reads $(VAR) as Kubernetes does: $$ escapes, an unclosed $( is text', () => {
    expect(references('redis://:$(PASS)@$(HOST):6379')).toEqual(['PASS', 'HOST']);
    expect(references('redis://$$(NOT)@$(HOST)')).toEqual(['HOST']);
    expect(references('redis://$HOST:$(PORT')).toEqual([]);
    expect(references('$$$(A)')).toEqual(['A']);
    expect(references('redis://plain')).toEqual([]);
  });
});

describe('closure', () => {
  it('takes the chain, transitively, in the container’s order, resolving each name before its use', () => {
    const env: V1EnvVar[] = [
      { name: 'USER', value: 'first' },
      { name: 'UNUSED', value: 'x' },
      { name: 'PASS', valueFrom: secretRef('redis-auth', 'password') },
      { name: 'USER', value: 'agent' },
      { name: 'CRED', value: '$(USER):$(PASS)' },
      { name: 'MEMORY_REDIS_URL', value: 'redis://$(CRED)@redis:6379' },
      { name: 'PASS', value: 'later, not used' },
    ];
    const got = closure(env, 5);
    expect(got.unresolved).toEqual([]);
    expect(got.env).toEqual([env[2], env[3], env[4], env[5]]);
    expect(expand(got.env).get('MEMORY_REDIS_URL')).toBe(
      expand(env.slice(0, 6)).get('MEMORY_REDIS_URL'),
    );
  });

  it('names references that no earlier entry defines', () => {
    const env: V1EnvVar[] = [
      { name: 'MEMORY_REDIS_URL', value: 'redis://$(HOST):$(PORT)' },
      { name: 'HOST', value: 'defined too late' },
    ];
    expect(closure(env, 0).unresolved.sort()).toEqual(['HOST', 'PORT']);
  });
});

describe('the sidecar follows the agent', () => {
  it('uses a plain URL the app container sets, without the chart’s password', () => {
    const url = 'redis://redis.walkthrough.svc.cluster.local:6379';
    const {
      pod: out,
      sidecar,
      warnings,
      status,
    } = injected(
      pod([
        {
          name: 'agent',
          env: [
            { name: 'MEMORY_TYPE', value: 'redis' },
            { name: 'MEMORY_REDIS_URL', value: url },
          ],
        },
      ]),
    );
    expect(sidecar.env?.[0]).toEqual({ name: 'MEMORY_REDIS_URL', value: url });
    expect(names(sidecar.env)).not.toContain('MEMORY_REDIS_PASSWORD');
    expect(names(sidecar.env)).not.toContain('MEMORY_REDIS_PASSWORD_FILE');
    expect(sidecar.volumeMounts).toBeUndefined();
    expect(out.spec?.volumes).toBeUndefined();
    expect(names(sidecar.env).filter((n) => n === 'MEMORY_REDIS_URL')).toHaveLength(1);
    expect(status?.redis).toEqual({ from: 'agent' });
    expect(status?.volumes).toBeUndefined();
    expect(warnings).toEqual([]);
    // The agent keeps its own; it gets only the sidecar's address and its identity.
    const agent = out.spec?.containers[0];
    expect(valueOf(agent?.env, 'MEMORY_REDIS_URL')?.value).toBe(url);
    expect(names(agent?.env)).toEqual([
      'MEMORY_TYPE',
      'MEMORY_REDIS_URL',
      'MEMORY_API_URL',
      'MEMORY_STORE_ENDPOINT',
      'AGENT_IDENTITY',
    ]);
  });

  it('copies a valueFrom URL as it is, and follows when MEMORY_TYPE is unset', () => {
    const urlFrom = { configMapKeyRef: { name: 'memory', key: 'url' } };
    const { sidecar, status } = injected(
      pod([{ name: 'agent', env: [{ name: 'MEMORY_REDIS_URL', valueFrom: urlFrom }] }]),
    );
    expect(sidecar.env?.[0]).toEqual({ name: 'MEMORY_REDIS_URL', valueFrom: urlFrom });
    expect(status?.redis).toEqual({ from: 'agent' });
  });

  it('copies a $(VAR) chain with a secretKeyRef first, in order, and the URL expands the same', () => {
    const env: V1EnvVar[] = [
      { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'REDIS_PASSWORD', valueFrom: secretRef('walkthrough-redis', 'password') },
      { name: 'REDIS_HOST', value: 'redis.$(NAMESPACE).svc' },
      { name: 'NAMESPACE', value: 'defined after its use: stays literal' },
      { name: 'MEMORY_TYPE', value: 'redis' },
      { name: 'MEMORY_REDIS_URL', value: 'redis://:$(REDIS_PASSWORD)@$(REDIS_HOST):6379/0' },
    ];
    const { sidecar, warnings } = injected(pod([{ name: 'agent', env }]));
    // $(NAMESPACE) is used before it is defined: Kubernetes leaves it as written, so does the copy.
    expect(warnings.some((w) => w.includes('NAMESPACE'))).toBe(false);
    expect(sidecar.env?.slice(0, 3)).toEqual([env[1], env[2], env[5]]);
    expect(expand(sidecar.env ?? []).get('MEMORY_REDIS_URL')).toBe(
      expand(env).get('MEMORY_REDIS_URL'),
    );
    // Only references reach the pod spec: no secret value, no chart password.
    expect(JSON.stringify(sidecar.env)).not.toContain('kaos-memory-redis');
    expect(names(sidecar.env)).not.toContain('LOG_LEVEL');
  });

  it('works the same for Sentinel and Cluster URLs', () => {
    for (const url of [
      'redis+sentinel://:$(PASS)@s1:26379,s2:26379/mymaster/0',
      'redis+cluster://:$(PASS)@c1:6379,c2:6379',
    ]) {
      const env: V1EnvVar[] = [
        { name: 'PASS', valueFrom: secretRef('r', 'p') },
        { name: 'MEMORY_REDIS_URL', value: url },
      ];
      const { sidecar } = injected(pod([{ name: 'agent', env }]));
      expect(sidecar.env?.slice(0, 2)).toEqual(env);
    }
  });

  it('changes nothing for the sidecar when MEMORY_TYPE is not redis', () => {
    const {
      sidecar,
      status,
      pod: out,
    } = injected(
      pod([
        {
          name: 'agent',
          env: [
            { name: 'MEMORY_TYPE', value: 'local' },
            { name: 'MEMORY_REDIS_URL', value: 'redis://elsewhere' },
          ],
        },
      ]),
    );
    expect(sidecar.env?.[0]).toEqual({ name: 'MEMORY_REDIS_URL', value: config.redisUrl });
    expect(names(sidecar.env)).toContain('MEMORY_REDIS_PASSWORD_FILE');
    expect(out.spec?.volumes?.map((v) => v.name)).toEqual(['kaos-memory-redis-password']);
    expect(status?.redis).toBeUndefined();
  });

  it('does not follow a MEMORY_TYPE it cannot read, and says so', () => {
    const { sidecar, warnings } = injected(
      pod([
        {
          name: 'agent',
          env: [
            { name: 'MEMORY_TYPE', valueFrom: { configMapKeyRef: { name: 'c', key: 'type' } } },
            { name: 'MEMORY_REDIS_URL', value: 'redis://elsewhere' },
          ],
        },
      ]),
    );
    expect(sidecar.env?.[0]?.value).toBe(config.redisUrl);
    expect(warnings.join('\n')).toMatch(/container agent sets MEMORY_TYPE from a reference/);
  });

  it('falls back to the chart’s Redis, with a warning, when the URL needs envFrom', () => {
    const { sidecar, warnings, status } = injected(
      pod([
        {
          name: 'agent',
          envFrom: [{ secretRef: { name: 'redis-env' } }],
          env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://:$(REDIS_PASSWORD)@redis:6379' }],
        },
      ]),
    );
    expect(sidecar.env?.[0]?.value).toBe(config.redisUrl);
    expect(status?.redis).toBeUndefined();
    expect(warnings.join('\n')).toMatch(
      /references \$\(REDIS_PASSWORD\), which its env does not define before it, and its envFrom/,
    );
  });

  describe('several app containers', () => {
    const containers: V1Container[] = [
      { name: 'tools' },
      {
        name: 'agent',
        env: [
          { name: 'PASS', valueFrom: secretRef('agent-redis', 'password') },
          { name: 'MEMORY_REDIS_URL', value: 'redis://:$(PASS)@agent-redis:6379' },
        ],
      },
      { name: 'worker', env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://worker-redis:6379' }] },
      {
        name: 'local',
        env: [
          { name: 'MEMORY_TYPE', value: 'local' },
          { name: 'MEMORY_REDIS_URL', value: 'redis://ignored' },
        ],
      },
    ];

    it('follows the first in spec order, warns naming the others, records both', () => {
      const { sidecar, warnings, status, pod: out } = injected(pod(structuredClone(containers)));
      expect(valueOf(sidecar.env, 'MEMORY_REDIS_URL')?.value).toBe(
        'redis://:$(PASS)@agent-redis:6379',
      );
      expect(status?.redis).toEqual({ from: 'agent', others: ['worker'] });
      expect(warnings).toContain(
        'kaos-memory: the sidecar uses the Redis of container agent; worker also names one of ' +
          'its own, not followed (choose with the annotation memory.kaos.tools/redis-url-from)',
      );
      // A container without a URL gets the followed one (and what it references), not the chart's.
      const tools = out.spec?.containers[0];
      expect(names(tools?.env).slice(0, 3)).toEqual(['MEMORY_TYPE', 'PASS', 'MEMORY_REDIS_URL']);
      expect(valueOf(tools?.env, 'PASS')?.valueFrom).toEqual(secretRef('agent-redis', 'password'));
      expect(status?.env.tools).toEqual([
        'MEMORY_TYPE',
        'PASS',
        'MEMORY_REDIS_URL',
        'MEMORY_API_URL',
        'MEMORY_STORE_ENDPOINT',
        'AGENT_IDENTITY',
      ]);
    });

    it('follows the container the annotation names', () => {
      const { sidecar, status } = injected(
        pod(structuredClone(containers), { 'memory.kaos.tools/redis-url-from': 'worker' }),
      );
      expect(sidecar.env?.[0]).toEqual({
        name: 'MEMORY_REDIS_URL',
        value: 'redis://worker-redis:6379',
      });
      expect(status?.redis).toEqual({ from: 'worker', others: ['agent'] });
    });

    it('warns about an annotation naming a container without its own URL, and applies the rule', () => {
      for (const wanted of ['local', 'tools', 'nope']) {
        const { status, warnings } = injected(
          pod(structuredClone(containers), { 'memory.kaos.tools/redis-url-from': wanted }),
        );
        expect(status?.redis?.from).toBe('agent');
        expect(warnings[0]).toBe(
          `memory.kaos.tools/redis-url-from: no app container named "${wanted}" defines ` +
            'MEMORY_REDIS_URL with MEMORY_TYPE redis or unset; the sidecar follows agent, the first that does',
        );
      }
      const alone = followAgentUrl([{ name: 'a' }], { 'memory.kaos.tools/redis-url-from': 'a' });
      expect(alone.followed).toBeUndefined();
      expect(alone.warnings[0]).toMatch(/the sidecar uses the chart's Redis$/);
    });

    it('gives a container that defines part of the chain itself no URL, with a warning', () => {
      const own = structuredClone(containers);
      own[0] = { name: 'tools', env: [{ name: 'PASS', value: 'its own' }] };
      const { pod: out, warnings } = injected(pod(own));
      expect(names(out.spec?.containers[0]?.env)).not.toContain('MEMORY_REDIS_URL');
      expect(warnings).toContain(
        'kaos-memory: container tools defines PASS itself, which the MEMORY_REDIS_URL of agent ' +
          'references; it gets no MEMORY_REDIS_URL',
      );
    });
  });

  it('is idempotent when following', () => {
    const { pod: out } = injected(
      pod([{ name: 'agent', env: [{ name: 'MEMORY_REDIS_URL', value: 'redis://own:6379' }] }]),
    );
    expect(inject(out, config, { name: 'walkthrough' }).skipReason).toBe('already-injected');
  });
});

describe('both KAOS generations', () => {
  it('gives app containers and the sidecar the pod’s identity and the loopback endpoint', () => {
    const { pod: out, sidecar, warnings } = injected(pod([{ name: 'agent' }]));
    const agent = out.spec?.containers[0];
    expect(valueOf(agent?.env, 'MEMORY_TYPE')?.value).toBe('redis');
    expect(valueOf(agent?.env, 'MEMORY_STORE_ENDPOINT')?.value).toBe('http://127.0.0.1:8790');
    expect(valueOf(agent?.env, 'AGENT_IDENTITY')?.value).toBe('kaos://agent/walkthrough/seed');
    expect(valueOf(sidecar.env, 'AGENT_IDENTITY')?.value).toBe('kaos://agent/walkthrough/seed');
    expect(warnings).toEqual([]);
  });

  it('never overrides what the container set (a KAOS operator’s remote agent)', () => {
    const env: V1EnvVar[] = [
      { name: 'MEMORY_TYPE', value: 'remote' },
      { name: 'MEMORY_STORE_ENDPOINT', value: 'http://memorystore-m.ns.svc.cluster.local:8080' },
      { name: 'AGENT_IDENTITY', value: 'kaos://agent/walkthrough/seed' },
    ];
    const { pod: out } = injected(pod([{ name: 'agent', env: structuredClone(env) }]));
    const got = out.spec?.containers[0]?.env ?? [];
    expect(got.slice(0, 3)).toEqual(env);
    expect(names(got)).toEqual([
      ...names(env),
      'MEMORY_REDIS_PASSWORD',
      'MEMORY_REDIS_URL',
      'MEMORY_API_URL',
    ]);
  });

  it('moves the endpoint with the sidecar’s port', () => {
    const { pod: out } = injected(pod([{ name: 'agent', ports: [{ containerPort: 8790 }] }]));
    expect(valueOf(out.spec?.containers[0]?.env, 'MEMORY_STORE_ENDPOINT')?.value).toBe(
      'http://127.0.0.1:8791',
    );
  });

  it('omits AGENT_IDENTITY, with a warning, when the agent label is empty', () => {
    const { pod: out, sidecar, warnings } = injected(pod([{ name: 'agent' }], undefined, ''));
    expect(names(out.spec?.containers[0]?.env)).not.toContain('AGENT_IDENTITY');
    expect(names(out.spec?.containers[0]?.env)).toContain('MEMORY_STORE_ENDPOINT');
    expect(names(sidecar.env)).not.toContain('AGENT_IDENTITY');
    expect(warnings).toEqual([
      'kaos-memory: the agent label is empty, so the pod gets no AGENT_IDENTITY; ' +
        'memory v2 requests naming an agent are refused',
    ]);
  });
});

describe('the status record of the followed Redis', () => {
  const record = (redis: unknown) => ({
    'memory.kaos.tools/injected': JSON.stringify({
      version: '1',
      initContainers: [],
      containers: [],
      env: {},
      redis,
    }),
  });

  it('reads back what it wrote, and refuses a malformed one', () => {
    expect(readStatus(record({ from: 'agent', others: ['worker'] }))?.redis).toEqual({
      from: 'agent',
      others: ['worker'],
    });
    expect(readStatus(record({ from: 'agent' }))?.redis).toEqual({ from: 'agent' });
    expect(readStatus(record({ others: ['worker'] }))).toBeUndefined();
    expect(readStatus(record({ from: 'agent', others: 'worker' }))).toBeUndefined();
    expect(readStatus(record('agent'))).toBeUndefined();
  });
});

describe('a URL the sidecar could not use', () => {
  it('is not followed: the chart’s Redis, and a warning that does not repeat the URL', () => {
    for (const url of ['unix:///var/run/redis.sock', 'redis://host:notaport', 'not a url']) {
      const { sidecar, warnings, status } = injected(
        pod([{ name: 'agent', env: [{ name: 'MEMORY_REDIS_URL', value: url }] }]),
      );
      expect(sidecar.env?.[0]?.value).toBe(config.redisUrl);
      expect(status?.redis).toBeUndefined();
      expect(warnings).toEqual([
        'kaos-memory: MEMORY_REDIS_URL of container agent is not a Redis URL the sidecar can ' +
          "use (redis://, rediss://, redis+sentinel://, redis+cluster://); the sidecar uses the chart's Redis",
      ]);
    }
  });
});
