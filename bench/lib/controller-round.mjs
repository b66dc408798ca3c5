// One round of the credentials controller in a process of its own, as the webhook runs it
// (compiled, from dist/, with plain node), so its peak RSS (VmHWM) is the round's. argv[2]:
// `round` (CredentialCopies.sync, pages of agent pods), `idle` (the modules loaded, a client
// made, nothing listed) or `whole-list` (the one unpaginated list the loop made before).
// Prints one JSON line: { ms, hwmMiB, anonMiB }.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { AGENT_LABEL } from '../../dist/lib/contract.js';
import { createLogger } from '../../dist/lib/logger.js';
import { CredentialCopies } from '../../dist/webhook/credentials.js';

function statusMiB(field) {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) / 1024;
}

const [mode = 'round', kubeconfig = '', namespace = ''] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const started = performance.now();
if (mode === 'idle') {
  kc.makeApiClient(CoreV1Api);
} else if (mode === 'whole-list') {
  const pods = await kc
    .makeApiClient(CoreV1Api)
    .listPodForAllNamespaces({ labelSelector: AGENT_LABEL });
  if (pods.items.length === 0) throw new Error('no pods listed');
} else {
  const copies = new CredentialCopies(
    kc,
    {
      namespace,
      secretName: 'kaos-memory-redis',
      key: 'redis-password',
      webhookConfigName: 'kaos-memory',
      syncIntervalMs: 60_000,
      unusedGraceMs: 60_000,
    },
    createLogger('bench', 'error'),
  );
  await copies.sync();
}
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ ms, hwmMiB: statusMiB('VmHWM'), anonMiB: statusMiB('RssAnon') })}\n`,
);
process.exit(0);
