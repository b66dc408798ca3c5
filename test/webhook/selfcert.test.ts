// The self-managed certificate against a real kube-apiserver: one shared Secret made
// without a race, the caBundle patched, renewal with the old CA still trusted.
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDnsNames } from '../../certs/generate.js';
import { createLogger } from '../../lib/logger.js';
import { ensureCertificate, ensureSecret, patchCaBundle } from '../../webhook/selfcert.js';
import { SelfManagedCertificateSource } from '../../webhook/tls.js';
import { detectNativeSidecar } from '../../webhook/version.js';
import { ControlPlane } from '../../harness/kube.js';

const hook = (name: string) => ({
  name,
  clientConfig: { url: 'https://127.0.0.1:1/mutate' },
  rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
  objectSelector: { matchLabels: { 'never-matches': 'kaos-selfcert-test' } },
  sideEffects: 'None',
  admissionReviewVersions: ['v1'],
  failurePolicy: 'Ignore',
});

const caBundles = async (kc: KubeConfig, name: string) =>
  (
    (await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name }))
      .webhooks ?? []
  ).map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString());

const verifies = (cert: string, bundle: string) =>
  (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).some((ca) =>
    new X509Certificate(cert).verify(new X509Certificate(ca).publicKey),
  );

describe('self-managed certificate on a real API server', () => {
  let cluster: ControlPlane;
  let kc: KubeConfig;
  let namespace: string;
  const configName = `kaos-memory-selfcert-${process.pid}`;
  const dns = serviceDnsNames('kaos-memory-webhook', 'kaos-test');
  const certOptions = (secretName: string) => ({
    namespace,
    secretName,
    webhookConfigName: configName,
    dns,
  });

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    kc = cluster.kubeConfig();
    namespace = await cluster.namespace('certs');
    await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
      body: {
        metadata: { name: configName },
        webhooks: [hook('pods.memory.kaos.tools'), hook('second.memory.kaos.tools')],
      },
    });
  });
  afterAll(() => cluster?.stop());

  it('lets four replicas starting at once agree on one certificate and patch every caBundle', async () => {
    const options = { ...certOptions('race-certs'), ips: ['127.0.0.1'] };
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => ensureCertificate(cluster.kubeConfig(), options)),
    );
    expect(new Set(results.map((r) => r.cert)).size).toBe(1);
    const [first] = results;
    const leaf = new X509Certificate(first!.cert);
    expect(leaf.subjectAltName).toContain('DNS:kaos-memory-webhook.kaos-test.svc');
    expect(verifies(first!.cert, first!.caBundle)).toBe(true);

    const secret = await kc
      .makeApiClient(CoreV1Api)
      .readNamespacedSecret({ name: 'race-certs', namespace });
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(await caBundles(kc, configName)).toEqual([first!.caBundle, first!.caBundle]);

    // Nothing left to do the second time.
    const again = await ensureSecret(kc, options);
    expect(again.resourceVersion).toBe(first!.resourceVersion);
    expect(await patchCaBundle(kc, configName, again.caBundle)).toBe(false);
  });

  it('renews at two thirds of the lifetime, once, keeping the old CA in the bundle', async () => {
    // The clock the code under test reads: moved, not waited for.
    const start = Date.now();
    let now = new Date(start);
    const day = 24 * 3600_000;
    const options = { ...certOptions('short-certs'), validityMs: day, now: () => now };
    const old = await ensureCertificate(kc, options);
    // Valid from 5 minutes before (clock skew) to a day after; renewal due at two thirds.
    const due = start - 300_000 + ((day + 300_000) * 2) / 3;
    expect(Math.abs(old.renewAt.getTime() - due)).toBeLessThan(1_000); // X.509 keeps seconds.

    now = new Date(old.renewAt.getTime() - 1_000);
    expect((await ensureSecret(kc, options)).cert).toBe(old.cert);

    now = new Date(old.renewAt.getTime());
    const renewed = await Promise.all(
      [1, 2, 3].map(() => ensureCertificate(cluster.kubeConfig(), options)),
    );
    expect(new Set(renewed.map((r) => r.cert)).size).toBe(1);
    const fresh = renewed[0]!;
    expect(fresh.cert).not.toBe(old.cert);
    expect(fresh.renewAt.getTime()).toBeGreaterThan(now.getTime());
    // Replicas still serving the old certificate stay trusted until they switch.
    expect(verifies(fresh.cert, fresh.caBundle)).toBe(true);
    expect(verifies(old.cert, fresh.caBundle)).toBe(true);
    expect(await caBundles(kc, configName)).toEqual([fresh.caBundle, fresh.caBundle]);
  });

  it('fills an empty Opaque Secret made beforehand, keeping its type and labels', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'premade-certs', labels: { team: 'a' } }, type: 'Opaque' },
    });
    const stored = await ensureSecret(kc, { namespace, secretName: 'premade-certs', dns });
    const secret = await core.readNamespacedSecret({ name: 'premade-certs', namespace });
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata?.labels).toEqual({
      team: 'a',
      'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
    });
    expect(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString()).toBe(stored.cert);
  });

  it('replaces a certificate that lacks a required name', async () => {
    const options = { namespace, secretName: 'names-certs', dns: ['old-name'] };
    const before = await ensureSecret(kc, options);
    const after = await ensureSecret(kc, { ...options, dns: ['old-name', 'new-name'] });
    expect(after.cert).not.toBe(before.cert);
    expect(new X509Certificate(after.cert).subjectAltName).toBe('DNS:old-name, DNS:new-name');
  });

  it('becomes ready once the caBundle is in place, and restores it after a chart upgrade resets it', async () => {
    const served: string[] = [];
    const managed = new SelfManagedCertificateSource(
      kc,
      certOptions('managed-certs'),
      createLogger('selfcert', 'silent'),
    );
    try {
      expect(managed.ready).toBe(false);
      managed.start((tls) => served.push(tls.cert));
      await managed.sync();
      expect(managed.ready).toBe(true);
      expect(served).toHaveLength(1);

      const api = kc.makeApiClient(AdmissionregistrationV1Api);
      const current = await api.readMutatingWebhookConfiguration({ name: configName });
      for (const webhook of current.webhooks ?? []) delete webhook.clientConfig.caBundle;
      await api.replaceMutatingWebhookConfiguration({ name: configName, body: current });
      expect(await caBundles(kc, configName)).toEqual(['', '']);

      await managed.sync();
      const bundle = (await ensureSecret(kc, { namespace, secretName: 'managed-certs', dns }))
        .caBundle;
      expect(await caBundles(kc, configName)).toEqual([bundle, bundle]);
      expect(served).toHaveLength(1); // Same certificate: nothing to swap.
    } finally {
      managed.stop();
    }
  });

  it('detects native sidecar support from the API server version', async () => {
    expect(cluster.version).toMatch(/^v1\.\d+\./);
    const [, minor] = /^v1\.(\d+)\./.exec(cluster.version) ?? [];
    const native = await detectNativeSidecar(kc, createLogger('version', 'silent'));
    expect(native).toBe(Number(minor) >= 29);
  });

  it('reports a missing MutatingWebhookConfiguration and stays unready', async () => {
    const managed = new SelfManagedCertificateSource(
      kc,
      { namespace, secretName: 'orphan-certs', webhookConfigName: 'does-not-exist', dns },
      createLogger('selfcert', 'silent'),
    );
    try {
      await managed.sync();
      expect(managed.ready).toBe(false);
    } finally {
      managed.stop();
    }
  });
});
