// The webhook's error answers use the catalogue's codes: the sidecar's for the same thing.
import { request } from 'node:https';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificates } from '../certs/generate.js';
import { loadConfig } from './config.js';
import { WebhookServer } from './server.js';

const certs = generateCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
const inject = {
  ...loadConfig({ INJECT_REDIS_URL: 'redis://r:6379', INJECT_SIDECAR_IMAGE: 'kaos-memory:test' })
    .inject,
  nativeSidecar: true,
};

function post(port: number, path: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca: certs.caCert,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook error answers', () => {
  let server: WebhookServer;
  let port: number;
  beforeAll(async () => {
    server = new WebhookServer({
      inject,
      tls: { cert: certs.tlsCert, key: certs.tlsKey },
      logger: pino({ level: 'silent' }),
      bodyLimit: '1kb',
      defaultMetrics: false,
    });
    port = await server.listen(0, '127.0.0.1');
  });
  afterAll(() => server.close());

  it('says payload_too_large for a body over the limit, as the sidecar does', async () => {
    const reply = await post(port, '/mutate', JSON.stringify({ pad: 'x'.repeat(2048) }));
    expect(reply.status).toBe(413);
    expect(reply.body).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('says unsupported_media_type for a charset it cannot read', async () => {
    const reply = await post(port, '/mutate', '{}', {
      'content-type': 'application/json; charset=ebcdic',
    });
    expect(reply.status).toBe(415);
    expect(reply.body).toMatchObject({ error: { code: 'unsupported_media_type' } });
  });

  it('says bad_request for a body that is not JSON, and not_found off its routes', async () => {
    expect(await post(port, '/mutate', '{"nope":')).toMatchObject({
      status: 400,
      body: { error: { code: 'bad_request' } },
    });
    expect(await post(port, '/elsewhere', '{}')).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: 'no such route' } },
    });
  });
});
