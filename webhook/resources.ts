// The sidecar's resources made to fit the pod's namespace, so that injecting it never
// turns an admissible pod into a refused one (issue 23). The API server runs LimitRanger's
// defaulting before the webhook, so the sidecar gets none of the namespace's defaults, and
// then checks every container against the LimitRanges (min, max, maxLimitRequestRatio) and
// the ResourceQuotas (a quota on limits.cpu needs a CPU limit on every container; a pod
// may not exceed what is left). This mirrors those checks (kubernetes v1.37:
// plugin/pkg/admission/limitranger, pkg/quota/v1/evaluator/core/pods.go): first adjust
// the sidecar's requests and limits, then verify the whole injected pod; a rule the pod
// met without the sidecar and misses with it is the problem reported. Pure: no I/O.
import type {
  V1Container,
  V1LimitRange,
  V1LimitRangeItem,
  V1Pod,
  V1PodSpec,
  V1ResourceQuota,
  V1ScopedResourceSelectorRequirement,
} from '@kubernetes/client-node';
import { SIDECAR_CONTAINER } from '../lib/contract.js';
import type { Resources } from './config.js';
import { formatMilli, milli } from './quantity.js';

type Name = 'cpu' | 'memory';
const NAMES: readonly Name[] = ['cpu', 'memory'];
/** Resource name → value in thousandths. */
type List = Record<string, number>;

/** What the namespace holds that bounds a pod's resources. */
export interface NamespaceLimits {
  limitRanges: readonly V1LimitRange[];
  resourceQuotas: readonly V1ResourceQuota[];
}

/**
 * Values used when a rule needs a request or limit that neither the configuration nor
 * the namespace's defaults give (e.g. a quota on limits.cpu with no CPU limit configured).
 */
export const FALLBACK_RESOURCES = {
  requests: { cpu: '10m', memory: '64Mi' },
  limits: { cpu: '500m', memory: '256Mi' },
} as const;

export interface FitInput {
  /** The sidecar's resources from the configuration and the pod's annotations. */
  desired: Resources;
  pod: V1Pod;
  /** A native sidecar (restartable init container) or an ordinary container. */
  native: boolean;
  namespace: NamespaceLimits;
}

export type FitResult =
  { ok: true; resources: Resources; changes: string[] } | { ok: false; problem: string };

/** The sidecar's resources adjusted to the namespace, or the rule it cannot meet. */
export function fitResources(input: FitInput): FitResult {
  const ranges = byName(input.namespace.limitRanges);
  const items = ranges.flatMap((range) =>
    (range.spec?.limits ?? []).filter((item) => item.type === 'Container'),
  );
  const amounts = withDefaults(input.desired, items);
  const provisional = injected(
    input.pod,
    toResources(amounts.req, amounts.lim, input.desired),
    input.native,
  );
  const quotaNeeds = quotaRequirements(input.namespace.resourceQuotas, provisional);
  const podLimits = podLevel(input.pod)?.limits ?? {};
  for (const name of NAMES) {
    const rule: Rule = {
      lo: maxOf(items.map((item) => item.min?.[name])),
      hi: minOf(items.map((item) => item.max?.[name])),
      ratio: minOf(items.map((item) => item.maxLimitRequestRatio?.[name])),
      podLimit: podLimits[name],
      quotaRequest: quotaNeeds.has(`requests.${name}`),
      quotaLimit: quotaNeeds.has(`limits.${name}`),
    };
    fitOne(name, amounts, rule);
  }

  const resources = toResources(amounts.req, amounts.lim, input.desired);
  const problem = verify(input.pod, injected(input.pod, resources, input.native), input.namespace);
  if (problem !== undefined) return { ok: false, problem };
  return { ok: true, resources, changes: changes(input.desired, resources) };
}

interface Amounts {
  req: Partial<Record<Name, number>>;
  lim: Partial<Record<Name, number>>;
}

/** What the namespace asks of one resource, in milli-units. */
interface Rule {
  lo?: number;
  hi?: number;
  ratio?: number;
  podLimit?: number;
  quotaRequest: boolean;
  quotaLimit: boolean;
}

/**
 * LimitRanger's defaults, which it applied to every other container before the webhook
 * ran (first LimitRange by name wins, as each fills only what is still missing), then the
 * API server's own default of a missing request to its limit.
 */
function withDefaults(desired: Resources, items: V1LimitRangeItem[]): Amounts {
  const req: Amounts['req'] = {};
  const lim: Amounts['lim'] = {};
  for (const name of NAMES) {
    const r = desired.requests?.[name] ?? firstOf(items, (item) => item.defaultRequest?.[name]);
    const l = desired.limits?.[name] ?? firstOf(items, (item) => item._default?.[name]);
    if (l !== undefined) lim[name] = milli(l);
    if (r !== undefined) req[name] = milli(r);
    else if (lim[name] !== undefined) req[name] = lim[name];
  }
  return { req, lim };
}

function fitOne(name: Name, { req, lim }: Amounts, rule: Rule): void {
  const { lo, hi, ratio } = rule;
  fillRequired(name, { req, lim }, rule);
  const top =
    hi === undefined || rule.podLimit === undefined
      ? (hi ?? rule.podLimit)
      : Math.min(hi, rule.podLimit);
  if (req[name] !== undefined) req[name] = clamp(req[name], lo, hi);
  if (lim[name] !== undefined) lim[name] = clamp(lim[name], lo, top);
  const r = req[name];
  const l = lim[name];
  if (r !== undefined && l !== undefined && r > l) req[name] = l;
  // Over the ratio: keep the limit (the sidecar's headroom) and raise the request.
  const request = req[name];
  if (ratio !== undefined && l !== undefined && request && l / request > ratio / 1000) {
    req[name] = Math.ceil((l * 1000) / ratio);
  }
}

/** A request or limit the namespace's rules or quotas require, where the sidecar has none. */
function fillRequired(name: Name, { req, lim }: Amounts, rule: Rule): void {
  const { lo, hi, ratio } = rule;
  const needRequest = lo !== undefined || ratio !== undefined || rule.quotaRequest;
  const needLimit = hi !== undefined || ratio !== undefined || rule.quotaLimit;
  if (needRequest && !(req[name] ?? 0)) req[name] = lo ?? milli(FALLBACK_RESOURCES.requests[name]);
  if (needLimit && lim[name] === undefined)
    lim[name] = hi ?? milli(FALLBACK_RESOURCES.limits[name]);
}

function clamp(value: number, lo?: number, hi?: number): number {
  let v = value;
  if (lo !== undefined) v = Math.max(v, lo);
  if (hi !== undefined) v = Math.min(v, hi);
  return v;
}

/**
 * The pod's spec with a sidecar of these resources, where the webhook puts it: all the
 * checks here read of a pod. (Copied with Object.assign and the list set after: a spread
 * with a key after it took microseconds on a pod's spec, twice per review.)
 */
function injected(pod: V1Pod, resources: Resources, native: boolean): V1Pod {
  const spec = pod.spec ?? { containers: [] };
  const copy: V1PodSpec = Object.assign({}, spec);
  if (native) {
    const sidecar: V1Container = { name: SIDECAR_CONTAINER, resources, restartPolicy: 'Always' };
    copy.initContainers = [...(spec.initContainers ?? []), sidecar];
  } else copy.containers = [...spec.containers, { name: SIDECAR_CONTAINER, resources }];
  return { spec: copy };
}

/**
 * What the injected pod breaks that the pod alone did not, as the API server would say it;
 * undefined when nothing.
 */
export function verify(
  before: V1Pod,
  after: V1Pod,
  namespace: NamespaceLimits,
): string | undefined {
  const sidecar = [...(after.spec?.initContainers ?? []), ...(after.spec?.containers ?? [])].find(
    (c) => c.name === SIDECAR_CONTAINER,
  );
  for (const range of byName(namespace.limitRanges)) {
    for (const item of range.spec?.limits ?? []) {
      const problem = rangeItemProblem(item, sidecar, before, after);
      if (problem) return `LimitRange ${range.metadata?.name ?? ''}: ${problem}`;
    }
  }
  const consistency = newProblem(before, after, podLevelProblem);
  if (consistency) return `spec.resources: ${consistency}`;
  for (const quota of byName(namespace.resourceQuotas)) {
    const problem = newProblem(before, after, (pod) => quotaProblem(quota, pod));
    if (problem) return `ResourceQuota ${quota.metadata?.name ?? ''}: ${problem}`;
  }
  return undefined;
}

function rangeItemProblem(
  item: V1LimitRangeItem,
  sidecar: V1Container | undefined,
  before: V1Pod,
  after: V1Pod,
): string | undefined {
  if (item.type === 'Container' && sidecar) {
    const { requests, limits } = sidecar.resources ?? {};
    return itemProblem(item, 'Container', toList(requests), toList(limits));
  }
  if (item.type !== 'Pod') return undefined;
  return newProblem(before, after, (pod) =>
    itemProblem(item, 'Pod', podRequests(pod, false), podLimitsOf(pod, false)),
  );
}

/** A problem `check` finds with `after` but not with `before`. */
function newProblem(
  before: V1Pod,
  after: V1Pod,
  check: (pod: V1Pod) => string | undefined,
): string | undefined {
  const problem = check(after);
  return problem !== undefined && check(before) === undefined ? problem : undefined;
}

/** LimitRanger's min, max and ratio checks of one item, on one container or the pod. */
function itemProblem(
  item: V1LimitRangeItem,
  kind: string,
  request: List,
  limit: List,
): string | undefined {
  for (const [name, value] of Object.entries(item.min ?? {})) {
    const min = milli(value);
    if (request[name] === undefined)
      return `minimum ${name} usage per ${kind} is ${value}.  No request is specified`;
    if (request[name] < min)
      return `minimum ${name} usage per ${kind} is ${value}, but request is ${show(name, request[name])}`;
    if (limit[name] !== undefined && limit[name] < min)
      return `minimum ${name} usage per ${kind} is ${value}, but limit is ${show(name, limit[name])}`;
  }
  for (const [name, value] of Object.entries(item.max ?? {})) {
    const max = milli(value);
    if (limit[name] === undefined)
      return `maximum ${name} usage per ${kind} is ${value}.  No limit is specified`;
    if (limit[name] > max)
      return `maximum ${name} usage per ${kind} is ${value}, but limit is ${show(name, limit[name])}`;
    if (request[name] !== undefined && request[name] > max)
      return `maximum ${name} usage per ${kind} is ${value}, but request is ${show(name, request[name])}`;
  }
  for (const [name, value] of Object.entries(item.maxLimitRequestRatio ?? {})) {
    const r = request[name];
    const l = limit[name];
    if (!r)
      return `${name} max limit to request ratio per ${kind} is ${value}, but no request is specified or request is 0`;
    if (!l)
      return `${name} max limit to request ratio per ${kind} is ${value}, but no limit is specified or limit is 0`;
    if (l / r > milli(value) / 1000)
      return `${name} max limit to request ratio per ${kind} is ${value}, but provided ratio is ${(l / r).toFixed(6)}`;
  }
  return undefined;
}

/** Pod-level resources (spec.resources) must cover the containers'. */
function podLevelProblem(pod: V1Pod): string | undefined {
  const level = podLevel(pod);
  if (!level) return undefined;
  const requests = aggregate(pod, (c) => c.resources?.requests);
  for (const [name, value] of Object.entries(level.requests)) {
    if ((requests[name] ?? 0) > value)
      return `requests.${name}: must be greater than or equal to aggregate container requests of ${show(name, requests[name] ?? 0)}`;
  }
  for (const container of pod.spec?.containers ?? []) {
    for (const [name, value] of Object.entries(toList(container.resources?.limits))) {
      const cap = level.limits[name];
      if (cap !== undefined && value > cap)
        return `limits.${name}: container ${container.name}'s limit ${show(name, value)} must be less than or equal to pod limits of ${show(name, cap)}`;
    }
  }
  return undefined;
}

// Quota: the resources whose presence on every container a quota enforces (the pods
// evaluator's validationSet), and the compute resources whose usage it counts.
const MUST_SPECIFY: Record<string, [kind: 'requests' | 'limits', name: Name]> = {
  cpu: ['requests', 'cpu'],
  'requests.cpu': ['requests', 'cpu'],
  memory: ['requests', 'memory'],
  'requests.memory': ['requests', 'memory'],
  'limits.cpu': ['limits', 'cpu'],
  'limits.memory': ['limits', 'memory'],
};

/** `requests.cpu`-style names every container needs, by the quotas that match the pod. */
function quotaRequirements(quotas: readonly V1ResourceQuota[], pod: V1Pod): Set<string> {
  const needs = new Set<string>();
  if (podLevel(pod)) return needs;
  for (const quota of quotas) {
    if (!quotaMatches(quota, pod)) continue;
    for (const name of Object.keys(quota.status?.hard ?? {})) {
      const need = MUST_SPECIFY[name];
      if (need) needs.add(`${need[0]}.${need[1]}`);
    }
  }
  return needs;
}

/** What the ResourceQuota admission plugin would refuse the pod for, if anything. */
function quotaProblem(quota: V1ResourceQuota, pod: V1Pod): string | undefined {
  if (!quotaMatches(quota, pod)) return undefined;
  const hard = quota.status?.hard ?? {};
  if (!podLevel(pod)) {
    const missing: string[] = [];
    for (const name of Object.keys(hard).sort()) {
      const need = MUST_SPECIFY[name];
      if (!need) continue;
      const lacking = allContainers(pod)
        .filter((c) => c.resources?.[need[0]]?.[need[1]] === undefined)
        .map((c) => c.name)
        .sort();
      if (lacking.length > 0) missing.push(`${name} for: ${lacking.join(',')}`);
    }
    if (missing.length > 0) return `must specify ${missing.join('; ')}`;
  }
  const usage = quotaUsage(pod);
  const used = quota.status?.used ?? {};
  for (const name of Object.keys(hard).sort()) {
    const value = usage[name];
    if (value === undefined) continue;
    const limit = milli(hard[name] ?? '0');
    const already = milli(used[name] ?? '0');
    if (already + value > limit) {
      const kind = name.endsWith('memory') ? 'memory' : 'cpu';
      return `exceeded quota, requested: ${name}=${show(kind, value)}, used: ${name}=${show(kind, already)}, limited: ${name}=${hard[name]}`;
    }
  }
  return undefined;
}

/** A pod's compute usage as the quota counts it (requests, limits, overhead). */
function quotaUsage(pod: V1Pod): List {
  const requests = podRequests(pod, true);
  const limits = podLimitsOf(pod, true);
  const usage: List = {};
  for (const name of NAMES) {
    if (requests[name] !== undefined) {
      usage[name] = requests[name];
      usage[`requests.${name}`] = requests[name];
    }
    if (limits[name] !== undefined) usage[`limits.${name}`] = limits[name];
  }
  return usage;
}

/** Whether a quota applies to the pod: it counts compute resources and its scopes match. */
function quotaMatches(quota: V1ResourceQuota, pod: V1Pod): boolean {
  const hard = Object.keys(quota.status?.hard ?? {});
  if (!hard.some((name) => MUST_SPECIFY[name] !== undefined)) return false;
  const selectors: V1ScopedResourceSelectorRequirement[] = [
    ...(quota.spec?.scopes ?? []).map((scopeName) => ({ scopeName, operator: 'Exists' })),
    ...(quota.spec?.scopeSelector?.matchExpressions ?? []),
  ];
  return selectors.every((selector) => scopeMatches(selector, pod));
}

function scopeMatches(selector: V1ScopedResourceSelectorRequirement, pod: V1Pod): boolean {
  const spec = pod.spec;
  switch (selector.scopeName) {
    case 'Terminating':
      return (spec?.activeDeadlineSeconds ?? -1) >= 0;
    case 'NotTerminating':
      return !((spec?.activeDeadlineSeconds ?? -1) >= 0);
    case 'BestEffort':
      return isBestEffort(pod);
    case 'NotBestEffort':
      return !isBestEffort(pod);
    case 'PriorityClass':
      return priorityMatches(selector, spec?.priorityClassName ?? '');
    case 'CrossNamespacePodAffinity':
      return crossNamespaceAffinity(pod);
    default:
      return false;
  }
}

function priorityMatches(selector: V1ScopedResourceSelectorRequirement, value: string): boolean {
  const values = selector.values ?? [];
  if (selector.operator === 'Exists') return value !== '';
  if (selector.operator === 'In') return values.includes(value);
  if (selector.operator === 'NotIn') return !values.includes(value);
  return false;
}

function crossNamespaceAffinity(pod: V1Pod): boolean {
  const affinity = pod.spec?.affinity;
  const terms = [
    ...(affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
      (w) => w.podAffinityTerm,
    ),
    ...(affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
      (w) => w.podAffinityTerm,
    ),
  ];
  return terms.some((t) => (t.namespaces ?? []).length > 0 || t.namespaceSelector !== undefined);
}

/** QoS BestEffort: no positive CPU or memory request or limit anywhere. */
function isBestEffort(pod: V1Pod): boolean {
  const level = podLevel(pod);
  const lists = level
    ? [level.requests, level.limits]
    : allContainers(pod).flatMap((c) => [
        toList(c.resources?.requests),
        toList(c.resources?.limits),
      ]);
  return !lists.some((list) => NAMES.some((name) => (list[name] ?? 0) > 0));
}

/** The pod's requests: containers, restartable init containers, the largest init step. */
function podRequests(pod: V1Pod, overhead: boolean): List {
  const result = aggregate(pod, (c) => c.resources?.requests);
  const level = podLevel(pod);
  if (level) Object.assign(result, level.requests);
  if (overhead) add(result, toList(pod.spec?.overhead));
  return result;
}

function podLimitsOf(pod: V1Pod, overhead: boolean): List {
  const result = aggregate(pod, (c) => c.resources?.limits);
  const level = podLevel(pod);
  if (level) Object.assign(result, level.limits);
  if (overhead) {
    for (const [name, value] of Object.entries(toList(pod.spec?.overhead)))
      if (result[name]) result[name] += value;
  }
  return result;
}

/** KEP-753's sum: app containers and sidecars add up; an init step is the max with those before it. */
function aggregate(pod: V1Pod, pick: (c: V1Container) => Record<string, string> | undefined): List {
  const result: List = {};
  for (const container of pod.spec?.containers ?? []) add(result, toList(pick(container)));
  const restartable: List = {};
  const init: List = {};
  for (const container of pod.spec?.initContainers ?? []) {
    const own = toList(pick(container));
    let step: List;
    if (container.restartPolicy === 'Always') {
      add(result, own);
      add(restartable, own);
      step = { ...restartable };
    } else {
      step = { ...own };
      add(step, restartable);
    }
    for (const [name, value] of Object.entries(step)) init[name] = Math.max(init[name] ?? 0, value);
  }
  for (const [name, value] of Object.entries(init))
    result[name] = Math.max(result[name] ?? 0, value);
  return result;
}

/** Pod-level CPU and memory (spec.resources), when the pod sets any. */
function podLevel(pod: V1Pod): { requests: List; limits: List } | undefined {
  const resources = pod.spec?.resources;
  if (resources === undefined) return undefined;
  const pick = (list?: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(toList(list)).filter(([name]) => NAMES.includes(name as Name)),
    );
  const requests = pick(resources?.requests);
  const limits = pick(resources?.limits);
  return Object.keys(requests).length + Object.keys(limits).length > 0
    ? { requests, limits }
    : undefined;
}

function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
}

function toList(list: Record<string, string> | undefined): List {
  const out: List = {};
  if (list === undefined) return out;
  for (const [name, value] of Object.entries(list)) out[name] = milli(String(value));
  return out;
}

function add(into: List, list: List): void {
  for (const [name, value] of Object.entries(list)) into[name] = (into[name] ?? 0) + value;
}

function show(name: string, value: number): string {
  return formatMilli(name === 'memory' || name.endsWith('.memory') ? 'memory' : 'cpu', value);
}

/** The resources as quantities; a value left as configured keeps its spelling. */
function toResources(
  req: Partial<Record<Name, number>>,
  lim: Partial<Record<Name, number>>,
  desired: Resources,
): Resources {
  const out: Resources = {};
  for (const [kind, values] of [
    ['requests', req],
    ['limits', lim],
  ] as const) {
    const list: Partial<Record<Name, string>> = {};
    for (const name of NAMES) {
      const value = values[name];
      if (value === undefined) continue;
      const given = desired[kind]?.[name];
      list[name] = given !== undefined && milli(given) === value ? given : formatMilli(name, value);
    }
    if (Object.keys(list).length > 0) out[kind] = list;
  }
  return out;
}

/** `requests.cpu 10m → 50m`-style notes of what fitting changed. */
function changes(desired: Resources, fitted: Resources): string[] {
  const notes: string[] = [];
  for (const kind of ['requests', 'limits'] as const) {
    for (const name of NAMES) {
      const from = desired[kind]?.[name];
      const to = fitted[kind]?.[name];
      if (from !== to) notes.push(`${kind}.${name} ${from ?? 'unset'} → ${to ?? 'unset'}`);
    }
  }
  return notes;
}

function byName<T extends { metadata?: { name?: string } }>(objects: readonly T[]): T[] {
  return [...objects].sort((a, b) =>
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
}

function firstOf(items: V1LimitRangeItem[], pick: (item: V1LimitRangeItem) => string | undefined) {
  for (const item of items) {
    const value = pick(item);
    if (value !== undefined) return value;
  }
  return undefined;
}

function maxOf(values: (string | undefined)[]): number | undefined {
  const numbers = values.filter((v): v is string => v !== undefined).map(milli);
  return numbers.length > 0 ? Math.max(...numbers) : undefined;
}

function minOf(values: (string | undefined)[]): number | undefined {
  const numbers = values.filter((v): v is string => v !== undefined).map(milli);
  return numbers.length > 0 ? Math.min(...numbers) : undefined;
}
