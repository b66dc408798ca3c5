// The operator's commands on the memory store: what `kaos-memory sessions`
// does once its arguments are read and Redis is connected. Each takes the store
// and the streams, so a test runs them against a real Redis without a process.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { MemoryAdmin } from '../memory/admin.js';
import type { EventCursor, MemoryStore, Session, SessionCursor } from '../memory/store.js';
import { Progress } from './progress.js';
import { decodeRecord, encodeRecord, RecordError } from './records.js';

export interface Io {
  stdin: Readable;
  stdout: Writable;
  /** Progress and warnings; undefined with --quiet. */
  progress: Writable | undefined;
  /** Errors, always. */
  stderr: Writable;
}

/** Sessions read or written at once: bounds memory whatever the store holds. */
const CONCURRENCY = 32;
/** Index entries asked for per page when walking the whole store. */
const PAGE = 500;

/** Writes a line, waiting when the reader is slower (a pipe, a slow disk). */
async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        out.off('drain', done);
        out.off('error', done);
        if (err) reject(err);
        else resolve();
      };
      out.once('drain', done);
      out.once('error', done);
    });
  }
}

/** `list`: sessions newest first, as columns or JSON Lines. */
export async function list(
  store: MemoryStore,
  io: Io,
  opts: { user?: string | undefined; limit: number; json: boolean },
): Promise<number> {
  if (!opts.json) await writeLine(io.stdout, 'SESSION_ID\tUSER_ID\tAPP_NAME\tUPDATED_AT');
  let cursor: SessionCursor | undefined;
  let shown = 0;
  do {
    const page = await store.listSessions({
      limit: Math.min(opts.limit - shown, 1000),
      userId: opts.user,
      cursor,
    });
    for (const s of page.sessions) {
      await writeLine(io.stdout, opts.json ? JSON.stringify(s) : columns(s));
      shown++;
    }
    cursor = page.next;
  } while (cursor && shown < opts.limit);
  return 0;
}

function columns(s: Session): string {
  return [s.session_id, s.user_id, s.app_name, s.updated_at].join('\t');
}

/** `show S`: one session and all its events, as indented JSON. */
export async function show(store: MemoryStore, io: Io, sessionId: string): Promise<number> {
  const session = await store.getSession(sessionId);
  if (!session) {
    io.stderr.write(`session ${sessionId} does not exist\n`);
    return 1;
  }
  const pages = [];
  let before: EventCursor | undefined;
  do {
    const page = await store.readEvents(sessionId, { before, limit: 100_000 });
    pages.unshift(page.events);
    before = page.next;
  } while (before);
  await writeLine(io.stdout, JSON.stringify({ ...session, events: pages.flat() }, null, 2));
  return 0;
}

/** `export S… | --all`: JSON Lines on stdout, one session per line, byte for byte. */
export async function exportSessions(
  store: MemoryStore,
  io: Io,
  opts: { ids: string[]; all: boolean },
): Promise<number> {
  const admin = new MemoryAdmin(store);
  const progress = new Progress(io.progress, 'sessions exported');
  let missing = 0;
  const exportBatch = async (ids: string[], named: boolean) => {
    const records = await Promise.all(ids.map((id) => admin.exportSession(id)));
    for (const [i, record] of records.entries()) {
      if (!record) {
        // Named on the command line: say so. Met while walking the index: it expired meanwhile.
        if (named) {
          io.stderr.write(`session ${ids[i]} does not exist\n`);
          missing++;
        }
        continue;
      }
      await writeLine(io.stdout, encodeRecord(record));
      progress.add();
    }
  };
  if (opts.all) {
    for await (const page of admin.sessionPages({ pageSize: PAGE })) {
      for (let i = 0; i < page.length; i += CONCURRENCY) {
        await exportBatch(page.slice(i, i + CONCURRENCY), false);
      }
    }
  } else {
    for (let i = 0; i < opts.ids.length; i += CONCURRENCY) {
      await exportBatch(opts.ids.slice(i, i + CONCURRENCY), true);
    }
  }
  progress.done();
  return missing > 0 ? 1 : 0;
}

/** `import [--replace]`: the export's lines from stdin; existing sessions kept unless replace. */
export async function importSessions(
  store: MemoryStore,
  io: Io,
  opts: { replace: boolean },
): Promise<number> {
  const admin = new MemoryAdmin(store);
  const progress = new Progress(io.progress, 'sessions read');
  let written = 0;
  let kept = 0;
  let batch: Promise<boolean>[] = [];
  const settle = async () => {
    for (const ok of await Promise.all(batch)) {
      if (ok) written++;
      else kept++;
    }
    progress.add(batch.length);
    batch = [];
  };
  let lineNumber = 0;
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === '') continue;
      let record;
      try {
        record = decodeRecord(line);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        await settle();
        io.stderr.write(
          `line ${lineNumber}: ${err.message}; stopped (lines before it are imported)\n`,
        );
        progress.done(`: ${written} written, ${kept} kept`);
        return 1;
      }
      batch.push(admin.importSession(record, { replace: opts.replace }));
      if (batch.length >= CONCURRENCY) await settle();
    }
    await settle();
  } finally {
    lines.close();
  }
  progress.done(
    `: ${written} written, ${kept} already there and kept${opts.replace ? '' : ' (--replace overwrites them)'}`,
  );
  return 0;
}

/** `delete S…`. */
export async function deleteSessions(store: MemoryStore, io: Io, ids: string[]): Promise<number> {
  let missing = 0;
  for (const id of ids) {
    if (await store.deleteSession(id)) {
      await writeLine(io.stdout, `deleted ${id}`);
    } else {
      io.stderr.write(`session ${id} does not exist\n`);
      missing++;
    }
  }
  return missing > 0 ? 1 : 0;
}

/** `erase --user U`: every session of one user, across every index. */
export async function erase(store: MemoryStore, io: Io, userId: string): Promise<number> {
  const progress = new Progress(io.progress, `sessions of user ${userId} deleted`);
  let reported = 0;
  const { deleted, held, complete } = await new MemoryAdmin(store).deleteUserSessions(
    userId,
    (n) => {
      progress.add(n - reported);
      reported = n;
    },
  );
  progress.done();
  const kept = held > 0 ? `; ${held} held (legal hold) and kept` : '';
  await writeLine(
    io.stdout,
    `erased ${deleted} session${deleted === 1 ? '' : 's'} of user ${userId}${kept}`,
  );
  if (complete) return 0;
  io.stderr.write('sessions of this user were re-created while erasing: run it again\n');
  return 1;
}
