// Namespaces as tenants on a real node (docs/adr/0036-namespaces-as-tenants.md), with the
// chart as it ships and its tenant controller on (`isolation.enabled`): two isolated
// namespaces and a shared one, each with an agent; an attacker in B with B's own Secret
// mounted, running redis-cli and the operator CLI against A; B's sidecar asked for A's
// sessions; the shared namespace still in the Redis-era layout Python reads; retention
// from namespace annotations; a legal hold through eviction, expiry and erasure; a
// tenant's password rotated; a tenant namespace deleted.
import { spawnSync } from 'node:child_process';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import {
  execIn,
  getJson,
  endSuite,
  startNodeWithChart,
  RELEASE_NS,
  type PodJson,
} from '../../harness/node/release.js';
import {
  agentDeployment,
  readyAgentPod,
  redisAdmin,
  redisCli,
  redisPassword,
  REDIS_POD,
  SEED,
  type AgentSpec,
  type RedisCredential,
} from '../../harness/node/seed.js';
import { kaosMemory } from '../../harness/kaos.js';
import { findContainer, specEnv } from '../../harness/podenv.js';
import { pollUntil } from '../../harness/poll.js';
import { findPython } from '../../harness/python.js';
import { REPO_ROOT } from '../../harness/root.js';
import { SIDECAR_METRICS_PORT } from '../../lib/contract.js';
import { TENANT_SECRET, tenantPrefix, tenantUser } from '../../lib/tenancy.js';

// Its container is the project's image: node's fetch sends the PUTs and DELETEs busybox cannot.
// Its session is named for this suite: the bundled Redis keeps what earlier suites of the
// run wrote (the seed's conversation-1 among them), and one check here is that A's session
// is nowhere in the shared layout.
const AGENT: AgentSpec = {
  agent: SEED.agent,
  image: IMAGE_NAMES.app(),
  session: 'tenancy-conversation',
  message: 'A secret of A',
};
const ISOLATED = { 'memory.kaos.tools/isolation': 'namespace' };
const TTL = 'memory.kaos.tools/session-ttl-seconds';
/** B's retention: short enough to watch a session expire, a cap small enough to evict. */
const B_TTL = 10;
const B_MAX_SESSIONS = 3;

/** A user turn, as each agent writes one. */
const turn = (content: string) => ({ event_type: 'user_message', content });

// HTTP calls from inside a container of the project's image (node 20's fetch): busybox
// wget cannot send PUT or DELETE. Takes [method, path, body?] requests as JSON, makes them
// in turn and prints their [{status, body}].
const HTTP = [
  'const requests = JSON.parse(process.argv[1]);',
  '(async () => {',
  '  const out = [];',
  '  for (const [m, p, b] of requests) {',
  '    try {',
  '      const r = await fetch(process.env.MEMORY_API_URL + p, { method: m,',
  "        headers: b ? { 'content-type': 'application/json' } : {},",
  '        body: b ? JSON.stringify(b) : undefined });',
  '      out.push({ status: r.status, body: await r.text() });',
  '    } catch (e) {',
  '      out.push({ status: 0, body: String(e) });',
  '    }',
  '  }',
  '  console.log(JSON.stringify(out));',
  '})();',
].join('\n');

interface Reply {
  status: number;
  body: string;
  json: any;
}

/**
 * What an attacker with pod-create rights in a namespace can run: no agent label (no
 * sidecar), the namespace's tenant Secret mounted, redis-cli in one container and the
 * operator CLI (the project's image) in the other, both pointed at the bundled Redis.
 */
function attackerPod(namespace: string, redisUrl: string): object {
  const mount = { name: 'tenant', mountPath: '/tenant', readOnly: true };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'attacker', namespace },
    spec: {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'tenant', secret: { secretName: TENANT_SECRET.name } }],
      containers: [
        {
          name: 'cli',
          image: IMAGE_NAMES.redis(),
          command: ['sleep', '3600'],
          securityContext: { runAsUser: 999 },
          volumeMounts: [mount],
        },
        {
          name: 'kaos',
          image: IMAGE_NAMES.app(),
          command: ['sleep', '3600'],
          env: [
            { name: 'MEMORY_REDIS_URL', value: redisUrl },
            { name: 'MEMORY_REDIS_PASSWORD_FILE', value: `/tenant/${TENANT_SECRET.passwordKey}` },
            {
              name: 'MEMORY_REDIS_USERNAME',
              valueFrom: {
                secretKeyRef: { name: TENANT_SECRET.name, key: TENANT_SECRET.usernameKey },
              },
            },
          ],
          volumeMounts: [mount],
        },
      ],
    },
  };
}

describe('namespaces as tenants on a real node', () => {
  let cluster: NodeCluster;
  let admin: RedisCredential;
  let a: string;
  let b: string;
  let shared: string;
  const pods: Record<string, PodJson> = {};
  const kubectl = (...args: string[]) => cluster.kubectl(args);
  /** A container of the namespace's agent pod as stored (the sidecar is an init container). */
  const containerOf = (namespace: string, name: string) =>
    findContainer(pods[namespace] as unknown as V1Pod, name)!;

  /** `kubectl exec` into the agent container of `namespace`'s agent pod, up to its `--`. */
  const inAgent = (namespace: string) => [
    '-n',
    namespace,
    'exec',
    pods[namespace]!.metadata.name,
    '-c',
    SEED.container,
  ];

  /** HTTP calls through the sidecar of the agent in `namespace`, in one `kubectl exec` (ms apart). */
  const calls = async (
    namespace: string,
    requests: [method: string, path: string, body?: unknown][],
  ): Promise<Reply[]> => {
    const out = await kubectl(
      ...inAgent(namespace),
      '--',
      'node',
      '-e',
      HTTP,
      JSON.stringify(requests),
    );
    return (JSON.parse(out) as { status: number; body: string }[]).map((reply) => {
      let json: unknown;
      try {
        json = JSON.parse(reply.body);
      } catch {
        json = undefined;
      }
      return { ...reply, json };
    });
  };

  const call = async (namespace: string, method: string, path: string, body?: unknown) =>
    (await calls(namespace, [[method, path, body]]))[0]!;

  /** Sessions the sidecar of `namespace` evicted for its cap, from its metrics port. */
  const evicted = async (namespace: string): Promise<number> => {
    const url = `http://127.0.0.1:${SIDECAR_METRICS_PORT}/metrics`;
    const metrics = await kubectl(
      ...inAgent(namespace),
      '--',
      'node',
      '-e',
      `fetch('${url}').then((r) => r.text()).then((t) => console.log(t))`,
    );
    const line = /^kaos_memory_sidecar_sessions_evicted_total (\d+)$/m.exec(metrics);
    if (!line) throw new Error(`no eviction count in the sidecar's metrics:\n${metrics}`);
    return Number(line[1]);
  };

  const write = (namespace: string, session: string, content: string) =>
    call(namespace, 'POST', `/v1/sessions/${session}/events`, turn(content));

  /** What the attacker's container prints (stdout and stderr) and its exit status. */
  const attack = (namespace: string, container: string, script: string) =>
    execIn(cluster, namespace, 'attacker', container, `${script} 2>&1; echo "exit=$?"`);

  const tenantSecret = (namespace: string) =>
    getJson<{ data: Record<string, string>; metadata: { uid: string } }>(
      cluster,
      '-n',
      namespace,
      'get',
      'secret',
      TENANT_SECRET.name,
    );
  const decode = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString();
  const aclUsers = async () => (await redisCli(cluster, admin, 'ACL', 'USERS')).sort();
  const redisPodIp = () =>
    kubectl('-n', RELEASE_NS, 'get', 'pod', REDIS_POD, '-o', 'jsonpath={.status.podIP}');
  const sessionKey = (namespace: string, session: string) =>
    `${tenantPrefix(namespace)}:session:${session}`;

  beforeAll(async () => {
    cluster = await startNodeWithChart(['isolation.enabled=true', 'webhook.syncSeconds=2']);
    admin = await redisAdmin(cluster);
    a = await cluster.namespace('tenant-a', ISOLATED, { [TTL]: '600' });
    b = await cluster.namespace('tenant-b', ISOLATED, {
      [TTL]: String(B_TTL),
      'memory.kaos.tools/max-sessions': String(B_MAX_SESSIONS),
    });
    shared = await cluster.namespace('shared');
    for (const namespace of [a, b, shared]) {
      await cluster.kubectl(['apply', '-f', '-'], {
        input: JSON.stringify(agentDeployment(namespace, AGENT)),
      });
    }
    // An isolated pod waits for its tenant Secret (the controller's next round).
    for (const namespace of [a, b, shared])
      pods[namespace] = await readyAgentPod(cluster, namespace, { agent: AGENT });
  }, 1_200_000);

  afterAll(() => endSuite(cluster), 60_000);

  it("gives an isolated pod its tenant's user and prefix, and its agent no Redis credentials", async () => {
    for (const namespace of [a, b]) {
      const pod = pods[namespace]!;
      const names = (containerOf(namespace, SEED.container).env ?? []).map((e) => e.name).sort();
      expect(names).toContain('MEMORY_API_URL');
      for (const withheld of ['MEMORY_REDIS_URL', 'MEMORY_TYPE', 'MEMORY_REDIS_PASSWORD'])
        expect(names).not.toContain(withheld);
      const env = Object.fromEntries(
        (containerOf(namespace, SEED.sidecar).env ?? []).map((e) => [
          e.name,
          e.value ?? e.valueFrom,
        ]),
      );
      expect(env.MEMORY_KEY_PREFIX).toBe(tenantPrefix(namespace));
      expect(env.MEMORY_REDIS_USERNAME).toEqual({
        secretKeyRef: { name: TENANT_SECRET.name, key: TENANT_SECRET.usernameKey },
      });
      const secret = await tenantSecret(namespace);
      expect(decode(secret.data[TENANT_SECRET.usernameKey])).toBe(tenantUser(namespace));
      expect(JSON.stringify(pod)).not.toContain(decode(secret.data[TENANT_SECRET.passwordKey]));
    }
    // The namespace's TTL reached the sidecar.
    expect(containerOf(a, SEED.sidecar).env).toContainEqual({
      name: 'MEMORY_SESSION_TTL_SECONDS',
      value: '600',
    });
    expect(await aclUsers()).toEqual(expect.arrayContaining([tenantUser(a), tenantUser(b)]));
  });

  it("stores A's session under A's prefix, with A's namespace TTL on its keys", async () => {
    expect((await write(a, AGENT.session, AGENT.message)).status).toBe(201);
    const keys = (await redisCli(cluster, admin, 'KEYS', `${tenantPrefix(a)}:*`)).sort();
    expect(keys).toEqual(
      expect.arrayContaining([
        sessionKey(a, AGENT.session),
        `${tenantPrefix(a)}:events:${AGENT.session}`,
        `${tenantPrefix(a)}:sessions`,
      ]),
    );
    expect(await redisCli(cluster, admin, 'KEYS', `kaos:memory:*${AGENT.session}*`)).toEqual([]);
    const ttl = Number((await redisCli(cluster, admin, 'TTL', sessionKey(a, AGENT.session)))[0]);
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it("lets B's sidecar neither read, list, forge nor erase A's sessions", async () => {
    const id = AGENT.session;
    expect((await call(b, 'GET', `/v1/sessions/${id}`)).status).toBe(404);
    expect((await call(b, 'GET', `/v1/sessions/${id}/summaries`)).status).toBe(404);
    expect((await call(b, 'PUT', `/v1/sessions/${id}/hold`, { reason: 'x' })).status).toBe(404);
    expect((await call(b, 'DELETE', `/v1/sessions/${id}`)).status).toBe(404);
    // Reads of a session B does not have are empty, as KAOS's are for an unknown session.
    const events = await call(b, 'GET', `/v1/sessions/${id}/events`);
    expect(events.json.events).toEqual([]);
    const context = await call(b, 'GET', `/v1/sessions/${id}/context`);
    expect(context.status).toBe(200);
    expect(context.body).not.toContain(AGENT.message);

    // In one process, a few ms apart: B's sessions live only B_TTL, and a kubectl exec
    // each takes a second or more on a loaded machine.
    const [written, listed, kaos, forged, erased] = await calls(b, [
      ['POST', '/v1/sessions/b-chat/events', turn('B speaking')],
      ['GET', '/v1/sessions'],
      ['GET', '/memory/sessions'],
      // A "user" turn under A's session id lands in B's own session of that name.
      ['POST', `/v1/sessions/${AGENT.session}/events`, turn('forged by B')],
      // Erasure by user (every team's sessions belong to "user" by default) reaches B's only.
      ['DELETE', '/v1/sessions?user_id=user'],
    ]);
    expect(written!.status).toBe(201);
    expect(listed!.status).toBe(200);
    expect(listed!.json.sessions.map((s: { session_id: string }) => s.session_id)).toEqual([
      'b-chat',
    ]);
    expect(kaos!.body).not.toContain(AGENT.session);
    expect(forged!.status).toBe(201);
    expect(erased!.status).toBe(200);
    expect(erased!.json.deleted).toBe(2);

    const fromA = await call(a, 'GET', `/v1/sessions/${AGENT.session}/events`);
    expect(fromA.status).toBe(200);
    expect(fromA.json.events.map((e: { content: unknown }) => e.content)).toEqual([AGENT.message]);
    // Nothing of A in B's metrics (labels are routes and codes, never ids or namespaces).
    const metrics = await call(b, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).not.toContain(a);
    expect(metrics.body).not.toContain(AGENT.session);
  });

  it("refuses B's own Redis credentials everything of A's, and everything outside B", async () => {
    const url = specEnv(containerOf(b, SEED.sidecar)).MEMORY_REDIS_URL!;
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(attackerPod(b, url)) });
    await kubectl('-n', b, 'wait', '--for=condition=Ready', 'pod/attacker', '--timeout=120s');

    const host = new URL(url);
    const cli = (...args: string[]) =>
      attack(
        b,
        'cli',
        `REDISCLI_AUTH="$(cat /tenant/password)" redis-cli --no-auth-warning ` +
          `--user "$(cat /tenant/username)" -h ${host.hostname} -p ${host.port || 6379} ` +
          args.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' '),
      );
    // It is a working credential: B's own keys answer.
    expect(await cli('HGET', sessionKey(b, 'b-chat-2'), 'session_id')).not.toMatch(/NOPERM/);
    expect((await write(b, 'b-chat-2', 'B again')).status).toBe(201);
    expect(await cli('HGET', sessionKey(b, 'b-chat-2'), 'session_id')).toContain('b-chat-2');

    const aSession = sessionKey(a, AGENT.session);
    const aEvents = `${tenantPrefix(a)}:events:${AGENT.session}`;
    const attempts: [string, string[]][] = [
      ['read A', ['HGETALL', aSession]],
      ['read A events', ['LRANGE', aEvents, '0', '-1']],
      ['write A', ['RPUSH', aEvents, '{"event_type":"user_message","content":"forged"}']],
      ['delete A', ['DEL', aSession]],
      ['read shared', ['HGETALL', 'kaos:memory:sessions']],
      ['script on A', ['EVAL', "return redis.call('hgetall', KEYS[1])", '1', aSession]],
      ['script, undeclared key', ['EVAL', `return redis.call('del', '${aSession}')`, '0']],
      ['KEYS', ['KEYS', '*']],
      ['SCAN', ['SCAN', '0', 'MATCH', `${tenantPrefix(a)}:*`]],
      ['FLUSHALL', ['FLUSHALL']],
      ['CONFIG', ['CONFIG', 'GET', 'requirepass']],
      ['ACL', ['ACL', 'LIST']],
      ['MONITOR', ['MONITOR']],
      ['REPLICAOF', ['REPLICAOF', '10.0.0.1', '6379']],
      ['CLIENT KILL', ['CLIENT', 'KILL', 'TYPE', 'normal']],
    ];
    // A script's own key access is checked as it runs ("can't access" is Redis 7.0's NOPERM there).
    for (const [what, args] of attempts)
      expect(await cli(...args), what).toMatch(/NOPERM|user executing the script can't access/);
    expect(await cli('EXISTS', aSession)).toMatch(/NOPERM/);
    expect(await redisCli(cluster, admin, 'HGET', aSession, 'session_id')).toEqual([AGENT.session]);
    expect(await redisCli(cluster, admin, 'LLEN', aEvents)).toEqual(['1']);

    // The operator CLI with B's credentials, aimed at A: a clear refusal, nothing of A.
    const ops = (args: string) => attack(b, 'kaos', `node /app/dist/cli/main.js sessions ${args}`);
    for (const args of [`list --namespace ${a}`, `export --all --namespace ${a}`]) {
      const out = await ops(args);
      expect(out, args).toMatch(/NOPERM/);
      expect(out, args).not.toContain(AGENT.message);
      expect(out, args).not.toMatch(/exit=0/);
    }
    const erase = await ops(`erase --user user --namespace ${a}`);
    expect(erase).toMatch(/NOPERM/);
    // B's sessions live B_TTL (10 s): one written now, so the export has records for the
    // import into A to be refused, however long the attempts above took.
    expect((await write(b, 'b-chat-2', 'B to export')).status).toBe(201);
    const exported = await ops(
      `export --all --namespace ${b} > /tmp/b.jsonl && echo "exported $(grep -c . /tmp/b.jsonl)"`,
    );
    expect(Number(/exported (\d+)/.exec(exported)?.[1])).toBeGreaterThan(0);
    const imported = await ops(`import /tmp/b.jsonl --namespace ${a}`);
    expect(imported).toMatch(/NOPERM/);
    expect(await redisCli(cluster, admin, 'ZCARD', `${tenantPrefix(a)}:sessions`)).toEqual(['1']);
    expect(await redisCli(cluster, admin, 'LLEN', aEvents)).toEqual(['1']);
  });

  it('keeps the shared namespace in the Redis-era layout, read by Python', async () => {
    expect((await write(shared, 'shared-chat', 'shared hello')).status).toBe(201);
    const keys = await redisCli(cluster, admin, 'KEYS', 'kaos:memory:*shared-chat');
    // KAOS's two keys (and the sidecar's own beside them: meta, ids, types), index entry too.
    expect(keys).toEqual(
      expect.arrayContaining(['kaos:memory:session:shared-chat', 'kaos:memory:events:shared-chat']),
    );
    expect(
      await redisCli(cluster, admin, 'ZSCORE', 'kaos:memory:sessions', 'shared-chat'),
    ).toHaveLength(1);
    // The Python side of test/interop, from the host to the Redis pod, as the memory user.
    const ip = await redisPodIp();
    const password = await redisPassword(cluster);
    const python = spawnSync(findPython(), [`${REPO_ROOT}/test/interop/kaos_redis.py`], {
      input: JSON.stringify({
        url: `redis://:${encodeURIComponent(password)}@${ip.trim()}:6379`,
        prefix: 'kaos:memory',
        commands: [
          { command: 'read', session_id: 'shared-chat' },
          { command: 'session', session_id: 'shared-chat' },
        ],
      }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(python.stderr).toBe('');
    const [events, session] = JSON.parse(python.stdout) as [any[], any];
    expect(events.map((e) => [e.event_type, e.content])).toEqual([
      ['user_message', '"shared hello"'],
    ]);
    expect(session.session.session_id).toBe('shared-chat');
  });

  it('keeps a held session through eviction, expiry and erasure, and lets it expire once released', async () => {
    expect((await write(b, 'held', 'keep me')).status).toBe(201);
    const hold = await call(b, 'PUT', '/v1/sessions/held/hold', { reason: 'case 42' });
    expect(hold.status).toBe(200);
    expect(Number((await redisCli(cluster, admin, 'TTL', sessionKey(b, 'held')))[0])).toBe(-1);

    // Eviction: more sessions than B's cap; the oldest unheld ones go, the held one stays.
    // (B's sidecar counts what it evicted: later-1 went for the cap, not its short TTL.)
    const evictedBefore = await evicted(b);
    const later = await calls(
      b,
      Array.from({ length: B_MAX_SESSIONS + 1 }, (_, i) => [
        'POST',
        `/v1/sessions/later-${i + 1}/events`,
        turn(`later ${i + 1}`),
      ]),
    );
    expect(later.map((reply) => reply.status)).toEqual(later.map(() => 201));
    expect(Number((await redisCli(cluster, admin, 'EXISTS', sessionKey(b, 'later-1')))[0])).toBe(0);
    expect(await evicted(b)).toBeGreaterThan(evictedBefore);
    expect((await call(b, 'GET', '/v1/sessions/held/events')).status).toBe(200);

    // Expiry: once a session written after the hold has expired, the held one is still whole.
    await pollUntil(
      `an unheld session of B to expire (TTL ${B_TTL}s)`,
      async () =>
        Number(
          (
            await redisCli(cluster, admin, 'EXISTS', sessionKey(b, `later-${B_MAX_SESSIONS + 1}`))
          )[0],
        ) === 0,
      { timeoutMs: (B_TTL + 30) * 1000, intervalMs: 1_000 },
    );
    const kept = await call(b, 'GET', '/v1/sessions/held/events');
    expect(kept.json.events.map((e: { content: unknown }) => e.content)).toEqual(['keep me']);

    // Erasure by user skips it, and says so.
    const erased = await call(b, 'DELETE', '/v1/sessions?user_id=user');
    expect(erased.json).toMatchObject({ held: 1 });
    expect((await call(b, 'GET', '/v1/sessions/held')).status).toBe(200);
    expect((await call(b, 'DELETE', '/v1/sessions/held')).status).toBe(409);

    // Released: B's TTL applies again from now, and it expires.
    const released = await call(b, 'DELETE', '/v1/sessions/held/hold');
    expect(released.json).toMatchObject({ released: true });
    const ttl = Number((await redisCli(cluster, admin, 'TTL', sessionKey(b, 'held')))[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(B_TTL);
    await pollUntil(
      'the released session to expire',
      async () =>
        Number((await redisCli(cluster, admin, 'EXISTS', sessionKey(b, 'held')))[0]) === 0,
      { timeoutMs: (B_TTL + 30) * 1000, intervalMs: 1_000 },
    );
    expect((await call(b, 'GET', '/v1/sessions/held')).status).toBe(404);
  }, 180_000);

  it("rotates a tenant's password: the old one refused, the running sidecar on the new", async () => {
    const before = await tenantSecret(a);
    const old = decode(before.data[TENANT_SECRET.passwordKey]);
    const asTenant = (password: string) =>
      redisCli(cluster, { user: tenantUser(a), password }, 'PING').then(
        (lines) => lines.join(' '),
        (err: Error) => err.message,
      );
    expect(await asTenant(old)).toBe('PONG');
    await kubectl('-n', a, 'delete', 'secret', TENANT_SECRET.name);
    let next = '';
    await pollUntil(
      'the controller to make a new tenant Secret',
      async () => {
        const secret = await tenantSecret(a).catch(() => undefined);
        if (!secret || secret.metadata.uid === before.metadata.uid) return false;
        next = decode(secret.data[TENANT_SECRET.passwordKey]);
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(next).not.toBe(old);
    expect(await asTenant(next)).toBe('PONG');
    // redis-cli reports the refused AUTH on stderr; the PING after it is refused too.
    expect(await asTenant(old)).toMatch(/WRONGPASS|NOAUTH/);
    await pollUntil(
      "A's running sidecar to take the new password",
      async () =>
        (await kubectl('-n', a, 'logs', pods[a]!.metadata.name, '-c', SEED.sidecar)).includes(
          'redis password changed',
        ),
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    expect((await write(a, AGENT.session, 'after rotation')).status).toBe(201);
    const events = await call(a, 'GET', `/v1/sessions/${AGENT.session}/events`);
    expect(events.json.events.map((e: { content: unknown }) => e.content)).toEqual([
      AGENT.message,
      'after rotation',
    ]);
  }, 360_000);

  it("removes a deleted namespace's user and keeps its sessions to their TTL or hold", async () => {
    expect((await write(b, 'kept', 'under a hold when the namespace goes')).status).toBe(201);
    expect((await call(b, 'PUT', '/v1/sessions/kept/hold', { reason: 'case 7' })).status).toBe(200);
    expect((await write(b, 'last', 'before the namespace goes')).status).toBe(201);
    await kubectl('delete', 'namespace', b, '--wait=false');
    await pollUntil(
      `the ACL user ${tenantUser(b)} to be removed`,
      async () => !(await aclUsers()).includes(tenantUser(b)),
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(await aclUsers()).toContain(tenantUser(a));
    // Not erased: an unheld session expires by the TTL it was written with, a held one stays.
    const last = Number((await redisCli(cluster, admin, 'TTL', sessionKey(b, 'last')))[0]);
    expect(last === -2 || (last > 0 && last <= B_TTL), `TTL ${last}`).toBe(true);
    expect(Number((await redisCli(cluster, admin, 'TTL', sessionKey(b, 'kept')))[0])).toBe(-1);

    // The operator finds and lifts the hold with the admin user (docs/adr/0036).
    const ip = (await redisPodIp()).trim();
    const operator = (...args: string[]) => {
      const line = kaosMemory(['sessions', ...args, '--namespace', b]);
      return spawnSync(line.command, line.args, {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          MEMORY_REDIS_URL: `redis://${ip}:6379`,
          MEMORY_REDIS_USERNAME: (admin as { user: string }).user,
          MEMORY_REDIS_PASSWORD: (admin as { password: string }).password,
        },
      });
    };
    const holds = operator('holds');
    expect(holds.stdout).toMatch(/^kept\theld since \S+\tcase 7\n$/);
    const released = operator('release', 'kept');
    expect(released.stdout).toBe('released kept\n');
    expect(released.status).toBe(0);
    const ttl = Number((await redisCli(cluster, admin, 'TTL', sessionKey(b, 'kept')))[0]);
    expect(ttl).toBeGreaterThan(0);
    expect((await call(a, 'GET', `/v1/sessions/${AGENT.session}`)).status).toBe(200);
  }, 180_000);
});
