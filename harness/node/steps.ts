// Bringing something up as an ordered list of named steps, the way kind runs its create
// actions: each step runs once, in order; the runner says what ran and how long it took,
// and a failure names its step. Parallel work is a step that starts a promise and a
// later step that awaits it.

export interface Step<C> {
  name: string;
  run(ctx: C): Promise<void> | void;
}

/** Runs `steps` in order on `ctx`; rejects at the first failure, naming the step. */
export async function runSteps<C>(
  steps: readonly Step<C>[],
  ctx: C,
  log: (line: string) => void,
): Promise<void> {
  const began = Date.now();
  for (const [index, step] of steps.entries()) {
    const t = Date.now();
    try {
      await step.run(ctx);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`step ${index + 1}/${steps.length} "${step.name}" failed: ${reason}`, {
        cause: err,
      });
    }
    log(
      `[${index + 1}/${steps.length}] ${step.name}: ${seconds(Date.now() - t)} (at ${seconds(Date.now() - began)})`,
    );
  }
}

/**
 * Work a step starts for a later one to await: until then a rejection is held, not
 * reported as unhandled (an earlier failure may mean nobody awaits it).
 */
export function background<T>(work: Promise<T>): Promise<T> {
  work.catch(() => undefined);
  return work;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
