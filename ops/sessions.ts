// The operator's commands on the memory store: what `kaos-memory sessions`
// does once its arguments are read and Redis is connected. Each takes the store
// and the streams, so a test runs them against a real Redis without a process.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { MemoryAdmin } from '../memory/admin.js';
import { StoreError } from '../memory/errors.js';
import { SessionHolds } from '../memory/holds.js';
import { stringifyJson } from '../memory/json.js';
import type {
  EventCursor,
  MemoryStore,
  Session,
  SessionCursor,
  StoredSession,
} from '../memory/store.js';
import { forEachLine, writeChunk } from './lines.js';
import { Progress } from './progress.js';
import { decodeRecord, encodeRecordPieces, RecordError } from './records.js';

export interface Io {
  stdin: Readable;
  stdout: Writable;
  /** Progress and warnings; undefined with --quiet. */
  progress: Writable | undefined;
  /** Errors, always. */
  stderr: Writable;
}

/** Sessions read or written at once, at most. */
const CONCURRENCY = 32;
/**
 * Stored bytes in flight at once, about: a few large sessions move one or two at a
 * time, small ones 32 at a time. One session larger than this still moves, alone.
 */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** Index entries asked for per page when walking the whole store. */
const PAGE = 500;
/** Problems an import lists before it says how many more there are. */
const PROBLEMS_SHOWN = 20;

/** Writes a line, waiting when the reader is slower (a pipe, a slow disk). */
function writeLine(out: Writable, line: string): Promise<void> {
  return writeChunk(out, `${line}\n`);
}

/** The stored bytes of a session, as export and import count what is in flight. */
function sizeOf(session: StoredSession): number {
  let bytes = 0;
  for (const [field, value] of session.hash) bytes += field.length + value.length;
  for (const entry of session.events) bytes += entry.length;
  return bytes;
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
  // Indented, each event on a line of its own as stored: numbers exactly as they are.
  const head = JSON.stringify(session, null, 2).slice(0, -2);
  const events = pages.flat().map((e) => `    ${stringifyJson(e) ?? 'null'}`);
  await writeLine(io.stdout, `${head},\n  "events": [\n${events.join(',\n')}\n  ]\n}`);
  return 0;
}

/**
 * `export S… | --all`: JSON Lines on stdout, one session per line, byte for byte.
 * Sessions are read ahead while earlier ones are written, within IN_FLIGHT_BYTES
 * (estimated from the sessions read so far) and CONCURRENCY, in order.
 */
export async function exportSessions(
  store: MemoryStore,
  io: Io,
  opts: { ids: string[]; all: boolean },
): Promise<number> {
  const admin = new MemoryAdmin(store);
  const progress = new Progress(io.progress, 'sessions exported');
  let missing = 0;
  let read = 0;
  let readBytes = 0;
  const ahead: { id: string; named: boolean; session: Promise<StoredSession | undefined> }[] = [];
  const write = async () => {
    const next = ahead.shift();
    if (!next) return;
    const session = await next.session;
    if (!session) {
      // Named on the command line: say so. Met while walking the index: it expired meanwhile.
      if (next.named) {
        io.stderr.write(`session ${next.id} does not exist\n`);
        missing++;
      }
      return;
    }
    for (const piece of encodeRecordPieces(session)) await writeChunk(io.stdout, piece);
    await writeChunk(io.stdout, '\n');
    progress.add();
  };
  const queue = async (id: string, named: boolean) => {
    // Room for one more: the average session so far, times those ahead, within the budget.
    const average = read === 0 ? 0 : readBytes / read;
    while (
      ahead.length >= CONCURRENCY ||
      (ahead.length > 0 && (ahead.length + 1) * average > IN_FLIGHT_BYTES)
    ) {
      await write();
    }
    const session = admin.exportSession(id).then((s) => {
      read++;
      readBytes += s ? sizeOf(s) : 0;
      return s;
    });
    // Settled when written; a failure is thrown there, in order.
    session.catch(() => undefined);
    ahead.push({ id, named, session });
  };
  if (opts.all) {
    for await (const page of admin.sessionPages({ pageSize: PAGE })) {
      for (const id of page) await queue(id, false);
    }
  } else {
    for (const id of opts.ids) await queue(id, true);
  }
  while (ahead.length > 0) await write();
  progress.done();
  return missing > 0 ? 1 : 0;
}

/**
 * `import [FILE] [--replace]`: the export's lines, from FILE or stdin. Every record is
 * checked before anything is written (stdin is kept in a private temporary file
 * meanwhile, to be read again): one unsound line and nothing is imported. Then the
 * sessions are written, each whole or not at all, within IN_FLIGHT_BYTES and
 * CONCURRENCY; existing ones are kept unless `replace`.
 */
export async function importSessions(
  store: MemoryStore,
  io: Io,
  opts: { replace: boolean; file?: string | undefined },
): Promise<number> {
  const spool = opts.file === undefined ? mkdtempSync(join(tmpdir(), 'kaos-import-')) : undefined;
  const file = opts.file ?? join(spool as string, 'sessions.jsonl');
  try {
    const checked = await checkRecords(io, opts.file === undefined ? file : undefined, file);
    if (!checked) return 1;
    return await writeRecords(store, io, file, opts.replace);
  } finally {
    if (spool) rmSync(spool, { recursive: true, force: true });
  }
}

/** The first pass: every line decoded and checked; false (and the problems said) when one is not sound. */
async function checkRecords(io: Io, spoolTo: string | undefined, file: string): Promise<boolean> {
  const progress = new Progress(io.progress, 'records checked');
  const copy = spoolTo ? createWriteStream(spoolTo, { mode: 0o600 }) : undefined;
  const problems: string[] = [];
  let bad = 0;
  await forEachLine(
    copy ? io.stdin : createReadStream(file),
    (line, number) => {
      if (line.length === 0 || isBlank(line)) return;
      try {
        decodeRecord(line.toString('utf8'));
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        bad++;
        if (problems.length < PROBLEMS_SHOWN) problems.push(`line ${number}: ${err.message}`);
      }
      progress.add();
    },
    copy,
  );
  if (copy) {
    copy.end();
    await finished(copy);
  }
  progress.done(bad > 0 ? `: ${bad} not sound` : '');
  if (bad === 0) return true;
  for (const p of problems) io.stderr.write(`${p}\n`);
  if (bad > problems.length) io.stderr.write(`… and ${bad - problems.length} more\n`);
  io.stderr.write(`${bad} record${bad === 1 ? ' is' : 's are'} not sound: nothing was imported\n`);
  return false;
}

/** The second pass: the checked records written; exit status 1 when Redis fails one. */
async function writeRecords(
  store: MemoryStore,
  io: Io,
  file: string,
  replace: boolean,
): Promise<number> {
  const admin = new MemoryAdmin(store);
  const progress = new Progress(io.progress, 'sessions read');
  let written = 0;
  let kept = 0;
  let bytes = 0;
  let failure: { id: string; err: unknown } | undefined;
  const inFlight = new Set<Promise<void>>();
  await forEachLine(createReadStream(file), async (line) => {
    if (line.length === 0 || isBlank(line)) return true;
    const record = decodeRecord(line.toString('utf8'));
    const size = line.length;
    while (inFlight.size >= CONCURRENCY || (inFlight.size > 0 && bytes + size > IN_FLIGHT_BYTES)) {
      await Promise.race(inFlight);
    }
    if (failure) return false;
    bytes += size;
    const done: Promise<void> = admin
      .importSession(record, { replace })
      .then(
        (ok) => {
          if (ok) written++;
          else kept++;
          progress.add();
        },
        (err: unknown) => {
          failure ??= { id: record.sessionId, err };
        },
      )
      .finally(() => {
        bytes -= size;
        inFlight.delete(done);
      });
    inFlight.add(done);
    return failure === undefined;
  });
  await Promise.all(inFlight);
  const counts = `${written} written, ${kept} already there and kept${replace ? '' : ' (--replace overwrites them)'}`;
  if (failure) {
    const reason = failure.err instanceof Error ? failure.err.message : String(failure.err);
    progress.done(`: ${counts}`);
    io.stderr.write(
      `session ${failure.id} was not written: ${reason}; stopped (each session is written whole or not at all; import again with --replace to finish)\n`,
    );
    return 1;
  }
  progress.done(`: ${counts}`);
  return 0;
}

function isBlank(line: Buffer): boolean {
  return line.toString('utf8').trim() === '';
}

/** `delete S…`. */
export async function deleteSessions(store: MemoryStore, io: Io, ids: string[]): Promise<number> {
  let missing = 0;
  for (const id of ids) {
    const deleted = await store.deleteSession(id).catch((err: unknown) => {
      if (!(err instanceof StoreError) || err.kind !== 'held') throw err;
      io.stderr.write(`session ${id} is under a legal hold: not deleted (see \`holds\`)\n`);
      return undefined;
    });
    if (deleted) {
      await writeLine(io.stdout, `deleted ${id}`);
    } else {
      if (deleted === false) io.stderr.write(`session ${id} does not exist\n`);
      missing++;
    }
  }
  return missing > 0 ? 1 : 0;
}

/** `holds`: every session under a legal hold, with its reason and start. */
export async function listHolds(store: MemoryStore, io: Io, json: boolean): Promise<number> {
  for await (const page of new SessionHolds(store).holds()) {
    for (const hold of page) {
      const line = json
        ? JSON.stringify(hold)
        : `${hold.session_id}\theld since ${hold.since}\t${hold.reason}`;
      await writeLine(io.stdout, line);
    }
  }
  return 0;
}

/** `release S…`: lifts each session's legal hold; 1 when one was not held. */
export async function releaseHolds(store: MemoryStore, io: Io, ids: string[]): Promise<number> {
  const holds = new SessionHolds(store);
  let unheld = 0;
  for (const id of ids) {
    if (await holds.release(id)) {
      await writeLine(io.stdout, `released ${id}`);
    } else {
      io.stderr.write(`session ${id} is not under a legal hold\n`);
      unheld++;
    }
  }
  return unheld > 0 ? 1 : 0;
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
