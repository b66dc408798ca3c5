import { Agent, createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pipelining } from './pipelining.js';
import { compactHeapOnce } from './runtime.js';

let server: Server | undefined;

afterEach(async () => {
  const running = server;
  server = undefined;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

/** A server whose every request goes through `pipelining`, then `answer`. */
async function serve(
  pipelining: Pipelining,
  answer: (path: string, res: ServerResponse) => Promise<void>,
  seen: (res: ServerResponse) => void = () => undefined,
): Promise<number> {
  server = createServer((req, res) => {
    seen(res);
    pipelining.schedule(req, res, () => answer(req.url ?? '', res));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const pipelining = () =>
  new Pipelining({ maxQueued: 8, abandoned: () => undefined, overflowed: () => undefined });

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

function get(agent: Agent, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

describe('Pipelining', () => {
  it('runs a request pipelined behind another only once the answer before it is written', async () => {
    const events: string[] = [];
    const port = await serve(pipelining(), async (path, res) => {
      events.push(`run ${path}`);
      if (path === '/slow') await new Promise((resolve) => setTimeout(resolve, 100));
      res.on('finish', () => events.push(`written ${path}`));
      res.end(path);
    });
    const socket = new Socket();
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
    socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n');
    while (!received.includes('/fast')) await tick();
    socket.destroy();
    expect(events).toEqual(['run /slow', 'written /slow', 'run /fast', 'written /fast']);
    expect(received.indexOf('/slow')).toBeLessThan(received.indexOf('/fast'));
  });

  it('keeps nothing of a request once its answer is written, on a connection kept alive', async () => {
    const answers: WeakRef<ServerResponse>[] = [];
    const port = await serve(
      pipelining(),
      async (path, res) => {
        res.end(path);
      },
      (res) => answers.push(new WeakRef(res)),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(agent, port, '/first')).toBe('/first');
      // The connection is open and idle: what the first request left must be collectable.
      await tick();
      compactHeapOnce();
      await tick();
      compactHeapOnce();
      expect(answers[0]?.deref()).toBeUndefined();
      // And the same connection answers the next one.
      expect(await get(agent, port, '/second')).toBe('/second');
      expect(answers).toHaveLength(2);
    } finally {
      agent.destroy();
    }
  });
});
