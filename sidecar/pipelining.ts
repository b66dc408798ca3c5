// Requests pipelined on one HTTP/1.1 connection. node:http hands over each request as
// soon as it is parsed, whether or not the answers before it are done, and keeps the
// answers it cannot send yet in memory: 60 reads of 3.6 MB pipelined by a client that
// reads nothing held 285 MiB. So a request waits here until the answer before it on its
// connection has been written to the socket. Then requests take effect in the order they
// were sent; a connection holds at most one answer its client has not taken; a request
// whose client has gone is never run; and a connection with more than `maxQueued`
// requests waiting is closed, so a flood of them cannot grow without bound.
//
// node:http queues an answer behind the unwritten one before it on its connection and
// gives it the socket once that one is written: an answer with its socket runs at once
// (every client that does not pipeline: one property read), one without waits for it.
// Nothing of an earlier request is kept: a connection that held its last answer kept a
// request's objects alive past young-generation collections, ~4 KB promoted per request
// at 64 connections (docs/adr/0046-nothing-kept-between-requests.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** On a socket that pipelines: its requests waiting, and when it closed. */
const LANE = Symbol('kaos.lane');

interface Lane {
  waiting: number;
  closed: Promise<void>;
}

type Connection = Socket & { [LANE]?: Lane };

export interface PipeliningOptions {
  /** Requests one connection may have waiting; one more closes the connection. */
  maxQueued: number;
  /** Requests dropped unrun: their client had gone, or their connection was closed. */
  abandoned(count: number): void;
  /** A connection was closed for having more than `maxQueued` requests waiting. */
  overflowed(maxQueued: number): void;
}

export class Pipelining {
  /** Requests waiting now behind another on their connection. */
  queued = 0;

  constructor(private readonly options: PipeliningOptions) {}

  /** Runs `run` now, or once every answer before `res` on its connection is written. */
  schedule(req: IncomingMessage, res: ServerResponse, run: () => Promise<void>): void {
    if (res.socket) {
      void run();
      return;
    }
    const socket = req.socket as Connection;
    const lane = (socket[LANE] ??= {
      waiting: 0,
      closed: new Promise((resolve) => socket.once('close', () => resolve())),
    });
    if (lane.waiting >= this.options.maxQueued) {
      if (!socket.destroyed) this.options.overflowed(this.options.maxQueued);
      socket.destroy();
      this.options.abandoned(1);
      return;
    }
    lane.waiting++;
    this.queued++;
    void Promise.race([socketOf(res), lane.closed]).then(() => {
      lane.waiting--;
      this.queued--;
      if (socket.destroyed || !socket.writable) return this.options.abandoned(1);
      return run();
    });
  }
}

/** Resolves once node:http gives `res` its socket: the answer before it is written. */
function socketOf(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => res.once('socket', () => resolve()));
}
