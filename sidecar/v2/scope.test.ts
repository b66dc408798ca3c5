import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import type { Scope } from './schemas.js';
import { checkScope, writeOwners } from './scope.js';

const ME = 'kaos://agent/ns1/bot';
const OTHER = 'kaos://agent/ns1/other';

function refusal(fn: () => unknown): { status: number; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError)
      return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

const scope = (s: Partial<Scope>): Scope => ({
  level: 'session',
  principal: 'alice',
  agent_client_id: ME,
  session_id: 's1',
  user_scoping_required: false,
  ...s,
});

describe('scope checks', () => {
  it.each(['session', 'agent', 'user', 'group'] as const)(
    'refuses another agent at %s level, for reads and erasure',
    (level) => {
      for (const op of ['read', 'forget'] as const) {
        const r = refusal(() => checkScope(scope({ level, agent_client_id: OTHER }), ME, op));
        expect(r).toMatchObject({ status: 403, code: 'forbidden_scope' });
        expect(r.message).toMatch(/^scope\.agent_client_id: names another agent/);
      }
    },
  );

  it('serves no named agent without an identity, but sessions and users still', () => {
    expect(refusal(() => checkScope(scope({}), undefined, 'read'))).toMatchObject({
      status: 403,
      code: 'forbidden_scope',
    });
    const anonymous = scope({ agent_client_id: undefined });
    expect(checkScope(anonymous, undefined, 'read')).toBe(anonymous);
    expect(checkScope({ ...anonymous, level: 'user' }, undefined, 'forget').level).toBe('user');
  });

  it('refuses an incomplete scope as upstream does (400 naming the field)', () => {
    const cases: [Partial<Scope>, string][] = [
      [{ level: 'session', session_id: undefined }, 'session_id'],
      [{ level: 'agent', agent_client_id: undefined }, 'agent_client_id'],
      [{ level: 'agent', user_scoping_required: true, principal: undefined }, 'principal'],
      [{ level: 'user', principal: undefined }, 'principal'],
    ];
    for (const [s, field] of cases) {
      expect(refusal(() => checkScope(scope(s), ME, 'read'))).toMatchObject({
        status: 400,
        message: expect.stringMatching(new RegExp(`^scope\\.${field}: incomplete`)),
      });
    }
  });

  it("refuses group erasure, which would reach every agent's memory, but reads the group", () => {
    expect(refusal(() => checkScope(scope({ level: 'group' }), ME, 'forget')).status).toBe(403);
    expect(checkScope(scope({ level: 'group' }), ME, 'read').level).toBe('group');
  });

  it('writes as the pod: an attribution may leave its agent out, never name another', () => {
    expect(
      writeOwners({ principal: 'alice', agent_client_id: undefined, session_id: 's' }, ME),
    ).toEqual({
      principal: 'alice',
      agent: ME,
      session: 's',
    });
    expect(
      refusal(() =>
        writeOwners({ principal: undefined, agent_client_id: OTHER, session_id: 's' }, ME),
      ).message,
    ).toMatch(/^attribution\.agent_client_id: names another agent/);
  });
});
