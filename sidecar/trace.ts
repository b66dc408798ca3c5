// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a
// caller sends is recorded in each new event's metadata as `trace_id` and
// `span_id`, the keys KAOS writes with OpenTelemetry, so a conversation can be
// joined to its traces. An invalid header is ignored, as the spec asks.
import type { NewEvent } from '../memory/events.js';

export interface TraceContext {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** The caller's span: 16 lower-case hex digits. */
  spanId: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The trace a `traceparent` header names, or undefined when it is absent or invalid. */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | undefined {
  // Repeated headers are joined by node:http with ", " only for some names; an array or
  // a list here is not one valid traceparent.
  if (typeof header !== 'string') return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return undefined;
  const [, version = '', traceId = '', spanId = '', , rest] = m;
  // Version ff is forbidden; version 00 has exactly four fields. A later version may add fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId };
}

/**
 * The event with the trace in its metadata, after the caller's own keys. Metadata
 * the caller sent wins: one that already names a trace_id or span_id is left whole,
 * so a caller's trace is never mixed with the header's.
 */
export function withTrace(event: NewEvent, trace: TraceContext): NewEvent {
  const metadata = event.metadata ?? {};
  if (Object.hasOwn(metadata, 'trace_id') || Object.hasOwn(metadata, 'span_id')) return event;
  return { ...event, metadata: { ...metadata, trace_id: trace.traceId, span_id: trace.spanId } };
}
