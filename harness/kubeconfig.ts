// The one kubeconfig writer: a cluster, its CA, and one user who authenticates
// with a client certificate or a bearer token. JSON is YAML: no YAML library.
import { writeFileSync } from 'node:fs';

/** The one context every kubeconfig written here has (CoreDNS names it, for one). */
export const CONTEXT = 'kaos';

export type Credentials = { cert: string; key: string } | { token: string };

export interface KubeconfigSpec {
  server: string;
  caCert: string;
  user: string;
  credentials: Credentials;
}

function kubeconfigText(spec: KubeconfigSpec): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const user =
    'token' in spec.credentials
      ? { token: spec.credentials.token }
      : {
          'client-certificate-data': b64(spec.credentials.cert),
          'client-key-data': b64(spec.credentials.key),
        };
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'kaos',
          cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caCert) },
        },
      ],
      users: [{ name: spec.user, user }],
      contexts: [{ name: CONTEXT, context: { cluster: 'kaos', user: spec.user } }],
      'current-context': CONTEXT,
    },
    null,
    2,
  );
}

/** Writes the kubeconfig readable by its owner only (it holds a credential). */
export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  writeFileSync(path, kubeconfigText(spec), { mode: 0o600 });
}
