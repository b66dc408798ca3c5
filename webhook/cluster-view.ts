// What the webhook needs to know about namespaces at admission, kept in memory: their
// labels and annotations (isolation, retention, the KAOS generation), LimitRanges and
// ResourceQuotas (so the sidecar fits them). Three informers (list once, then watch) on
// every replica, so a review reads memory and makes no API call. The objects are small
// and few (one per namespace, a handful of limits each), unlike pods.
import {
  CoreV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1LimitRange,
  type V1Namespace,
  type V1ResourceQuota,
} from '@kubernetes/client-node';
import type { Logger } from '../lib/logger.js';
import type { NamespaceFacts } from './namespace.js';

/** How long a failed list or watch waits before it starts again, at first and at most. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 30_000;

type Watched<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

interface Source<T extends KubernetesObject> {
  what: string;
  informer: Watched<T>;
  listed: boolean;
  retryMs: number;
  timer?: NodeJS.Timeout;
}

export class ClusterView {
  private readonly namespaces: Source<V1Namespace>;
  private readonly limitRanges: Source<V1LimitRange>;
  private readonly quotas: Source<V1ResourceQuota>;
  private readonly waiters = new Map<string, Set<() => void>>();
  private stopped = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly logger: Logger,
  ) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.namespaces = this.source(kubeConfig, 'namespaces', '/api/v1/namespaces', () =>
      core.listNamespace(),
    );
    this.limitRanges = this.source(kubeConfig, 'limitranges', '/api/v1/limitranges', () =>
      core.listLimitRangeForAllNamespaces(),
    );
    this.quotas = this.source(kubeConfig, 'resourcequotas', '/api/v1/resourcequotas', () =>
      core.listResourceQuotaForAllNamespaces(),
    );
    this.namespaces.informer.on('add', (ns) => this.wake(ns.metadata?.name ?? ''));
  }

  /** Lists and watches; resolves once each informer has tried its first list. */
  async start(): Promise<void> {
    await Promise.all(
      [this.namespaces, this.limitRanges, this.quotas].map((s) => s.informer.start()),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const source of [this.namespaces, this.limitRanges, this.quotas]) {
      clearTimeout(source.timer);
      void source.informer.stop();
    }
    for (const [name] of this.waiters) this.wake(name);
  }

  /** Every informer has listed at least once: the view can be trusted (and stays so). */
  get synced(): boolean {
    return this.namespaces.listed && this.limitRanges.listed && this.quotas.listed;
  }

  /** What is known of one namespace; undefined when it has not been seen. */
  lookup(namespace: string): NamespaceFacts | undefined {
    const object = this.namespaces.informer.get(namespace);
    if (!object) return undefined;
    return {
      labels: { ...object.metadata?.labels },
      annotations: { ...object.metadata?.annotations },
      limitRanges: this.limitRanges.informer.list(namespace).map(normalizeLimitRange),
      resourceQuotas: this.quotas.informer.list(namespace),
    };
  }

  /**
   * Resolves once `namespace` is in the view, or after `ms`: a namespace created an
   * instant before its first pod may still be on its way through the watch.
   */
  waitFor(namespace: string, ms: number): Promise<void> {
    if (this.stopped || this.namespaces.informer.get(namespace)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.waiters.get(namespace) ?? new Set();
      this.waiters.set(namespace, waiting);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0) this.waiters.delete(namespace);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiting.add(done);
    });
  }

  private wake(namespace: string): void {
    for (const done of [...(this.waiters.get(namespace) ?? [])]) done();
  }

  private source<T extends KubernetesObject>(
    kubeConfig: KubeConfig,
    what: string,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
  ): Source<T> {
    const source: Source<T> = {
      what,
      listed: false,
      retryMs: RETRY_FIRST_MS,
      informer: makeInformer(kubeConfig, path, async () => {
        const result = await list();
        if (!source.listed) this.logger.info({ resource: what }, 'cluster view listed');
        source.listed = true;
        source.retryMs = RETRY_FIRST_MS;
        return result;
      }),
    };
    // An informer stops on an error; what it holds stays in use while it starts again.
    source.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.logger.warn(
        { resource: what, err: describe(err), retryInMs: source.retryMs },
        'cluster view: list or watch failed',
      );
      clearTimeout(source.timer);
      source.timer = setTimeout(() => void source.informer.start(), source.retryMs);
      source.timer.unref();
      source.retryMs = Math.min(source.retryMs * 2, RETRY_MAX_MS);
    });
    return source;
  }
}

/**
 * A LimitRange's items, whichever way it arrived: client-node's list names the `default`
 * field `_default`, while watch events carry the wire JSON's `default`.
 */
function normalizeLimitRange(range: V1LimitRange): V1LimitRange {
  const limits = (range.spec?.limits ?? []).map((item) => {
    const wire = (item as { default?: Record<string, string> }).default;
    return item._default === undefined && wire !== undefined ? { ...item, _default: wire } : item;
  });
  return { ...range, spec: { ...range.spec, limits } };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? `status ${code}` : 'unknown error';
}
