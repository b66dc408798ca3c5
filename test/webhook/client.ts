import { request, type Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { generateCertificates } from '../../certs/generate.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Serial number of the certificate the server presented. */
  serial?: string;
  /** Whether a kept-alive connection carried the request. */
  reused: boolean;
}

/** Loopback certificates from the project's own generator. */
export function loopbackCerts() {
  const bundle = generateCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
  return { ca: bundle.caCert, tls: { cert: bundle.tlsCert, key: bundle.tlsKey } };
}

/** One HTTPS request that verifies the server against `ca`. */
export function call(
  port: number,
  method: string,
  path: string,
  options: {
    ca: string;
    /** Skip verification (for a server whose CA the test cannot know). */
    insecure?: boolean;
    body?: string | Buffer;
    headers?: Record<string, string>;
    agent?: Agent | false;
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: options.ca,
        rejectUnauthorized: !options.insecure,
        agent: options.agent ?? false,
        headers: {
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            serial,
            reused: req.reusedSocket,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
