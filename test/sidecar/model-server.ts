// A real OpenAI-compatible chat-completions server on loopback, for the summarizer's
// suites: an external dependency like Redis, started by the test. It answers
// `POST /v1/chat/completions` as told: a summary, garbage, an error, or not yet
// (held until released); `stop()` takes it down and `start()` brings it back on
// the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ModelMode = 'ok' | 'hold' | 'garbage' | 'error';

export interface ModelRequest {
  authorization: string | undefined;
  body: { model: string; messages: { role: string; content: string }[] };
}

export class ModelServer {
  mode: ModelMode = 'ok';
  readonly requests: ModelRequest[] = [];
  /** Requests answered so far. */
  answered = 0;
  private held: { res: ServerResponse; body: ModelRequest['body'] }[] = [];
  private server: Server | undefined;
  port = 0;

  static async start(): Promise<ModelServer> {
    const model = new ModelServer();
    await model.start();
    return model;
  }

  /** `http://127.0.0.1:PORT/v1`, the form MEMORY_SUMMARY_MODEL_URL takes. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Requests held open now. */
  get pending(): number {
    return this.held.length;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Answers the held requests as the current mode says (or 'ok' if it is still 'hold'). */
  release(mode: Exclude<ModelMode, 'hold'> = 'ok'): void {
    const held = this.held;
    this.held = [];
    for (const { res, body } of held) this.answer(res, body, mode);
  }

  async stop(): Promise<void> {
    for (const { res } of this.held) res.destroy();
    this.held = [];
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ModelRequest['body'];
    this.requests.push({ authorization: req.headers.authorization, body });
    if (this.mode === 'hold') this.held.push({ res, body });
    else this.answer(res, body, this.mode);
  }

  private answer(res: ServerResponse, body: ModelRequest['body'], mode: ModelMode): void {
    this.answered++;
    if (mode === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
      return;
    }
    if (mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": "soon"');
      return;
    }
    // A summary that says what it was given: the turns' count, and the prior summary's.
    const prompt = body.messages.at(-1)?.content ?? '';
    const turns = prompt.split('\n').filter((l) => /^(User|Assistant|Tool \w+|System): /.test(l));
    const prior = /Prior summary:\n(.*)\n/.exec(prompt)?.[1] ?? '(none)';
    const content = `Folded ${turns.length} turns after: ${prior}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: `chatcmpl-${this.answered}`,
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      }),
    );
  }
}
