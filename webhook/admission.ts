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

/**
 * Turn an AdmissionReview body into the response to send. Never throws: a body
 * that is not an AdmissionReview is a 400, and a failure inside injection admits
 * the pod unchanged with a warning. `lookup` is the cluster view, when there is one.
 */
export function review(body: unknown, config: InjectConfig, lookup?: NamespaceLookup): Reviewed {
  const parsed = admissionReview.safeParse(body);
  if (!parsed.success) return { status: 400, message: describe(parsed.error) };
  const request = parsed.data.request;
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

  const object = pod.safeParse(request.object);
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
    const patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
    const outcome = result.tenant
      ? { result: 'injected' as const, tenant: true }
      : { result: 'injected' as const };
    return answer(outcome, { patchType: 'JSONPatch', patch, ...warnings });
  } catch (error) {
    return answer(
      { result: 'failed', error },
      {
        warnings: ['kaos-memory: internal error; the pod was admitted without the memory sidecar'],
      },
    );
  }
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
