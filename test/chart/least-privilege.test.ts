// What each credential reaches, as the chart renders it (docs/adr/0034-least-privilege.md):
// pods get the memory user's Secret, the admin Secret is mounted by Redis alone, the
// NetworkPolicy admits `agent` pods only from injected namespaces, and both admission
// policies guard the credentials controller's Secrets.
import { describe, expect, it } from 'vitest';
import { find, parseManifests, template, type Manifest } from './helm.js';

async function render(sets: string[] = []): Promise<Manifest[]> {
  const result = await template([], sets);
  expect(result.code, result.stderr).toBe(0);
  return parseManifests(result.stdout);
}

describe('least privilege in the default render', () => {
  it('gives pods the memory user Secret, and the admin one only to Redis', async () => {
    const manifests = await render();
    const memory = find(manifests, 'Secret', 'kaos-memory-redis') as unknown as {
      data: Record<string, string>;
    };
    const admin = find(manifests, 'Secret', 'kaos-memory-redis-admin') as unknown as {
      data: Record<string, string>;
    };
    expect(Object.keys(memory.data)).toEqual(['redis-password']);
    expect(Object.keys(admin.data)).toEqual(['admin-password']);
    expect(admin.data['admin-password']).not.toBe(memory.data['redis-password']);

    const webhook = find(manifests, 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    const env = Object.fromEntries(
      webhook.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]),
    );
    expect(env.INJECT_REDIS_PASSWORD_SECRET).toBe('kaos-memory-redis/redis-password');
    // The admin Secret's name appears in its own manifest and the StatefulSet, nowhere else.
    const naming = manifests
      .filter((m) => JSON.stringify(m).includes('kaos-memory-redis-admin'))
      .map((m) => `${m.kind}/${m.metadata.name}`);
    expect(naming.sort()).toEqual([
      'Secret/kaos-memory-redis-admin',
      'StatefulSet/kaos-memory-redis',
    ]);
  });

  it('admits `agent` pods to Redis only from namespaces the webhook injects', async () => {
    const manifests = await render();
    const policy = find(manifests, 'NetworkPolicy') as unknown as {
      spec: { ingress: { _from: unknown[] }[] }; // client-node's loadYaml: from → _from
    };
    const webhooks = find(manifests, 'MutatingWebhookConfiguration') as unknown as {
      webhooks: { namespaceSelector: unknown }[];
    };
    expect(policy.spec.ingress).toHaveLength(1);
    expect(policy.spec.ingress[0]!._from).toEqual([
      {
        // The same namespaces as the injection's own selector.
        namespaceSelector: webhooks.webhooks[0]!.namespaceSelector,
        podSelector: { matchExpressions: [{ key: 'agent', operator: 'Exists' }] },
      },
    ]);
  });

  it('guards the copies with both admission policies, the proof one for everyone else', async () => {
    const manifests = await render();
    const names = manifests
      .filter((m) => m.kind.startsWith('ValidatingAdmissionPolicy'))
      .map((m) => `${m.kind}/${m.metadata.name}`)
      .sort();
    expect(names).toEqual([
      'ValidatingAdmissionPolicy/kaos-memory-webhook-secrets',
      'ValidatingAdmissionPolicy/kaos-memory-webhook-secrets-proof',
      'ValidatingAdmissionPolicyBinding/kaos-memory-webhook-secrets',
      'ValidatingAdmissionPolicyBinding/kaos-memory-webhook-secrets-proof',
    ]);
    const proof = find(
      manifests,
      'ValidatingAdmissionPolicy',
      'kaos-memory-webhook-secrets-proof',
    ) as unknown as { spec: { matchConditions: { expression: string }[] } };
    expect(proof.spec.matchConditions[0]!.expression).toBe(
      "request.userInfo.username != 'system:serviceaccount:kaos-system:kaos-memory'",
    );
  });

  it('takes an admin Secret of yours instead of generating one', async () => {
    const manifests = await render([
      'redis.auth.admin.existingSecret=my-admin',
      'redis.auth.admin.existingSecretKey=pw',
    ]);
    expect(manifests.some((m) => m.metadata.name === 'kaos-memory-redis-admin')).toBe(false);
    const redis = find(manifests, 'StatefulSet') as unknown as {
      spec: {
        template: {
          spec: {
            volumes: { name: string; secret?: { secretName: string } }[];
            containers: { env: { name: string; value?: string }[] }[];
          };
        };
      };
    };
    const { volumes, containers } = redis.spec.template.spec;
    expect(volumes.find((v) => v.name === 'auth-admin')?.secret?.secretName).toBe('my-admin');
    expect(containers[0]!.env.find((e) => e.name === 'REDIS_ADMIN_KEY')?.value).toBe('pw');
  });
});
