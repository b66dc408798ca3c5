// The harness itself: a real API server that stores pods only after RBAC,
// admission and validation have had their say.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../harness/kube.js';
import { cachedBinary } from '../../harness/root.js';

describe('test control plane', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    console.log(`control plane ${cluster.version} ready in ${cluster.startMs} ms`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves the Kubernetes version it was built as', () => {
    expect(cluster.version).toMatch(/^v1\.37\.\d+$/);
  });

  it('creates a namespace together with its default ServiceAccount', async () => {
    const ns = await cluster.namespace('smoke');
    expect(ns).toMatch(/^smoke-[0-9a-f]{6}$/);
    const sa = await core.readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    expect(sa.metadata?.name).toBe('default');
  });

  it('stores a plain pod after admission, which mounts the service-account token', async () => {
    const ns = await cluster.namespace('smoke');
    const pod: V1Pod = {
      metadata: { name: 'plain' },
      spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
    const stored = await core.readNamespacedPod({ namespace: ns, name: 'plain' });
    expect(stored.spec?.containers.map((c) => c.name)).toEqual(['app']);
    expect(stored.spec?.serviceAccountName).toBe('default');
    // The ServiceAccount admission plugin ran: it adds the projected token volume.
    expect(stored.spec?.volumes?.some((v) => v.name.startsWith('kube-api-access-'))).toBe(true);
  });

  it('rejects a pod in a namespace without its ServiceAccount (admission is really on)', async () => {
    const ns = `bare-${Date.now().toString(36)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await expect(
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'app', image: 'busybox' }] },
        },
      }),
    ).rejects.toMatchObject({ code: 403 });
  });

  it('enforces RBAC: an unknown user may not list pods', async () => {
    const ns = await cluster.namespace('smoke');
    const kc = cluster.kubeConfig();
    // Impersonation by the admin is itself authorized through RBAC.
    const user = kc.getCurrentUser()!;
    kc.users = [{ ...user, impersonateUser: 'nobody' }];
    const asNobody = kc.makeApiClient(CoreV1Api);
    await expect(asNobody.listNamespacedPod({ namespace: ns })).rejects.toMatchObject({
      code: 403,
    });
  });

  it('has a helm stamped with its release version and Kubernetes 1.37 capabilities', () => {
    const helm = cachedBinary('helm');
    const version = execFileSync(helm, ['version', '--template', '{{.Version}}'], {
      encoding: 'utf8',
    });
    expect(version).toBe('v3.22.0');
    // `helm template` without a cluster assumes the KubeVersion from the same ldflags.
    const chart = mkdtempSync(join(tmpdir(), 'kaos-helm-'));
    try {
      mkdirSync(join(chart, 'templates'));
      writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
      writeFileSync(
        join(chart, 'templates', 'kube.yaml'),
        'kube: {{ .Capabilities.KubeVersion }}\n',
      );
      const out = execFileSync(helm, ['template', 'probe', chart], { encoding: 'utf8' });
      expect(out).toContain('kube: v1.37.0');
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
  });
});
