// The tenant users of isolated namespaces (issue 21, part 1; docs/adr/0036-namespaces-as-tenants.md).
//
// managed (the bundled Redis): for each namespace the webhook's configuration selects and
// that is isolated (labelled memory.kaos.tools/isolation=namespace, or every one with
// INJECT_ISOLATION_DEFAULT=namespace), one round makes sure that
//   - Redis has the ACL user kaos-tenant-<ns>, keys ~kaos:tenant:<ns>:* only, the memory
//     user's commands, with the password of
//   - the Secret kaos-memory-tenant in that namespace (username, password), created by the
//     webhook with its proof of ownership (webhook/ownership.ts), so the chart's policy lets
//     only the webhook write it and the webhook writes no Secret it did not create;
// then removes (ACL DELUSER) every kaos-tenant-* user whose namespace is gone or no longer
// isolated, deletes its Secret if the namespace remains, and persists the users (ACL SAVE).
// Rotation: delete the Secret; the next round makes a new password and resets the user to
// it (the kubelet brings the new file to running sidecars, which re-authenticate).
// The controller authenticates to Redis as the admin user (its Secret is mounted into the
// webhook only when isolation is on); it runs on one replica at a time (a Lease).
//
// provided (a Redis you run yourself): no Redis at all; each round only checks that every
// isolated namespace has a Secret kaos-memory-tenant with both keys, and says which lack one.
import { randomBytes } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1Secret,
} from '@kubernetes/client-node';
import { CREDENTIAL_COPY } from '../lib/contract.js';
import type { Logger } from '../lib/logger.js';
import { Periodic } from '../lib/periodic.js';
import type { RedisTopology } from '../lib/redis-url.js';
import { isIsolated, TENANT_SECRET, tenantAclRules, tenantUser } from '../lib/tenancy.js';
import {
  closeRedis,
  connectRedis,
  MAX_BACKOFF_MS,
  whenReady,
  type RedisClient,
} from '../memory/connection.js';
import type { Lease } from './lease.js';
import { injectedNamespace, isOwnCopy, PROOF_ANNOTATION } from './ownership.js';

const USER_PREFIX = 'kaos-tenant-';

export interface TenantOptions {
  mode: 'managed' | 'provided';
  /** The MutatingWebhookConfiguration: which namespaces it selects, and the Secrets' owner. */
  webhookConfigName: string;
  /** Every selected namespace is isolated, labelled or not. */
  isolateAll: boolean;
  syncIntervalMs: number;
  /** managed: the bundled Redis, and the admin user's credentials. */
  redis?: { topology: RedisTopology; password: () => string | undefined; timeoutMs: number };
}

export interface TenantReport {
  /** Namespaces whose user (and Secret) was made or set again. */
  created: string[];
  /** Namespaces whose user was removed. */
  removed: string[];
  /** provided: isolated namespaces without a usable Secret; managed: ones with a foreign Secret. */
  missing: string[];
}

export class TenantUsers {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly loop: Periodic;
  private redis: RedisClient | undefined;
  /** Users this process has set since it started (each is set again once after a restart). */
  private readonly known = new Set<string>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: TenantOptions,
    private readonly logger: Logger,
    private readonly lease?: Pick<Lease, 'acquire'>,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.loop = new Periodic(() => this.round(), {
      everyMs: options.syncIntervalMs,
      onError: (err) =>
        this.logger.warn({ err: describe(err) }, 'could not bring the tenant users in line'),
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.loop.stop();
    if (this.redis) await closeRedis(this.redis);
    this.redis = undefined;
  }

  private async round(): Promise<void> {
    if (this.lease && !(await this.lease.acquire())) return;
    await this.sync();
  }

  /** One round; exposed so tests can drive it. */
  async sync(): Promise<TenantReport> {
    const report: TenantReport = { created: [], removed: [], missing: [] };
    const config = await this.admission.readMutatingWebhookConfiguration({
      name: this.options.webhookConfigName,
    });
    const isolated = await this.isolatedNamespaces(config);
    const secrets = await this.core.listSecretForAllNamespaces({
      fieldSelector: `metadata.name=${TENANT_SECRET.name}`,
    });
    const byNamespace = new Map(secrets.items.map((s) => [s.metadata?.namespace ?? '', s]));
    if (this.options.mode === 'provided') {
      for (const ns of isolated) if (!usable(byNamespace.get(ns))) report.missing.push(ns);
      if (report.missing.length > 0)
        this.logger.warn(
          { namespaces: report.missing },
          'isolated namespaces without their Secret',
        );
      return report;
    }
    const redis = await this.connection();
    let changed = false;
    for (const ns of isolated) {
      const secret = byNamespace.get(ns);
      if (secret && !isOwnCopy(secret, this.options.webhookConfigName)) {
        // Not the webhook's: never written, and its user is not touched.
        report.missing.push(ns);
        continue;
      }
      if (await this.ensure(redis, ns, secret, config)) {
        report.created.push(ns);
        changed = true;
      }
    }
    changed = (await this.removeStale(redis, new Set(isolated), byNamespace, report)) || changed;
    if (changed) await redis.call('ACL', 'SAVE');
    if (report.created.length + report.removed.length > 0)
      this.logger.info({ ...report }, 'tenant users brought in line');
    return report;
  }

  /** The user (and Secret) of one isolated namespace; true when anything was set. */
  private async ensure(
    redis: RedisClient,
    namespace: string,
    secret: V1Secret | undefined,
    config: V1MutatingWebhookConfiguration,
  ): Promise<boolean> {
    const user = tenantUser(namespace);
    const stored = secret?.data?.[TENANT_SECRET.passwordKey];
    if (stored !== undefined && this.known.has(user)) {
      const exists = await redis.call('ACL', 'GETUSER', user);
      if (exists !== null) return false;
    }
    // First the user, then the Secret: a sidecar that reads the Secret finds its user.
    const password = stored ? decode(stored) : randomBytes(32).toString('base64url');
    await redis.call(
      'ACL',
      'SETUSER',
      user,
      'reset',
      'on',
      `>${password}`,
      ...tenantAclRules(namespace),
    );
    this.known.add(user);
    if (stored === undefined)
      await this.core.createNamespacedSecret({
        namespace,
        body: this.secretBody(namespace, user, password, config),
      });
    return true;
  }

  /** ACL DELUSER for every tenant user whose namespace is not isolated (any more). */
  private async removeStale(
    redis: RedisClient,
    isolated: Set<string>,
    secrets: Map<string, V1Secret>,
    report: TenantReport,
  ): Promise<boolean> {
    const users = (await redis.call('ACL', 'USERS')) as string[];
    let changed = false;
    for (const user of users) {
      if (!user.startsWith(USER_PREFIX)) continue;
      const ns = user.slice(USER_PREFIX.length);
      if (isolated.has(ns)) continue;
      await redis.call('ACL', 'DELUSER', user);
      this.known.delete(user);
      changed = true;
      report.removed.push(ns);
      const secret = secrets.get(ns);
      if (secret && isOwnCopy(secret, this.options.webhookConfigName)) {
        await this.core
          .deleteNamespacedSecret({ name: TENANT_SECRET.name, namespace: ns })
          .catch((err: unknown) =>
            this.logger.warn(
              { namespace: ns, err: describe(err) },
              'could not delete a tenant Secret',
            ),
          );
      }
    }
    return changed;
  }

  /** Namespaces the configuration selects that are isolated; throws when they cannot be listed. */
  private async isolatedNamespaces(config: V1MutatingWebhookConfiguration): Promise<string[]> {
    const selects = injectedNamespace(config);
    const namespaces = await this.core.listNamespace();
    return namespaces.items
      .filter((n) => n.metadata?.deletionTimestamp === undefined)
      .filter((n) => {
        const labels = n.metadata?.labels ?? {};
        return selects(labels) && (this.options.isolateAll || isIsolated(labels));
      })
      .map((n) => n.metadata?.name ?? '')
      .filter((name) => name !== '');
  }

  private async connection(): Promise<RedisClient> {
    const redis = this.options.redis;
    if (!redis) throw new Error('tenant users: managed mode needs the Redis admin credentials');
    if (!this.redis) {
      this.redis = connectRedis(redis.topology, {
        timeoutMs: redis.timeoutMs,
        password: redis.password(),
        connectionName: 'kaos-memory-webhook:tenants',
      });
      this.redis.on('error', () => undefined);
      await this.redis.connect();
    }
    // After Redis restarted, the client reconnects with a backoff of up to 2 s.
    await whenReady(this.redis, Math.max(redis.timeoutMs, 2 * MAX_BACKOFF_MS));
    return this.redis;
  }

  private secretBody(
    namespace: string,
    user: string,
    password: string,
    config: V1MutatingWebhookConfiguration,
  ): V1Secret {
    const name = this.options.webhookConfigName;
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: TENANT_SECRET.name,
        namespace,
        labels: {
          [CREDENTIAL_COPY.managedByLabel]: CREDENTIAL_COPY.managedBy,
          [CREDENTIAL_COPY.webhookLabel]: name,
        },
        annotations: { [PROOF_ANNOTATION]: name },
        ownerReferences: [
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
            name: config.metadata?.name ?? '',
            uid: config.metadata?.uid ?? '',
          },
        ],
      },
      type: 'Opaque',
      stringData: { [TENANT_SECRET.usernameKey]: user, [TENANT_SECRET.passwordKey]: password },
    };
  }
}

/** A Secret with both keys, non-empty. */
function usable(secret: V1Secret | undefined): boolean {
  const data = secret?.data ?? {};
  return Boolean(data[TENANT_SECRET.usernameKey]) && Boolean(data[TENANT_SECRET.passwordKey]);
}

function decode(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? `status ${code}` : 'unknown error';
}
