// The global install's credential story on a real kube-apiserver, with the chart as it
// ships (one `helm install`, no namespace list): the webhook, run as a local process with
// the installed Deployment's environment and its ServiceAccount's token, copies the Redis
// password Secret into each new agent namespace before admitting the pod; RBAC and the
// chart's ValidatingAdmissionPolicy refuse everything else it might try; a rotation by the
// documented procedure reaches a running sidecar (fed its mounted file the way the kubelet
// writes it) while a writer never sees a failed write; unused copies go; and after
// `helm uninstall` the garbage collector (a real kube-controller-manager) leaves nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ResourceAttributes,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, find, helmOk, parseManifests } from '../../harness/helm.js';
import { ControlPlane } from '../../harness/kube.js';
import { apiEnvSources, findContainer, renderContainerEnv } from '../../harness/podenv.js';
import { pollUntil } from '../../harness/poll.js';
import { freePort } from '../../harness/ports.js';
import { ManagedProcess } from '../../harness/process.js';
import { acceptsPassword, RedisServer } from '../../harness/redis.js';
import { cachedBinary } from '../../harness/root.js';
import { writeSecretVolume } from '../../harness/secret-volume.js';
import { SidecarProcess } from '../../harness/sidecar.js';
import { agentPod, waitUntilInjecting, WebhookProcess } from '../../harness/webhook.js';
import { readStatus } from '../../webhook/status.js';

const RELEASE = 'kaos-memory';
const SECRET = `${RELEASE}-redis`;
const KEY = 'redis-password';
const OWN_LABELS =
  'app.kubernetes.io/managed-by=kaos-memory-webhook,memory.kaos.tools/webhook=kaos-memory';

const statusOf = (call: Promise<unknown>) =>
  call.then(
    () => 200,
    (err: { code?: number }) => err.code ?? 0,
  );

const b64 = (text: string) => Buffer.from(text).toString('base64');
const decode = (data: string | undefined) => Buffer.from(data ?? '', 'base64').toString('utf8');

/**
 * A kubelet's Secret volume sync, for one Secret: whenever the API's copy changes, the
 * folder is rewritten as the kubelet's AtomicWriter does (`items` maps keys to paths).
 */
class VolumeSync {
  private timer?: NodeJS.Timeout;
  private last = '';
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly name: string,
    readonly dir: string,
    private readonly items?: Record<string, string>,
  ) {}

  async sync(): Promise<void> {
    const secret = await this.core.readNamespacedSecret({
      name: this.name,
      namespace: this.namespace,
    });
    const data = secret.data ?? {};
    const files: Record<string, string> = {};
    for (const [key, value] of Object.entries(data)) {
      const path = this.items ? this.items[key] : key;
      if (path !== undefined) files[path] = decode(value);
    }
    const text = JSON.stringify(files);
    if (text !== this.last) {
      writeSecretVolume(this.dir, files);
      this.last = text;
    }
  }

  start(): void {
    const tick = () =>
      void this.sync()
        .catch(() => undefined)
        .finally(() => (this.timer = setTimeout(tick, 250)));
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

describe('the Redis password in every agent namespace, with the default install', () => {
  let cluster: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  let gc: ManagedProcess;
  let webhook: WebhookProcess | undefined;
  let releaseNs: string;
  let work: string;
  let asWebhook: KubeConfig;
  const syncs: VolumeSync[] = [];
  const started: { stop(): Promise<unknown> }[] = [];

  const helmArgs = () => ['--kubeconfig', cluster.kubeconfigPath, '--namespace', releaseNs];
  const copyIn = (namespace: string) =>
    core.readNamespacedSecret({ name: SECRET, namespace }).catch((err: { code?: number }) => {
      if (err.code === 404) return undefined;
      throw err;
    });
  const ownCopies = async () =>
    (await core.listSecretForAllNamespaces({ labelSelector: OWN_LABELS })).items;

  beforeAll(async () => {
    cluster = await ControlPlane.start();
    kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    work = mkdtempSync(join(tmpdir(), 'kaos-credentials-'));
    // The garbage collector alone, as kube-controller-manager runs it in a cluster.
    gc = new ManagedProcess({
      name: 'kube-controller-manager',
      command: cachedBinary('kube-controller-manager'),
      args: [
        `--kubeconfig=${cluster.kubeconfigPath}`,
        '--controllers=garbagecollector',
        '--leader-elect=false',
        '--secure-port=0',
      ],
      logFile: join(cluster.dir, 'kube-controller-manager.log'),
    });
    releaseNs = await cluster.namespace('kaos-system');

    // The install as the chart README gives it, plus what a cluster without kube-proxy
    // needs: the webhook reached by URL on a local port.
    const port = await freePort();
    await helmOk([
      'install',
      RELEASE,
      CHART_DIR,
      ...helmArgs(),
      '--wait=false',
      '--set',
      `webhook.url=https://127.0.0.1:${port}/mutate`,
      '--set',
      `webhook.port=${port}`,
    ]);
    const deployment = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: `${RELEASE}-webhook`, namespace: releaseNs });
    const template = deployment.spec!.template;
    const env = await renderContainerEnv(
      { metadata: { ...template.metadata, namespace: releaseNs }, spec: template.spec },
      template.spec!.containers[0]!,
      apiEnvSources(kc, releaseNs),
    );
    expect(env).toMatchObject({
      INJECT_REDIS_PASSWORD_SECRET: `${SECRET}/${KEY}`,
      INJECT_REDIS_PASSWORD_COPY: 'true',
    });
    const serviceAccount = template.spec!.serviceAccountName!;
    const kubeconfig = join(work, 'webhook.kubeconfig');
    await cluster.serviceAccountKubeconfig(releaseNs, serviceAccount, kubeconfig);
    asWebhook = new KubeConfig();
    asWebhook.loadFromFile(kubeconfig);
    webhook = await WebhookProcess.start({
      env: {
        ...env,
        KUBECONFIG: kubeconfig,
        // Faster than the defaults (30 s, 5 min), so the test sees a few rounds.
        INJECT_REDIS_PASSWORD_SYNC_SECONDS: '1',
        INJECT_REDIS_PASSWORD_UNUSED_SECONDS: '3',
      },
      port: Number(env.WEBHOOK_PORT),
    });
    await waitUntilInjecting(core, await cluster.namespace('probe'));
  });

  afterAll(async () => {
    for (const sync of syncs) sync.stop();
    for (const proc of started.reverse()) await proc.stop();
    await webhook?.stop();
    await gc?.stop();
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('gives a pod in a brand-new namespace its Secret before the pod is admitted', async () => {
    const ns = await cluster.namespace('team-a');
    expect(await copyIn(ns)).toBeUndefined();
    const pod = await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    expect(readStatus(pod.metadata?.annotations)?.volumes).toEqual(['kaos-memory-redis-password']);

    // Already there when the create returned: nothing for the kubelet to wait for.
    const copy = (await copyIn(ns))!;
    const source = await core.readNamespacedSecret({ name: SECRET, namespace: releaseNs });
    expect(copy.type).toBe('Opaque');
    expect(copy.data).toEqual({ [KEY]: source.data![KEY] });
    const config = await admission.readMutatingWebhookConfiguration({ name: RELEASE });
    expect(copy.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        name: RELEASE,
        uid: config.metadata!.uid,
      },
    ]);
    expect(copy.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
      'memory.kaos.tools/webhook': RELEASE,
    });

    // Both containers resolve their environment in the pod's namespace, as the kubelet would.
    const password = decode(source.data![KEY]);
    const sources = apiEnvSources(kc, ns);
    const agent = await renderContainerEnv(pod, findContainer(pod, 'agent')!, sources);
    expect(decodeURIComponent(new URL(agent.MEMORY_REDIS_URL!).password)).toBe(password);
    const sidecar = await renderContainerEnv(pod, findContainer(pod, 'kaos-memory')!, sources);
    expect(sidecar.MEMORY_REDIS_PASSWORD_FILE).toBe('/var/run/secrets/kaos-memory/redis/password');
    expect(JSON.stringify(pod)).not.toContain(password);
  });

  it('does the same in a second namespace, and not twice in one', async () => {
    const ns = await cluster.namespace('team-b');
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    const first = (await copyIn(ns))!;
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-1') });
    expect((await copyIn(ns))!.metadata?.uid).toBe(first.metadata?.uid);
  });

  it('copies nothing for a dry run, an opted-out pod, or an excluded namespace', async () => {
    const dry = await cluster.namespace('dry');
    const answer = await core.createNamespacedPod({
      namespace: dry,
      body: agentPod('agent-0'),
      dryRun: 'All',
    });
    expect(readStatus(answer.metadata?.annotations)).toBeDefined(); // injected, all the same
    const optedOut = await cluster.namespace('opted-out-pod');
    await core.createNamespacedPod({
      namespace: optedOut,
      body: agentPod('agent-0', { 'memory.kaos.tools/inject': 'false' }),
    });
    const disabled = await cluster.namespace('disabled', {
      'memory.kaos.tools/injection': 'disabled',
    });
    const pod = await core.createNamespacedPod({ namespace: disabled, body: agentPod('agent-0') });
    expect(readStatus(pod.metadata?.annotations)).toBeUndefined();
    await core.createNamespacedPod({ namespace: releaseNs, body: agentPod('agent-0') });
    // Two full rounds of the loop later, still nothing there.
    await webhook!.moreCredentialRounds();
    for (const ns of [dry, optedOut, disabled, 'kube-system'])
      expect(await copyIn(ns)).toBeUndefined();
  });

  it('uses a Secret of that name it did not make as it is, and never touches it', async () => {
    const ns = await cluster.namespace('own-secret');
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: SECRET }, stringData: { [KEY]: 'team-own-password' } },
    });
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    await webhook!.moreCredentialRounds(); // which would overwrite a copy of its own
    const secret = (await copyIn(ns))!;
    expect(decode(secret.data![KEY])).toBe('team-own-password');
    expect(secret.metadata?.labels ?? {}).not.toHaveProperty('memory.kaos.tools/webhook');
  });

  describe('what the webhook ServiceAccount may do', () => {
    let sa: CoreV1Api;
    let agents: string;
    beforeAll(async () => {
      sa = asWebhook.makeApiClient(CoreV1Api);
      agents = await cluster.namespace('refusals');
      await core.createNamespacedSecret({
        namespace: agents,
        body: { metadata: { name: 'app-db' }, stringData: { password: 'not-yours' } },
      });
    });

    it('is allowed what the copies need, and RBAC refuses the rest', async () => {
      const can = async (attributes: V1ResourceAttributes) => {
        const review = await asWebhook
          .makeApiClient(AuthorizationV1Api)
          .createSelfSubjectAccessReview({
            body: { spec: { resourceAttributes: attributes } },
          });
        return review.status?.allowed ?? false;
      };
      // What it needs.
      expect(await can({ verb: 'get', resource: 'secrets', namespace: agents, name: SECRET })).toBe(
        true,
      );
      expect(await can({ verb: 'create', resource: 'secrets', namespace: agents })).toBe(true);
      expect(await can({ verb: 'list', resource: 'pods' })).toBe(true);
      // What it does not get: other Secrets, whole lists, pods beyond reading, namespaces.
      const refusedAttributes: V1ResourceAttributes[] = [
        { verb: 'get', resource: 'secrets', namespace: agents, name: 'app-db' },
        { verb: 'get', resource: 'secrets', namespace: 'kube-system', name: 'anything' },
        { verb: 'list', resource: 'secrets', namespace: agents },
        { verb: 'watch', resource: 'secrets' },
        { verb: 'update', resource: 'secrets', namespace: agents, name: 'app-db' },
        { verb: 'delete', resource: 'secrets', namespace: agents, name: 'app-db' },
        { verb: 'deletecollection', resource: 'secrets', namespace: agents },
        { verb: 'get', resource: 'pods', namespace: agents, name: 'x' },
        { verb: 'create', resource: 'pods', namespace: agents },
        { verb: 'delete', resource: 'pods', namespace: agents, name: 'x' },
        { verb: 'create', resource: 'pods', subresource: 'exec', namespace: agents, name: 'x' },
        {
          verb: 'create',
          resource: 'serviceaccounts',
          subresource: 'token',
          namespace: agents,
          name: 'default',
        },
        { verb: 'get', resource: 'configmaps', namespace: agents, name: 'x' },
        { verb: 'patch', resource: 'namespaces', name: agents },
        {
          verb: 'create',
          resource: 'validatingadmissionpolicies',
          group: 'admissionregistration.k8s.io',
        },
      ];
      for (const attributes of refusedAttributes) {
        expect(await can(attributes), JSON.stringify(attributes)).toBe(false);
      }
      // And for real: reading a Secret it did not make, or listing without the name.
      expect(await statusOf(sa.readNamespacedSecret({ name: 'app-db', namespace: agents }))).toBe(
        403,
      );
      expect(await statusOf(sa.listSecretForAllNamespaces({}))).toBe(403);
      expect(
        await statusOf(sa.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${SECRET}` })),
      ).toBe(200);
    });

    it('is refused by the admission policy every Secret write RBAC cannot narrow', async () => {
      const refused = async (call: Promise<unknown>) => {
        const err = await call.then(
          () => undefined,
          (e: { code?: number; body?: string }) => e,
        );
        expect(err?.code).toBe(403);
        expect(String(err?.body)).toMatch(/kaos-memory webhook may/);
      };
      const own = {
        'app.kubernetes.io/managed-by': 'kaos-memory-webhook',
        'memory.kaos.tools/webhook': RELEASE,
      };
      // Another name, even with its labels.
      await refused(
        sa.createNamespacedSecret({
          namespace: agents,
          body: { metadata: { name: 'app-db-2', labels: own }, stringData: { k: 'v' } },
        }),
      );
      // Its name without its labels.
      await refused(
        sa.createNamespacedSecret({
          namespace: agents,
          body: { metadata: { name: SECRET }, stringData: { [KEY]: 'x' } },
        }),
      );
      // A ServiceAccount token Secret under its name, which would mint a token it could read.
      await refused(
        sa.createNamespacedSecret({
          namespace: agents,
          body: {
            metadata: {
              name: SECRET,
              labels: own,
              annotations: { 'kubernetes.io/service-account.name': 'default' },
            },
            type: 'kubernetes.io/service-account-token',
          },
        }),
      );
      // A copy in a namespace excluded from injection, by name or by label.
      const disabled = await cluster.namespace('no-copies', {
        'memory.kaos.tools/injection': 'disabled',
      });
      for (const namespace of ['kube-system', releaseNs, disabled]) {
        await refused(
          sa.createNamespacedSecret({
            namespace,
            body: { metadata: { name: SECRET, labels: own }, stringData: { [KEY]: 'x' } },
          }),
        );
      }
      // The original in the release namespace: no change, no deletion.
      const source = await sa.readNamespacedSecret({ name: SECRET, namespace: releaseNs });
      await refused(
        sa.replaceNamespacedSecret({
          name: SECRET,
          namespace: releaseNs,
          body: { ...source, data: { [KEY]: b64('hijacked') } },
        }),
      );
      await refused(sa.deleteNamespacedSecret({ name: SECRET, namespace: releaseNs }));
      // A team's own Secret of that name: used, never changed or deleted.
      const theirs = await cluster.namespace('theirs');
      await core.createNamespacedSecret({
        namespace: theirs,
        body: { metadata: { name: SECRET }, stringData: { [KEY]: 'mine' } },
      });
      const mine = await sa.readNamespacedSecret({ name: SECRET, namespace: theirs });
      await refused(
        sa.replaceNamespacedSecret({
          name: SECRET,
          namespace: theirs,
          body: { ...mine, metadata: { ...mine.metadata, labels: own } },
        }),
      );
      await refused(sa.deleteNamespacedSecret({ name: SECRET, namespace: theirs }));
      expect(await core.readNamespacedSecret({ name: SECRET, namespace: releaseNs })).toMatchObject(
        {
          data: source.data,
        },
      );
    });
  });

  it('rotates: the documented procedure reaches a running sidecar with no failed write', async () => {
    const ns = await cluster.namespace('rotation');
    const pod = await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    const source = () => core.readNamespacedSecret({ name: SECRET, namespace: releaseNs });
    const OLD = decode((await source()).data![KEY]);
    const NEW = 'N3w' + 'p'.repeat(29);

    // The bundled Redis, here a local redis-server with the Secret's password, and the
    // chart's own `auth` container following the release namespace's Secret.
    const redis = await RedisServer.start({ password: OLD });
    started.push(redis);
    // Its admin user, whose Secret only Redis mounts: the `auth` container applies the
    // memory user's passwords as it (docs/adr/0034-least-privilege.md).
    const ADMIN = 'Ad9' + 'z'.repeat(37);
    const adminDir = join(work, 'redis-admin');
    writeSecretVolume(adminDir, { 'admin-password': ADMIN });
    const setup = redis.client();
    await setup.call('ACL', 'SETUSER', 'kaos-admin', 'on', `>${ADMIN}`, '~*', '&*', '+@all');
    setup.disconnect();
    const redisAuth = new VolumeSync(core, releaseNs, SECRET, join(work, 'redis-auth'));
    syncs.push(redisAuth);
    await redisAuth.sync();
    redisAuth.start();
    const follower = await startFollower(redis.port, redisAuth.dir, adminDir);
    started.push(follower);

    // The sidecar as the pod spec says, its Secret volume fed by a kubelet-like sync of the
    // copy in its own namespace (items: the one key as `password`).
    const volume = new VolumeSync(core, ns, SECRET, join(work, 'sidecar-password'), {
      [KEY]: 'password',
    });
    syncs.push(volume);
    await volume.sync();
    volume.start();
    const env = await renderContainerEnv(
      pod,
      findContainer(pod, 'kaos-memory')!,
      apiEnvSources(kc, ns),
    );
    const sidecar = await SidecarProcess.start(
      {
        ...env,
        LOG_LEVEL: 'info',
        MEMORY_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        MEMORY_REDIS_PASSWORD_FILE: join(volume.dir, 'password'),
        // Every acknowledged event is counted below: none may be trimmed.
        MEMORY_MAX_SESSION_EVENTS: '100000',
      },
      { ready: '/readyz' },
    );
    started.push(sidecar);

    // A writer that never stops while the password changes twice under it.
    const writer = new Writer(sidecar.url);
    writer.start();
    // kubectl patch --type merge, as the chart README's procedure runs it.
    const patch = (body: object) =>
      core.patchNamespacedSecret(
        { name: SECRET, namespace: releaseNs, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );

    // 1. Redis accepts NEW beside OLD; agents still use OLD.
    await patch({ stringData: { [`${KEY}-next`]: NEW } });
    await pollUntil('Redis to accept the new password', () => acceptsPassword(redis.port, NEW));
    // 2. Agents move to NEW: the webhook updates the copy, the "kubelet" the file.
    await patch({
      stringData: { [KEY]: NEW, [`${KEY}-previous`]: OLD },
      data: { [`${KEY}-next`]: null },
    });
    await pollUntil('the copy to carry the new password', async () => {
      return decode((await copyIn(ns))?.data?.[KEY]) === NEW;
    });
    // Through the process, so that a timeout shows what the sidecar said meanwhile (a CI run
    // once waited 15 s here with nothing to show). The file is re-read every 5 s at worst.
    await sidecar.proc.waitUntil(
      'the sidecar to take it',
      () => sidecar.proc.output().includes('"reauthentication":"accepted"'),
      { timeoutMs: 30_000 },
    );
    // 3. Redis drops OLD (once every agent reading MEMORY_REDIS_URL has restarted).
    await patch({ data: { [`${KEY}-previous`]: null } });
    await pollUntil(
      'Redis to refuse the old password',
      async () => !(await acceptsPassword(redis.port, OLD)),
    );
    await new Promise((r) => setTimeout(r, 500));
    await writer.stop();
    expect(writer.failures, writer.failureText()).toEqual([]);
    expect(writer.acknowledged).toBeGreaterThan(20);

    // The sidecar's next connection uses the new password: cut it (no writes in flight).
    const admin = new Redis({ port: redis.port, username: 'kaos-admin', password: ADMIN });
    const clients = String(await admin.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => line.includes('name=kaos-memory-sidecar'));
    expect(clients.length).toBeGreaterThan(0);
    await admin.call('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'yes');
    await pollUntil(
      'the sidecar to reconnect',
      async () => (await fetch(`${sidecar.url}/readyz`)).ok,
    );
    const after = new Writer(sidecar.url, 'after');
    after.start();
    await new Promise((r) => setTimeout(r, 300));
    await after.stop();
    expect(after.failures).toEqual([]);
    expect(after.acknowledged).toBeGreaterThan(0);
    // Every acknowledged write is stored, once.
    const stored = await admin.llen(`${sidecar.prefix}:events:rotation`);
    expect(stored).toBe(writer.acknowledged + after.acknowledged);
    admin.disconnect();

    // No password in any log.
    for (const text of [webhook!.logs, sidecar.proc.output(), follower.output()]) {
      expect(text).not.toContain(OLD);
      expect(text).not.toContain(NEW);
    }
  });

  it('deletes a copy once no pod has used it for the grace period', async () => {
    const ns = await cluster.namespace('short-lived');
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    expect(await copyIn(ns)).toBeDefined();
    await core.deleteNamespacedPod({ name: 'agent-0', namespace: ns, gracePeriodSeconds: 0 });
    await pollUntil('the copy to be marked unused', async () =>
      Boolean((await copyIn(ns))?.metadata?.annotations?.['memory.kaos.tools/unused-since']),
    );
    await pollUntil('the copy to be deleted', async () => (await copyIn(ns)) === undefined, {
      timeoutMs: 20_000,
    });
    // A new pod brings it back at admission.
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-1') });
    expect(await copyIn(ns)).toBeDefined();
  });

  it('remakes a copy an injected pod needs when someone deletes it', async () => {
    const ns = await cluster.namespace('deleted-by-hand');
    await core.createNamespacedPod({ namespace: ns, body: agentPod('agent-0') });
    await core.deleteNamespacedSecret({ name: SECRET, namespace: ns });
    await pollUntil('the copy to be back', async () => (await copyIn(ns)) !== undefined);
  });

  it('leaves no copy behind after helm uninstall', async () => {
    expect((await ownCopies()).length).toBeGreaterThanOrEqual(3);
    await helmOk(['uninstall', RELEASE, ...helmArgs(), '--wait=false']);
    // The MutatingWebhookConfiguration went with the release; the garbage collector takes
    // its dependents, even while the webhook still runs (a Deployment goes down slowly).
    await pollUntil(
      'the garbage collector to delete every copy',
      async () => (await ownCopies()).length === 0,
      // Its rounds slow down with the machine's load; it returns as soon as they are gone.
      { timeoutMs: 120_000 },
    );
    // Two more rounds of the still-running loop (failing now: its RBAC went too).
    await webhook!.moreCredentialRounds();
    expect(await ownCopies()).toEqual([]);
    const policies = await admission.listValidatingAdmissionPolicy();
    expect(policies.items.map((p) => p.metadata?.name)).not.toContain(`${RELEASE}-webhook-secrets`);
  });
});

/** The chart's `auth` container script, as helm renders it, run against `port`. */
async function startFollower(port: number, dir: string, adminDir: string): Promise<ManagedProcess> {
  const rendered = await helmOk(['template', RELEASE, CHART_DIR]);
  const statefulSet = find(parseManifests(rendered), 'StatefulSet') as unknown as V1StatefulSet;
  const auth = statefulSet.spec?.template.spec?.containers.find((c) => c.name === 'auth');
  const script = auth?.args?.[0];
  if (!script) throw new Error('no auth container script in the chart');
  return new ManagedProcess({
    name: 'redis-auth',
    command: 'sh',
    args: ['-c', script.replace('-p 6379', `-p ${port}`)],
    env: {
      PATH: process.env.PATH ?? '',
      ...Object.fromEntries((auth.env ?? []).map((e) => [e.name, e.value ?? ''])),
      REDIS_AUTH_DIR: dir,
      REDIS_AUTH_KEY: KEY,
      REDIS_ADMIN_DIR: adminDir,
      REDIS_AUTH_PERIOD_SECONDS: '0.2',
    },
  });
}

/** Appends events to one session through the sidecar, one after another, counting answers. */
class Writer {
  acknowledged = 0;
  failures: string[] = [];
  private running = false;
  private done?: Promise<void>;
  constructor(
    private readonly url: string,
    private readonly tag = 'during',
  ) {}

  start(): void {
    this.running = true;
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        const res = await fetch(`${this.url}/v1/sessions/rotation/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            event_type: 'user_message',
            content: `${this.tag} ${i}`,
            event_id: `${this.tag}-${i}`,
          }),
        }).catch((err: Error) => ({ status: 0, text: () => Promise.resolve(err.message) }));
        if (res.status === 201 || res.status === 200) this.acknowledged++;
        else this.failures.push(`${res.status} ${await res.text()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  failureText(): string {
    return this.failures.slice(0, 5).join('\n');
  }
}
