// Retention set by the namespace or the pod, not the code (issue 21, part 2): four
// annotations become the sidecar's MEMORY_SESSION_TTL_SECONDS, MEMORY_MAX_SESSION_EVENTS,
// MEMORY_MAX_SESSIONS and MEMORY_IDLE_CLOSE_SECONDS.
//
// The rule (docs/adr/0036-namespaces-as-tenants.md): the namespace's annotation wins over
// the chart's INJECT_* value; a pod's annotation counts only where its namespace says
// `memory.kaos.tools/retention-overridable: "true"`, and is otherwise ignored with a
// warning. Whoever may annotate a namespace decides how long its users' conversations
// are kept; whoever may only create pods there does not, unless allowed. A bad value,
// on either, is refused the way a bad override is: the pod is admitted without the
// sidecar, with a warning naming the annotation (a sidecar injected with the cluster's
// default would keep data longer, or shorter, than its owners asked).
import { ANNOTATIONS, ENV, SESSION_SETTINGS } from '../lib/contract.js';
import type { IntRule } from '../lib/env.js';
import type { PodNamespace } from './namespace.js';

/** Each retention annotation, the sidecar variable it sets, and that variable's bounds. */
export const RETENTION = [
  [ANNOTATIONS.sessionTtlSeconds, ENV.sessionTtlSeconds, SESSION_SETTINGS.sessionTtlSeconds],
  [ANNOTATIONS.maxSessionEvents, ENV.maxSessionEvents, SESSION_SETTINGS.maxSessionEvents],
  [ANNOTATIONS.maxSessions, ENV.maxSessions, SESSION_SETTINGS.maxSessions],
  [ANNOTATIONS.idleCloseSeconds, ENV.idleCloseSeconds, SESSION_SETTINGS.idleCloseSeconds],
] as const satisfies readonly (readonly [string, string, IntRule])[];

export type RetentionResult =
  { ok: true; env: Record<string, string>; warnings: string[] } | { ok: false; warning: string };

/**
 * The sidecar variables the namespace's and the pod's retention annotations set (only
 * those set: the rest keep the chart's or the sidecar's default), or the refusal.
 * The namespace's facts are absent when the webhook has no cluster view: then only the
 * chart's values apply, and a pod's annotations are ignored (nothing says they may count).
 */
export function retentionEnv(
  podAnnotations: Record<string, string>,
  namespace: PodNamespace | undefined,
): RetentionResult {
  const env: Record<string, string> = {};
  const warnings: string[] = [];
  const nsAnnotations = namespace?.facts?.annotations ?? {};
  const overridable = nsAnnotations[ANNOTATIONS.retentionOverridable] === 'true';
  const ignored: string[] = [];
  for (const [annotation, variable, rule] of RETENTION) {
    const fromNamespace = nsAnnotations[annotation];
    if (fromNamespace !== undefined) {
      const problem = invalid(fromNamespace, rule);
      if (problem)
        return refuse(`namespace ${namespace?.name}: ${annotation}`, fromNamespace, problem);
      env[variable] = String(Number(fromNamespace));
    }
    const fromPod = podAnnotations[annotation];
    if (fromPod === undefined) continue;
    const problem = invalid(fromPod, rule);
    if (problem) return refuse(annotation, fromPod, problem);
    if (overridable) env[variable] = String(Number(fromPod));
    else ignored.push(annotation);
  }
  if (ignored.length > 0) {
    warnings.push(
      `kaos-memory: ${ignored.join(', ')} ignored: namespace ${namespace?.name ?? '(unknown)'} ` +
        `does not let pods set retention (${ANNOTATIONS.retentionOverridable}: "true")`,
    );
  }
  return { ok: true, env, warnings };
}

/** Why `value` is not a whole number within the sidecar's bounds, or undefined. */
function invalid(value: string, rule: IntRule): string | undefined {
  if (!/^\d{1,12}$/.test(value)) return 'is not a whole number';
  const n = Number(value);
  if (n < rule.min || n > rule.max) return `is not between ${rule.min} and ${rule.max}`;
  return undefined;
}

/** A warning quotes at most this much of a bad value. */
const CLIP_LENGTH = 64;

function refuse(where: string, value: string, why: string): RetentionResult {
  const shown = value.length > CLIP_LENGTH ? `${value.slice(0, CLIP_LENGTH - 3)}...` : value;
  return {
    ok: false,
    warning: `${where}: ${JSON.stringify(shown)} ${why}; the pod was admitted without the kaos-memory sidecar`,
  };
}
