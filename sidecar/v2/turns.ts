// Memory v2 turns as events of the KAOS layout, and back: one conversation is
// the same list whether KAOS's Python RedisMemory, the v1 API or a v2 agent
// wrote or reads it. A turn's content is kept byte for byte.
import type { MemoryEvent, NewEvent } from '../../memory/events.js';
import { pyDumps } from '../../memory/pyjson.js';

export type RecentTurn = [role: string, content: string];

const EVENT_OF_ROLE: Record<string, string> = {
  user: 'user_message',
  assistant: 'agent_response',
  tool: 'tool_result',
};

/** The event type of a role KAOS has no event type for; the role is kept in metadata. */
export const OTHER_ROLE_EVENT = 'message';

/** The event a turn is stored as. */
export function turnEvent(role: string, content: string): NewEvent {
  const eventType = EVENT_OF_ROLE[role];
  if (eventType !== undefined) return { event_type: eventType, content };
  return { event_type: OTHER_ROLE_EVENT, content, metadata: { role } };
}

/** As upstream's runtime renders a value it stores as text (Python's json.dumps). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : pyDumps(value);
}

function field(content: unknown, ...names: string[]): unknown {
  if (typeof content !== 'object' || content === null) return undefined;
  for (const name of names) {
    const v = (content as Record<string, unknown>)[name];
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The turn an event is, or undefined when it is none. A tool call or result that
 * KAOS's Python runtime stored as an object is rendered as upstream's v2 runtime
 * writes one (`[called tool name(args)]`, `[tool result name: result]`).
 */
export function eventTurn(e: MemoryEvent): RecentTurn | undefined {
  switch (e.event_type) {
    case 'user_message':
      return ['user', text(e.content)];
    case 'agent_response':
      return ['assistant', text(e.content)];
    case 'tool_call': {
      const name = field(e.content, 'tool', 'tool_name', 'name');
      if (typeof e.content === 'string' || typeof name !== 'string') {
        return ['assistant', text(e.content)];
      }
      const args = field(e.content, 'arguments', 'args') ?? {};
      return ['assistant', `[called tool ${name}(${text(args)})]`];
    }
    case 'tool_result': {
      const name = field(e.content, 'tool', 'tool_name', 'name');
      if (typeof e.content === 'string' || typeof name !== 'string') {
        return ['tool', text(e.content)];
      }
      return [
        'tool',
        `[tool result ${name}: ${text(field(e.content, 'result', 'content') ?? null)}]`,
      ];
    }
    case 'delegation_request':
      return ['assistant', text(e.content)];
    case 'delegation_response':
      return ['tool', text(e.content)];
    case OTHER_ROLE_EVENT: {
      const role = e.metadata.role;
      return typeof role === 'string' ? [role, text(e.content)] : undefined;
    }
    default:
      return undefined;
  }
}
