// The test control plane's own PKI: a CA whose key is kept so it can sign both
// the API server's serving certificate and client certificates (the admin is
// `system:masters` by its certificate's organization, as in kubeadm).
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface Pem {
  cert: string;
  key: string;
}

export interface IssueOptions {
  commonName: string;
  organizations?: string[];
  /** Serving certificate names; a client certificate has none. */
  dns?: string[];
  ips?: string[];
}

export class TestCa {
  private constructor(
    private readonly caCert: forge.pki.Certificate,
    private readonly caKey: forge.pki.rsa.PrivateKey,
  ) {}

  static create(commonName = 'kaos-memory-test-ca'): TestCa {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = forge.pki.createCertificate();
    const subject = [{ name: 'commonName', value: commonName }];
    fill(cert, keys.publicKey, subject, subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      {
        name: 'keyUsage',
        keyCertSign: true,
        cRLSign: true,
        digitalSignature: true,
        critical: true,
      },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    return new TestCa(cert, keys.privateKey);
  }

  get cert(): string {
    return forge.pki.certificateToPem(this.caCert);
  }

  /** A leaf certificate: serverAuth when it has names, clientAuth otherwise. */
  issue(options: IssueOptions): Pem {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = forge.pki.createCertificate();
    const subject = [
      { name: 'commonName', value: options.commonName },
      ...(options.organizations ?? []).map((value) => ({ name: 'organizationName', value })),
    ];
    fill(cert, keys.publicKey, subject, this.caCert.subject.attributes);
    const dns = options.dns ?? [];
    const ips = options.ips ?? [];
    const serving = dns.length + ips.length > 0;
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: serving, clientAuth: !serving },
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
    ]);
    cert.sign(this.caKey, forge.md.sha256.create());
    return {
      cert: forge.pki.certificateToPem(cert),
      key: forge.pki.privateKeyToPem(keys.privateKey),
    };
  }
}

/** An RSA key pair for signing service-account tokens. */
export function serviceAccountKeys(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

function fill(
  cert: forge.pki.Certificate,
  publicKey: forge.pki.PublicKey,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
): void {
  cert.publicKey = publicKey;
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  // Backdated: the API server checks notBefore against its own clock.
  cert.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 60 * 60_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
}
