// The short-term window of a v2 recall: the newest run of a session's turns whose
// tokens, counted on each turn's content as upstream counts them, fit the budget,
// within a hard cap on turns, oldest first. A tool's answer and the call before it
// go in together or not at all. Fed newest first, so a reader can stop paging as
// soon as the window is full.
import type { MemoryEvent } from '../../memory/events.js';
import { answersPrevious, eventTurn, type RecentTurn } from './turns.js';

export interface WindowLimits {
  /** Tokens the window's contents add up to at most. */
  budget: number;
  /** Turns the window holds at most. */
  maxTurns: number;
}

export class RecentWindow {
  /** Accepted turns, oldest first. */
  private readonly turns: RecentTurn[] = [];
  /** Tool answers seen (oldest first) whose call has not been seen yet. */
  private pending: RecentTurn[] = [];
  private pendingTokens = 0;
  private used = 0;
  private full = false;

  constructor(
    private readonly limits: WindowLimits,
    private readonly count: (text: string) => number,
  ) {}

  /** Tokens of the turns accepted so far. */
  get tokens(): number {
    return this.used;
  }

  /** Takes the next older event; false once the window is full (read no further). */
  offer(event: MemoryEvent): boolean {
    if (this.full) return false;
    const turn = eventTurn(event);
    if (turn === undefined) return true;
    const cost = this.count(turn[1]);
    if (answersPrevious(turn)) {
      this.pending.unshift(turn);
      this.pendingTokens += cost;
      return this.fits(0, 0) || this.stop();
    }
    if (!this.fits(cost, 1)) return this.stop();
    this.turns.unshift(turn, ...this.pending);
    this.used += cost + this.pendingTokens;
    this.pending = [];
    this.pendingTokens = 0;
    return true;
  }

  /**
   * The window, oldest first. `atStart`: the session's first turn was offered, so
   * answers whose call is not in the session at all are kept (when they fit);
   * otherwise their call lies beyond the window, and they are left out with it.
   */
  result(atStart: boolean): RecentTurn[] {
    if (atStart && !this.full && this.pending.length > 0) {
      this.turns.unshift(...this.pending);
      this.used += this.pendingTokens;
      this.pending = [];
      this.pendingTokens = 0;
    }
    return this.turns;
  }

  /** Whether one more turn of `cost` tokens (and the answers waiting for it) fits. */
  private fits(cost: number, turns: number): boolean {
    return (
      this.used + this.pendingTokens + cost <= this.limits.budget &&
      this.turns.length + this.pending.length + turns <= this.limits.maxTurns
    );
  }

  private stop(): false {
    this.full = true;
    this.pending = [];
    this.pendingTokens = 0;
    return false;
  }
}
