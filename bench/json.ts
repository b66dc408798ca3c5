// The lossless JSON path against the plain one it replaced, in one process and
// one run: request bodies (JSON.parse vs parseJsonBody), stored entries
// (JSON.parse + the reader's checks vs decodeEvent), responses (JSON.stringify
// vs stringifyJson, which splices stored text) and encoding (pyDumps).
//   node --import tsx bench/json.ts
import { decodeEvent, encodeEvent, MAX_JSON_DEPTH, nestsDeeperThan } from '../memory/events.js';
import { parseJsonBody, stringifyJson } from '../memory/json.js';
import { table } from './lib/table.js';

/** Calls per round so one round of `fn` takes about 10 ms. */
function calibrate(fn: () => unknown): number {
  let n = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    if (Number(process.hrtime.bigint() - t) > 10e6) return n;
    n *= 2;
  }
}

/**
 * Nanoseconds per call of `before` and `after`, rounds alternating so both see the
 * same machine; the fastest round of each (on a shared machine, interference only
 * ever adds time).
 */
function compare(before: () => unknown, after: () => unknown): [number, number] {
  const nb = calibrate(before);
  const na = calibrate(after);
  let best: [number, number] = [Infinity, Infinity];
  for (let r = 0; r < 15; r++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < nb; i++) before();
    const b = Number(process.hrtime.bigint() - t) / nb;
    t = process.hrtime.bigint();
    for (let i = 0; i < na; i++) after();
    const a = Number(process.hrtime.bigint() - t) / na;
    best = [Math.min(best[0], b), Math.min(best[1], a)];
  }
  return best;
}

/** The reader as it was: JSON.parse and the same checks, no lossless numbers. */
function decodePlain(raw: string): unknown {
  const data = JSON.parse(raw) as Record<string, unknown>;
  if (nestsDeeperThan(data, MAX_JSON_DEPTH + 1)) return undefined;
  const { event_id, timestamp, event_type, content, metadata } = data;
  return { event_id, timestamp, event_type, content, metadata };
}

const T = '2026-02-17T10:00:00.123456+00:00';
const text = (n: number) => 'All work and no play makes Jack a dull boy. '.repeat(n / 44 + 1);
const stored = (content: unknown, metadata: Record<string, unknown> = {}) =>
  encodeEvent({ event_type: 'user_message', content, metadata }, 'event_0a1b2c3d', T);

const small = { event_type: 'user_message', content: text(100), metadata: { trace_id: 'abc' } };
const tool = {
  event_type: 'tool_result',
  content: { tool: 'search', result: { items: [{ id: 42, score: 0.87, title: text(60) }] } },
  metadata: { seq: 17 },
};
const lossy = { ...tool, content: { id: '__BIG__', ratio: '__F__' } };
const bodies: [string, string][] = [
  ['one message (~170 B)', JSON.stringify(small)],
  ['ten tool results (~2 KB)', JSON.stringify(new Array(10).fill(tool))],
  ['one 64 KiB message', JSON.stringify({ ...small, content: text(65536) })],
  [
    'a big int and 3.0 (slow path)',
    JSON.stringify(lossy).replace('"__BIG__"', '9223372036854775809').replace('"__F__"', '3.0'),
  ],
];

const entries: [string, string][] = [
  ['message (~250 B)', stored(small.content, small.metadata)],
  ['tool result', stored(tool.content, tool.metadata)],
  ['1 MiB message', stored(text(1 << 20))],
  [
    'a big int and 3.0 (slow path)',
    stored({ id: 1 }).replace('{"id": 1}', '{"id": 9223372036854775809, "f": 3.0}'),
  ],
];

const rows: string[][] = [];
const row = (what: string, before: () => unknown, after: () => unknown) => {
  const [b, a] = compare(before, after);
  rows.push([what, (b / 1000).toFixed(2), (a / 1000).toFixed(2), (a / b).toFixed(2)]);
};

for (const [name, body] of bodies) {
  row(
    `parse body: ${name}`,
    () => JSON.parse(body),
    () => parseJsonBody(body),
  );
}
for (const [name, raw] of entries) {
  row(
    `decode entry: ${name}`,
    () => decodePlain(raw),
    () => decodeEvent(raw),
  );
}
for (const count of [20, 100]) {
  const raws = new Array(count).fill(entries[1]?.[1] ?? '');
  const plain = { agent: 'a', session_id: 's', events: raws.map(decodePlain), next_cursor: null };
  const lossless = { ...plain, events: raws.map((r) => decodeEvent(r)) };
  row(
    `write page of ${count} tool results`,
    () => JSON.stringify(plain),
    () => stringifyJson(lossless),
  );
}
const sessions = {
  agent: 'a',
  sessions: Array.from({ length: 1000 }, (_, i) => ({
    session_id: `session-${i}`,
    user_id: 'user',
    app_name: 'agent',
    created_at: T,
    updated_at: T,
  })),
  next_cursor: null,
};
row(
  'write 1,000 sessions (no stored text)',
  () => JSON.stringify(sessions),
  () => stringifyJson(sessions),
);
const append = {
  agent: 'a',
  session_id: 's',
  session_created: false,
  stored: 1,
  duplicates: 0,
  events: [{ event_id: 'event_0a1b2c3d', stored: true }],
};
row(
  'write an append result',
  () => JSON.stringify(append),
  () => stringifyJson(append),
);

process.stdout.write(table(['operation', 'before µs', 'after µs', 'after/before'], rows) + '\n');
