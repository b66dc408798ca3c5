// Live tails of sessions as server-sent events. One poller per sidecar watches
// every session some stream follows: each tick asks Redis for all their tags in
// one go (a tag changes with any append, a Python RPUSH included), and each
// stream whose session changed reads on from the last event it sent. The
// sidecar's own appends reach their session's streams at once, and without a read
// when they follow the last event a stream sent. Each event goes out once, in
// order, with its event_id as the SSE `id:`, so a client that reconnects with
// `Last-Event-ID` resumes where it stopped.
import type { ServerResponse } from 'node:http';
import type { Logger } from '../lib/logger.js';
import type { MemoryEvent } from '../memory/events.js';
import { isApiEventId } from './validation.js';

/** Where a session's list ends: any append changes `tag`. */
export interface SessionTail {
  tag: string;
  /** The newest event's id (undefined: the list is empty, or its newest names none). */
  lastEventId: string | undefined;
}

/** What the sidecar's append stored, read lazily: the entries and the event they follow. */
export type Appended = () => { previous: string | undefined; entries: string[] };

/** What the hub needs of the store. */
export interface TailSource {
  /** Each session's tail, or undefined when it holds no events; one round trip for all. */
  sessionTags(ids: readonly string[]): Promise<(SessionTail | undefined)[]>;
  /** An entry as a reader of the session gets it (undefined: malformed, skipped). */
  decode(raw: string): MemoryEvent | undefined;
  /**
   * The events after `lastEventId` (after none: from the oldest), oldest first, within
   * about `maxBytes`; `found` is false when that event is no longer in the session.
   */
  readSince(
    id: string,
    lastEventId: string | undefined,
    opts: { maxBytes: number },
  ): Promise<{ events: MemoryEvent[]; found: boolean; etag: string | undefined }>;
}

export interface StreamHubOptions {
  maxStreams: number;
  pollMs: number;
  heartbeatMs: number;
  /** Bytes of events one read takes at most; a stream far behind reads on in steps. */
  readBytes: number;
}

/** One client's stream. */
interface Stream {
  sessionId: string;
  res: ServerResponse;
  /** The last event sent (or, at the start, the newest at connect time). */
  lastEventId: string | undefined;
  /** A read for this stream is under way; `again` asks for one more when it ends. */
  reading: boolean;
  again: boolean;
  /** Its last read failed (Redis away or past its deadline): the next poll reads on. */
  failed: boolean;
  closed: boolean;
}

interface Watched {
  streams: Set<Stream>;
  /** As the last poll saw it (undefined: no events); null before the first poll. */
  tag: string | undefined | null;
}

export class TooManyStreams extends Error {}

export class StreamHub {
  private readonly sessions = new Map<string, Watched>();
  private count = 0;
  private poller: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;

  constructor(
    private readonly source: TailSource,
    private readonly options: StreamHubOptions,
    private readonly log: Logger,
  ) {}

  get open(): number {
    return this.count;
  }

  get max(): number {
    return this.options.maxStreams;
  }

  /**
   * Starts streaming `sessionId` into `res` (its head already written). Without
   * `lastEventId` the stream begins with the session's oldest event. Throws
   * TooManyStreams past the cap.
   */
  add(sessionId: string, res: ServerResponse, lastEventId: string | undefined): void {
    if (this.closed || this.count >= this.options.maxStreams) throw new TooManyStreams();
    this.count++;
    const stream: Stream = {
      sessionId,
      res,
      lastEventId,
      reading: false,
      again: false,
      failed: false,
      closed: false,
    };
    let watched = this.sessions.get(sessionId);
    if (!watched) {
      watched = { streams: new Set(), tag: null };
      this.sessions.set(sessionId, watched);
    }
    watched.streams.add(stream);
    res.on('close', () => this.remove(stream));
    this.startTimers();
    void this.pump(stream);
  }

  /**
   * The sidecar wrote to `sessionId`: its streams go on now, not at the next tick. A
   * stream idle at the event the append's entries follow gets them as they were
   * stored; any other reads on from its last event (another writer came between).
   */
  notify(sessionId: string, appended?: Appended): void {
    const watched = this.sessions.get(sessionId);
    if (!watched) return;
    let next: ReturnType<Appended> | undefined;
    let events: MemoryEvent[] | undefined;
    for (const stream of watched.streams) {
      if (appended && !stream.reading && !stream.closed && stream.lastEventId !== undefined) {
        next ??= appended();
        if (next.previous === stream.lastEventId) {
          events ??= this.decoded(next.entries);
          if (events) {
            this.deliver(stream, events);
            continue;
          }
        }
      }
      void this.pump(stream);
    }
  }

  /** Ends every stream (clients reconnect elsewhere with Last-Event-ID) and stops polling. */
  close(): void {
    this.closed = true;
    clearInterval(this.poller);
    clearInterval(this.heartbeat);
    for (const watched of this.sessions.values()) {
      for (const stream of watched.streams) stream.res.end();
    }
  }

  private remove(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.count--;
    const watched = this.sessions.get(stream.sessionId);
    watched?.streams.delete(stream);
    if (watched && watched.streams.size === 0) this.sessions.delete(stream.sessionId);
    if (this.count === 0) {
      clearInterval(this.poller);
      clearInterval(this.heartbeat);
      this.poller = this.heartbeat = undefined;
    }
  }

  private startTimers(): void {
    this.poller ??= setInterval(() => void this.tick(), this.options.pollMs);
    this.heartbeat ??= setInterval(() => {
      for (const watched of this.sessions.values()) {
        for (const stream of watched.streams) stream.res.write(': heartbeat\n\n');
      }
    }, this.options.heartbeatMs);
  }

  /** One round trip for every watched session's tag; the changed ones read on. */
  private async tick(): Promise<void> {
    if (this.polling || this.sessions.size === 0) return;
    this.polling = true;
    try {
      const ids = [...this.sessions.keys()];
      const tails = await this.source.sessionTags(ids);
      ids.forEach((id, i) => {
        const watched = this.sessions.get(id);
        if (!watched) return;
        const tail = tails[i];
        const changed = watched.tag !== tail?.tag;
        watched.tag = tail?.tag;
        for (const stream of watched.streams) {
          // A stream that sent the session's newest event has nothing to read. One whose
          // read failed reads on, changed or not: once the writes stop, nothing else wakes it.
          const behind = tail?.lastEventId === undefined || tail.lastEventId !== stream.lastEventId;
          if (stream.failed || (changed && behind)) void this.pump(stream);
        }
      });
    } catch (err) {
      // Redis is away (a failover): the next tick tries again; nothing is lost,
      // each stream reads on from its last event.
      this.log.debug({ err: (err as Error).message }, 'stream poll failed');
    } finally {
      this.polling = false;
    }
  }

  /** Sends what the session holds past the stream's last event; one read at a time per stream. */
  private async pump(stream: Stream): Promise<void> {
    if (stream.reading) {
      stream.again = true;
      return;
    }
    stream.reading = true;
    stream.failed = false;
    try {
      do {
        stream.again = false;
        await this.readOn(stream);
      } while (stream.again && !stream.closed);
    } catch (err) {
      stream.failed = true;
      this.log.debug(
        { err: (err as Error).message, session: stream.sessionId },
        'stream read failed',
      );
    } finally {
      stream.reading = false;
    }
  }

  private async readOn(stream: Stream): Promise<void> {
    for (;;) {
      if (stream.closed) return;
      const { events, found } = await this.source.readSince(stream.sessionId, stream.lastEventId, {
        maxBytes: this.options.readBytes,
      });
      if (stream.lastEventId !== undefined && !found) {
        // The session no longer holds the last event sent (trimmed past it, or deleted):
        // say so, then go on from what it holds.
        stream.res.write(
          `event: reset\ndata: {"reason":"the session no longer holds event ${stream.lastEventId}"}\n\n`,
        );
        stream.lastEventId = undefined;
        continue;
      }
      if (events.length === 0) return;
      // A slow client: wait for its socket before reading more (nothing buffers here).
      if (!this.write(stream, events)) await drained(stream);
    }
  }

  /** Sends an append's events unread; a slow client holds the stream's next read back. */
  private deliver(stream: Stream, events: MemoryEvent[]): void {
    if (this.write(stream, events)) return;
    stream.reading = true;
    void drained(stream).then(() => {
      stream.reading = false;
      if (stream.again) void this.pump(stream);
    });
  }

  /** Writes events; false when the client's socket is full. */
  private write(stream: Stream, events: MemoryEvent[]): boolean {
    let text = '';
    for (const e of events) {
      // An id another writer stored outside the API's grammar gets no `id:` line: a
      // newline in it would end the field and start a forged one, and Last-Event-ID would
      // refuse it on reconnect. The client keeps the id before it and resumes from there.
      const id = isApiEventId(e.event_id) ? `id: ${e.event_id}\n` : '';
      text += `${id}event: event\ndata: ${JSON.stringify(e)}\n\n`;
    }
    stream.lastEventId = (events.at(-1) as MemoryEvent).event_id;
    return stream.res.write(text);
  }

  /** The entries as events, or undefined when one does not decode (a read skips it). */
  private decoded(entries: string[]): MemoryEvent[] | undefined {
    const events: MemoryEvent[] = [];
    for (const entry of entries) {
      const event = this.source.decode(entry);
      if (!event) return undefined;
      events.push(event);
    }
    return events.length > 0 ? events : undefined;
  }
}

function drained(stream: Stream): Promise<void> {
  return new Promise<void>((resolve) => {
    stream.res.once('drain', resolve);
    stream.res.once('close', resolve);
  });
}

// --- the TailSource on plain Redis commands (decision 0044: a script per poll cost Redis more)

/** Where a session's keys are, and the client to read them with. */
export interface RedisTailDeps {
  redis: {
    llen(key: string): Promise<number>;
    lindex(key: string, index: number): Promise<string | null>;
    lrange(key: string, start: number, stop: number): Promise<string[]>;
  };
  keys: { forSession(id: string): { events: string } };
  timeoutMs: number;
  decode: (raw: string) => MemoryEvent | undefined;
}

const ID_PREFIX = /^\{"event_id": ?"((?:[^"\\]|\\.)*)"/;

/**
 * A TailSource on plain commands: the tag is the list's length and its last event's
 * id (any append changes one of them, a trimmed one included), and a read scans back
 * from the end for the last event sent.
 */
export function redisTail(deps: RedisTailDeps): TailSource {
  const idOf = (raw: string) => {
    const token = ID_PREFIX.exec(raw)?.[1];
    if (token !== undefined && !token.includes('\\')) return token;
    // Escaped (json.dumps writes non-ASCII as \uXXXX), or not at the entry's start: the
    // decoded id, as the stream sent it, or its stream would never find its place again.
    return deps.decode(raw)?.event_id;
  };
  const deadline = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis did not answer within ${deps.timeoutMs} ms`)),
        deps.timeoutMs,
      );
      p.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  return {
    decode: deps.decode,
    sessionTags: (ids) =>
      deadline(
        Promise.all(
          ids.map(async (id) => {
            const key = deps.keys.forSession(id).events;
            const [length, last] = await Promise.all([
              deps.redis.llen(key),
              deps.redis.lindex(key, -1),
            ]);
            if (length === 0) return undefined;
            const lastEventId = last === null ? undefined : idOf(last);
            return { tag: `${length}:${lastEventId ?? ''}`, lastEventId };
          }),
        ),
      ),
    async readSince(id, lastEventId, { maxBytes }) {
      const key = deps.keys.forSession(id).events;
      let raw: string[] = [];
      let from = 0;
      let found = lastEventId === undefined;
      if (found) raw = await deadline(deps.redis.lrange(key, 0, -1));
      for (let n = 8; !found; n *= 4) {
        raw = await deadline(deps.redis.lrange(key, -n, -1));
        for (let i = raw.length - 1; i >= 0; i--) {
          if (idOf(raw[i] as string) === lastEventId) {
            from = i + 1;
            found = true;
            break;
          }
        }
        if (!found && raw.length < n) return { events: [], found: false, etag: undefined };
      }
      const events: MemoryEvent[] = [];
      let bytes = 0;
      for (let i = from; i < raw.length && (bytes < maxBytes || events.length === 0); i++) {
        const item = raw[i] as string;
        bytes += item.length;
        const event = deps.decode(item);
        if (event) events.push(event);
      }
      return { events, found: true, etag: undefined };
    },
  };
}
