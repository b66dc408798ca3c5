import { request } from 'node:https';

/** Where to reach an API server, and the client certificate to present (PEM). */
export interface ApiTarget {
  host: string;
  port: number;
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * A GET on the API server with a client certificate; rejects on a non-2xx status.
 * For readiness checks (`/readyz`, a ServiceAccount's existence), where a client
 * library's retries and caches would only hide what the server answered.
 */
export function apiGet(target: ApiTarget, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(body);
        else reject(new Error(`GET ${path}: ${status} ${body.slice(0, 500)}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}
