// The sidecar follows the agent (docs/adr/0033-two-kaos-generations.md): when an app
// container names its own Redis in MEMORY_REDIS_URL, the injected sidecar uses that same
// Redis, so the agent's runtime and everything calling $MEMORY_API_URL in the pod share one
// history. Pure: the pod in, the env entries to copy out.
//
// Kubernetes expands `$(VAR)` in an env value only from entries defined before it in the
// same container's env (and from envFrom, which the webhook cannot see into); `$$` is a
// literal `$`, and an unknown reference stays as written. So the URL is reproduced in the
// sidecar by copying the URL's entry and every entry it references, transitively, in the
// container's own order: each reference then resolves to the same definition as in the app
// container. Only references are copied (values, or valueFrom pointers such as a
// secretKeyRef): no secret value is read or written.
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { ANNOTATIONS, ENV } from '../lib/contract.js';
import { parseRedisUrl } from '../lib/redis-url.js';

/** The memory backend a Redis-era KAOS runtime uses when MEMORY_TYPE says so. */
const REDIS_TYPE = 'redis';

export interface FollowedUrl {
  /** The app container whose MEMORY_REDIS_URL the sidecar uses. */
  container: string;
  /**
   * The entries to put first in the sidecar's env, in the container's order: every
   * variable the URL references (transitively), then MEMORY_REDIS_URL itself.
   */
  env: V1EnvVar[];
}

export interface FollowChoice {
  /** Undefined: no app container names its own Redis; the chart's is used. */
  followed?: FollowedUrl;
  /** Other app containers that name a Redis of their own, not followed (spec order). */
  others: string[];
  warnings: string[];
}

/**
 * The names `$(NAME)` references in an env value, as Kubernetes expands them
 * (third_party/forked/golang/expansion): `$$` is an escaped `$`; `$(` without a closing
 * parenthesis is literal text.
 */
export function references(value: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < value.length - 1; i++) {
    if (value[i] !== '$') continue;
    const next = value[i + 1];
    if (next === '$') {
      i++;
      continue;
    }
    if (next !== '(') continue;
    const close = value.indexOf(')', i + 2);
    if (close === -1) break;
    names.push(value.slice(i + 2, close));
    i = close;
  }
  return names;
}

/** The index of the last entry named `name` before `before`, as the kubelet resolves it. */
function definedBefore(env: V1EnvVar[], name: string, before: number): number {
  for (let i = before - 1; i >= 0; i--) if (env[i]?.name === name) return i;
  return -1;
}

/**
 * What the sidecar needs to reproduce the entry at `index`: that entry and every entry its
 * value references, transitively, in the container's order. `unresolved` names the
 * references no earlier entry defines (from envFrom, or a typo): Kubernetes leaves those
 * as written, or fills them from envFrom, which the sidecar does not get.
 */
export function closure(env: V1EnvVar[], index: number): { env: V1EnvVar[]; unresolved: string[] } {
  const needed = new Set<number>();
  const unresolved = new Set<string>();
  const pending = [index];
  while (pending.length > 0) {
    const at = pending.pop() as number;
    if (needed.has(at)) continue;
    needed.add(at);
    const entry = env[at];
    if (entry?.value === undefined) continue;
    for (const name of references(entry.value)) {
      const target = definedBefore(env, name, at);
      if (target === -1) unresolved.add(name);
      else pending.push(target);
    }
  }
  return {
    env: [...needed].sort((a, b) => a - b).map((i) => env[i] as V1EnvVar),
    unresolved: [...unresolved],
  };
}

/** The last definition of `name` in the container's env (the one the kubelet keeps). */
function lastIndex(env: V1EnvVar[], name: string): number {
  return definedBefore(env, name, env.length);
}

type Candidate =
  | { kind: 'url'; container: string; index: number; env: V1EnvVar[]; envFrom: boolean }
  | { kind: 'type-from-reference'; container: string };

/**
 * A container's own Redis, when it has one the sidecar should follow: MEMORY_REDIS_URL in
 * its env, and MEMORY_TYPE `redis` or unset. A MEMORY_TYPE read from a reference cannot be
 * judged at admission, so it is reported rather than followed.
 */
function candidate(container: V1Container): Candidate | undefined {
  const env = container.env ?? [];
  const index = lastIndex(env, ENV.redisUrl);
  if (index === -1) return undefined;
  const type = env[lastIndex(env, ENV.memoryType)];
  if (type !== undefined) {
    if (type.valueFrom !== undefined)
      return { kind: 'type-from-reference', container: container.name };
    if ((type.value ?? '') !== REDIS_TYPE) return undefined;
  }
  const envFrom = (container.envFrom ?? []).length > 0;
  return { kind: 'url', container: container.name, index, env, envFrom };
}

/**
 * Which app container's Redis the sidecar uses. Rule: the one the pod's
 * `memory.kaos.tools/redis-url-from` annotation names, else the first in spec order that
 * defines MEMORY_REDIS_URL (with MEMORY_TYPE redis or unset). An annotation naming no such
 * container is a warning, and the rule applies.
 */
export function followAgentUrl(
  containers: V1Container[],
  annotations: Record<string, string>,
): FollowChoice {
  const warnings: string[] = [];
  const urls: Extract<Candidate, { kind: 'url' }>[] = [];
  for (const container of containers) {
    const found = candidate(container);
    if (found?.kind === 'url') urls.push(found);
    else if (found) {
      warnings.push(
        `kaos-memory: container ${found.container} sets ${ENV.memoryType} from a reference, so ` +
          `the sidecar does not follow its ${ENV.redisUrl}`,
      );
    }
  }

  const wanted = annotations[ANNOTATIONS.redisUrlFrom];
  let chosen = urls[0];
  if (wanted !== undefined) {
    const named = urls.find((u) => u.container === wanted);
    if (named) chosen = named;
    else {
      warnings.push(
        `${ANNOTATIONS.redisUrlFrom}: no app container named ${JSON.stringify(wanted)} defines ` +
          `${ENV.redisUrl} with ${ENV.memoryType} redis or unset; ` +
          (chosen
            ? `the sidecar follows ${chosen.container}, the first that does`
            : "the sidecar uses the chart's Redis"),
      );
    }
  }
  if (chosen === undefined) return { others: [], warnings };

  // A reference nothing earlier defines stays as written in both containers, unless the
  // container's envFrom supplies it: the sidecar does not get that.
  const copied = closure(chosen.env, chosen.index);
  if (copied.unresolved.length > 0 && chosen.envFrom) {
    warnings.push(
      `kaos-memory: ${ENV.redisUrl} of container ${chosen.container} references ` +
        `${copied.unresolved.map((n) => `$(${n})`).join(', ')}, which its env does not define ` +
        "before it, and its envFrom is not copied; the sidecar uses the chart's Redis",
    );
    return { others: urls.map((u) => u.container), warnings };
  }

  // A literal the sidecar could not parse would stop it at start, and a native sidecar that
  // never starts holds back the agent: the chart's Redis then (references are not checked).
  const url = chosen.env[chosen.index]?.value;
  if (url !== undefined && references(url).length === 0 && !parses(url)) {
    warnings.push(
      `kaos-memory: ${ENV.redisUrl} of container ${chosen.container} is not a Redis URL the ` +
        'sidecar can use (redis://, rediss://, redis+sentinel://, redis+cluster://); the sidecar ' +
        "uses the chart's Redis",
    );
    return { others: urls.map((u) => u.container), warnings };
  }

  const others = urls.filter((u) => u !== chosen).map((u) => u.container);
  if (others.length > 0) {
    warnings.push(
      `kaos-memory: the sidecar uses the Redis of container ${chosen.container}; ` +
        `${others.join(', ')} also name${others.length === 1 ? 's' : ''} one of ` +
        `${others.length === 1 ? 'its' : 'their'} own, not followed ` +
        `(choose with the annotation ${ANNOTATIONS.redisUrlFrom})`,
    );
  }
  return { followed: { container: chosen.container, env: copied.env }, others, warnings };
}

function parses(url: string): boolean {
  try {
    parseRedisUrl(url);
    return true;
  } catch {
    return false;
  }
}
