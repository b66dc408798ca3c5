// The credentials controller at cluster scale (issue 23: one round listed every agent pod
// in full, 611 MiB at 20,000 pods against the chart's 256Mi limit). Creates injected agent
// pods in a real kube-apiserver (pods with the sidecar, its env and its password volume,
// as admission leaves them) and measures, per cluster size, one round of the controller
// (pages of agent pods) beside the one unpaginated list it used to make, each in a
// process of its own: time and peak RSS. Goal: under 128 MiB at 20,000 pods.
// Needs the control plane (scripts/controlplane.sh) and a build (npm run build).
// Usage: node --import tsx bench/controller.ts [max=20000]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from '../harness/kube.js';
import { AGENT_LABEL, ANNOTATIONS, WEBHOOK_NODE_OPTIONS } from '../lib/contract.js';
import { fmt, table } from './lib/table.js';

const SIZES = [2_000, 5_000, 20_000];
const NAMESPACES = 50;
const SECRET = 'kaos-memory-redis';

function agentPod(name: string): V1Pod {
  const env = [
    { name: 'MEMORY_TYPE', value: 'redis' },
    {
      name: 'MEMORY_REDIS_URL',
      value: 'redis://:$(MEMORY_REDIS_PASSWORD)@redis.kaos-system.svc:6379',
    },
    { name: 'MEMORY_API_URL', value: 'http://127.0.0.1:8790' },
    {
      name: 'MEMORY_REDIS_PASSWORD',
      valueFrom: { secretKeyRef: { name: SECRET, key: 'redis-password' } },
    },
  ];
  return {
    metadata: {
      name,
      labels: { [AGENT_LABEL]: 'bench', 'app.kubernetes.io/name': 'agent' },
      annotations: {
        [ANNOTATIONS.status]: 'injected',
        'kubectl.kubernetes.io/note': 'x'.repeat(200),
      },
    },
    spec: {
      initContainers: [
        {
          name: 'kaos-memory',
          image: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
          restartPolicy: 'Always',
          env: [
            ...env,
            { name: 'MEMORY_REDIS_PASSWORD_FILE', value: '/var/run/kaos-memory/redis/password' },
          ],
          resources: {
            requests: { cpu: '10m', memory: '32Mi' },
            limits: { cpu: '500m', memory: '128Mi' },
          },
          securityContext: {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [{ name: 'kaos-memory-redis', mountPath: '/var/run/kaos-memory/redis' }],
        },
      ],
      containers: [{ name: 'agent', image: 'agent:1', env }],
      volumes: [{ name: 'kaos-memory-redis', secret: { secretName: SECRET } }],
    },
  };
}

type Round = { ms: number; hwmMiB: number; anonMiB: number } | 'out of memory';

/** One round in a process of its own, with the webhook's V8 flags (the chart's default). */
function runRound(mode: 'round' | 'whole-list' | 'idle', kubeconfig: string, home: string) {
  const script = fileURLToPath(new URL('./lib/controller-round.mjs', import.meta.url));
  return new Promise<Round>((resolve, reject) => {
    const flags = WEBHOOK_NODE_OPTIONS.split(' ');
    const args = [...flags, script, mode, kubeconfig, home];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0) resolve(JSON.parse(line) as Round);
      else if (/heap out of memory/i.test(err)) resolve('out of memory');
      else reject(new Error(`${mode} exited with ${code}: ${err.slice(-500)}`));
    });
  });
}

async function createPods(core: CoreV1Api, namespaces: string[], from: number, to: number) {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      await core.createNamespacedPod({
        namespace: namespaces[i % namespaces.length] ?? '',
        body: agentPod(`agent-${i}`),
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

export async function benchController(max = SIZES[SIZES.length - 1] ?? 20_000): Promise<void> {
  const cluster = await ControlPlane.start();
  try {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const home = await cluster.namespace('kaos-system');
    await core.createNamespacedSecret({
      namespace: home,
      body: { metadata: { name: SECRET }, stringData: { 'redis-password': 'bench' } },
    });
    const namespaces: string[] = [];
    for (let n = 0; n < NAMESPACES; n++) namespaces.push(await cluster.namespace(`agents-${n}`));
    const rows: (string | number)[][] = [];
    let made = 0;
    for (const size of SIZES.filter((s) => s <= max)) {
      const began = Date.now();
      await createPods(core, namespaces, made, size);
      made = size;
      console.error(`controller bench: ${size} agent pods created (${Date.now() - began} ms)`);
      await runRound('round', cluster.kubeconfigPath, home); // copies made: the steady state next
      const idle = await runRound('idle', cluster.kubeconfigPath, home);
      const whole = await runRound('whole-list', cluster.kubeconfigPath, home);
      const round = await runRound('round', cluster.kubeconfigPath, home);
      const ms = (r: Round) => (r === 'out of memory' ? r : fmt.ms(r.ms));
      const mib = (r: Round) => (r === 'out of memory' ? '-' : r.hwmMiB.toFixed(1));
      rows.push([
        size.toLocaleString('en-US'),
        mib(idle),
        ms(whole),
        mib(whole),
        ms(round),
        mib(round),
        fmt.verdict(round !== 'out of memory' && round.hwmMiB < 128),
      ]);
    }
    console.log('### Credentials controller: one round at cluster scale\n');
    console.log(
      `Each in its own process with the webhook's NODE_OPTIONS (${WEBHOOK_NODE_OPTIONS}).\n`,
    );
    console.log(
      table(
        [
          'agent pods',
          'idle: peak RSS MiB',
          'whole list (before): ms',
          'peak RSS MiB',
          'round, pages of 250: ms',
          'peak RSS MiB',
          'goal < 128 MiB',
        ],
        rows,
      ),
    );
  } finally {
    await cluster.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchController(Number(process.argv[2] ?? 20_000)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
