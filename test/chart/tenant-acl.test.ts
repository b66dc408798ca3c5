// The tenant users' commands (lib/tenancy.ts, used by webhook/tenants.ts) are the memory
// user's (the chart's kaos-memory.redisMemoryAcl): one list, so a command the layout comes
// to need is granted to both or to neither. And isolation's chart wiring: the admin
// Secret reaches the webhook only with the tenant controller in managed mode.
import { describe, expect, it } from 'vitest';
import { MEMORY_COMMANDS } from '../../lib/tenancy.js';
import { CHART, find, helmOk, parseManifests } from './helm.js';

async function render(...set: string[]) {
  const args = ['template', 'kaos-memory', CHART, '--namespace', 'kaos-system'];
  for (const s of set) args.push('--set', s);
  return parseManifests(await helmOk(args));
}

function webhookEnv(manifests: any[]): Record<string, string> {
  const deployment = find(manifests, 'Deployment', 'kaos-memory-webhook') as any;
  const env: { name: string; value?: string }[] = deployment.spec.template.spec.containers[0].env;
  return Object.fromEntries(env.map((e) => [e.name, e.value ?? '']));
}

describe('isolation in the chart', () => {
  it("gives tenant users exactly the memory user's commands", async () => {
    const manifests = await render();
    const redis = find(manifests, 'StatefulSet', 'kaos-memory-redis') as any;
    const containers = [
      ...(redis.spec.template.spec.initContainers ?? []),
      ...redis.spec.template.spec.containers,
    ];
    const acl = containers
      .flatMap((c: { env?: { name: string; value?: string }[] }) => c.env ?? [])
      .find((e: { name: string }) => e.name === 'REDIS_MEMORY_ACL')!.value as string;
    expect(acl.slice(acl.indexOf('-@all'))).toBe(MEMORY_COMMANDS);
  });

  it('mounts the admin Secret into the webhook only with managed tenant users', async () => {
    const off = await render();
    expect(webhookEnv(off).WEBHOOK_TENANTS).toBeUndefined();
    expect(JSON.stringify(find(off, 'Deployment', 'kaos-memory-webhook'))).not.toContain(
      'redis-admin',
    );
    const managed = await render('isolation.enabled=true');
    expect(webhookEnv(managed)).toMatchObject({
      WEBHOOK_TENANTS: 'managed',
      WEBHOOK_TENANT_REDIS_USER: 'kaos-admin',
      WEBHOOK_TENANT_REDIS_PASSWORD_FILE: '/etc/kaos-memory/redis-admin/admin-password',
    });
    const all = await render('isolation.default=namespace', 'isolation.tenantSecrets=provided');
    expect(webhookEnv(all)).toMatchObject({
      WEBHOOK_TENANTS: 'provided',
      INJECT_ISOLATION_DEFAULT: 'namespace',
    });
    expect(JSON.stringify(find(all, 'Deployment', 'kaos-memory-webhook'))).not.toContain(
      'redis-admin',
    );
  });
});
