import { X509Certificate } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import { generateCertificates, type CertificateOptions } from '../certs/generate.js';
import { kubeStatus } from '../lib/kube-errors.js';
import type { TlsMaterial } from './server.js';

/** Where the shared certificate lives, what it must cover and when to renew it. */
export interface ManagedCertificateOptions extends Omit<CertificateOptions, 'now'> {
  namespace: string;
  /** The Secret holding ca.crt, tls.crt and tls.key, shared by all replicas. */
  secretName: string;
  /** Renew once this fraction of the lifetime has passed. Default 2/3. */
  renewAfter?: number;
  /** The clock, for tests: renewal is due by it, and new certificates start at it. */
  now?: () => Date;
}

export interface StoredCertificate extends TlsMaterial {
  /** PEM bundle of every CA a replica may still be serving with: the newest first. */
  caBundle: string;
  /** When a replica should replace this certificate. */
  renewAt: Date;
  resourceVersion: string;
}

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kaos-memory-webhook' };
/** Renew once this fraction of a certificate's lifetime has passed. */
const RENEW_AFTER = 2 / 3;
/** Previous CAs kept in the bundle beside the newest, for replicas yet to switch. */
const PREVIOUS_CAS = 2;
/** Rounds of read-then-write lost to other replicas before giving up until the next check. */
const MAX_ATTEMPTS = 5;

/**
 * Load the shared serving certificate from its Secret, or make it. Creation is
 * create-if-absent, and renewal a resourceVersion-guarded replace: when two replicas
 * race, the loser gets 409 Conflict and takes the winner's certificate.
 */
export async function ensureSecret(
  kubeConfig: KubeConfig,
  options: ManagedCertificateOptions,
): Promise<StoredCertificate> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const { namespace, secretName: name } = options;
  const now = options.now ?? (() => new Date());
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await readSecret(core, namespace, name);
    if (existing === undefined) {
      const body = secretBody(options, issue(options, now()));
      try {
        return mustRead(await core.createNamespacedSecret({ namespace, body }), options);
      } catch (err) {
        if (kubeStatus(err) === 409) continue; // Another replica created it first: read theirs.
        throw err;
      }
    }
    const stored = fromSecret(existing, options);
    if (stored && stored.renewAt > now() && covers(stored.cert, options)) return stored;

    // Missing, unreadable, due for renewal, or for other names: replace, keeping old CAs trusted.
    const bundle = issue(options, now());
    bundle.caBundle = joinBundle([bundle.caBundle, ...stillValid(stored?.caBundle ?? '', now())]);
    const body = secretBody(options, bundle, existing);
    try {
      return mustRead(await core.replaceNamespacedSecret({ name, namespace, body }), options);
    } catch (err) {
      if (kubeStatus(err) === 409) continue; // Someone renewed it meanwhile: use theirs.
      throw err;
    }
  }
  throw new Error(`Secret ${namespace}/${name} kept changing under us; giving up for now`);
}

/**
 * Make every webhook in the MutatingWebhookConfiguration trust `caBundle`. A JSON patch
 * tests each webhook's name at its index, so a concurrent edit fails instead of misplacing
 * the bundle. Returns whether anything changed.
 */
export async function patchCaBundle(
  kubeConfig: KubeConfig,
  configName: string,
  caBundle: string,
): Promise<boolean> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const current = await api.readMutatingWebhookConfiguration({ name: configName });
  const encoded = Buffer.from(caBundle).toString('base64');
  const ops: object[] = [];
  (current.webhooks ?? []).forEach((webhook, index) => {
    if (webhook.clientConfig.caBundle === encoded) return;
    ops.push({ op: 'test', path: `/webhooks/${index}/name`, value: webhook.name });
    ops.push({ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: encoded });
  });
  if (ops.length === 0) return false;
  await api.patchMutatingWebhookConfiguration(
    { name: configName, body: ops },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  return true;
}

/** Both steps the webhook needs before it is ready: a certificate, and a caBundle that trusts it. */
export async function ensureCertificate(
  kubeConfig: KubeConfig,
  options: ManagedCertificateOptions & { webhookConfigName: string },
): Promise<StoredCertificate> {
  const stored = await ensureSecret(kubeConfig, options);
  await patchCaBundle(kubeConfig, options.webhookConfigName, stored.caBundle);
  return stored;
}

function issue(options: ManagedCertificateOptions, now: Date): TlsMaterial & { caBundle: string } {
  const made = generateCertificates({
    dns: options.dns,
    ips: options.ips,
    validityMs: options.validityMs,
    now,
  });
  return { cert: made.tlsCert, key: made.tlsKey, caBundle: made.caCert };
}

/** The Secret to write; a replacement keeps the existing one's type, labels and annotations. */
function secretBody(
  options: ManagedCertificateOptions,
  tls: TlsMaterial & { caBundle: string },
  existing?: V1Secret,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: options.secretName,
      namespace: options.namespace,
      labels: { ...existing?.metadata?.labels, ...MANAGED_BY },
      annotations: existing?.metadata?.annotations,
      // Guards the replace: a concurrent writer makes it fail with 409.
      resourceVersion: existing?.metadata?.resourceVersion,
    },
    // The type is immutable; an Opaque Secret made beforehand stays Opaque.
    type: existing?.type ?? 'kubernetes.io/tls',
    data: {
      ...existing?.data,
      'ca.crt': Buffer.from(tls.caBundle).toString('base64'),
      'tls.crt': Buffer.from(tls.cert).toString('base64'),
      'tls.key': Buffer.from(tls.key).toString('base64'),
    },
  };
}

/** The certificate in a Secret, or undefined when it is incomplete or unparsable. */
function fromSecret(
  secret: V1Secret,
  options: ManagedCertificateOptions,
): StoredCertificate | undefined {
  const field = (key: string) => {
    const value = secret.data?.[key];
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
  };
  const cert = field('tls.crt');
  const key = field('tls.key');
  const caBundle = field('ca.crt');
  if (!cert || !key || !caBundle) return undefined;
  try {
    const x509 = new X509Certificate(cert);
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    const renewAt = new Date(from + (to - from) * (options.renewAfter ?? RENEW_AFTER));
    return {
      cert,
      key,
      caBundle,
      renewAt,
      resourceVersion: secret.metadata?.resourceVersion ?? '',
    };
  } catch {
    return undefined;
  }
}

function mustRead(secret: V1Secret, options: ManagedCertificateOptions): StoredCertificate {
  const stored = fromSecret(secret, options);
  if (!stored)
    throw new Error(
      `Secret ${options.namespace}/${options.secretName} came back without a certificate`,
    );
  return stored;
}

/** Whether the certificate names every host the webhook must answer as. */
function covers(cert: string, options: ManagedCertificateOptions): boolean {
  const x509 = new X509Certificate(cert);
  const sans = new Set((x509.subjectAltName ?? '').split(', '));
  return (
    options.dns.every((name) => sans.has(`DNS:${name}`)) &&
    (options.ips ?? []).every((ip) => x509.checkIP(ip) !== undefined)
  );
}

function splitBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function stillValid(bundle: string, now: Date): string[] {
  return splitBundle(bundle)
    .filter((pem) => {
      try {
        return Date.parse(new X509Certificate(pem).validTo) > now.getTime();
      } catch {
        return false;
      }
    })
    .slice(0, PREVIOUS_CAS); // So the bundle never grows past three CAs.
}

function joinBundle(pems: string[]): string {
  return `${pems.map((p) => p.trim()).join('\n')}\n`;
}

async function readSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (kubeStatus(err) === 404) return undefined;
    throw err;
  }
}
