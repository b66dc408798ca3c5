// The tenant controller (webhook/tenants.ts) on a real kube-apiserver with the chart
// installed with isolation on, and a real redis-server with ACLs and an ACL file (as the
// bundled Redis has): the controller runs in this process with the webhook
// ServiceAccount's own token, so only the chart's RBAC and policies decide what it may do.
// An isolated namespace gets its user and Secret; that user reaches its prefix and gets
// NOPERM everywhere else; the users survive a Redis restart; a namespace that loses its
// label or is deleted loses its user; provided mode touches no Redis.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, helmOk } from '../../harness/helm.js';
import { ControlPlane } from '../../harness/kube.js';
import { baseArgs, RedisNode } from '../../harness/redis.js';
import { createLogger } from '../../lib/logger.js';
import { tenantUser } from '../../lib/tenancy.js';
import { PROOF_ANNOTATION } from '../../webhook/ownership.js';
import { TenantUsers } from '../../webhook/tenants.js';

const RELEASE = 'kaos-memory';
const ADMIN = 'admin-' + 'a'.repeat(30);
const ISOLATED = { 'memory.kaos.tools/isolation': 'namespace' };
const decode = (data: string | undefined) => Buffer.from(data ?? '', 'base64').toString('utf8');

/** A connection as `username`; the caller disconnects it. */
async function as(port: number, username: string, password: string): Promise<Redis> {
  const client = new Redis({
    port,
    username,
    password,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The error a command gets, or 'ok'. */
async function outcome(client: Redis, ...args: string[]): Promise<string> {
  const [name = '', ...rest] = args;
  return client.call(name, ...rest).then(
    () => 'ok',
    (err: Error) => err.message.split(' ')[0] ?? err.message,
  );
}

describe('tenant users: one Redis user and Secret per isolated namespace', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let asWebhook: KubeConfig;
  let work: string;
  let redis: RedisNode;
  let tenants: TenantUsers;
  const logger = createLogger('test-tenants', process.env.TEST_LOG_LEVEL ?? 'silent');

  const secret = (namespace: string) =>
    core
      .readNamespacedSecret({ name: 'kaos-memory-tenant', namespace })
      .catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      });
  const credentials = async (namespace: string) => {
    const s = (await secret(namespace))!;
    return { username: decode(s.data?.username), password: decode(s.data?.password) };
  };
  const admin = () => as(redis.port, 'kaos-admin', ADMIN);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'kaos-tenants-'));
    // The harness pings as `default`: here it is a second admin, as kaos-admin is.
    redis = await RedisNode.create(
      work,
      'redis',
      (port, dir) => {
        writeFileSync(
          join(dir, 'users.acl'),
          `user default on >${ADMIN} ~* &* +@all\nuser kaos-admin on >${ADMIN} ~* &* +@all\n`,
        );
        return baseArgs(port, dir, ['--aclfile', join(dir, 'users.acl')]);
      },
      ADMIN,
    );
    await redis.start();
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    const releaseNs = await cluster.namespace('kaos-system');
    await helmOk([
      'install',
      RELEASE,
      CHART_DIR,
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--namespace',
      releaseNs,
      '--wait=false',
      '--set',
      'webhook.url=https://127.0.0.1:1/mutate',
      '--set',
      'isolation.enabled=true',
    ]);
    const deployment = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: `${RELEASE}-webhook`, namespace: releaseNs });
    const env = deployment.spec!.template.spec!.containers[0]!.env ?? [];
    expect(env.find((e) => e.name === 'WEBHOOK_TENANTS')?.value).toBe('managed');
    const kubeconfig = join(work, 'webhook.kubeconfig');
    await cluster.serviceAccountKubeconfig(
      releaseNs,
      deployment.spec!.template.spec!.serviceAccountName!,
      kubeconfig,
    );
    asWebhook = new KubeConfig();
    asWebhook.loadFromFile(kubeconfig);
    tenants = new TenantUsers(
      asWebhook,
      {
        mode: 'managed',
        webhookConfigName: RELEASE,
        isolateAll: false,
        syncIntervalMs: 60_000,
        redis: {
          topology: {
            kind: 'single',
            host: '127.0.0.1',
            port: redis.port,
            db: 0,
            tls: false,
            username: 'kaos-admin',
          } as never,
          password: () => ADMIN,
          timeoutMs: 2_000,
        },
      },
      logger,
    );
  });

  afterAll(async () => {
    await tenants?.stop();
    await cluster?.stop();
    await redis?.kill();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  let a: string;
  let b: string;
  let shared: string;

  it('gives each isolated namespace a user and a Secret, and a shared one neither', async () => {
    a = await cluster.namespace('team-a', ISOLATED);
    b = await cluster.namespace('team-b', ISOLATED);
    shared = await cluster.namespace('shared');
    const report = await tenants.sync();
    expect(report.created.sort()).toEqual([a, b].sort());
    expect(report.removed).toEqual([]);
    const s = (await secret(a))!;
    expect(s.type).toBe('Opaque');
    expect(s.metadata?.annotations?.[PROOF_ANNOTATION]).toBe(RELEASE);
    expect(decode(s.data?.username)).toBe(tenantUser(a));
    expect(decode(s.data?.password).length).toBeGreaterThanOrEqual(32);
    expect(await secret(shared)).toBeUndefined();
    // Persisted: the ACL file has both users.
    const file = readFileSync(join(redis.dir, 'users.acl'), 'utf8');
    expect(file).toContain(`user ${tenantUser(a)} on`);
    expect(file).toContain(`~kaos:tenant:${a}:*`);
    // A second round changes nothing.
    expect(await tenants.sync()).toEqual({ created: [], removed: [], missing: [] });
  });

  it("lets a tenant user reach its own prefix only: NOPERM on the shared keys, another tenant's, KEYS, FLUSHALL, CONFIG, ACL", async () => {
    const { username, password } = await credentials(a);
    const client = await as(redis.port, username, password);
    try {
      expect(await outcome(client, 'HSET', `kaos:tenant:${a}:session:s`, 'k', 'v')).toBe('ok');
      expect(await outcome(client, 'HGETALL', `kaos:tenant:${a}:session:s`)).toBe('ok');
      expect(await outcome(client, 'HSET', `kaos:tenant:${a}:{x}:session:s`, 'k', 'v')).toBe('ok');
      for (const args of [
        ['HGETALL', 'kaos:memory:session:s'],
        ['HSET', 'kaos:memory:session:s', 'k', 'v'],
        ['HGETALL', `kaos:tenant:${b}:session:s`],
        ['DEL', `kaos:tenant:${b}:sessions`],
        ['KEYS', '*'],
        ['SCAN', '0'],
        ['FLUSHALL'],
        ['CONFIG', 'GET', 'requirepass'],
        ['ACL', 'LIST'],
        ['ACL', 'SETUSER', username, '~*'],
        ['MONITOR'],
        ['REPLICAOF', '127.0.0.1', '1'],
        ['SUBSCRIBE', 'x'],
      ]) {
        expect(await outcome(client, ...args), args.join(' ')).toBe('NOPERM');
      }
    } finally {
      client.disconnect();
    }
  });

  it('keeps the users across a Redis restart (ACL SAVE)', async () => {
    await redis.kill();
    await redis.start();
    const { username, password } = await credentials(b);
    const client = await as(redis.port, username, password);
    expect(await outcome(client, 'PING')).toBe('ok');
    client.disconnect();
  });

  it('rotates a password when its Secret is deleted: the old one stops working', async () => {
    const before = await credentials(b);
    await core.deleteNamespacedSecret({ name: 'kaos-memory-tenant', namespace: b });
    expect((await tenants.sync()).created).toEqual([b]);
    const after = await credentials(b);
    expect(after.password).not.toBe(before.password);
    await expect(as(redis.port, before.username, before.password)).rejects.toThrow();
    (await as(redis.port, after.username, after.password)).disconnect();
  });

  it('removes the user of a namespace that loses its label or is deleted', async () => {
    const ns = await core.readNamespace({ name: b });
    const { 'memory.kaos.tools/isolation': _, ...labels } = ns.metadata!.labels!;
    await core.replaceNamespace({ name: b, body: { ...ns, metadata: { ...ns.metadata, labels } } });
    await core.deleteNamespace({ name: a });
    const report = await tenants.sync();
    expect(report.removed.sort()).toEqual([a, b].sort());
    const client = await admin();
    try {
      expect(await client.call('ACL', 'GETUSER', tenantUser(a))).toBeNull();
      expect(await client.call('ACL', 'GETUSER', tenantUser(b))).toBeNull();
    } finally {
      client.disconnect();
    }
    expect(await secret(b)).toBeUndefined();
    expect(readFileSync(join(redis.dir, 'users.acl'), 'utf8')).not.toContain(tenantUser(b));
  });

  it('provided mode: touches no Redis, names the isolated namespaces without a Secret', async () => {
    const c = await cluster.namespace('team-c', ISOLATED);
    const provided = new TenantUsers(
      asWebhook,
      { mode: 'provided', webhookConfigName: RELEASE, isolateAll: false, syncIntervalMs: 60_000 },
      logger,
    );
    const report = await provided.sync();
    expect(report).toEqual({ created: [], removed: [], missing: [c] });
    await core.createNamespacedSecret({
      namespace: c,
      body: {
        metadata: { name: 'kaos-memory-tenant' },
        stringData: { username: tenantUser(c), password: 'p'.repeat(32) },
      },
    });
    expect((await provided.sync()).missing).toEqual([]);
    await provided.stop();
  });
});
