import { describe, expect, it } from 'vitest';
import { parseJsonBody } from '../../memory/json.js';
import { Invalid } from '../schema.js';
import { forgetBody, recallBody, writeBody } from './schemas.js';

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof Invalid) return `${err.path}: ${err.message}`;
    throw err;
  }
  throw new Error('expected the body to be refused');
}

// As upstream's client sends them: scope.model_dump(mode="json") and its payloads.
const SCOPE = {
  level: 'session',
  principal: null,
  agent_client_id: 'kaos://agent/ns1/bot',
  session_id: 'session_0a1b2c3d4e5f',
  user_scoping_required: false,
};

describe('memory v2 bodies', () => {
  it("reads upstream client's recall and forget payloads", () => {
    expect(
      recallBody.parse({ scope: SCOPE, query: 'q', top_k: 10, include_short_term: true }, ''),
    ).toEqual({
      scope: {
        level: 'session',
        agent_client_id: 'kaos://agent/ns1/bot',
        session_id: 'session_0a1b2c3d4e5f',
        user_scoping_required: false,
      },
      query: 'q',
      top_k: 10,
      include_short_term: true,
    });
    expect(forgetBody.parse({ scope: SCOPE, failure_mode: 'strict' }, '').failure_mode).toBe(
      'strict',
    );
  });

  it('treats blank identities as unset and ignores fields it does not know, as pydantic does', () => {
    const parsed = recallBody.parse(
      { scope: { ...SCOPE, principal: '  ', extra: 1 }, query: '', top_k: null, future: true },
      '',
    );
    expect(parsed.scope.principal).toBeUndefined();
    expect(parsed.top_k).toBeUndefined();
  });

  it('puts a role/content pair before the turns, and needs at least one turn', () => {
    const w = writeBody.parse(
      {
        attribution: { principal: 'alice', session_id: 's', level: 'agent' },
        role: 'user',
        content: 'first',
        turns: [{ role: 'assistant', content: 'second' }],
      },
      '',
    );
    expect(w.turns).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'second' },
    ]);
    expect(w.infer).toBe(true);
    expect(failure(() => writeBody.parse({ attribution: {} }, ''))).toBe(
      '.turns: a write needs turns[] or a role/content pair',
    );
    expect(failure(() => writeBody.parse({ attribution: {}, role: 'user' }, ''))).toMatch(
      /^\.turns: a write needs/,
    );
  });

  it('takes a whole float where a whole number goes, as pydantic does', () => {
    const body = parseJsonBody(
      '{"scope": {"level": "user", "principal": "a"}, "query": "q", "top_k": 3.0}',
    );
    expect(recallBody.parse(body, '').top_k).toBe(3);
    expect(
      failure(() =>
        recallBody.parse(
          parseJsonBody('{"scope": {"level": "user"}, "query": "q", "top_k": 2.5}'),
          '',
        ),
      ),
    ).toBe('.top_k: must be a whole number');
  });

  it('names the field that is wrong', () => {
    expect(failure(() => recallBody.parse({ scope: SCOPE, query: 'q', top_k: '10' }, ''))).toBe(
      '.top_k: must be a whole number',
    );
    expect(
      failure(() => recallBody.parse({ scope: { ...SCOPE, level: 'team' }, query: 'q' }, '')),
    ).toBe('.scope.level: must be one of session, agent, user, group');
    expect(
      failure(() => recallBody.parse({ scope: { ...SCOPE, session_id: 'a/b' }, query: 'q' }, '')),
    ).toMatch(/^\.scope\.session_id: may hold only/);
    expect(failure(() => writeBody.parse({ attribution: {}, turns: [{ role: 'user' }] }, ''))).toBe(
      '.turns[0].content: is required',
    );
    expect(
      failure(() => recallBody.parse({ scope: SCOPE, query: 'q', include_short_term: 'yes' }, '')),
    ).toBe('.include_short_term: must be true or false');
  });
});
