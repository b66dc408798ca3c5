import { ANNOTATIONS } from '../lib/contract.js';
import { PORT } from '../lib/env.js';
import { IMAGE, QUANTITY, type Resources } from './config.js';
import { parseQuantity } from './quantity.js';

export { parseQuantity };

export interface SidecarSettings {
  image: string;
  port: number;
  /** True when the port came from the pod's annotation rather than the default. */
  portFromAnnotation: boolean;
  resources: Resources;
  /** Readiness probe timing from the pod's annotations; absent fields keep the default. */
  readiness?: ReadinessTiming;
}

export interface ReadinessTiming {
  periodSeconds?: number;
  failureThreshold?: number;
}

export type OverrideResult =
  { ok: true; settings: SidecarSettings } | { ok: false; warning: string };

const RESOURCE_ANNOTATIONS = [
  [ANNOTATIONS.cpuRequest, 'requests', 'cpu'],
  [ANNOTATIONS.cpuLimit, 'limits', 'cpu'],
  [ANNOTATIONS.memoryRequest, 'requests', 'memory'],
  [ANNOTATIONS.memoryLimit, 'limits', 'memory'],
] as const;

const READINESS_ANNOTATIONS = [
  [ANNOTATIONS.readinessPeriodSeconds, 'periodSeconds', 'seconds', 1, 300],
  [ANNOTATIONS.readinessFailureThreshold, 'failureThreshold', 'failures', 1, 30],
] as const;

/**
 * Apply a pod's override annotations to the configured sidecar settings.
 * A bad value is reported as a warning that names the annotation, so the
 * caller can admit the pod without the sidecar rather than break it.
 */
export function applyOverrides(
  annotations: Record<string, string>,
  defaults: { image: string; port: number; resources: Resources },
): OverrideResult {
  let image = defaults.image;
  const imageValue = annotations[ANNOTATIONS.image];
  if (imageValue !== undefined) {
    if (!IMAGE.test(imageValue))
      return bad(ANNOTATIONS.image, imageValue, 'is not an image reference');
    image = imageValue;
  }

  let port = defaults.port;
  const portValue = annotations[ANNOTATIONS.port];
  if (portValue !== undefined) {
    const n = wholeNumber(portValue, PORT.min, PORT.max, 5);
    if (n === undefined)
      return bad(ANNOTATIONS.port, portValue, `is not a port (${PORT.min}-${PORT.max})`);
    port = n;
  }

  const resources: Resources = {
    requests: { ...defaults.resources.requests },
    limits: { ...defaults.resources.limits },
  };
  for (const [name, kind, resource] of RESOURCE_ANNOTATIONS) {
    const value = annotations[name];
    if (value === undefined) continue;
    if (!QUANTITY.test(value)) return bad(name, value, 'is not a quantity such as 100m or 128Mi');
    (resources[kind] ??= {})[resource] = value;
  }
  for (const resource of ['cpu', 'memory'] as const) {
    const request = resources.requests?.[resource];
    const limit = resources.limits?.[resource];
    if (
      request !== undefined &&
      limit !== undefined &&
      parseQuantity(request) > parseQuantity(limit)
    ) {
      const [requestName, limitName] =
        resource === 'cpu'
          ? [ANNOTATIONS.cpuRequest, ANNOTATIONS.cpuLimit]
          : [ANNOTATIONS.memoryRequest, ANNOTATIONS.memoryLimit];
      const name = annotations[limitName] !== undefined ? limitName : requestName;
      return bad(
        name,
        annotations[name] ?? '',
        `leaves the ${resource} request (${request}) above its limit (${limit})`,
      );
    }
  }
  return withReadiness(annotations, {
    image,
    port,
    portFromAnnotation: portValue !== undefined,
    resources: prune(resources),
  });
}

/** The settings with the readiness annotations' timing, or the first bad one's warning. */
function withReadiness(
  annotations: Record<string, string>,
  settings: SidecarSettings,
): OverrideResult {
  for (const [name, field, unit, min, max] of READINESS_ANNOTATIONS) {
    const value = annotations[name];
    if (value === undefined) continue;
    const n = wholeNumber(value, min, max, 3);
    if (n === undefined)
      return bad(name, value, `is not a whole number of ${unit} (${min}-${max})`);
    (settings.readiness ??= {})[field] = n;
  }
  return { ok: true, settings };
}

/** `value` as a number when it is at most `digits` digits and within [min, max]. */
function wholeNumber(value: string, min: number, max: number, digits: number): number | undefined {
  if (value.length > digits || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

function bad(name: string, value: string, why: string): OverrideResult {
  return {
    ok: false,
    warning: `${name}: ${JSON.stringify(clip(value))} ${why}; the pod was admitted without the kaos-memory sidecar`,
  };
}

function prune(resources: Resources): Resources {
  const out: Resources = {};
  if (resources.requests && Object.keys(resources.requests).length > 0)
    out.requests = resources.requests;
  if (resources.limits && Object.keys(resources.limits).length > 0) out.limits = resources.limits;
  return out;
}

/** A warning quotes at most this much of a bad value. */
const CLIP_LENGTH = 64;

function clip(value: string): string {
  return value.length > CLIP_LENGTH ? `${value.slice(0, CLIP_LENGTH - 3)}...` : value;
}
