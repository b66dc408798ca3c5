// The credentials controller writes only Secrets it created, never the password into an
// excluded namespace, and the chart's ValidatingAdmissionPolicies refuse everyone else
// the proof it relies on (docs/adr/0034-least-privilege.md). On a real kube-apiserver with
// the chart installed as it ships; the controller (webhook/credentials.ts) runs in this
// process with the webhook ServiceAccount's own token, so only its RBAC and the policies
// decide what it may do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, helmOk } from '../../harness/helm.js';
import { ControlPlane } from '../../harness/kube.js';
import { pollUntil } from '../../harness/poll.js';
import { ANNOTATIONS } from '../../lib/contract.js';
import { createLogger } from '../../lib/logger.js';
import { CredentialCopies, PROOF_ANNOTATION } from '../../webhook/credentials.js';

const RELEASE = 'kaos-memory';
const SECRET = `${RELEASE}-redis`;
const KEY = 'redis-password';
const LABELS = {
  'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
  'memory.kaos.tools/webhook': RELEASE,
};
const b64 = (text: string) => Buffer.from(text).toString('base64');
const decode = (data: string | undefined) => Buffer.from(data ?? '', 'base64').toString('utf8');

/** An injected pod that reads the copy: what the controller counts as "in use". */
function usingPod(name: string): V1Pod {
  return {
    metadata: {
      name,
      labels: { agent: 'memory-agent' },
      annotations: { [ANNOTATIONS.status]: '{}' },
    },
    spec: {
      containers: [{ name: 'agent', image: 'python:3.12-slim' }],
      volumes: [{ name: 'pw', secret: { secretName: SECRET } }],
    },
  };
}

/** The API error of a call that must fail (its status and message), or undefined. */
async function refusal(
  call: Promise<unknown>,
): Promise<{ code?: number; body?: string } | undefined> {
  return call.then(
    () => undefined,
    (e: { code?: number; body?: string }) => e,
  );
}

describe('password copies: ownership proven, excluded namespaces never written', () => {
  let cluster: ControlPlane;
  let core: CoreV1Api;
  let asWebhook: KubeConfig;
  let releaseNs: string;
  let work: string;
  let copies: CredentialCopies;

  const read = (namespace: string) =>
    core.readNamespacedSecret({ name: SECRET, namespace }).catch((err: { code?: number }) => {
      if (err.code === 404) return undefined;
      throw err;
    });
  const rotate = async (password: string) => {
    const source = await core.readNamespacedSecret({ name: SECRET, namespace: releaseNs });
    await core.replaceNamespacedSecret({
      name: SECRET,
      namespace: releaseNs,
      body: { ...source, data: { ...source.data, [KEY]: b64(password) } },
    });
  };

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    work = mkdtempSync(join(tmpdir(), 'kaos-ownership-'));
    releaseNs = await cluster.namespace('kaos-system');
    await helmOk([
      'install',
      RELEASE,
      CHART_DIR,
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--namespace',
      releaseNs,
      '--wait=false',
      // Nothing listens there: pods are admitted as they are (failurePolicy Ignore).
      '--set',
      'webhook.url=https://127.0.0.1:1/mutate',
    ]);
    // The API server loads a new ValidatingAdmissionPolicy and its binding asynchronously:
    // wait until the proof is refused to an outsider before any test relies on it.
    const scratch = await cluster.namespace('policy-loaded');
    await pollUntil(
      'the ownership policy to be enforced',
      async () => {
        const made = await refusal(
          core.createNamespacedSecret({
            namespace: scratch,
            body: {
              metadata: {
                name: SECRET,
                labels: LABELS,
                annotations: { [PROOF_ANNOTATION]: RELEASE },
              },
              stringData: { [KEY]: 'x' },
            },
          }),
        );
        if (made === undefined)
          await core.deleteNamespacedSecret({ name: SECRET, namespace: scratch });
        return made?.code === 403;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const deployment = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: `${RELEASE}-webhook`, namespace: releaseNs });
    const kubeconfig = join(work, 'webhook.kubeconfig');
    await cluster.serviceAccountKubeconfig(
      releaseNs,
      deployment.spec!.template.spec!.serviceAccountName!,
      kubeconfig,
    );
    asWebhook = new KubeConfig();
    asWebhook.loadFromFile(kubeconfig);
    copies = new CredentialCopies(
      asWebhook,
      {
        namespace: releaseNs,
        secretName: SECRET,
        key: KEY,
        webhookConfigName: RELEASE,
        syncIntervalMs: 60_000,
        unusedGraceMs: 60_000,
      },
      createLogger('test-credentials', process.env.TEST_LOG_LEVEL ?? 'silent'),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('creates its copies with the proof, which the API server checked was its own', async () => {
    const ns = await cluster.namespace('team-a');
    await copies.ensure(ns);
    const copy = (await read(ns))!;
    expect(copy.metadata?.annotations?.[PROOF_ANNOTATION]).toBe(RELEASE);
    expect(copy.metadata?.labels).toMatchObject(LABELS);
  });

  it('never writes a Secret a user labelled like its copy, even where a pod reads it', async () => {
    const ns = await cluster.namespace('forged');
    // Labels anyone with Secret rights in the namespace can set; an old password inside.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: SECRET, labels: LABELS }, stringData: { [KEY]: 'mine' } },
    });
    await core.createNamespacedPod({ namespace: ns, body: usingPod('agent-0') });
    await rotate('rotated-once');
    const report = await copies.sync();
    expect(report.updated).not.toContain(ns);
    expect(report.marked).not.toContain(ns);
    const forged = (await read(ns))!;
    expect(decode(forged.data?.[KEY])).toBe('mine');
    expect(forged.metadata?.annotations ?? {}).not.toHaveProperty(PROOF_ANNOTATION);
    // The admission path uses it as it is, and does not write it either.
    await copies.ensure(ns);
    expect((await read(ns))!.metadata?.resourceVersion).toBe(forged.metadata?.resourceVersion);
    // Meanwhile its own copy elsewhere did follow the rotation.
    const own = await cluster.namespace('team-b');
    await copies.ensure(own);
    expect(decode((await read(own))!.data?.[KEY])).toBe('rotated-once');
  });

  it('refuses everyone else the proof: on create, added later, or changed', async () => {
    const ns = await cluster.namespace('proof');
    // Even a cluster admin (system:masters): admission policies bind everyone.
    const created = await refusal(
      core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: SECRET, labels: LABELS, annotations: { [PROOF_ANNOTATION]: RELEASE } },
          stringData: { [KEY]: 'x' },
        },
      }),
    );
    expect(created?.code).toBe(403);
    expect(String(created?.body)).toMatch(/only the kaos-memory webhook may set or change/);

    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: SECRET, labels: LABELS }, stringData: { [KEY]: 'x' } },
    });
    const plain = (await read(ns))!;
    const added = await refusal(
      core.replaceNamespacedSecret({
        name: SECRET,
        namespace: ns,
        body: {
          ...plain,
          metadata: { ...plain.metadata, annotations: { [PROOF_ANNOTATION]: RELEASE } },
        },
      }),
    );
    expect(added?.code).toBe(403);

    // On its own copy others may change other things, but not the proof.
    const mine = await cluster.namespace('owned');
    await copies.ensure(mine);
    const copy = (await read(mine))!;
    const changed = await refusal(
      core.replaceNamespacedSecret({
        name: SECRET,
        namespace: mine,
        body: {
          ...copy,
          metadata: { ...copy.metadata, annotations: { [PROOF_ANNOTATION]: 'other-release' } },
        },
      }),
    );
    expect(changed?.code).toBe(403);
    const relabelled = await core.replaceNamespacedSecret({
      name: SECRET,
      namespace: mine,
      body: {
        ...copy,
        metadata: { ...copy.metadata, labels: { ...copy.metadata?.labels, team: 'a' } },
      },
    });
    expect(relabelled.metadata?.annotations?.[PROOF_ANNOTATION]).toBe(RELEASE);
  });

  it('never copies the shared password into an isolated namespace', async () => {
    // A pod that still reads the shared Secret (created before the label): no copy for it.
    const isolated = await cluster.namespace('isolated', {
      'memory.kaos.tools/isolation': 'namespace',
    });
    await core.createNamespacedPod({ namespace: isolated, body: usingPod('agent-0') });
    // A copy made while the namespace was shared, then it was isolated.
    const later = await cluster.namespace('isolated-later');
    await core.createNamespacedPod({ namespace: later, body: usingPod('agent-0') });
    await copies.ensure(later);
    const before = (await read(later))!;
    const namespace = await core.readNamespace({ name: later });
    await core.replaceNamespace({
      name: later,
      body: {
        ...namespace,
        metadata: {
          ...namespace.metadata,
          labels: { ...namespace.metadata?.labels, 'memory.kaos.tools/isolation': 'namespace' },
        },
      },
    });
    await rotate('rotated-while-isolated');
    const report = await copies.sync();
    expect(report.created).not.toContain(isolated);
    expect(report.updated).not.toContain(later);
    expect(await read(isolated)).toBeUndefined();
    expect((await read(later))!.data).toEqual(before.data);
  });

  it('gives an excluded namespace nothing: no copy made, no password written into one', async () => {
    const disabled = await cluster.namespace('disabled', {
      'memory.kaos.tools/injection': 'disabled',
    });
    await core.createNamespacedPod({ namespace: disabled, body: usingPod('agent-0') });
    // A copy made while the namespace still took injection, then it opted out.
    const later = await cluster.namespace('opted-out-later');
    await core.createNamespacedPod({ namespace: later, body: usingPod('agent-0') });
    await copies.ensure(later);
    const before = (await read(later))!;
    const namespace = await core.readNamespace({ name: later });
    await core.replaceNamespace({
      name: later,
      body: {
        ...namespace,
        metadata: {
          ...namespace.metadata,
          labels: { ...namespace.metadata?.labels, 'memory.kaos.tools/injection': 'disabled' },
        },
      },
    });
    await rotate('rotated-twice');
    const report = await copies.sync();
    expect(report.created).not.toContain(disabled);
    expect(report.created).not.toContain('kube-system');
    expect(report.updated).not.toContain(later);
    expect(await read(disabled)).toBeUndefined();
    expect((await read(later))!.data).toEqual(before.data);

    // The admission path, asked directly (a forged review reaches the webhook's port):
    // the API server refuses the create.
    await expect(copies.ensure(disabled)).rejects.toThrow(/kaos-memory webhook may create only/);
    expect(await read(disabled)).toBeUndefined();

    // And the ServiceAccount itself may not put the password there by hand.
    const sa = asWebhook.makeApiClient(CoreV1Api);
    const copy = (await read(later))!;
    const written = await refusal(
      sa.replaceNamespacedSecret({
        name: SECRET,
        namespace: later,
        body: { ...copy, data: { [KEY]: b64('rotated-twice') } } satisfies V1Secret,
      }),
    );
    expect(written?.code).toBe(403);
    expect(String(written?.body)).toMatch(/never the data of one in a namespace excluded/);
  });
});
