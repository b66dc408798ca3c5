// The webhook's error answers use the catalogue's codes: the sidecar's for the same thing;
// and a drain answers what comes on a kept-alive connection rather than cutting it.
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
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

/** Requests written by hand on one TLS connection, so the test decides when each is sent. */
class RawConnection {
  private buffered = '';
  private waiting?: () => void;
  closed = false;

  private constructor(private readonly socket: TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: certs.caCert,
        servername: 'localhost',
      });
      socket.once('secureConnect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(body: string): void {
    this.socket.write(
      `POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  /** The next whole response (headers lower-cased), or undefined if the connection ended first. */
  async response(): Promise<{ status: number; headers: Record<string, string> } | undefined> {
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...lines] = this.buffered.slice(0, end).split('\r\n');
        const headers = Object.fromEntries(
          lines.map((l) => [
            l.slice(0, l.indexOf(':')).toLowerCase(),
            l.slice(l.indexOf(':') + 1).trim(),
          ]),
        );
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffered.length >= end + 4 + length) {
          this.buffered = this.buffered.slice(end + 4 + length);
          return { status: Number(statusLine!.split(' ')[1]), headers };
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  end(): void {
    this.socket.destroy();
  }
}

describe('webhook drain', () => {
  const REVIEW = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      operation: 'CREATE',
    },
  });

  it('answers a review sent on a kept-alive connection as the drain begins, and closes it after', async () => {
    const server = new WebhookServer({
      inject,
      tls: { cert: certs.tlsCert, key: certs.tlsKey },
      logger: pino({ level: 'silent' }),
      defaultMetrics: false,
    });
    const port = await server.listen(0, '127.0.0.1');
    const connection = await RawConnection.open(port);
    try {
      connection.send(REVIEW);
      expect(await connection.response()).toMatchObject({
        status: 200,
        headers: { connection: 'keep-alive' },
      });
      // The API server picks this idle connection for its next review just as the pod is
      // told to stop: cutting it then is a reset the API server reports as a failed call.
      const drained = server.drain(200);
      connection.send(REVIEW);
      expect(await connection.response()).toMatchObject({
        status: 200,
        headers: { connection: 'close' },
      });
      await drained;
    } finally {
      connection.end();
      await server.close();
    }
  });
});
