import { describe, expect, it } from 'vitest';
import { isIsolated, tenantPrefix, tenantUser } from './tenancy.js';

describe('tenancy names', () => {
  it('builds the prefix and user of a namespace', () => {
    expect(tenantPrefix('team-a')).toBe('kaos:tenant:team-a');
    expect(tenantUser('team-a')).toBe('kaos-tenant-team-a');
  });

  it('refuses what is not a namespace name, so no pattern can reach past its prefix', () => {
    for (const bad of ['', 'a:b', 'a*', 'A', '{a}', 'a'.repeat(64), '-a']) {
      expect(() => tenantPrefix(bad)).toThrow(/not a namespace name/);
      expect(() => tenantUser(bad)).toThrow(/not a namespace name/);
    }
  });

  it('isolates only on the exact label value', () => {
    expect(isIsolated({ 'memory.kaos.tools/isolation': 'namespace' })).toBe(true);
    expect(isIsolated({ 'memory.kaos.tools/isolation': 'Namespace' })).toBe(false);
    expect(isIsolated({})).toBe(false);
    expect(isIsolated(undefined)).toBe(false);
  });
});
