import { isIP } from 'node:net';
import forge from 'node-forge';

/** PEM-encoded output of {@link generateCertificates}. */
export interface CertificateBundle {
  /** The CA certificate that signed `tlsCert`; its key is discarded after signing. */
  caCert: string;
  tlsCert: string;
  tlsKey: string;
}

export interface CertificateOptions {
  /** DNS subject alternative names; the first is also the subject's common name. */
  dns: string[];
  /** IP subject alternative names (IPv4 or IPv6). */
  ips?: string[];
  /** Validity of both certificates, from now. Default one year. */
  validityMs?: number;
  /** Clock, for tests. */
  now?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// Tolerate clock skew between this node and the API server: five minutes, or a tenth
// of a short lifetime, so renewal at a fraction of the lifetime stays in the future.
const MAX_BACKDATE_MS = 5 * 60 * 1000;

/**
 * Make a fresh CA and a serving certificate signed by it (RSA 2048, SHA-256).
 * The CA key never leaves this function: renewal makes a new CA, and callers
 * publish old and new CA together while replicas switch over.
 */
export function generateCertificates(options: CertificateOptions): CertificateBundle {
  const dns = options.dns;
  const ips = options.ips ?? [];
  if (dns.length === 0 && ips.length === 0) throw new Error('certs: at least one DNS name or IP');
  for (const ip of ips) if (isIP(ip) === 0) throw new Error(`certs: "${ip}" is not an IP address`);
  for (const name of dns) {
    if (!/^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(name)) {
      throw new Error(`certs: "${name}" is not a DNS name`);
    }
  }
  const now = options.now ?? new Date();
  const validityMs = options.validityMs ?? 365 * DAY_MS;
  const notBefore = new Date(now.getTime() - Math.min(MAX_BACKDATE_MS, validityMs / 10));
  const notAfter = new Date(now.getTime() + validityMs);
  const commonName = dns[0] ?? ips[0] ?? 'kaos-memory';

  const caKeys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const ca = newCertificate(caKeys.publicKey, notBefore, notAfter);
  const caSubject = [subjectName(`kaos-memory-ca-${Math.floor(now.getTime() / 1000)}`)];
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = newCertificate(keys.publicKey, notBefore, notAfter);
  cert.setSubject([subjectName(commonName)]);
  cert.setIssuer(caSubject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...dns.map((value) => ({ type: 2, value })),
        ...ips.map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    caCert: forge.pki.certificateToPem(ca),
    tlsCert: forge.pki.certificateToPem(cert),
    tlsKey: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

/** The DNS names a Service is reached by from inside the cluster. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

/** Split a list of hosts into DNS names and IP addresses. */
export function splitHosts(hosts: string[]): { dns: string[]; ips: string[] } {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const host of hosts) (isIP(host) === 0 ? dns : ips).push(host);
  return { dns, ips };
}

/** Validity window of the first certificate in a PEM string. */
export function certificateValidity(pem: string): { notBefore: Date; notAfter: Date } {
  const cert = forge.pki.certificateFromPem(pem);
  return { notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter };
}

/** An unsigned certificate for `publicKey` with a fresh serial. */
function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  notBefore: Date,
  notAfter: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  return cert;
}

// UTF8String, not forge's default PrintableString, which Go's x509 (the API server)
// rejects for characters such as `*` or `@`.
function subjectName(commonName: string) {
  return { name: 'commonName', value: commonName, valueTagClass: forge.asn1.Type.UTF8 as number };
}

// A positive 128-bit serial: the leading nibble is kept below 8 so DER doesn't read it as negative.
function serial(): string {
  const hex = forge.util.bytesToHex(forge.random.getBytesSync(16));
  return `${(parseInt(hex[0] ?? '0', 16) & 0x7).toString(16)}${hex.slice(1)}`;
}
