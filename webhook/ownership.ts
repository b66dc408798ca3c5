// What proves that a password copy is the credentials controller's own, and where it
// may write at all (docs/adr/0034-least-privilege.md).
//
// Labels prove nothing: anyone who may create a Secret may label it. The proof is an
// annotation that only the webhook's ServiceAccount can set: the chart's
// ValidatingAdmissionPolicies make the API server refuse it to everyone else (on create,
// and any change of it on update), and refuse the ServiceAccount a copy without it. So a
// Secret carrying it was created by the webhook, whatever its labels say, and a Secret a
// user labelled like a copy is never written.
//
// Excluded namespaces are the ones the webhook's own MutatingWebhookConfiguration does
// not select (its namespaceSelector: the chart's excluded list and
// memory.kaos.tools/injection=disabled): what the API server never sends it a pod from.
import type {
  V1LabelSelector,
  V1MutatingWebhookConfiguration,
  V1Secret,
} from '@kubernetes/client-node';
import { CREDENTIAL_COPY } from '../lib/contract.js';

/** Set by the controller on every copy it creates; its value is the configuration's name. */
export const PROOF_ANNOTATION = 'memory.kaos.tools/created-by-webhook';

/** Whether `secret` is a copy this webhook (by its configuration's name) created. */
export function isOwnCopy(secret: V1Secret, webhookConfigName: string): boolean {
  const labels = secret.metadata?.labels ?? {};
  return (
    labels[CREDENTIAL_COPY.managedByLabel] === CREDENTIAL_COPY.managedBy &&
    labels[CREDENTIAL_COPY.webhookLabel] === webhookConfigName &&
    secret.metadata?.annotations?.[PROOF_ANNOTATION] === webhookConfigName
  );
}

/** Labelled as this webhook's copy, without the proof: a forgery, or a copy made before the proof existed. */
export function looksOwn(secret: V1Secret, webhookConfigName: string): boolean {
  const labels = secret.metadata?.labels ?? {};
  return (
    labels[CREDENTIAL_COPY.managedByLabel] === CREDENTIAL_COPY.managedBy &&
    labels[CREDENTIAL_COPY.webhookLabel] === webhookConfigName &&
    !isOwnCopy(secret, webhookConfigName)
  );
}

/** Whether a label selector matches `labels` (matchLabels and the four set operators). */
export function selects(
  selector: V1LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const has = Object.hasOwn(labels, key);
    switch (operator) {
      case 'In':
        return has && values.includes(labels[key] as string);
      case 'NotIn':
        return !has || !values.includes(labels[key] as string);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false; // an operator this code does not know selects nothing: fail closed
    }
  });
}

/**
 * The namespaces (by their labels) the configuration sends pods from: every one of its
 * webhooks' namespaceSelector must select it (the chart renders one webhook). A
 * configuration without webhooks selects nothing.
 */
export function injectedNamespace(
  config: V1MutatingWebhookConfiguration,
): (labels: Record<string, string>) => boolean {
  const webhooks = config.webhooks ?? [];
  return (labels) =>
    webhooks.length > 0 && webhooks.every((w) => selects(w.namespaceSelector, labels));
}
