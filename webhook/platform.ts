// The sidecar is a Linux container with Linux-only securityContext fields: a pod that
// declares Windows (spec.os.name), or that can only be scheduled on nodes that are not
// Linux (its node selector or required node affinity on kubernetes.io/os), is refused by
// the API server once injected (422) or could never start. Such pods are left alone.
import type { V1NodeSelectorTerm, V1Pod } from '@kubernetes/client-node';

const OS_LABELS = ['kubernetes.io/os', 'beta.kubernetes.io/os'];
const LINUX = 'linux';

/** Why the pod cannot run a Linux sidecar, in a few words; undefined when it can. */
export function notLinux(pod: V1Pod): string | undefined {
  const spec = pod.spec;
  const os = spec?.os?.name;
  if (os !== undefined && os !== LINUX) return `spec.os.name is ${os}`;
  for (const label of OS_LABELS) {
    const value = spec?.nodeSelector?.[label];
    if (value !== undefined && value !== LINUX) return `its nodeSelector ${label} is ${value}`;
  }
  const terms =
    spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  if (terms.length > 0 && terms.every(excludesLinux)) {
    return 'its required node affinity selects no Linux node';
  }
  return undefined;
}

/** A term (its expressions ANDed) that no node labelled kubernetes.io/os=linux matches. */
function excludesLinux(term: V1NodeSelectorTerm): boolean {
  return (term.matchExpressions ?? []).some((expression) => {
    if (!OS_LABELS.includes(expression.key)) return false;
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        return !values.includes(LINUX);
      case 'NotIn':
        return values.includes(LINUX);
      case 'DoesNotExist':
        return true;
      default:
        return false;
    }
  });
}
