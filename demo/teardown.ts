import type { ChildProcess } from 'node:child_process';

// Everything the demo starts is registered here and torn down in reverse order:
// at the end, after a failure, and on Ctrl-C or SIGTERM. Each stop has a deadline
// so cleaning up never hangs, and a synchronous last resort on process exit
// SIGKILLs whatever a stop could not reach.

interface Task {
  name: string;
  stop: () => Promise<unknown> | void;
  /** Synchronous: for process exit, where nothing can be awaited. */
  now: () => void;
  deadlineMs: number;
}

const STOP_DEADLINE_MS = 15_000;

export class Teardown {
  private readonly tasks: Task[] = [];
  private readonly children = new Set<ChildProcess>();
  private running: Promise<string[]> | undefined;

  /** A short-lived child (helm): killed if it is still running when the demo stops. */
  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /**
   * Register something started; returns it, so starting and registering read as one.
   * `deadlineMs`: how long its stop may take before `now` is used instead.
   */
  add<T>(
    name: string,
    thing: T,
    stop: (t: T) => Promise<unknown> | void,
    now: (t: T) => void,
    deadlineMs = STOP_DEADLINE_MS,
  ): T {
    this.tasks.push({ name, stop: () => stop(thing), now: () => now(thing), deadlineMs });
    return thing;
  }

  /** Stop everything, newest first; the names of what was stopped. Idempotent. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      this.killChildren();
      const stopped: string[] = [];
      // pop(), not a snapshot: something that finishes starting meanwhile is stopped too.
      for (let task = this.tasks.pop(); task; task = this.tasks.pop()) {
        try {
          await withDeadline(
            Promise.resolve(task.stop()).then(() => undefined),
            task.deadlineMs,
            task.name,
          );
          stopped.push(task.name);
        } catch (err) {
          task.now();
          stopped.push(
            `${task.name} (forced: ${err instanceof Error ? err.message : String(err)})`,
          );
        }
      }
      return stopped;
    })();
    return this.running;
  }

  /** Kill and remove everything without waiting: the process is exiting. */
  runNow(): void {
    this.killChildren();
    for (const task of this.tasks) {
      try {
        task.now();
      } catch {
        // best effort: the process is going away
      }
    }
    this.tasks.length = 0;
  }

  private killChildren(): void {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
  }
}

async function withDeadline(work: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not stop within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
