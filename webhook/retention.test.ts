import { describe, expect, it } from 'vitest';
import { retentionEnv } from './retention.js';

const ns = (annotations: Record<string, string>) => ({
  name: 'team-a',
  facts: { labels: {}, annotations, limitRanges: [], resourceQuotas: [] },
});

describe('retentionEnv', () => {
  it('turns the namespace annotations into the sidecar variables, and sets nothing else', () => {
    const result = retentionEnv(
      {},
      ns({
        'memory.kaos.tools/session-ttl-seconds': '3600',
        'memory.kaos.tools/max-session-events': '200',
        'memory.kaos.tools/max-sessions': '50',
        'memory.kaos.tools/idle-close-seconds': '0',
      }),
    );
    expect(result).toEqual({
      ok: true,
      warnings: [],
      env: {
        MEMORY_SESSION_TTL_SECONDS: '3600',
        MEMORY_MAX_SESSION_EVENTS: '200',
        MEMORY_MAX_SESSIONS: '50',
        MEMORY_IDLE_CLOSE_SECONDS: '0',
      },
    });
    expect(retentionEnv({}, ns({}))).toEqual({ ok: true, env: {}, warnings: [] });
    expect(retentionEnv({}, undefined)).toEqual({ ok: true, env: {}, warnings: [] });
  });

  it('ignores a pod annotation, with a warning, unless the namespace allows it', () => {
    const pod = { 'memory.kaos.tools/session-ttl-seconds': '60' };
    const denied = retentionEnv(pod, ns({ 'memory.kaos.tools/session-ttl-seconds': '3600' }));
    expect(denied).toEqual({
      ok: true,
      env: { MEMORY_SESSION_TTL_SECONDS: '3600' },
      warnings: [
        'kaos-memory: memory.kaos.tools/session-ttl-seconds ignored: namespace team-a does not ' +
          'let pods set retention (memory.kaos.tools/retention-overridable: "true")',
      ],
    });
    // Without a cluster view nothing says the namespace allows it: ignored too.
    expect(retentionEnv(pod, undefined)).toMatchObject({ ok: true, env: {} });
    const allowed = retentionEnv(
      pod,
      ns({
        'memory.kaos.tools/session-ttl-seconds': '3600',
        'memory.kaos.tools/max-sessions': '50',
        'memory.kaos.tools/retention-overridable': 'true',
      }),
    );
    expect(allowed).toEqual({
      ok: true,
      warnings: [],
      env: { MEMORY_SESSION_TTL_SECONDS: '60', MEMORY_MAX_SESSIONS: '50' },
    });
  });

  it.each([
    ['memory.kaos.tools/session-ttl-seconds', '0', 'is not between 1 and 315360000'],
    ['memory.kaos.tools/session-ttl-seconds', '1h', 'is not a whole number'],
    ['memory.kaos.tools/max-session-events', '100001', 'is not between 1 and 100000'],
    ['memory.kaos.tools/max-sessions', '-1', 'is not a whole number'],
    ['memory.kaos.tools/idle-close-seconds', ' 5', 'is not a whole number'],
    ['memory.kaos.tools/idle-close-seconds', '9'.repeat(80), 'is not a whole number'],
  ])('refuses %s=%j on the namespace or the pod', (name, value, why) => {
    const onNamespace = retentionEnv({}, ns({ [name]: value }));
    expect(onNamespace.ok).toBe(false);
    if (!onNamespace.ok) {
      expect(onNamespace.warning).toContain(`namespace team-a: ${name}: `);
      expect(onNamespace.warning).toContain(why);
      expect(onNamespace.warning.length).toBeLessThan(250);
    }
    // Refused on the pod even where it would be ignored: the pod's author should know.
    const onPod = retentionEnv({ [name]: value }, ns({}));
    expect(onPod.ok).toBe(false);
    if (!onPod.ok)
      expect(onPod.warning).toMatch(
        new RegExp(`^${name}: .* ${why}; the pod was admitted without`),
      );
  });
});
