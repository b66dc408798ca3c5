// Small process helpers for the node harness: run a command to completion, or find
// processes by pid (teardown.ts). Long-lived processes are harness/process.ts's.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface RunOptions extends ExecFileOptions {
  /** Bytes written to the command's stdin. */
  input?: string | Buffer;
}

/** Runs `cmd args…`; resolves with stdout, rejects with the command, its exit and stderr. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<string> {
  const { input, ...rest } = options;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...rest },
      (err, stdout, stderr) => {
        if (err) {
          const what = [cmd, ...args].join(' ');
          const detail = String(stderr || stdout || '')
            .trim()
            .slice(-2000);
          reject(
            new Error(`${what}: ${err.message.split('\n')[0]}${detail ? `\n${detail}` : ''}`, {
              cause: err,
            }),
          );
        } else {
          resolve(String(stdout));
        }
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface ProcInfo {
  pid: number;
  /** The kernel's short name (/proc/PID/comm, at most 15 characters). */
  comm: string;
  /** The executable's path, or '' when it cannot be read (kernel thread, gone, other namespace). */
  exe: string;
  cmdline: string[];
}

/** Every process on the machine, read from /proc. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        // kernel thread or gone
      }
      out.push({ pid, comm, exe, cmdline });
    } catch {
      // exited while we read it
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
