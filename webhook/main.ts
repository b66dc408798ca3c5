import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { serviceDnsNames, splitHosts } from '../certs/generate.js';
import { createLogger } from '../lib/logger.js';
import { handleStopSignals } from '../lib/signals.js';
import { hasPassword } from '../lib/redis-url.js';
import { review, reviewNamespace } from './admission.js';
import { ClusterView } from './cluster-view.js';
import { loadConfig, type InjectConfig } from './config.js';
import { CredentialCopies, withCredentialCopies } from './credentials.js';
import { Lease } from './lease.js';
import { readPasswordFile } from '../sidecar/password-file.js';
import { TenantUsers } from './tenants.js';
import { WebhookServer } from './server.js';
import {
  FileCertificateSource,
  SelfManagedCertificateSource,
  type CertificateSource,
} from './tls.js';
import { detectNativeSidecar } from './version.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** How long a review waits for a namespace the cluster view has not seen yet. */
const NAMESPACE_WAIT_MS = 1_000;

/** `kaos-memory webhook`: bootstrap only. Config, TLS source, server, shutdown. */
export async function run(_argv: string[]): Promise<void> {
  const logger = createLogger('kaos-memory-webhook');
  const signals = handleStopSignals(logger);
  const config = loadConfig(process.env, readOptional(SERVICE_ACCOUNT_NAMESPACE));

  let kubeConfig: KubeConfig | undefined;
  const kube = () => {
    if (!kubeConfig) {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromDefault();
    }
    return kubeConfig;
  };

  if (hasPassword(config.inject.redisUrl)) {
    logger.warn(
      'INJECT_REDIS_URL holds a password, which every injected pod spec will show; ' +
        'prefer INJECT_REDIS_PASSWORD_SECRET',
    );
  }

  const native =
    config.nativeSidecar === 'auto'
      ? await detectNativeSidecar(kube(), logger)
      : config.nativeSidecar === 'true';
  const inject = { ...config.inject, nativeSidecar: native };

  const hosts = splitHosts(config.certHosts);
  const certificates: CertificateSource = config.tlsDir
    ? new FileCertificateSource(config.tlsDir, logger)
    : new SelfManagedCertificateSource(
        kube(),
        {
          namespace: config.namespace,
          secretName: config.certSecret,
          webhookConfigName: config.webhookConfigName,
          dns: [...serviceDnsNames(config.serviceName, config.namespace), ...hosts.dns],
          ips: hosts.ips,
        },
        logger,
      );

  // The password Secret copied into each namespace where a pod is injected.
  const secret = inject.passwordSecret;
  const copies =
    config.credentials && secret
      ? new CredentialCopies(
          kube(),
          {
            namespace: config.namespace,
            secretName: secret.name,
            key: secret.key,
            webhookConfigName: config.webhookConfigName,
            ...config.credentials,
            isolateAll: inject.isolateAll,
          },
          logger,
          new Lease(kube(), {
            namespace: config.namespace,
            name: `${config.webhookConfigName}-credentials`,
            // A replica that stops renewing hands the loop over within three rounds.
            durationSeconds: Math.ceil((3 * config.credentials.syncIntervalMs) / 1000),
          }),
        )
      : undefined;
  // The isolated namespaces' Redis users and Secrets (webhook/tenants.ts).
  const tenants = tenantUsers(config, logger, kube);
  // Namespaces, LimitRanges and ResourceQuotas in memory: a review makes no API call for them.
  const view = config.clusterView ? new ClusterView(kube(), logger) : undefined;
  const viewed = (body: unknown, cfg: InjectConfig) =>
    review(body, cfg, view ? (namespace) => view.lookup(namespace) : undefined);
  const checked = copies ? withCredentialCopies(viewed, copies) : viewed;
  const reviewer = view
    ? async (body: unknown, cfg: InjectConfig) => {
        const namespace = reviewNamespace(body);
        if (namespace !== undefined && view.synced)
          await view.waitFor(namespace, NAMESPACE_WAIT_MS);
        return checked(body, cfg);
      }
    : checked;
  const server = new WebhookServer({
    inject,
    tls: await certificates.load(),
    logger,
    isReady: () => certificates.ready && (view?.synced ?? true),
    reviewer,
  });
  const port = await server.listen(config.port, config.host);
  certificates.start((tls) => server.setCertificate(tls));
  copies?.start((result) => server.metrics.credentialRounds.inc({ result }));
  tenants?.start();
  void view?.start();
  logger.info(
    {
      port,
      host: config.host,
      native,
      tls: config.tlsDir ? 'folder' : 'self-managed',
      namespace: config.namespace,
      passwordCopies: copies !== undefined,
      clusterView: view !== undefined,
    },
    'webhook listening',
  );

  signals.onStop(async () => {
    // Reviews go on while draining, and each needs the cluster view and the password copies:
    // stopped first, a pod in a namespace made meanwhile was admitted without its sidecar.
    await server.drain(config.drainSeconds * 1000);
    certificates.stop();
    copies?.stop();
    await tenants?.stop();
    view?.stop();
  });
}

function tenantUsers(
  config: ReturnType<typeof loadConfig>,
  logger: ReturnType<typeof createLogger>,
  kube: () => KubeConfig,
): TenantUsers | undefined {
  const tenants = config.tenants;
  if (!tenants) return undefined;
  const redis = tenants.redis;
  return new TenantUsers(
    kube(),
    {
      mode: tenants.mode,
      webhookConfigName: config.webhookConfigName,
      isolateAll: config.inject.isolateAll === true,
      syncIntervalMs: tenants.syncIntervalMs,
      ...(redis
        ? {
            redis: {
              topology: redis.topology,
              password: () => readPasswordFile(redis.passwordFile)?.trim(),
              timeoutMs: 2_000,
            },
          }
        : {}),
    },
    logger,
    new Lease(kube(), {
      namespace: config.namespace,
      name: `${config.webhookConfigName}-tenants`,
      durationSeconds: Math.ceil((3 * tenants.syncIntervalMs) / 1000),
    }),
  );
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
