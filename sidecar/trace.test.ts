import { describe, expect, it } from 'vitest';
import { parseTraceparent, withTrace } from './trace.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('reads the W3C example', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN });
  });

  it('accepts a later version with more fields, and an unsampled trace', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-00-extra`)).toEqual({
      traceId: TRACE,
      spanId: SPAN,
    });
  });

  it.each([
    ['absent', undefined],
    ['repeated', [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`]],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with more fields', `00-${TRACE}-${SPAN}-01-x`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['garbage', 'hello'],
  ])('ignores one that is %s', (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });
});

describe('withTrace', () => {
  const trace = { traceId: TRACE, spanId: SPAN };

  it('adds trace_id and span_id after the caller’s metadata', () => {
    const event = withTrace(
      { event_type: 'user_message', content: 'hi', metadata: { a: 1 } },
      trace,
    );
    expect(Object.entries(event.metadata ?? {})).toEqual([
      ['a', 1],
      ['trace_id', TRACE],
      ['span_id', SPAN],
    ]);
  });

  it('adds them where there was no metadata', () => {
    expect(withTrace({ event_type: 't', content: null }, trace).metadata).toEqual({
      trace_id: TRACE,
      span_id: SPAN,
    });
  });

  it('leaves metadata that names its own trace whole', () => {
    const metadata = { trace_id: 'mine' };
    expect(withTrace({ event_type: 't', content: 1, metadata }, trace).metadata).toBe(metadata);
  });
});
