// Polling for a child process to come up that gives up at once when the process
// dies, instead of waiting out the whole timeout (ports.ts's waitFor retries
// through every error, which is right for a server that is still starting).

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** A reason to stop now (e.g. "exited with code 1"), or undefined to keep polling. */
  dead: () => string | undefined;
}

export async function pollUntil(
  what: string,
  check: () => Promise<boolean>,
  options: PollOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const dead = options.dead();
    if (dead !== undefined) throw new Error(`${what}: ${dead}`, { cause: lastError });
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`, {
        cause: lastError,
      });
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}
