// The demo's claims. Each is checked where the story shows it, and a failed check
// fails that step; the summary then states, per headline, how many checks stand
// behind it, and refuses to pass with a headline that nothing checked.
import * as ui from './ui.js';

/** The headlines of the story played with local processes (no real node here). */
export const LOCAL_HEADLINES = {
  chart: 'helm install of charts/kaos-memory set the memory defaults for every agent',
  inject: 'the webhook injected the memory sidecar and MEMORY_* defaults into a plain agent pod',
  secret: 'no secret in any pod spec: the Redis password travels by secretKeyRef',
  stored: "the agent's writes went through the sidecar into Redis, in the KAOS key layout",
  durable: 'Redis keeps them in an append-only file on disk',
  restart: 'the history survived a SIGKILL of the sidecar and came back through its HTTP API',
} as const;

/** The headlines of the story played on a real node. */
export const NODE_HEADLINES: Record<Headline, string> = {
  chart: 'helm install of charts/kaos-memory with its defaults runs the webhook and its own Redis',
  inject: "the webhook injected the memory sidecar into the operator's agent Deployment's pod",
  secret: 'no secret in the pod spec: the Redis password reaches the sidecar from a Secret',
  stored: "the agent's write went through the sidecar into Redis, in the KAOS key layout",
  durable: 'Redis keeps it in an append-only file on a bound PersistentVolumeClaim',
  restart: "the history survived deleting the pod: its replacement's sidecar read it back",
} as const;

export type Headline = keyof typeof LOCAL_HEADLINES;

export class CheckFailed extends Error {}

export class Proofs {
  private readonly passed = new Map<Headline, string[]>();

  constructor(private readonly headlines: Record<Headline, string> = LOCAL_HEADLINES) {}

  /** Verify one claim: prints it when it holds, throws naming it when it does not. */
  check(headline: Headline, claim: string, holds: boolean, evidence?: string): void {
    if (!holds) {
      const seen = evidence ? `\nwhat was seen: ${evidence.slice(0, 2_000)}` : '';
      throw new CheckFailed(`check failed: ${claim}${seen}`);
    }
    this.passed.set(headline, [...(this.passed.get(headline) ?? []), claim]);
    ui.ok(claim);
  }

  summary(): void {
    let total = 0;
    for (const [headline, text] of Object.entries(this.headlines) as [Headline, string][]) {
      const n = this.passed.get(headline)?.length ?? 0;
      if (n === 0) throw new CheckFailed(`nothing checked the claim: ${text}`);
      total += n;
      ui.ok(`${text} ${ui.dim(`(${n} check${n === 1 ? '' : 's'})`)}`);
    }
    ui.say(`${total} checks, all passed.`);
  }
}
