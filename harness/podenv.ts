// Turns a container's `env` from a stored pod into the environment the kubelet
// would give its process: literal values with $(VAR) expansion, the downward
// API for the pod's own fields, and Secret/ConfigMap keys read from the API.
// Lets a test (or the demo) run an injected container as a local process.
import { CoreV1Api, type KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';

export interface EnvSources {
  secret(name: string, key: string): Promise<string | undefined>;
  configMap(name: string, key: string): Promise<string | undefined>;
}

/** Secret and ConfigMap keys read through the API, in the pod's namespace. */
export function apiEnvSources(kubeConfig: KubeConfig, namespace: string): EnvSources {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async secret(name, key) {
      const secret = await core.readNamespacedSecret({ name, namespace });
      const data = secret.data?.[key];
      return data === undefined
        ? secret.stringData?.[key]
        : Buffer.from(data, 'base64').toString('utf8');
    },
    async configMap(name, key) {
      const map = await core.readNamespacedConfigMap({ name, namespace });
      return map.data?.[key];
    },
  };
}

/** The container named `name`, wherever the pod keeps it (native sidecars are init containers). */
export function findContainer(pod: V1Pod, name: string): V1Container | undefined {
  const spec = pod.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find(
    (c) => c.name === name,
  );
}

/** The `env` entries as the spec writes them: literal values, undefined for a valueFrom. */
export function specEnv(container: V1Container | undefined): Record<string, string | undefined> {
  return Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
}

/**
 * The container's environment, in the kubelet's order: `envFrom` first, then
 * `env` entries, each expanding $(NAME) from those defined before it.
 * Throws on a required reference that cannot be resolved, as the kubelet would
 * refuse to start the container.
 */
export async function renderContainerEnv(
  pod: V1Pod,
  container: V1Container,
  sources: EnvSources,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  if ((container.envFrom ?? []).length > 0) {
    throw new Error(`container ${container.name}: envFrom is not supported by this helper`);
  }
  for (const entry of container.env ?? []) {
    const from = entry.valueFrom;
    let value: string | undefined;
    if (!from) {
      value = expand(entry.value ?? '', env);
    } else if (from.fieldRef) {
      value = fieldValue(pod, from.fieldRef.fieldPath);
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      value = await sources.secret(ref.name ?? '', ref.key).catch(() => undefined);
      if (value === undefined && !ref.optional) {
        throw new Error(`${entry.name}: Secret ${ref.name ?? ''} key ${ref.key} not found`);
      }
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      value = await sources.configMap(ref.name ?? '', ref.key).catch(() => undefined);
      if (value === undefined && !ref.optional) {
        throw new Error(`${entry.name}: ConfigMap ${ref.name ?? ''} key ${ref.key} not found`);
      }
    } else {
      throw new Error(`${entry.name}: unsupported valueFrom ${JSON.stringify(from)}`);
    }
    if (value !== undefined) env[entry.name] = value;
  }
  return env;
}

/** The downward API's fieldRef paths that make sense outside a node. */
function fieldValue(pod: V1Pod, path: string): string {
  const meta = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (mapKey) {
    const map = mapKey[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[mapKey[2] ?? ''] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      throw new Error(`fieldRef ${path} is not supported by this helper`);
  }
}

/**
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): `$$` is a
 * literal `$`, `$(NAME)` is replaced when NAME is defined and kept as written
 * otherwise, and any other `$` is kept.
 */
export function expand(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += '$(';
        i++;
        continue;
      }
      const name = input.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
      i = close;
    } else {
      out += ch + next;
      i++;
    }
  }
  return out;
}
