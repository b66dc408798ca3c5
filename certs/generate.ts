import { isIP } from 'node:net';
import { CertificateAuthority, checkNames } from './ca.js';

/** PEM-encoded output of {@link generateCertificates}. */
export interface CertificateBundle {
  /** The CA certificate that signed `tlsCert`; its key is discarded after signing. */
  caCert: string;
  tlsCert: string;
  tlsKey: string;
}

/** What a serving certificate must say, and for how long. */
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

/**
 * Make a fresh CA and a serving certificate signed by it (RSA 2048, SHA-256).
 * The CA key never leaves this function: renewal makes a new CA, and callers
 * publish old and new CA together while replicas switch over.
 */
export function generateCertificates(options: CertificateOptions): CertificateBundle {
  const { dns, ips = [], validityMs, now } = options;
  if (dns.length === 0 && ips.length === 0) throw new Error('certs: at least one DNS name or IP');
  checkNames(dns, ips); // Before the CA's key is made for nothing.
  const ca = CertificateAuthority.create({ validityMs, now });
  const leaf = ca.issue({ dns, ips });
  return { caCert: ca.cert, tlsCert: leaf.cert, tlsKey: leaf.key };
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
