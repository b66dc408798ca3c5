// The Redis password in every namespace where the webhook injects a pod
// (docs/decisions.md, "The Redis password in every agent namespace"). A secretKeyRef
// and a Secret volume read from the pod's own namespace, so before the webhook admits a
// pod that references the password Secret, a copy of it is there: made from the Secret
// of the same name in the webhook's own namespace (the source). A loop then keeps every
// copy equal to the source (a rotation reaches the agents' mounted files) and deletes
// the copies no pod uses any more, after a grace period.
//
// What the webhook may touch is small and checked by the API server, not by this code:
// RBAC gives it Secrets of one name only (plus `create`, which RBAC cannot limit by
// name), and the chart's ValidatingAdmissionPolicies refuse any Secret write of its
// service account that is not an Opaque copy carrying its labels and its proof of
// ownership, or that would put the password into an excluded namespace. The code checks
// the same on its side (webhook/ownership.ts): it writes only Secrets that carry the
// proof, an annotation nobody else may set, never one a user merely labelled like a
// copy, and never the password into a namespace its configuration does not select.
// Each copy is owned by the MutatingWebhookConfiguration, so the garbage collector
// deletes every copy when `helm uninstall` deletes that configuration.
//
// Races: copies are written with resourceVersion guards and deleted with preconditions,
// so replicas can all run the loop. A copy is deleted only after being seen unused on two
// rounds at least `unusedGraceMs` apart; admitting a pod clears that mark with a guarded
// write, which makes a concurrent delete fail instead of removing a Secret a pod needs.
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1OwnerReference,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { ANNOTATIONS, CREDENTIAL_COPY } from '../lib/contract.js';
import type { Logger } from '../lib/logger.js';
import { describeKubeError as describe, kubeStatus as statusOf } from '../lib/kube-errors.js';
import { Periodic } from '../lib/periodic.js';
import { isIsolated } from '../lib/tenancy.js';
import { namespacesWith } from './agent-namespaces.js';
import type { Lease } from './lease.js';
import type { Reviewed } from './admission.js';
import type { InjectConfig } from './config.js';
import { injectedNamespace, isOwnCopy, looksOwn, PROOF_ANNOTATION } from './ownership.js';

export { isOwnCopy, PROOF_ANNOTATION } from './ownership.js';

export interface CredentialCopyOptions {
  /** Where the source Secret lives: the webhook's own namespace. */
  namespace: string;
  /** The Secret's name: the source's and every copy's (pods reference it by this name). */
  secretName: string;
  /** The one key copied: the one pods read. */
  key: string;
  /** The MutatingWebhookConfiguration that owns every copy. */
  webhookConfigName: string;
  syncIntervalMs: number;
  unusedGraceMs: number;
  /** INJECT_ISOLATION_DEFAULT=namespace: every namespace is isolated, none gets the password. */
  isolateAll?: boolean;
  now?: () => Date;
}

/** A copy could not be made or checked; the message is for the user (a warning). */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

/** How a round of the loop ended: a copy pass, another replica's turn (the Lease), or an error. */
export type RoundResult = 'synced' | 'standby' | 'failed';

export interface SyncReport {
  created: string[];
  updated: string[];
  marked: string[];
  deleted: string[];
}

/** Whether an injected pod reads `secretName` (by volume or by environment). */
export function podUsesSecret(pod: V1Pod, secretName: string): boolean {
  if (pod.metadata?.annotations?.[ANNOTATIONS.status] === undefined) return false;
  const spec = pod.spec;
  if (!spec) return false;
  if ((spec.volumes ?? []).some((v) => v.secret?.secretName === secretName)) return true;
  return [...spec.containers, ...(spec.initContainers ?? [])].some((c) =>
    (c.env ?? []).some((e) => e.valueFrom?.secretKeyRef?.name === secretName),
  );
}

/** The copy to create in `namespace`: the one key, Opaque, labelled, proven, owned. */
export function copyBody(
  options: Pick<CredentialCopyOptions, 'namespace' | 'secretName' | 'key' | 'webhookConfigName'>,
  namespace: string,
  value: string,
  owner: V1OwnerReference,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: options.secretName,
      namespace,
      labels: {
        [CREDENTIAL_COPY.managedByLabel]: CREDENTIAL_COPY.managedBy,
        [CREDENTIAL_COPY.webhookLabel]: options.webhookConfigName,
      },
      annotations: {
        [CREDENTIAL_COPY.sourceAnnotation]: `${options.namespace}/${options.secretName}`,
        [PROOF_ANNOTATION]: options.webhookConfigName,
      },
      ownerReferences: [owner],
    },
    type: 'Opaque',
    data: { [options.key]: value },
  };
}

export type CopyPlan =
  { action: 'keep' } | { action: 'update'; body: V1Secret } | { action: 'delete' };

/**
 * What one round does to one of the webhook's copies. `value` is the source's (base64),
 * undefined when the source could not be read (the data is then left as it is); `owner`
 * likewise. Pure, so every branch is a unit test.
 */
export function planCopy(
  copy: V1Secret,
  want: {
    key: string;
    value: string | undefined;
    owner: V1OwnerReference | undefined;
    inUse: boolean;
    now: Date;
    unusedGraceMs: number;
  },
): CopyPlan {
  const annotations = { ...copy.metadata?.annotations };
  const since = annotations[CREDENTIAL_COPY.unusedSinceAnnotation];
  let changed = false;
  if (want.inUse) {
    if (since !== undefined) {
      delete annotations[CREDENTIAL_COPY.unusedSinceAnnotation];
      changed = true;
    }
  } else if (since === undefined || Number.isNaN(Date.parse(since))) {
    annotations[CREDENTIAL_COPY.unusedSinceAnnotation] = want.now.toISOString();
    changed = true;
  } else if (want.now.getTime() - Date.parse(since) >= want.unusedGraceMs) {
    return { action: 'delete' };
  }

  let data = copy.data;
  const keys = Object.keys(copy.data ?? {});
  if (
    want.value !== undefined &&
    (copy.data?.[want.key] !== want.value || keys.length !== 1 || keys[0] !== want.key)
  ) {
    data = { [want.key]: want.value };
    changed = true;
  }

  let ownerReferences = copy.metadata?.ownerReferences;
  if (want.owner && !(ownerReferences ?? []).some((r) => r.uid === want.owner?.uid)) {
    // Replaces a reference to an earlier configuration of the same name (a reinstall).
    const owner = want.owner;
    ownerReferences = [
      ...(ownerReferences ?? []).filter((r) => !(r.kind === owner.kind && r.name === owner.name)),
      owner,
    ];
    changed = true;
  }

  if (!changed) return { action: 'keep' };
  return {
    action: 'update',
    body: { ...copy, metadata: { ...copy.metadata, annotations, ownerReferences }, data },
  };
}

/** The copies and the loop that keeps them. */
export class CredentialCopies {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  /** Namespace → when this replica last saw a usable copy there (ms); see the race notes. */
  private readonly confirmed = new Map<string, number>();
  /** Namespace → the check under way there, which concurrent reviews wait on. */
  private readonly checking = new Map<string, Promise<void>>();
  private readonly confirmMs: number;
  private readonly loop: Periodic;
  private readonly warned = new Set<string>();
  private onRound?: (result: RoundResult) => void;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: CredentialCopyOptions,
    private readonly logger: Logger,
    /** Held by the one replica that runs the loop; every replica runs it without one. */
    private readonly lease?: Pick<Lease, 'acquire'>,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    // Well inside the grace period, so a copy this replica vouched for cannot be deleted
    // before the pod it admitted is stored and seen using it.
    this.confirmMs = Math.min(10_000, Math.floor(options.unusedGraceMs / 3));
    this.loop = new Periodic(() => this.round(), {
      everyMs: options.syncIntervalMs,
      onError: (err) =>
        this.logger.warn({ err: describe(err) }, 'could not bring the password copies in line'),
    });
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * Makes sure the pod's namespace has the password Secret before a pod that reads it is
   * admitted. Throws CredentialError saying what is wrong; the pod is then admitted
   * without the sidecar (it could not start with it).
   */
  async ensure(namespace: string): Promise<void> {
    const seen = this.confirmed.get(namespace);
    if (seen !== undefined && this.now().getTime() - seen < this.confirmMs) return;
    // A burst of pods in one namespace shares one check (200 parallel reviews made 200
    // reads and ran past the API server's timeout: docs/decisions.md, "Admission latency").
    const running = this.checking.get(namespace);
    if (running) return running;
    const check = this.check(namespace).finally(() => this.checking.delete(namespace));
    this.checking.set(namespace, check);
    return check;
  }

  private async check(namespace: string): Promise<void> {
    const { secretName: name, key } = this.options;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.call(`read Secret ${name} in ${namespace}`, () =>
        this.readOptional(namespace),
      );
      if (existing === undefined) {
        const [value, owner] = await Promise.all([this.sourceValue(), this.owner()]);
        const body = copyBody(this.options, namespace, value, owner);
        const created = await this.call(`create Secret ${name} in ${namespace}`, () =>
          this.core.createNamespacedSecret({ namespace, body }).then(() => true),
        ).catch((err: unknown) => {
          if (statusOf(err) === 409) return false; // Another replica made it: look again.
          throw err;
        });
        if (!created) continue;
        this.logger.info({ namespace, secret: name }, 'copied the Redis password Secret');
      } else if (!isOwnCopy(existing, this.options.webhookConfigName)) {
        // Someone else's Secret of that name: used as it is, never changed.
        if (existing.data?.[key] === undefined && existing.stringData?.[key] === undefined) {
          throw new CredentialError(
            `Secret ${name} in namespace ${namespace} is not kaos-memory's and has no key ${key}`,
          );
        }
      } else if (
        existing.metadata?.annotations?.[CREDENTIAL_COPY.unusedSinceAnnotation] !== undefined
      ) {
        // Marked for deletion: unmark it with a guarded write, which a concurrent
        // delete's precondition then refuses.
        const annotations = { ...existing.metadata.annotations };
        delete annotations[CREDENTIAL_COPY.unusedSinceAnnotation];
        const body = { ...existing, metadata: { ...existing.metadata, annotations } };
        const kept = await this.call(`update Secret ${name} in ${namespace}`, () =>
          this.core.replaceNamespacedSecret({ name, namespace, body }).then(() => true),
        ).catch((err: unknown) => {
          if (statusOf(err) === 409 || statusOf(err) === 404) return false;
          throw err;
        });
        if (!kept) continue;
      }
      this.confirmed.set(namespace, this.now().getTime());
      return;
    }
    throw new CredentialError(`Secret ${name} in namespace ${namespace} kept changing; try again`);
  }

  /** Starts the loop; `onRound` hears how each round ended (the metrics count them). */
  start(onRound?: (result: RoundResult) => void): void {
    this.onRound = onRound;
    this.loop.start();
  }

  /** Idempotent. */
  stop(): void {
    this.loop.stop();
  }

  /** A round of the loop, on the replica that holds the lease. */
  private async round(): Promise<void> {
    try {
      if (this.lease && !(await this.lease.acquire())) {
        this.onRound?.('standby');
        return;
      }
      await this.sync();
      this.onRound?.('synced');
    } catch (err) {
      this.onRound?.('failed');
      throw err;
    }
  }

  /**
   * One round: every copy equal to the source and owned by the configuration, a copy
   * made where an injected pod needs one and has none, unused copies marked, then
   * deleted. Exposed so tests can drive it.
   */
  async sync(): Promise<SyncReport> {
    const report: SyncReport = { created: [], updated: [], marked: [], deleted: [] };
    const { secretName: name, namespace: home } = this.options;
    const config = await this.configuration().catch((err: unknown) => this.warnOnce('owner', err));
    const owner = config && ownerOf(config);
    const value = await this.sourceValue().catch((err: unknown) => this.warnOnce('source', err));
    const allowed = await this.injectedNamespaces(config);
    // RBAC lets the webhook list Secrets of this one name only, so the field selector
    // is what makes this list allowed at all.
    const secrets = await this.core.listSecretForAllNamespaces({
      fieldSelector: `metadata.name=${name}`,
    });
    const using = await namespacesWith(this.core, (pod) => podUsesSecret(pod, name));
    const present = new Set(secrets.items.map((s) => s.metadata?.namespace ?? ''));

    for (const copy of secrets.items) {
      const ns = copy.metadata?.namespace ?? '';
      if (ns === home) continue;
      if (!isOwnCopy(copy, this.options.webhookConfigName)) {
        if (looksOwn(copy, this.options.webhookConfigName)) this.warnUnproven(ns);
        continue;
      }
      // Never the password into a namespace the configuration does not select (excluded
      // since the copy was made): there the copy is only marked unused, then deleted.
      const inject = allowed(ns);
      await this.syncCopy(copy, report, {
        value: inject ? value : undefined,
        owner,
        inUse: using.has(ns),
      });
    }

    // Pods that need a copy and have none (deleted by hand, or by an upgrade from a chart
    // that made the copies itself): made again, never where no injected pod runs, nor in
    // a namespace the configuration does not select.
    if (owner && value !== undefined) {
      for (const ns of using) {
        if (ns === home || present.has(ns) || !allowed(ns)) continue;
        try {
          await this.core.createNamespacedSecret({
            namespace: ns,
            body: copyBody(this.options, ns, value, owner),
          });
          report.created.push(ns);
          this.logger.info({ namespace: ns, secret: name }, 'copied the Redis password Secret');
        } catch (err) {
          if (statusOf(err) !== 409) {
            this.logger.warn(
              { namespace: ns, secret: name, err: describe(err) },
              'could not copy the Redis password Secret for pods that need it',
            );
          }
        }
      }
    }
    return report;
  }

  /** One round for one of its own copies: keep, update or delete it. */
  private async syncCopy(
    copy: V1Secret,
    report: SyncReport,
    want: { value: string | undefined; owner: V1OwnerReference | undefined; inUse: boolean },
  ): Promise<void> {
    const { secretName: name, key } = this.options;
    const ns = copy.metadata?.namespace ?? '';
    const plan = planCopy(copy, {
      key,
      ...want,
      now: this.now(),
      unusedGraceMs: this.options.unusedGraceMs,
    });
    if (plan.action === 'keep') return;
    try {
      if (plan.action === 'delete') {
        this.confirmed.delete(ns);
        await this.core.deleteNamespacedSecret({
          name,
          namespace: ns,
          body: {
            preconditions: {
              resourceVersion: copy.metadata?.resourceVersion,
              uid: copy.metadata?.uid,
            },
          },
        });
        report.deleted.push(ns);
        this.logger.info({ namespace: ns, secret: name }, 'deleted an unused password copy');
        return;
      }
      await this.core.replaceNamespacedSecret({ name, namespace: ns, body: plan.body });
      const marking =
        plan.body.metadata?.annotations?.[CREDENTIAL_COPY.unusedSinceAnnotation] !== undefined &&
        copy.metadata?.annotations?.[CREDENTIAL_COPY.unusedSinceAnnotation] === undefined;
      if (plan.body.data !== copy.data) {
        report.updated.push(ns);
        this.logger.info({ namespace: ns, secret: name }, 'updated a password copy');
      }
      if (marking) report.marked.push(ns);
    } catch (err) {
      // 409/404: changed or gone meanwhile (another replica, an admission): next round.
      if (statusOf(err) !== 409 && statusOf(err) !== 404) {
        this.logger.warn(
          { namespace: ns, secret: name, err: describe(err) },
          'could not update a password copy',
        );
      }
    }
  }

  /**
   * Which namespaces the configuration sends pods from, by their labels this round; none
   * when the configuration or the namespaces cannot be read (then nothing is written).
   */
  private async injectedNamespaces(
    config: V1MutatingWebhookConfiguration | undefined,
  ): Promise<(namespace: string) => boolean> {
    if (!config) return () => false;
    const namespaces = await this.core
      .listNamespace()
      .catch((err: unknown) => this.warnOnce('namespaces', err));
    if (!namespaces) return () => false;
    const selects = injectedNamespace(config);
    const labels = new Map(
      namespaces.items.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]),
    );
    // An isolated namespace's sidecars read their tenant's Secret: the shared password is
    // never copied there, and a copy made before it was isolated is left to go unused.
    const isolated = (found: Record<string, string>) =>
      this.options.isolateAll === true || isIsolated(found);
    return (namespace) => {
      const found = labels.get(namespace);
      return found !== undefined && selects(found) && !isolated(found);
    };
  }

  private warnUnproven(namespace: string): void {
    const id = `unproven:${namespace}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.logger.warn(
      { namespace, secret: this.options.secretName },
      'a Secret labelled as a password copy without the proof of ownership: used as it is, never written; ' +
        'delete it if it is a copy from before the proof existed, and the webhook makes a new one',
    );
  }

  /** The source's value of the key, base64 as stored. */
  private async sourceValue(): Promise<string> {
    const { namespace, secretName: name, key } = this.options;
    const source = await this.call(`read Secret ${name} in ${namespace}`, () =>
      this.readOptional(namespace),
    );
    if (source === undefined) {
      throw new CredentialError(
        `the Redis password Secret ${name} does not exist in namespace ${namespace}`,
      );
    }
    const value = source.data?.[key];
    if (value === undefined) {
      throw new CredentialError(`the Redis password Secret ${namespace}/${name} has no key ${key}`);
    }
    return value;
  }

  /** The MutatingWebhookConfiguration, as the owner of every copy. */
  private async owner(): Promise<V1OwnerReference> {
    return ownerOf(await this.configuration());
  }

  private async configuration(): Promise<V1MutatingWebhookConfiguration> {
    const name = this.options.webhookConfigName;
    return this.call(`read MutatingWebhookConfiguration ${name}`, () =>
      this.admission.readMutatingWebhookConfiguration({ name }),
    );
  }

  private async readOptional(namespace: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name: this.options.secretName, namespace });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Runs an API call; a failure becomes a CredentialError naming what was tried. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CredentialError || statusOf(err) === 409) throw err;
      throw new CredentialError(`cannot ${what}: ${describe(err)}`, { cause: err });
    }
  }

  private warnOnce(what: string, err: unknown): undefined {
    const message = describe(err);
    const id = `${what}:${message}`;
    if (!this.warned.has(id)) {
      this.warned.add(id);
      this.logger.warn({ err: message }, `password copies: ${what} unavailable this round`);
    }
    return undefined;
  }
}

function ownerOf(config: V1MutatingWebhookConfiguration): V1OwnerReference {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    name: config.metadata?.name ?? '',
    uid: config.metadata?.uid ?? '',
  };
}

/**
 * The pure review, then the copy: a pod that will read the password Secret is admitted
 * with the sidecar only once the Secret is in its namespace. Dry runs change nothing
 * (the configuration says sideEffects: NoneOnDryRun).
 */
export function withCredentialCopies(
  review: (body: unknown, config: InjectConfig) => Reviewed,
  copies: Pick<CredentialCopies, 'ensure'>,
): (body: unknown, config: InjectConfig) => Promise<Reviewed> {
  return async (body, config) => {
    const reviewed = review(body, config);
    if (reviewed.status !== 200 || reviewed.outcome.result !== 'injected') return reviewed;
    // An isolated namespace's pods read their tenant's Secret (or the agent's own Redis):
    // the shared password is never copied there.
    if (reviewed.outcome.tenant) return reviewed;
    const { namespace, dryRun } = reviewed.context;
    if (dryRun || !config.passwordSecret || !namespace) return reviewed;
    try {
      await copies.ensure(namespace);
      return reviewed;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const { uid } = reviewed.body.response;
      return {
        ...reviewed,
        outcome: { result: 'failed', error },
        body: {
          ...reviewed.body,
          response: {
            uid,
            allowed: true,
            warnings: [`kaos-memory: ${message}; the pod was admitted without the memory sidecar`],
          },
        },
      };
    }
  };
}
