import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { generateCertificates, serviceDnsNames, splitHosts } from '../certs/generate.js';
import { createLogger } from '../lib/logger.js';
import { handleStopSignals } from '../lib/signals.js';
import { hasPassword } from '../lib/redis-url.js';
import { review, reviewNamespace } from './admission.js';
import { ClusterView } from './cluster-view.js';
import { loadConfig, type InjectConfig } from './config.js';
import { CredentialCopies, withCredentialCopies } from './credentials.js';
import { WebhookServer, type TlsMaterial } from './server.js';
import { SelfManagedTls, TlsDirWatcher } from './tls.js';
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
  const dns = [...serviceDnsNames(config.serviceName, config.namespace), ...hosts.dns];
  let tls: TlsMaterial;
  let isReady: () => boolean;
  let source: { start(): void; stop(): void };
  const swap = (next: TlsMaterial) => server.setCertificate(next);

  if (config.tlsDir) {
    const watcher = new TlsDirWatcher(config.tlsDir, logger, swap);
    tls = await watcher.load();
    isReady = () => true;
    source = watcher;
  } else {
    // Serve a throwaway certificate (not ready) until the shared one is in the Secret and caBundle.
    const temporary = generateCertificates({ dns, ips: hosts.ips });
    tls = { cert: temporary.tlsCert, key: temporary.tlsKey };
    const managed = new SelfManagedTls(
      kube(),
      {
        namespace: config.namespace,
        secretName: config.certSecret,
        webhookConfigName: config.webhookConfigName,
        dns,
        ips: hosts.ips,
      },
      logger,
      swap,
    );
    isReady = () => managed.ready;
    source = managed;
  }

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
          },
          logger,
        )
      : undefined;
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
  const tlsReady = isReady;
  isReady = () => tlsReady() && (view?.synced ?? true);

  const server = new WebhookServer({ inject, tls, logger, isReady, reviewer });
  const port = await server.listen(config.port, config.host);
  source.start();
  copies?.start();
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
    source.stop();
    copies?.stop();
    view?.stop();
    await server.drain(config.drainSeconds * 1000);
  });
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
