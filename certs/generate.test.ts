import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './ca.js';
import { generateCertificates, serviceDnsNames, splitHosts } from './generate.js';
import { run } from './main.js';

describe('generateCertificates', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  const bundle = generateCertificates({
    dns: serviceDnsNames('kaos-memory-webhook', 'kaos'),
    ips: ['127.0.0.1', '::1'],
    validityMs: 30 * 24 * 3600 * 1000,
    now,
  });
  const ca = new X509Certificate(bundle.caCert);
  const leaf = new X509Certificate(bundle.tlsCert);

  it('puts every DNS name and IP in the subject alternative names', () => {
    expect(leaf.subjectAltName).toBe(
      'DNS:kaos-memory-webhook, DNS:kaos-memory-webhook.kaos, DNS:kaos-memory-webhook.kaos.svc, ' +
        'DNS:kaos-memory-webhook.kaos.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(leaf.checkHost('kaos-memory-webhook.kaos.svc')).toBe('kaos-memory-webhook.kaos.svc');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkHost('evil.example.com')).toBeUndefined();
    expect(leaf.subject).toBe('CN=kaos-memory-webhook');
  });

  it('signs the serving certificate with the CA, and the CA is a CA', () => {
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
  });

  it('is valid from just before now for the requested lifetime', () => {
    expect(Date.parse(leaf.validFrom)).toBe(now.getTime() - 5 * 60 * 1000);
    expect(Date.parse(leaf.validTo)).toBe(now.getTime() + 30 * 24 * 3600 * 1000);
    expect(ca.validFrom).toBe(leaf.validFrom);
    expect(ca.validTo).toBe(leaf.validTo);
  });

  it('limits the key usage to a TLS server', () => {
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const forgeLeaf = forge.pki.certificateFromPem(bundle.tlsCert);
    const usage = forgeLeaf.getExtension('keyUsage') as Record<string, unknown>;
    expect(usage).toMatchObject({ critical: true, digitalSignature: true, keyEncipherment: true });
    expect(usage.keyCertSign).toBeFalsy();
    const caUsage = forge.pki.certificateFromPem(bundle.caCert).getExtension('keyUsage') as Record<
      string,
      unknown
    >;
    expect(caUsage).toMatchObject({ critical: true, keyCertSign: true });
  });

  it('encodes subject names as UTF8String, which Go x509 accepts for any character', () => {
    const wildcard = generateCertificates({ dns: ['*.kaos.svc'] });
    for (const pem of [bundle.caCert, bundle.tlsCert, wildcard.tlsCert, wildcard.caCert]) {
      const cert = forge.pki.certificateFromPem(pem);
      for (const attr of [...cert.subject.attributes, ...cert.issuer.attributes]) {
        expect(attr.valueTagClass).toBe(forge.asn1.Type.UTF8);
      }
    }
    expect(new X509Certificate(wildcard.tlsCert).subject).toBe('CN=*.kaos.svc');
  });

  it('gives a private key that matches the serving certificate', () => {
    const key = createPrivateKey(bundle.tlsKey);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(leaf.checkPrivateKey(key)).toBe(true);
  });

  it('makes a new CA and serial every time', () => {
    const again = generateCertificates({ dns: ['a.example'] });
    expect(again.caCert).not.toBe(bundle.caCert);
    expect(new X509Certificate(again.tlsCert).serialNumber).not.toBe(leaf.serialNumber);
  });

  it('rejects bad names and addresses', () => {
    expect(() => generateCertificates({ dns: [] })).toThrow(/at least one/);
    expect(() => generateCertificates({ dns: ['bad name'] })).toThrow(/not a DNS name/);
    expect(() => generateCertificates({ dns: ['ok'], ips: ['300.1.1.1'] })).toThrow(/not an IP/);
  });

  it('splits hosts into names and addresses', () => {
    expect(splitHosts(['localhost', '127.0.0.1', '::1', 'svc.ns'])).toEqual({
      dns: ['localhost', 'svc.ns'],
      ips: ['127.0.0.1', '::1'],
    });
  });
});

describe('CertificateAuthority', () => {
  const ca = CertificateAuthority.create({ commonName: 'test-ca' });
  const caCert = new X509Certificate(ca.cert);

  it('keeps its key to sign server and client certificates', () => {
    const server = ca.issue({ commonName: 'api', dns: ['localhost'], ips: ['127.0.0.1'] });
    const client = ca.issue({ commonName: 'admin', organizations: ['system:masters'] });
    for (const pem of [server, client]) {
      const cert = new X509Certificate(pem.cert);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(pem.key))).toBe(true);
      expect(cert.issuer).toBe('CN=test-ca');
    }
    expect(new X509Certificate(server.cert).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const admin = new X509Certificate(client.cert);
    expect(admin.subject).toBe('CN=admin\nO=system:masters');
    expect(admin.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(admin.subjectAltName).toBeUndefined();
  });

  it('signs with SHA-256 RSA, as forge itself would', () => {
    const cert = forge.pki.certificateFromPem(ca.issue({ dns: ['x.example'] }).cert);
    expect(cert.signatureOid).toBe(forge.pki.oids.sha256WithRSAEncryption);
    expect(forge.pki.certificateFromPem(ca.cert).verify(cert)).toBe(true);
  });
});

describe('kaos-memory certs', () => {
  it('writes ca.crt, tls.crt and a private tls.key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kaos-certs-'));
    try {
      await run([
        '--out',
        join(dir, 'out'),
        '--dns',
        'localhost',
        '--ip',
        '127.0.0.1',
        '--days',
        '2',
      ]);
      const leaf = new X509Certificate(await readFile(join(dir, 'out', 'tls.crt')));
      const ca = new X509Certificate(await readFile(join(dir, 'out', 'ca.crt')));
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
      expect((await stat(join(dir, 'out', 'tls.key'))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run without --out or with a bad --days', async () => {
    await expect(run(['--dns', 'x'])).rejects.toThrow(/--out is required/);
    await expect(run(['--out', '/tmp/x', '--dns', 'x', '--days', '0'])).rejects.toThrow(/--days/);
  });
});
