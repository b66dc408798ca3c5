// The node's certificates, as files for the components' flags, from the project's one
// CA (certs/ca.ts), and a kubeconfig for each client that asks for one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority, rsaKeyPair, type IssueOptions } from '../../certs/ca.js';
import { writeKubeconfig } from '../kubeconfig.js';

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Writes `ca.crt`, `sa.key`/`sa.pub` (service-account token signing) and, for each
 * entry, `<name>.crt`/`<name>.key` (and `<name>.kubeconfig` when asked) into `dir`.
 */
export function writePki(
  dir: string,
  server: string,
  certs: Record<string, IssueOptions & { kubeconfig?: boolean }>,
): void {
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
