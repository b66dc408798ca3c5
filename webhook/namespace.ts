// What the webhook knows about a pod's namespace at admission, from its cluster view
// (webhook/cluster-view.ts): kept in memory by informers, so a review makes no API call.
import type { NamespaceLimits } from './resources.js';

export interface NamespaceFacts extends NamespaceLimits {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The namespace of the pod under review. */
export interface PodNamespace {
  name: string;
  /** From the cluster view; absent when the webhook runs without one (no API access). */
  facts?: NamespaceFacts;
  /** The view runs but has not seen this namespace yet. */
  unseen?: boolean;
}
