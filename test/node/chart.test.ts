// The chart as it ships, installed with helm on the real node: two webhook replicas
// running as their ServiceAccount with a self-managed certificate, the bundled Redis
// on its PersistentVolumeClaim, and an agent Deployment whose pod is injected and runs
// with the memory sidecar beside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCluster, unavailableReason } from '../../harness/node/cluster.js';
import { IMAGE_NAMES } from '../../harness/node/images.js';
import { installChart, RELEASE, RELEASE_NS } from '../../harness/node/release.js';

const AGENT_NS = 'agents';

describe('the chart on a real node', () => {
  let cluster: NodeCluster;
  const kubectl = (...args: string[]) => cluster.kubectl(args);

  beforeAll(async () => {
    const reason = unavailableReason();
    if (reason) throw new Error(reason);
    cluster = await NodeCluster.start({ log: (line) => console.log(`node: ${line}`) });
    await installChart(cluster, [], (line) => console.log(`node: ${line}`));
    await kubectl('create', 'namespace', AGENT_NS);
  }, 900_000);

  afterAll(async () => {
    await cluster?.stop();
    expect(cluster?.leftovers() ?? []).toEqual([]);
  }, 60_000);

  it('runs both webhook replicas Ready with the self-managed certificate in place', async () => {
    const deploy = JSON.parse(
      await kubectl('-n', RELEASE_NS, 'get', 'deployment', `${RELEASE}-webhook`, '-o', 'json'),
    );
    expect(deploy.status.readyReplicas).toBe(2);
    expect(deploy.spec.template.spec.containers[0].image).toBe(IMAGE_NAMES.app());
    const mwc = JSON.parse(
      await kubectl('get', 'mutatingwebhookconfiguration', RELEASE, '-o', 'json'),
    );
    expect(mwc.webhooks[0].clientConfig.caBundle).toBeTruthy();
    expect(mwc.webhooks[0].clientConfig.service).toMatchObject({
      name: `${RELEASE}-webhook`,
      namespace: RELEASE_NS,
    });
    const secret = JSON.parse(
      await kubectl('-n', RELEASE_NS, 'get', 'secret', `${RELEASE}-webhook-tls`, '-o', 'json'),
    );
    expect(Object.keys(secret.data)).toEqual(expect.arrayContaining(['tls.crt', 'tls.key']));
  });

  it('runs the bundled Redis on its bound PersistentVolumeClaim', async () => {
    const pvcs = JSON.parse(await kubectl('-n', RELEASE_NS, 'get', 'pvc', '-o', 'json'));
    expect(pvcs.items).toHaveLength(1);
    expect(pvcs.items[0].status.phase).toBe('Bound');
    const sts = JSON.parse(
      await kubectl('-n', RELEASE_NS, 'get', 'statefulset', `${RELEASE}-redis`, '-o', 'json'),
    );
    expect(sts.status.readyReplicas).toBe(1);
  });

  it('injects an agent pod, which runs with both containers Ready and remembers through its sidecar', async () => {
    await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'agent-memory-agent', namespace: AGENT_NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { agent: 'memory-agent' } },
          template: {
            metadata: { labels: { agent: 'memory-agent' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'agent',
                  image: IMAGE_NAMES.busybox(),
                  imagePullPolicy: 'IfNotPresent',
                  command: ['sleep', '3600'],
                },
              ],
            },
          },
        },
      }),
    });
    await kubectl(
      '-n',
      AGENT_NS,
      'rollout',
      'status',
      'deployment/agent-memory-agent',
      '--timeout=180s',
    );
    const pods = JSON.parse(
      await kubectl('-n', AGENT_NS, 'get', 'pods', '-l', 'agent=memory-agent', '-o', 'json'),
    );
    const pod = pods.items[0];
    expect(pod.metadata.annotations['memory.kaos.tools/status']).toBe('injected');
    expect(pod.status.phase).toBe('Running');
    const statuses = [...(pod.status.initContainerStatuses ?? []), ...pod.status.containerStatuses];
    const sidecar = statuses.find((s: { name: string }) => s.name === 'kaos-memory');
    const agent = statuses.find((s: { name: string }) => s.name === 'agent');
    expect(sidecar).toMatchObject({ ready: true, started: true });
    expect(agent).toMatchObject({ ready: true });

    const name = pod.metadata.name as string;
    const inAgent = (cmd: string) =>
      kubectl('-n', AGENT_NS, 'exec', name, '-c', 'agent', '--', 'sh', '-c', cmd);
    const body = JSON.stringify({
      event_type: 'user_message',
      content: 'Remember this: the secret code is 42',
    });
    await inAgent(
      `wget -q -O- --header 'Content-Type: application/json' --post-data '${body}' "$MEMORY_API_URL/v1/sessions/node-test/events"`,
    );
    const events = JSON.parse(
      await inAgent('wget -q -O- "$MEMORY_API_URL/v1/sessions/node-test/events"'),
    );
    expect(JSON.stringify(events)).toContain('the secret code is 42');
    const keys = await kubectl(
      '-n',
      RELEASE_NS,
      'exec',
      `${RELEASE}-redis-0`,
      '--',
      'sh',
      '-c',
      "redis-cli --no-auth-warning KEYS 'kaos:memory:*'",
    );
    expect(keys.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);

    // The image under the chart's hardened securityContext: uid 1000, read-only root.
    const inSidecar = (cmd: string) =>
      kubectl('-n', AGENT_NS, 'exec', name, '-c', 'kaos-memory', '--', 'sh', '-c', cmd);
    expect((await inSidecar('id -u; id -g')).split('\n').slice(0, 2)).toEqual(['1000', '1000']);
    expect(await inSidecar('touch /app/x 2>&1 || echo refused')).toMatch(/Read-only file system/);
  });
});
