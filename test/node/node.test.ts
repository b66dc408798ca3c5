// The real node itself: a kubelet runs pods on containerd and runc, Services route,
// cluster DNS answers, volumes are provisioned and the images are what the Dockerfile
// says. (That stopping a node leaves nothing on the machine: crash.test.ts, which owns
// its node; the run's shared node is checked the same way at the run's end.)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeCluster } from '../../harness/node/cluster.js';
import {
  archiveConfig,
  buildImages,
  IMAGE_NAMES,
  type BuiltImage,
} from '../../harness/node/images.js';
import { NODE } from '../../harness/node/paths.js';
import { endSuite, startNode } from '../../harness/node/release.js';

// Anything a real node needs and lacks (root, Linux, binaries, packages) fails the
// suite with one line naming it: a node suite is never skipped.

describe('a real single-node cluster', () => {
  let cluster: NodeCluster;
  let ns: string;
  let images: BuiltImage[];
  const kubectl = (...args: string[]) => cluster.kubectl(args);
  const apply = (obj: object) =>
    cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });
  const exec = (pod: string, container: string, cmd: string) =>
    kubectl('-n', ns, 'exec', pod, '-c', container, '--', 'sh', '-c', cmd);
  /** A pod that runs once (restartPolicy Never), resolved when it has Succeeded. */
  const runToSuccess = async (name: string, spec: object) => {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns },
      spec: { restartPolicy: 'Never', ...spec },
    });
    await kubectl(
      '-n',
      ns,
      'wait',
      '--for=jsonpath={.status.phase}=Succeeded',
      `pod/${name}`,
      '--timeout=90s',
    );
  };

  beforeAll(async () => {
    cluster = await startNode();
    // The images the node imported at its start (cached by content: no rebuild here).
    images = await buildImages();
    ns = await cluster.namespace('node');
  }, 600_000);

  afterAll(() => endSuite(cluster), 60_000);

  it('registers a Ready node at the module version, addressed by the bridge', async () => {
    const node = JSON.parse(await kubectl('get', 'node', NODE.name, '-o', 'json'));
    const ready = node.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    expect(ready.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.37.2');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE.ip });
  });

  it('imports the project image with the Dockerfile user, workdir, entrypoint and cmd', async () => {
    // Parsed here independently of the image builder: the last stage's instructions.
    const dockerfile = readFileSync(join(import.meta.dirname, '../../Dockerfile'), 'utf8');
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const instruction = (name: string) =>
      new RegExp(`^${name}\\s+(.+)$`, 'm').exec(finalStage)?.[1]?.trim();
    const app = images.find((i) => i.name === IMAGE_NAMES.app());
    expect(app?.name).toMatch(/^ghcr\.io\/kaos-tools\/kaos-memory:\d+\.\d+\.\d+/);
    const { config } = await archiveConfig(app!.archive);
    expect(config.User).toBe(instruction('USER'));
    expect(config.WorkingDir).toBe(instruction('WORKDIR'));
    expect(config.Entrypoint).toEqual(JSON.parse(instruction('ENTRYPOINT')!));
    expect(config.Cmd).toEqual(JSON.parse(instruction('CMD')!));
    expect(config.Env).toContain(`NODE_ENV=production`);
    // containerd holds exactly that config under the chart's image name.
    const names = await cluster.ctr(['images', 'ls', '-q']);
    for (const image of images) expect(names.split('\n')).toContain(image.name);
    const stored = await cluster.ctr(['content', 'get', app!.configDigest]);
    expect(JSON.parse(stored).config).toEqual(config);
  });

  it('runs a native sidecar with exec probes and a memory limit, sharing loopback', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'sidecar', namespace: ns },
      spec: {
        terminationGracePeriodSeconds: 1,
        initContainers: [
          {
            name: 'server',
            image: IMAGE_NAMES.busybox(),
            imagePullPolicy: 'Never',
            restartPolicy: 'Always',
            command: [
              'sh',
              '-c',
              'mkdir -p /tmp/www && echo hello-from-sidecar > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8790 -h /tmp/www',
            ],
            startupProbe: {
              exec: { command: ['wget', '-q', '-O-', 'http://127.0.0.1:8790/'] },
              periodSeconds: 1,
            },
          },
        ],
        containers: [
          {
            name: 'agent',
            image: IMAGE_NAMES.busybox(),
            imagePullPolicy: 'Never',
            // Runs only once the sidecar's startup probe passed: the first request works.
            command: ['sh', '-c', 'wget -q -O- http://127.0.0.1:8790/ && exec sleep 3600'],
            readinessProbe: {
              exec: { command: ['sh', '-c', 'wget -q -O- http://127.0.0.1:8790/ | grep -q hello'] },
              periodSeconds: 1,
            },
            resources: { limits: { memory: '64Mi' } },
            securityContext: {
              runAsUser: 1000,
              runAsGroup: 1000,
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
            },
          },
        ],
      },
    });
    await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod/sidecar', '--timeout=90s');
    expect(await kubectl('-n', ns, 'logs', 'sidecar', '-c', 'agent')).toContain(
      'hello-from-sidecar',
    );
    expect((await exec('sidecar', 'agent', 'id -u')).trim()).toBe('1000');
    // cgroup v1: the container's own memory cgroup is mounted at /sys/fs/cgroup/memory.
    expect(
      (await exec('sidecar', 'agent', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes')).trim(),
    ).toBe(String(64 * 1024 * 1024));
  });

  it('routes a Service to a pod, by name through cluster DNS and from the host by ClusterIP', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'web',
            image: IMAGE_NAMES.busybox(),
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              'mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
            ],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          },
        ],
      },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
    });
    await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod/web', '--timeout=90s');
    await kubectl('-n', ns, 'wait', '--for=condition=Ready', 'pod/sidecar', '--timeout=90s');
    const clusterIp = (
      await kubectl('-n', ns, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')
    ).trim();
    const fqdn = `web.${ns}.svc.${NODE.clusterDomain}`;
    // DNS: the name resolves to the ClusterIP, from a pod.
    const lookup = await exec('sidecar', 'agent', `nslookup ${fqdn}`);
    expect(lookup).toContain(clusterIp);
    // Service routing from a pod, by the short name (search path) and the full one.
    const viaName = await retry(() =>
      exec('sidecar', 'agent', `wget -q -O- http://web/ && wget -q -O- http://${fqdn}/`),
    );
    expect(viaName).toBe('hello-from-web\nhello-from-web\n');
    // From the host, as the API server calls a webhook's Service.
    const res = await retry(async () =>
      (await fetch(`http://${clusterIp}/`, { signal: AbortSignal.timeout(3_000) })).text(),
    );
    expect(res).toBe('hello-from-web\n');
  });

  it('reaches the API server from a pod as kubernetes.default, with the ServiceAccount token', async () => {
    // As the chart's webhook does with @kubernetes/client-node: node, the mounted CA and token.
    const script = `
      const fs = require('node:fs'); const https = require('node:https');
      const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
      https.get('https://kubernetes.default.svc/api/v1/namespaces/' + fs.readFileSync(dir + '/namespace', 'utf8') + '/pods',
        { ca: fs.readFileSync(dir + '/ca.crt'), headers: { authorization: 'Bearer ' + fs.readFileSync(dir + '/token', 'utf8') } },
        (res) => { console.log(res.statusCode); process.exit(0); }).on('error', (e) => { console.error(e.message); process.exit(1); });`;
    await runToSuccess('api-client', {
      containers: [
        {
          name: 'client',
          image: IMAGE_NAMES.app(),
          imagePullPolicy: 'Never',
          command: ['node', '-e', script],
        },
      ],
    });
    // 403: the API server answered, authenticated the token and authorized it by RBAC
    // (the default ServiceAccount may not list pods).
    expect((await kubectl('-n', ns, 'logs', 'api-client')).trim()).toBe('403');
  });

  it('binds a PersistentVolumeClaim of the default StorageClass, writable by a non-root pod', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    await runToSuccess('writer', {
      securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
      containers: [
        {
          name: 'writer',
          image: IMAGE_NAMES.busybox(),
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'echo kept > /data/file && cat /data/file'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    });
    const pvc = JSON.parse(await kubectl('-n', ns, 'get', 'pvc', 'data', '-o', 'json'));
    expect(pvc.status.phase).toBe('Bound');
    expect(pvc.spec.storageClassName).toBe(NODE.storageClass);
    const pv = JSON.parse(await kubectl('get', 'pv', pvc.spec.volumeName, '-o', 'json'));
    expect(readFileSync(join(pv.spec.hostPath.path, 'file'), 'utf8')).toBe('kept\n');
    // Released with reclaim policy Delete: the provisioner removes the volume and its folder.
    await kubectl('-n', ns, 'delete', 'pod', 'writer', '--wait=true');
    await kubectl('-n', ns, 'delete', 'pvc', 'data', '--wait=true');
    await retry(async () => {
      if (existsSync(pv.spec.hostPath.path)) throw new Error('volume folder still there');
    });
  });
});

async function retry<T>(fn: () => Promise<T>, attempts = 30, delayMs = 500): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
