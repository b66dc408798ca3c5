// Reading large sessions: what the sidecar's memory does when an agent's history
// holds big tool outputs (60 events of 500 KB: web pages, files). A fresh sidecar
// process per case, so each peak (VmHWM) is that case's alone; the 256 MiB
// container limit the chart sets is the line not to cross.
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import { RedisServer } from '../harness/redis.js';
import { SidecarProcess } from '../harness/sidecar.js';
import { encodeEvent } from '../memory/events.js';
import { fmt, table } from './lib/table.js';

const PREFIX = 'bench-large';
const EVENTS = 60;
const EVENT_BYTES = 500 * 1024;
const CONTAINER_LIMIT = 256 * 1024 * 1024;

interface Case {
  name: string;
  readers: number;
  /** One read of the whole history: the default read, then next_cursor until done. */
  read: (url: string, session: string) => Promise<{ pages: number; events: number }>;
}

async function readAll(url: string, session: string) {
  let pages = 0;
  let events = 0;
  let cursor = '';
  for (;;) {
    const res = await fetch(
      `${url}/v1/sessions/${session}/events${cursor ? `?cursor=${cursor}` : ''}`,
    );
    if (res.status !== 200) throw new Error(`read: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { events: unknown[]; next_cursor: string | null };
    pages++;
    events += body.events.length;
    if (!body.next_cursor) return { pages, events };
    cursor = body.next_cursor;
  }
}

const CASES: Case[] = [
  { name: 'the whole history, page by page, 1 reader', readers: 1, read: readAll },
  { name: 'the whole history, page by page, 4 readers at once', readers: 4, read: readAll },
  {
    name: 'GET /context (the last 20 conversation events), 4 readers at once',
    readers: 4,
    read: async (url, session) => {
      const res = await fetch(`${url}/v1/sessions/${session}/context?format=messages`);
      if (res.status !== 200) throw new Error(`context: ${res.status}`);
      const body = (await res.json()) as { messages: unknown[] };
      return { pages: 1, events: body.messages.length };
    },
  },
];

export async function benchLargeSessions(): Promise<void> {
  const redis = await RedisServer.start();
  const raw = redis.client();
  const rows: (string | number)[][] = [];
  try {
    // The history as another writer (KAOS Python) would leave it, 30 MB in all.
    const sessions = ['large-0', 'large-1', 'large-2', 'large-3'];
    for (const session of sessions) {
      const entries = Array.from({ length: EVENTS }, (_, i) =>
        encodeEvent(
          { event_type: i % 2 ? 'tool_result' : 'user_message', content: 'x'.repeat(EVENT_BYTES) },
          `event_${session}_${i}`,
          '2026-11-30T10:00:00.000000+00:00',
        ),
      );
      await raw.rpush(`${PREFIX}:events:${session}`, ...entries);
    }
    for (const c of CASES) {
      const sc = await SidecarProcess.start(
        {
          MEMORY_REDIS_URL: redis.url,
          MEMORY_KEY_PREFIX: PREFIX,
          LOG_LEVEL: 'error',
          NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
        },
        { ready: '/readyz' },
      );
      try {
        const idle = sc.proc.memory();
        let anonPeak = idle.anon;
        const sampler = setInterval(() => {
          anonPeak = Math.max(anonPeak, sc.proc.memory().anon);
        }, 20);
        const started = performance.now();
        const results = await Promise.all(
          Array.from({ length: c.readers }, (_, i) => c.read(sc.url, sessions[i] ?? 'large-0')),
        ).finally(() => clearInterval(sampler));
        const ms = performance.now() - started;
        const peak = sc.proc.memory().peak;
        rows.push([
          c.name,
          results[0]?.pages ?? 0,
          results[0]?.events ?? 0,
          fmt.ms(ms),
          fmt.mib(idle.rss),
          fmt.mib(peak),
          fmt.mib(anonPeak),
          fmt.verdict(peak < CONTAINER_LIMIT),
        ]);
      } finally {
        await sc.stop();
      }
    }
  } finally {
    raw.disconnect();
    await redis.stop();
  }
  console.log(
    [
      `### Reading large sessions (${EVENTS} events of ${EVENT_BYTES / 1024} KB each, ${fmt.mib(EVENTS * EVENT_BYTES)} MiB per session)`,
      '',
      table(
        [
          'read',
          'pages',
          'events',
          'ms',
          'RSS idle MiB',
          'RSS peak (VmHWM) MiB',
          'RssAnon peak MiB',
          'under the 256 MiB limit',
        ],
        rows,
      ),
      '',
      'A page holds at most MEMORY_MAX_READ_BYTES (default 4 MiB) of stored events; next_cursor pages on.',
      '',
    ].join('\n'),
  );
}
