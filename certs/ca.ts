// The project's one certificate authority: node-forge lays out the X.509 certificates,
// node:crypto makes the RSA keys and signs (OpenSSL, where forge's own RSA is pure
// JavaScript: ~30-50 ms a signature against under 1 ms). Used by `kaos-memory certs`
// and the webhook's self-managed certificates through generate.ts, which drop the CA
// once it has signed, and by the test control plane, which keeps it to sign more.
import { constants, generateKeyPairSync, privateEncrypt, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/** A PEM certificate and its PEM private key (PKCS#1). */
export interface Pem {
  cert: string;
  key: string;
}

export interface CaOptions {
  /** The CA's common name. Default `kaos-memory-ca-<epoch seconds>`. */
  commonName?: string;
  /** Validity of the CA and of every certificate it issues, from `now`. Default one year. */
  validityMs?: number;
  /** Clock, for tests. */
  now?: Date;
}

export interface IssueOptions {
  /** The subject's common name. Default the first DNS name, else the first IP. */
  commonName?: string;
  /** Subject organizations: Kubernetes reads a client certificate's as its groups. */
  organizations?: string[];
  /** DNS subject alternative names. With neither these nor `ips`: a client certificate. */
  dns?: string[];
  /** IP subject alternative names (IPv4 or IPv6). */
  ips?: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_VALIDITY_MS = 365 * DAY_MS;
const RSA_BITS = 2048;
// Tolerate clock skew between this node and the API server: five minutes, or a tenth
// of a short lifetime, so renewal at a fraction of the lifetime stays in the future.
const MAX_BACKDATE_MS = 5 * 60 * 1000;
// DER prefix of a SHA-256 DigestInfo (RFC 8017, 9.2 note 1): what RSASSA-PKCS1-v1_5 signs.
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export class CertificateAuthority {
  private constructor(
    private readonly certificate: forge.pki.Certificate,
    private readonly key: KeyObject,
  ) {}

  /** A new self-signed CA (RSA 2048, SHA-256) that may sign leaf certificates only. */
  static create(options: CaOptions = {}): CertificateAuthority {
    const now = options.now ?? new Date();
    const validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
    const keys = rsaKeys();
    const cert = newCertificate(keys.publicKey, {
      notBefore: new Date(now.getTime() - Math.min(MAX_BACKDATE_MS, validityMs / 10)),
      notAfter: new Date(now.getTime() + validityMs),
    });
    const subject = [
      subjectField('commonName', options.commonName ?? `kaos-memory-ca-${seconds(now)}`),
    ];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      {
        name: 'keyUsage',
        keyCertSign: true,
        cRLSign: true,
        digitalSignature: true,
        critical: true,
      },
      { name: 'subjectKeyIdentifier' },
    ]);
    sign(cert, keys.privateKey);
    return new CertificateAuthority(cert, keys.privateKey);
  }

  /** The CA certificate, PEM. */
  get cert(): string {
    return forge.pki.certificateToPem(this.certificate);
  }

  /**
   * A leaf certificate with a fresh key, valid as long as the CA: for a TLS server when
   * it has names, for a TLS client otherwise.
   */
  issue(options: IssueOptions): Pem {
    const dns = options.dns ?? [];
    const ips = options.ips ?? [];
    checkNames(dns, ips);
    const serving = dns.length + ips.length > 0;
    const keys = rsaKeys();
    const { notBefore, notAfter } = this.certificate.validity;
    const cert = newCertificate(keys.publicKey, { notBefore, notAfter });
    cert.setSubject([
      subjectField('commonName', options.commonName ?? dns[0] ?? ips[0] ?? 'kaos-memory'),
      ...(options.organizations ?? []).map((o) => subjectField('organizationName', o)),
    ]);
    cert.setIssuer(this.certificate.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      serving
        ? { name: 'extKeyUsage', serverAuth: true }
        : { name: 'extKeyUsage', clientAuth: true },
      ...(serving
        ? [
            {
              name: 'subjectAltName',
              altNames: [
                ...dns.map((value) => ({ type: 2, value })),
                ...ips.map((ip) => ({ type: 7, ip })),
              ],
            },
          ]
        : []),
      { name: 'subjectKeyIdentifier' },
      {
        name: 'authorityKeyIdentifier',
        keyIdentifier: this.certificate.generateSubjectKeyIdentifier().getBytes(),
      },
    ]);
    sign(cert, this.key);
    return {
      cert: forge.pki.certificateToPem(cert),
      key: keys.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
  }
}

/** Throws unless every name is a DNS name (a leading `*.` allowed) and every IP an address. */
export function checkNames(dns: string[], ips: string[]): void {
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new Error(`certs: "${ip}" is not an IP address`);
  }
  for (const name of dns) {
    if (!/^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(name)) {
      throw new Error(`certs: "${name}" is not a DNS name`);
    }
  }
}

/** A bare RSA key pair, PEM (SPKI and PKCS#8): e.g. for signing service-account tokens. */
export function rsaKeyPair(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

function rsaKeys(): { publicKey: forge.pki.PublicKey; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS });
  const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { publicKey: forge.pki.publicKeyFromPem(spki), privateKey };
}

/**
 * Sign with SHA-256 and RSASSA-PKCS1-v1_5 by node:crypto. forge lays out the
 * to-be-signed certificate and hashes it, then hands the digest to `key.sign`; this
 * stand-in for a forge key applies the private key with OpenSSL. The result is the very
 * signature forge's own RSA would compute (PKCS#1 v1.5 is deterministic), only faster.
 */
function sign(cert: forge.pki.Certificate, key: KeyObject): void {
  const signer = {
    sign: (md: forge.md.MessageDigest): string => {
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const digestInfo = Buffer.concat([SHA256_DIGEST_INFO, digest]);
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString(
        'binary',
      );
    },
  };
  cert.sign(signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
}

/** An unsigned certificate for `publicKey` with a fresh serial. */
function newCertificate(
  publicKey: forge.pki.PublicKey,
  validity: { notBefore: Date; notAfter: Date },
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  return cert;
}

// UTF8String, not forge's default PrintableString, which Go's x509 (the API server)
// rejects for characters such as `*` or `@`.
function subjectField(name: string, value: string) {
  return { name, value, valueTagClass: forge.asn1.Type.UTF8 as number };
}

// A positive 128-bit serial: the leading nibble is kept below 8 so DER doesn't read it as negative.
function serial(): string {
  const hex = forge.util.bytesToHex(forge.random.getBytesSync(16));
  return `${(parseInt(hex[0] ?? '0', 16) & 0x7).toString(16)}${hex.slice(1)}`;
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
