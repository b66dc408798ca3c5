// A server-sent events client for the stream suites: node:http, parsing the
// stream into events as they arrive, with the comments (heartbeats) counted.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { pollUntil } from '../../harness/poll.js';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  status = 0;
  body = '';
  ended = false;
  private req: ClientRequest | undefined;
  private res: IncomingMessage | undefined;

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        client.status = res.statusCode ?? 0;
        client.res = res;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          if (client.status !== 200) {
            client.body += chunk;
            return;
          }
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            client.parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        });
        res.on('end', () => (client.ended = true));
        res.on('close', () => (client.ended = true));
        resolve(client);
      });
      req.on('error', (err) => (client.status ? (client.ended = true) : reject(err)));
      req.end();
      client.req = req;
    });
  }

  private parse(block: string): void {
    const event: SseEvent = { id: undefined, event: 'message', data: '' };
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const at = line.indexOf(':');
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (name === 'id') event.id = value;
      else if (name === 'event') event.event = value;
      else if (name === 'data') event.data += value;
      else continue;
      fields++;
    }
    if (fields > 0 && event.event !== 'message') this.events.push(event);
  }

  /** The ids of the `event` events received, in order. */
  get ids(): string[] {
    return this.events.filter((e) => e.event === 'event').map((e) => e.id ?? '');
  }

  /** Waits (2 s by default) until `count` events have arrived. */
  async waitFor(count: number, timeoutMs = 2000): Promise<void> {
    await pollUntil(`${count} events on the stream`, () => this.ids.length >= count, {
      timeoutMs,
      intervalMs: 10,
    });
  }

  /** Stops reading the socket (a slow client), until resume(). */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  close(): void {
    this.req?.destroy();
  }
}
