// One node per machine (it owns a bridge, cgroups and fixed host paths): a lock file
// beside the state folder holding its owner's pid, created exclusively.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { alive } from './exec.js';
import { stateDir } from './paths.js';

export function lockPath(dir = stateDir()): string {
  return `${dir}.lock`;
}

/** Takes the lock, waiting up to `waitMs` for a live holder; a dead holder's lock is taken over. */
export async function acquireLock(
  dir: string,
  waitMs: number,
  log: (line: string) => void,
): Promise<void> {
  const path = lockPath(dir);
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(path, { force: true }); // its owner died: the node it left is cleaned up next
      continue;
    }
    if (holder === process.pid) throw new Error('a node is already running in this process');
    if (Date.now() > deadline) {
      throw new Error(
        `another process (pid ${holder}) kept the node of this machine for ${waitMs} ms`,
      );
    }
    if (!said) log(`waiting for the node of pid ${holder} to stop (one node per machine)`);
    said = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Removes the lock if this process holds it. */
export function releaseLock(dir: string): void {
  try {
    if (Number(readFileSync(lockPath(dir), 'utf8').trim()) === process.pid) rmSync(lockPath(dir));
  } catch {
    // not held
  }
}
