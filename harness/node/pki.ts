// The node's certificates, as files for the components' flags, from the project's one
// CA (certs/ca.ts), and a kubeconfig for each client that asks for one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, rsaKeyPair, type IssueOptions } from '../../certs/ca.js';
import { writeKubeconfig } from '../kubeconfig.js';
import { NODE } from './paths.js';

/** A certificate to issue, and whether its holder gets a kubeconfig. */
export type Identity = IssueOptions & { kubeconfig?: boolean };

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Writes `ca.crt`, `sa.key`/`sa.pub` (service-account token signing) and, for each
 * entry, `<name>.crt`/`<name>.key` (and `<name>.kubeconfig` when asked) into `dir`.
 */
export function writePki(dir: string, server: string, certs: Record<string, Identity>): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) =>
    writeFileSync(join(dir, name), text, { mode: 0o600 });
  const ca = CertificateAuthority.create({
    commonName: 'kaos-memory-node-ca',
    validityMs: WEEK_MS,
  });
  write('ca.crt', ca.cert);
  const sa = rsaKeyPair();
  write('sa.key', sa.privateKey);
  write('sa.pub', sa.publicKey);
  for (const [name, { kubeconfig, ...options }] of Object.entries(certs)) {
    const pem = ca.issue(options);
    write(`${name}.crt`, pem.cert);
    write(`${name}.key`, pem.key);
    if (kubeconfig) {
      writeKubeconfig(join(dir, `${name}.kubeconfig`), {
        server,
        caCert: ca.cert,
        user: name,
        credentials: pem,
      });
    }
  }
}

/**
 * The node's eight identities: the API server's and the kubelet's serving certificates,
 * the API server's client to kubelets, and a kubeconfig for the admin and each component.
 */
export function nodeIdentities(): Record<string, Identity> {
  const { name, ip, apiServiceIp, clusterDomain } = NODE;
  return {
    apiserver: {
      commonName: 'kube-apiserver',
      dns: [
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        `kubernetes.default.svc.${clusterDomain}`,
        'localhost',
      ],
      ips: [ip, apiServiceIp, '127.0.0.1'],
    },
    'kubelet-serving': { commonName: `system:node:${name}`, dns: [name], ips: [ip] },
    'apiserver-kubelet-client': {
      commonName: 'kube-apiserver-kubelet-client',
      organizations: ['system:masters'],
    },
    admin: { commonName: 'kaos-admin', organizations: ['system:masters'], kubeconfig: true },
    kubelet: {
      commonName: `system:node:${name}`,
      organizations: ['system:nodes'],
      kubeconfig: true,
    },
    'controller-manager': { commonName: 'system:kube-controller-manager', kubeconfig: true },
    scheduler: { commonName: 'system:kube-scheduler', kubeconfig: true },
    'kube-proxy': { commonName: 'system:kube-proxy', kubeconfig: true },
  };
}
