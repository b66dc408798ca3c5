// The check every sidecar suite's calls go through (harness/http.ts): it refuses
// what the generated OpenAPI document does not describe, and no suite goes around it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkReply,
  ContractViolation,
  sidecarOpenApi,
  type ApiReply,
} from '../../harness/http.js';
import { REPO_ROOT } from '../../harness/root.js';

const JSON_TYPE = 'application/json; charset=utf-8';

function reply(status: number, body: unknown, headers: Record<string, string> = {}): ApiReply {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const h = new Headers(headers);
  if (body !== undefined && !h.has('content-type')) h.set('content-type', JSON_TYPE);
  return { status, body, text, bytes: Buffer.from(text), headers: h };
}

const error = (code: string, message = 'm') => ({ error: { code, message } });
const session = {
  session_id: 's',
  user_id: 'u',
  app_name: 'a',
  created_at: '2026-02-17T10:00:00.123456+00:00',
  updated_at: '2026-02-17T10:00:00.123456+00:00',
};
const counted = { agent: 'agent', ...session, event_count: 2 };
const TAGGED = { etag: '"2-0123456789abcdef"' };

/** The problems the check finds, or [] when it lets the reply through. */
function problems(method: string, path: string, r: ApiReply): string[] {
  try {
    checkReply(method, path, r);
    return [];
  } catch (err) {
    if (!(err instanceof ContractViolation)) throw err;
    return err.message.split('\n').filter((l) => l.startsWith('  - '));
  }
}

describe('the response check', () => {
  it('lets through what the document describes', () => {
    expect(problems('GET', '/v1/sessions/s', reply(200, counted, TAGGED))).toEqual([]);
    // A 412 names the current tag, unless the session does not exist.
    expect(
      problems('POST', '/v1/sessions/s/events', reply(412, error('precondition_failed'), TAGGED)),
    ).toEqual([]);
    expect(
      problems('POST', '/v1/sessions/s/events', reply(412, error('precondition_failed'))),
    ).toEqual([]);
    expect(problems('GET', '/v1/sessions/s?x=1', reply(404, error('not_found')))).toEqual([]);
    expect(problems('DELETE', '/v1/sessions/s', reply(204, undefined))).toEqual([]);
    expect(
      problems('GET', '/readyz', reply(503, error('unavailable'), { 'retry-after': '1' })),
    ).toEqual([]);
    expect(problems('GET', '/nowhere', reply(404, error('not_found')))).toEqual([]);
    expect(
      problems('PUT', '/v1/sessions/s', reply(405, error('method_not_allowed'), { allow: 'GET' })),
    ).toEqual([]);
    expect(
      problems('GET', '/metrics', reply(200, 'up 1\n', { 'content-type': 'text/plain; v=1' })),
    ).toEqual([]);
  });

  it.each([
    [
      'a field the document does not list',
      reply(200, { ...counted, colour: 'red' }, TAGGED),
      /colour/,
    ],
    ['a missing field', reply(200, { ...counted, event_count: undefined }, TAGGED), /event_count/],
    ['a field of the wrong type', reply(200, { ...counted, event_count: '2' }, TAGGED), /integer/],
    ['an undocumented status', reply(201, counted, TAGGED), /status 201 is not documented/],
    ['an error code not of its status', reply(404, error('bad_request')), /allowed values/],
    [
      'a content type not documented',
      reply(200, counted, { ...TAGGED, 'content-type': 'text/html' }),
      /html/,
    ],
    [
      'a body that is not JSON',
      reply(200, '{', { ...TAGGED, 'content-type': JSON_TYPE }),
      /not JSON/,
    ],
    ['a session without its ETag', reply(200, counted), /header ETag is missing/],
    ['an ETag that is not a session tag', reply(200, counted, { etag: 'W/"x"' }), /ETag/],
  ])('refuses %s', (_, r, message) => {
    const found = problems('GET', '/v1/sessions/s', r);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });

  it('refuses a 503 without Retry-After, a 405 without Allow, a 204 with a body', () => {
    expect(problems('GET', '/readyz', reply(503, error('unavailable')))).toEqual([
      '  - header Retry-After is missing',
    ]);
    expect(problems('PUT', '/healthz', reply(405, error('method_not_allowed')))).toEqual([
      '  - header Allow is missing',
    ]);
    expect(problems('DELETE', '/v1/sessions/s', reply(204, {})).join('\n')).toMatch(/no body/);
  });

  it('refuses anything but 404 for a path the document does not list, and 405 for a method', () => {
    expect(problems('GET', '/v2/sessions', reply(200, counted)).join()).toMatch(/NotFound/);
    expect(problems('PATCH', '/v1/sessions/s', reply(404, error('not_found'))).join()).toMatch(
      /MethodNotAllowed/,
    );
  });

  it('the document has a response for every status the router gives on each route', () => {
    const doc = sidecarOpenApi() as { paths: Record<string, Record<string, any>> };
    const post = doc.paths['/v1/sessions/{id}/events']!.post;
    expect(Object.keys(post.responses)).toEqual([
      '200',
      '201',
      '400',
      '403',
      '409',
      '412',
      '413',
      '415',
      '500',
      '503',
      '507',
    ]);
    expect(Object.keys(doc.paths['/memory/sessions']!.get.responses)).toEqual([
      '200',
      '403',
      '409',
      '500',
      '503',
    ]);
  });
});

describe('the sidecar suites', () => {
  it('call the API only through harness/http.ts, whose every answer is checked', () => {
    const dir = join(REPO_ROOT, 'test', 'sidecar');
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.test.ts') && f !== 'contract.test.ts')
      .flatMap((f) => {
        const source = readFileSync(join(dir, f), 'utf8');
        return [/\bfetch\(/, /from 'node:https?'/, /from 'undici'/]
          .filter((raw) => raw.test(source))
          .map((raw) => `${f}: ${raw.source}`);
      });
    expect(offenders).toEqual([]);
  });
});
