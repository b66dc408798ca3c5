// Every Redis key the sidecar touches is named here, in KAOS RedisMemory's layout.

export interface SessionKeys {
  session: string;
  events: string;
  index: string;
}

export class Keys {
  constructor(readonly prefix: string) {}

  /** `P:sessions`: sorted set of session ids scored by last update (epoch seconds). */
  get index(): string {
    return `${this.prefix}:sessions`;
  }

  /** `P:session:S` (hash) and `P:events:S` (list), plus the index. */
  forSession(sessionId: string): SessionKeys {
    return {
      session: `${this.prefix}:session:${sessionId}`,
      events: `${this.prefix}:events:${sessionId}`,
      index: this.index,
    };
  }
}
