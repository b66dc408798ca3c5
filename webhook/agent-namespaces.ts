// The namespaces whose injected agent pods read the password Secret, listed a page at a
// time: a whole-cluster list of agent pods held 611 MiB at 20,000 pods (issue 23), a
// page of them holds a few MiB, and only namespace names are kept between pages.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { AGENT_LABEL } from '../lib/contract.js';
import { kubeStatus } from '../lib/kube-errors.js';

/** Pods per list call: half kubectl's chunk, so a page stays a few MiB under the webhook's 64 MiB old space. */
export const PAGE_SIZE = 250;
/** Restarts after an expired continue token (410) before the round gives up. */
const RESTARTS = 3;

export async function namespacesWith(
  core: CoreV1Api,
  uses: (pod: V1Pod) => boolean,
  pageSize = PAGE_SIZE,
): Promise<Set<string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await listPages(core, uses, pageSize);
    } catch (err) {
      // The continue token outlived etcd's compaction: the list starts again (a consistent
      // snapshot matters less than finishing; the next round corrects what this one misses).
      if (kubeStatus(err) !== 410 || attempt >= RESTARTS) throw err;
    }
  }
}

async function listPages(
  core: CoreV1Api,
  uses: (pod: V1Pod) => boolean,
  pageSize: number,
): Promise<Set<string>> {
  const found = new Set<string>();
  let token: string | undefined;
  do {
    const page = await core.listPodForAllNamespaces({
      labelSelector: AGENT_LABEL,
      limit: pageSize,
      _continue: token,
    });
    for (const pod of page.items) if (uses(pod)) found.add(pod.metadata?.namespace ?? '');
    token = page.metadata?._continue || undefined;
  } while (token !== undefined);
  return found;
}
