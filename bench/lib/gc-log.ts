// What V8's collector did in a stretch of a process's life, from the lines `--trace-gc-nvp`
// writes to its output (a log file): how many young-generation collections, the pauses of
// those and of the full ones, and the bytes promoted to the old generation. Promotion is
// what a request's objects cost when they outlive the young generation: they are copied
// twice, then wait for a full collection (docs/adr/0046-nothing-kept-between-requests.md).
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The node flag that writes the lines read here. */
export const TRACE_GC = '--trace-gc-nvp';

export interface GcActivity {
  scavenges: number;
  /** Pause milliseconds, young-generation and full collections together. */
  pauseMs: number;
  promotedBytes: number;
}

/** Where the log ends now: the start of the next stretch. */
export function gcLogMark(file: string): number {
  return statSync(file).size;
}

/** What the lines written to `file` since `mark` say. */
export function gcSince(file: string, mark: number): GcActivity {
  const size = statSync(file).size;
  const bytes = Buffer.alloc(Math.max(0, size - mark));
  const fd = openSync(file, 'r');
  try {
    readSync(fd, bytes, 0, bytes.length, mark);
  } finally {
    closeSync(fd);
  }
  const activity: GcActivity = { scavenges: 0, pauseMs: 0, promotedBytes: 0 };
  for (const line of bytes.toString('latin1').split('\n')) {
    const kind = /\bgc=(\w+)/.exec(line)?.[1];
    if (kind === undefined) continue;
    activity.pauseMs += Number(/\bpause=([\d.]+)/.exec(line)?.[1] ?? 0);
    if (kind !== 's') continue;
    activity.scavenges++;
    activity.promotedBytes += Number(/\bpromoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return activity;
}
