// `npm run demo` as CI runs it: demo/main.ts as its own process (the install parts
// of scripts/demo.sh are what `npm test` already did), in its own process group and
// with its own TMPDIR, so a test can tell that nothing it started outlives it.
// Shared by the node's stories (demo.test.ts) and the fallback's (fallback.test.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../harness/root.js';

export interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Processes of the demo's process group still alive after it exited. */
  leftovers: string[];
  /** What the demo left in its TMPDIR. */
  leftFiles: string[];
}

/** Runs demos, each in a TMPDIR of its own under one scratch folder. */
export class DemoRunner {
  readonly scratch = mkdtempSync(join(tmpdir(), 'kaos-demo-test-'));
  private readonly running = new Set<number>();

  /** Run the demo; `onOutput` sees the output so far each time more arrives. */
  run(
    env: Record<string, string> = {},
    onOutput?: (output: string, pid: number) => void,
  ): Promise<DemoRun> {
    const tmp = mkdtempSync(join(this.scratch, 'run-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts'], {
      cwd: REPO_ROOT,
      // Its own process group: every process it starts stays in it unless it escapes.
      detached: true,
      env: { ...process.env, TMPDIR: tmp, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.running.add(child.pid!);
    let output = '';
    const more = (chunk: Buffer) => {
      output += chunk.toString();
      onOutput?.(output, child.pid!);
    };
    child.stdout.on('data', more);
    child.stderr.on('data', more);
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        this.running.delete(child.pid!);
        resolve({
          code,
          signal,
          output,
          leftovers: processGroup(child.pid!),
          // tsx keeps a compile cache in the temp folder; that one is tsx's, not the demo's.
          leftFiles: readdirSync(tmp).filter((name) => !name.startsWith('tsx-')),
        });
      });
    });
  }

  /** A demo still running here means a test timed out: stop its whole group. */
  close(): void {
    for (const pid of this.running) process.kill(-pid, 'SIGKILL');
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** Live (non-zombie) processes whose process group is `pgid`, as "pid command". */
function processGroup(pgid: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces, so split after its ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') {
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      found.push(`${pid} ${comm}`);
    }
  }
  return found;
}

export function expectCleanExit(run: DemoRun): void {
  expect(run.leftovers, run.output).toEqual([]);
  expect(run.leftFiles, run.output).toEqual([]);
  expect(run.output).toContain('==> Cleanup');
}

/**
 * Sends `signal` once the output shows `marker` (by default the fallback's 'sidecar pid';
 * on the node: the agent's pod Running), when every kind of process the demo runs is running.
 */
export function stopMidway(signal: NodeJS.Signals, group: boolean, marker = 'sidecar pid') {
  let sent = false;
  return (output: string, pid: number) => {
    if (!sent && output.includes(marker)) {
      sent = true;
      process.kill(group ? -pid : pid, signal);
    }
  };
}
