// The one poller: retry a check until it passes, the deadline passes, or the
// process it waits for has died (then fail at once, not at the deadline).

export interface PollOptions {
  /** Default 15 s. */
  timeoutMs?: number;
  /** Default 50 ms. */
  intervalMs?: number;
  /** A reason to stop now (e.g. "exited (1)"), or undefined to keep polling. */
  dead?: () => string | undefined;
}

/** Resolves once `check` resolves true; errors from `check` count as "not yet". */
export async function pollUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  options: PollOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const dead = options.dead?.();
    if (dead !== undefined) throw new Error(`${what}: ${dead}`, { cause: lastError });
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
