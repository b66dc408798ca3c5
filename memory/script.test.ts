import { describe, expect, it } from 'vitest';
import { LUA_SOURCES } from './lua/sources.js';
import { LuaScript, ReplyFields } from './script.js';
// Loading the modules builds every binding: a name that differs from its script's header throws.
import './admin.js';
import './store.js';

describe('a Lua script and its binding', () => {
  const copies = (args: readonly string[], rest = false) =>
    new LuaScript('session-ids.lua', { keys: ['index'], args, rest, reply: (r) => r.list('ids') });

  it('binds KEYS and ARGV by the names the header declares, in its order', () => {
    const script = copies(['from', 'count', 'heads']);
    expect(script.lua.split('\n').slice(0, 3)).toEqual([
      'local K = {index = KEYS[1]}',
      'local A = {from = ARGV[1], count = ARGV[2], heads = ARGV[3]}',
      'local REST = 4',
    ]);
    const call = { keys: { index: 'P:sessions' }, args: { heads: '{}', count: 9, from: 0 } };
    expect(script.keyList(call)).toEqual(['P:sessions']);
    expect(script.argList(call)).toEqual(['0', '9', '{}']);
  });

  it('refuses a binding whose names differ from the header', () => {
    expect(() => copies(['count', 'from', 'heads'])).toThrow(
      'session-ids.lua declares args from, count, heads; its binding names count, from, heads',
    );
    expect(() => copies(['from', 'count'])).toThrow(/declares args from, count, heads/);
    expect(() => copies(['from', 'count', 'heads'], true)).toThrow(/@rest/);
  });

  it('expands each fragment once, and leaves no include behind', () => {
    const scripts = Object.keys(LUA_SOURCES).filter((f) => !f.startsWith('lib/'));
    expect(scripts.length).toBeGreaterThan(8);
    const script = copies(['from', 'count', 'heads']);
    expect(script.lua).not.toMatch(/--!include/);
    expect(script.lua.match(/local function newBudget/g)).toHaveLength(1);
    expect(script.sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it('reads replies by name and says what is wrong with one', () => {
    const r = new ReplyFields(['n', 3, 's', Buffer.from('x'), 'l', [1, 2]], 'test.lua');
    expect(r.int('n')).toBe(3);
    expect(r.str('s')).toBe('x');
    expect(r.ints('l')).toEqual([1, 2]);
    expect(() => r.int('s')).toThrow('test.lua replied s as object, not an integer');
    expect(() => r.int('missing')).toThrow('test.lua replied without missing');
    expect(() => new ReplyFields([1], 'test.lua')).toThrow(/name, value pairs/);
  });
});
