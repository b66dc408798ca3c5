import { z } from 'zod';
import { AGENT_LABEL } from '../lib/contract.js';
import type { InjectConfig } from './config.js';
import { inject, type SkipReason } from './inject.js';
import type { NamespaceFacts } from './namespace.js';

export type ReviewSkipReason = SkipReason | 'not-pod' | 'not-create' | 'invalid-pod';

/** What happened to one review, for logs and metrics. */
export type Outcome =
  /** `tenant`: the pod's namespace is isolated; nothing in it reads the shared password. */
  | { result: 'injected'; tenant?: boolean }
  | { result: 'skipped'; reason: ReviewSkipReason }
  | { result: 'failed'; error: unknown };

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export type Reviewed =
  | {
      status: 200;
      body: {
        apiVersion: 'admission.k8s.io/v1';
        kind: 'AdmissionReview';
        response: AdmissionResponse;
      };
      outcome: Outcome;
      /** Log fields: who asked about which pod. */
      context: { uid: string; namespace?: string; pod?: string; agent?: string; dryRun: boolean };
    }
  | { status: 400; message: string };

/**
 * The webhook's cluster view of a namespace (webhook/cluster-view.ts): undefined when it
 * has not seen it. Absent altogether when the webhook runs without API access.
 */
export type NamespaceLookup = (namespace: string) => NamespaceFacts | undefined;

// Only what injection reads is checked; everything else passes through untouched.
const envVar = z.looseObject({ name: z.string() });
const quantities = z.record(z.string(), z.string());
const resources = z.looseObject({
  requests: quantities.optional(),
  limits: quantities.optional(),
});
const container = z.looseObject({
  name: z.string(),
  env: z.array(envVar).optional(),
  ports: z.array(z.looseObject({ containerPort: z.number().int() })).optional(),
  resources: resources.optional(),
});
const nodeSelectorTerm = z.looseObject({
  matchExpressions: z
    .array(
      z.looseObject({
        key: z.string(),
        operator: z.string(),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
const pod = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.looseObject({
    containers: z.array(container),
    initContainers: z.array(container).optional(),
    restartPolicy: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    os: z.looseObject({ name: z.string() }).optional(),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    affinity: z
      .looseObject({
        nodeAffinity: z
          .looseObject({
            requiredDuringSchedulingIgnoredDuringExecution: z
              .looseObject({ nodeSelectorTerms: z.array(nodeSelectorTerm) })
              .optional(),
          })
          .optional(),
      })
      .optional(),
    resources: resources.optional(),
    overhead: quantities.optional(),
  }),
});

const admissionReview = z.object({
  apiVersion: z.literal('admission.k8s.io/v1', { message: 'must be admission.k8s.io/v1' }),
  kind: z.literal('AdmissionReview', { message: 'must be AdmissionReview' }),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
    subResource: z.string().optional(),
    operation: z.string().min(1),
    namespace: z.string().optional(),
    name: z.string().optional(),
    dryRun: z.boolean().optional(),
    object: z.unknown().optional(),
  }),
});

// The checks above, by hand, for the common case: true only when zod would accept the value
// and its parsed copy would read the same (same keys, values and order where the patch
// shows it), so the value itself can stand for the copy. Anything else, including every
// malformed input, goes through zod, which says what is wrong. zod copies every checked
// object on the way; skipping that was most of what validation cost per review.
type Plain = Record<string, unknown>;

/** A plain object zod would copy key for key (it drops an own `__proto__`). */
function plain(value: unknown): value is Plain {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && !Object.hasOwn(value, '__proto__');
}

const optional = (value: unknown, check: (value: unknown) => boolean) =>
  value === undefined || check(value);
const isString = (value: unknown) => typeof value === 'string';

/** `z.record(z.string(), z.string())`: own enumerable keys, none a symbol. */
function stringRecord(value: unknown): boolean {
  if (!plain(value) || Object.getOwnPropertySymbols(value).length > 0) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || typeof value[key] !== 'string') return false;
  }
  return true;
}

function arrayOf(value: unknown, check: (item: unknown) => boolean): boolean {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (!check(value[i])) return false;
  return true;
}

/** An env entry whose first key is `name`, as in zod's copy (the patch may copy the entry). */
function fastEnvVar(value: unknown): boolean {
  if (!plain(value) || typeof value.name !== 'string') return false;
  for (const key in value) return key === 'name';
  return false;
}

const fastResources = (value: unknown) =>
  plain(value) && optional(value.requests, stringRecord) && optional(value.limits, stringRecord);

const fastPort = (value: unknown) => plain(value) && Number.isSafeInteger(value.containerPort);

function fastContainer(value: unknown): boolean {
  return (
    plain(value) &&
    typeof value.name === 'string' &&
    optional(value.env, (env) => arrayOf(env, fastEnvVar)) &&
    optional(value.ports, (ports) => arrayOf(ports, fastPort)) &&
    optional(value.resources, fastResources)
  );
}

const fastExpression = (value: unknown) =>
  plain(value) &&
  typeof value.key === 'string' &&
  typeof value.operator === 'string' &&
  optional(value.values, (values) => arrayOf(values, isString));

const fastTerm = (value: unknown) =>
  plain(value) &&
  optional(value.matchExpressions, (expressions) => arrayOf(expressions, fastExpression));

function fastAffinity(value: unknown): boolean {
  if (!plain(value)) return false;
  const node = value.nodeAffinity;
  if (node === undefined) return true;
  if (!plain(node)) return false;
  const required = node.requiredDuringSchedulingIgnoredDuringExecution;
  if (required === undefined) return true;
  return plain(required) && arrayOf(required.nodeSelectorTerms, fastTerm);
}

function fastMetadata(value: unknown): boolean {
  return (
    plain(value) &&
    optional(value.name, isString) &&
    optional(value.generateName, isString) &&
    optional(value.namespace, isString) &&
    optional(value.labels, stringRecord) &&
    optional(value.annotations, stringRecord)
  );
}

function fastSpec(value: unknown): boolean {
  return (
    plain(value) &&
    arrayOf(value.containers, fastContainer) &&
    optional(value.initContainers, (init) => arrayOf(init, fastContainer)) &&
    optional(value.restartPolicy, isString) &&
    optional(value.hostNetwork, (v) => typeof v === 'boolean') &&
    optional(value.os, (os) => plain(os) && typeof os.name === 'string') &&
    optional(value.nodeSelector, stringRecord) &&
    optional(value.affinity, fastAffinity) &&
    optional(value.resources, fastResources) &&
    optional(value.overhead, stringRecord)
  );
}

/** `pod`, by hand: true only where `pod.safeParse` succeeds. */
export function fastPod(value: unknown): value is z.infer<typeof pod> {
  return plain(value) && optional(value.metadata, fastMetadata) && fastSpec(value.spec);
}

/** `admissionReview`, by hand: true only where `admissionReview.safeParse` succeeds. */
export function fastReview(value: unknown): value is z.infer<typeof admissionReview> {
  if (!plain(value)) return false;
  if (value.apiVersion !== 'admission.k8s.io/v1' || value.kind !== 'AdmissionReview') return false;
  const request = value.request;
  if (!plain(request)) return false;
  const kind = request.kind;
  return (
    typeof request.uid === 'string' &&
    request.uid.length > 0 &&
    plain(kind) &&
    typeof kind.group === 'string' &&
    typeof kind.version === 'string' &&
    typeof kind.kind === 'string' &&
    optional(request.subResource, isString) &&
    typeof request.operation === 'string' &&
    request.operation.length > 0 &&
    optional(request.namespace, isString) &&
    optional(request.name, isString) &&
    optional(request.dryRun, (v) => typeof v === 'boolean')
  );
}

/** zod's schemas, for tests that hold the hand-written checks to them. */
export const schemas = { admissionReview, pod };

/**
 * Turn an AdmissionReview body into the response to send. Never throws: a body
 * that is not an AdmissionReview is a 400, and a failure inside injection admits
 * the pod unchanged with a warning. `lookup` is the cluster view, when there is one.
 */
export function review(body: unknown, config: InjectConfig, lookup?: NamespaceLookup): Reviewed {
  let request: z.infer<typeof admissionReview>['request'];
  if (fastReview(body)) request = body.request;
  else {
    const parsed = admissionReview.safeParse(body);
    if (!parsed.success) return { status: 400, message: describe(parsed.error) };
    request = parsed.data.request;
  }
  const context: {
    uid: string;
    namespace?: string;
    pod?: string;
    agent?: string;
    dryRun: boolean;
  } = {
    uid: request.uid,
    namespace: request.namespace,
    pod: request.name,
    dryRun: request.dryRun ?? false,
  };
  const answer = (
    outcome: Outcome,
    response: Omit<AdmissionResponse, 'uid' | 'allowed'> = {},
  ): Reviewed => ({
    status: 200,
    body: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: request.uid, allowed: true, ...response },
    },
    outcome,
    context,
  });

  const { group, kind } = request.kind;
  if (group !== '' || kind !== 'Pod' || request.subResource) {
    return answer({ result: 'skipped', reason: 'not-pod' });
  }
  if (request.operation !== 'CREATE') return answer({ result: 'skipped', reason: 'not-create' });

  const object = fastPod(request.object)
    ? { success: true as const, data: request.object }
    : pod.safeParse(request.object);
  if (!object.success) {
    // Mutation runs before validation: a pod injection cannot read (containers: null, as Go
    // clients send for an empty slice) is admitted untouched, so the API server's own
    // validation tells the user what is wrong with it.
    return answer(
      { result: 'skipped', reason: 'invalid-pod' },
      { warnings: [`kaos-memory: not injected: ${describe(object.error, 'pod')}`] },
    );
  }
  const metadata = object.data.metadata;
  context.pod =
    request.name ||
    metadata?.name ||
    (metadata?.generateName ? `${metadata.generateName}*` : undefined);
  // The agent label's value names the agent (it may be empty; absent: not an agent pod).
  context.agent = metadata?.labels?.[AGENT_LABEL];
  // The request's namespace: a pod being created may not carry it in its metadata.
  const namespace = request.namespace ?? metadata?.namespace ?? '';
  return injectInto(object.data, { config, namespace, lookup, answer });
}

interface Injection {
  config: InjectConfig;
  namespace: string;
  lookup?: NamespaceLookup;
  answer: (outcome: Outcome, response?: Omit<AdmissionResponse, 'uid' | 'allowed'>) => Reviewed;
}

function injectInto(object: Parameters<typeof inject>[0], how: Injection): Reviewed {
  const { config, namespace: name, lookup, answer } = how;
  try {
    const facts = lookup?.(name);
    const namespace = { name, facts, unseen: lookup !== undefined && facts === undefined };
    const result = inject(object, config, namespace);
    const warnings = result.warnings.length > 0 ? { warnings: result.warnings } : {};
    if (result.skipReason)
      return answer({ result: 'skipped', reason: result.skipReason }, warnings);
    const patch = base64(result.json ?? JSON.stringify(result.patch));
    const outcome = result.tenant
      ? { result: 'injected' as const, tenant: true }
      : { result: 'injected' as const };
    const reviewed = answer(outcome, { patchType: 'JSONPatch', patch, ...warnings });
    if (reviewed.status === 200) writeAnswer(reviewed.body);
    return reviewed;
  } catch (error) {
    return answer(
      { result: 'failed', error },
      {
        warnings: ['kaos-memory: internal error; the pod was admitted without the memory sidecar'],
      },
    );
  }
}

/**
 * A string's UTF-8 bytes in base64. A patch is nearly always ASCII (its UTF-8 length is its
 * length only then), and for ASCII btoa gives the same bytes as a Buffer in a tenth of the
 * time: the Buffer's allocation and copy cost more than encoding ~3 KB.
 */
export function base64(text: string): string {
  return Buffer.byteLength(text) === text.length
    ? btoa(text)
    : Buffer.from(text).toString('base64');
}

const PATCH_KEY = '"patch":""';

type Answer = Extract<Reviewed, { status: 200 }>['body'];

// The bytes review() wrote, by the very body they were written from: a reviewer that answers
// otherwise (webhook/credentials.ts, when the password copy fails) returns a body of its own,
// which is serialized as it is. A body written is frozen, so its bytes cannot go stale.
const written = new WeakMap<Answer, Buffer>();

/** The bytes to send for `body`: `JSON.stringify(body)` as UTF-8. */
export function answerBytes(body: Answer): Buffer {
  return written.get(body) ?? Buffer.from(JSON.stringify(body));
}

/**
 * Writes `JSON.stringify(body)` into one Buffer, without JSON.stringify's scan of the patch
 * for characters to escape (it comes from base64() and has none, and on a 4 KB patch that
 * scan was most of what serializing the answer cost) and without the answer as a string
 * first. The patch goes in where an empty one serializes, whose `"patch":""` cannot occur
 * earlier: inside a JSON string every `"` follows a backslash.
 */
function writeAnswer(body: Answer): void {
  const patch = body.response.patch ?? '';
  const json = JSON.stringify({ ...body, response: { ...body.response, patch: '' } });
  const at = json.indexOf(PATCH_KEY) + PATCH_KEY.length - 1;
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(json) + patch.length);
  let end = bytes.write(json.slice(0, at));
  end += bytes.write(patch, end, 'latin1');
  bytes.write(json.slice(at), end);
  Object.freeze(body.response.warnings);
  Object.freeze(body.response);
  written.set(Object.freeze(body), bytes);
}

/** The namespace an AdmissionReview is about, if it names one (before any validation). */
export function reviewNamespace(body: unknown): string | undefined {
  const namespace = (body as { request?: { namespace?: unknown } } | null)?.request?.namespace;
  return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}

function describe(error: z.ZodError, prefix?: string): string {
  const issue = error.issues[0];
  if (!issue) return 'not an AdmissionReview';
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  if (prefix === 'pod') return `${path}: ${issue.message}`;
  return `not an AdmissionReview v1: ${path || 'body'}: ${issue.message}`;
}
