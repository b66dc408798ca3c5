// The node's certificates, made with the openssl command (ECDSA P-256: a few
// milliseconds each, where RSA in JavaScript takes a second). One CA signs the API
// server's and kubelet's serving certificates and every client's certificate; the
// client's identity is its certificate's CN (user) and O (groups), as in kubeadm.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';

export interface CertSpec {
  /** File stem: NAME.crt and NAME.key. */
  name: string;
  cn: string;
  groups?: string[];
  dns?: string[];
  ips?: string[];
}

export async function makeCa(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '7',
    '-subj',
    '/CN=kaos-memory-node-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

export async function issue(dir: string, spec: CertSpec): Promise<void> {
  const subject = [`/CN=${spec.cn}`, ...(spec.groups ?? []).map((o) => `/O=${o}`)].join('');
  const sans = [
    ...(spec.dns ?? []).map((d) => `DNS:${d}`),
    ...(spec.ips ?? []).map((ip) => `IP:${ip}`),
  ];
  const serving = sans.length > 0;
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    join(dir, `${spec.name}.key`),
    '-out',
    join(dir, `${spec.name}.crt`),
    '-CA',
    join(dir, 'ca.crt'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-days',
    '7',
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext',
    `extendedKeyUsage=${serving ? 'serverAuth' : 'clientAuth'}`,
    ...(serving ? ['-addext', `subjectAltName=${sans.join(',')}`] : []),
  ]);
}

/** An ECDSA key pair for signing service-account tokens (sa.key, sa.pub). */
export async function serviceAccountKey(dir: string): Promise<void> {
  await run('openssl', [
    'ecparam',
    '-name',
    'prime256v1',
    '-genkey',
    '-noout',
    '-out',
    join(dir, 'sa.key'),
  ]);
  await run('openssl', ['ec', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')]);
}

/** A kubeconfig (JSON is YAML) for one client certificate. */
export function writeKubeconfig(
  path: string,
  { server, caCert, cert, key }: { server: string; caCert: string; cert: string; key: string },
): void {
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kaos-node', cluster: { server, 'certificate-authority': caCert } }],
    users: [{ name: 'user', user: { 'client-certificate': cert, 'client-key': key } }],
    contexts: [{ name: 'kaos-node', context: { cluster: 'kaos-node', user: 'user' } }],
    'current-context': 'kaos-node',
  };
  writeFileSync(path, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
}
