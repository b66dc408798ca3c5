// The conversation view KAOS builds for a prompt: user and agent turns only.
import type { MemoryEvent } from '../memory/events.js';
import { pyStr } from '../memory/pyjson.js';

export const CONVERSATION_TYPES = ['user_message', 'agent_response'] as const;

function asText(content: unknown): string {
  return pyStr(content);
}

/** `User: …` / `Assistant: …` lines, as KAOS's build_conversation_context joins them. */
export function contextText(events: readonly MemoryEvent[]): string {
  return events
    .map((e) =>
      e.event_type === 'user_message'
        ? `User: ${asText(e.content)}`
        : `Assistant: ${asText(e.content)}`,
    )
    .join('\n');
}

export function contextMessages(
  events: readonly MemoryEvent[],
): { role: string; content: string }[] {
  return events.map((e) => ({
    role: e.event_type === 'user_message' ? 'user' : 'assistant',
    content: asText(e.content),
  }));
}
