// Requests pipelined on one HTTP/1.1 connection: node:http hands over each request as
// soon as it is parsed, so a DELETE could land before the POST sent ahead of it. Each
// request therefore waits here until the one before it on its connection is handled.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** On a socket: the request being handled there, which the next one waits for. */
const BUSY = Symbol('busy');

type Connection = Socket & { [BUSY]?: Promise<void> };

export class Pipelining {
  /** Runs `run` now, or once the request before it on its connection is handled. */
  schedule(req: IncomingMessage, _res: ServerResponse, run: () => Promise<void>): void {
    const socket = req.socket as Connection;
    const before = socket[BUSY];
    const done = before ? before.then(run) : run();
    socket[BUSY] = done;
    void done.finally(() => {
      if (socket[BUSY] === done) delete socket[BUSY];
    });
  }
}
