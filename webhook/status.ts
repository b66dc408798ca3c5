// The injection record (memory.kaos.tools/injected), in the spirit of Istio's
// sidecar.istio.io/status: what the webhook added to a pod, so a later version can tell
// what to upgrade and a tool can take it out again. The contract's marker,
// memory.kaos.tools/status: injected, stays as it was beside it; either one present
// means "already injected" (pods injected before the record existed carry only the marker).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANNOTATIONS } from '../lib/contract.js';

export interface InjectionStatus {
  /** The kaos-memory version whose webhook injected the pod. */
  version: string;
  /** Init containers added, by name: the sidecar when native. */
  initContainers: string[];
  /** Containers added, by name: the sidecar when an ordinary container. */
  containers: string[];
  /** Pod volumes added, by name: the password Secret's, when there is one (else absent). */
  volumes?: string[];
  /** Each app container that got memory defaults: the variables added, in order. */
  env: Record<string, string[]>;
  /**
   * When the sidecar follows an app container's own MEMORY_REDIS_URL: that container, and
   * the other app containers naming a Redis of their own, not followed (else absent).
   */
  redis?: { from: string; others?: string[] };
}

/** The record's value: compact JSON, keys in a fixed order. */
export function formatStatus(status: InjectionStatus): string {
  const { version, initContainers, containers, volumes, env, redis } = status;
  return JSON.stringify({
    version,
    initContainers,
    containers,
    ...(volumes && volumes.length > 0 ? { volumes } : {}),
    env,
    ...(redis
      ? {
          redis: {
            from: redis.from,
            ...(redis.others && redis.others.length > 0 ? { others: redis.others } : {}),
          },
        }
      : {}),
  });
}

/**
 * What a pod's injection record says was injected; undefined when the pod has none,
 * or one that does not parse.
 */
export function readStatus(
  annotations: Record<string, string> | undefined,
): InjectionStatus | undefined {
  const value = annotations?.[ANNOTATIONS.injected];
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { version, initContainers, containers, volumes, env, redis } = parsed as Record<
    string,
    unknown
  >;
  if (
    typeof version !== 'string' ||
    !isNames(initContainers) ||
    !isNames(containers) ||
    (volumes !== undefined && !isNames(volumes)) ||
    typeof env !== 'object' ||
    env === null ||
    Array.isArray(env) ||
    !Object.values(env).every(isNames) ||
    (redis !== undefined && !isFollowed(redis))
  ) {
    return undefined;
  }
  return {
    version,
    initContainers,
    containers,
    ...(volumes !== undefined ? { volumes } : {}),
    env: env as Record<string, string[]>,
    ...(redis !== undefined ? { redis } : {}),
  };
}

function isFollowed(value: unknown): value is NonNullable<InjectionStatus['redis']> {
  if (typeof value !== 'object' || value === null) return false;
  const { from, others } = value as Record<string, unknown>;
  return typeof from === 'string' && (others === undefined || isNames(others));
}

function isNames(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

const PACKAGE = 'kaos-memory';
let ownVersion: string | undefined;

/**
 * This package's version, for the status: from the package.json above this file, the
 * repository's when run from source, the image's (/app) when run from dist/. `unknown`
 * when there is none.
 */
export function webhookVersion(): string {
  if (ownVersion !== undefined) return ownVersion;
  ownVersion = 'unknown';
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PACKAGE && typeof pkg.version === 'string') {
        ownVersion = pkg.version;
        break;
      }
    } catch {
      // No package.json here: look further up.
    }
    if (dirname(dir) === dir) break;
  }
  return ownVersion;
}
