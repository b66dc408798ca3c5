import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERRORS } from '../lib/errors.js';
import { StoreError, type FailureKind } from '../memory/errors.js';
import { apiError, notReady, storeFailure, STORE_FAILURES } from './errors.js';

describe('error answers', () => {
  it('maps each kind of Redis failure to its own code, and every Redis failure code to a kind', () => {
    const codes = Object.values(STORE_FAILURES);
    expect(new Set(codes).size).toBe(codes.length);
    const redisCodes = Object.entries(ERRORS)
      .filter(([, spec]) => 'redisFailure' in spec)
      .map(([code]) => code);
    expect([...codes].sort()).toEqual(redisCodes.sort());
  });

  it('answers a Redis failure with its status, and /readyz with 503 and the same code', () => {
    for (const [kind, code] of Object.entries(STORE_FAILURES)) {
      const err = new StoreError(kind as FailureKind, 'why');
      expect(storeFailure(err)).toMatchObject({
        status: ERRORS[code].status,
        code,
        message: 'why',
      });
      const probe = notReady(err);
      expect(probe).toMatchObject({ status: 503, code, message: 'not ready: why' });
      expect(ERROR_CODES[503]).toContain(probe.code);
    }
  });

  it("takes the catalogue's status and default message, and carries headers", () => {
    expect(apiError('precondition_failed', undefined, { headers: { etag: '"7"' } })).toMatchObject({
      status: 412,
      code: 'precondition_failed',
      message: ERRORS.precondition_failed.message,
      headers: { etag: '"7"' },
    });
  });
});
