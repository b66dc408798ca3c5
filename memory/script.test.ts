import { describe, expect, it } from 'vitest';
import { LUA_SOURCES } from './lua/sources.js';
import { LuaScript, ReplyFields } from './script.js';
// Loading the modules builds every binding: a name that differs from its script's header throws.
import './admin.js';
import './store.js';

describe('a Lua script and its binding', () => {
  it('binds KEYS and ARGV by the names the header declares, in its order', () => {
    const list = new LuaScript('list.lua', {
      keys: ['index'],
      args: ['maxScore', 'afterMember', 'limit', 'user', 'sessionHead', 'budget'],
      reply: (r) => r.list('rows'),
    });
    expect(list.lua.split('\n').slice(0, 3)).toEqual([
      'local K = {index = KEYS[1]}',
      'local A = {maxScore = ARGV[1], afterMember = ARGV[2], limit = ARGV[3], user = ARGV[4], sessionHead = ARGV[5], budget = ARGV[6]}',
      'local REST = 7',
    ]);
    const call = {
      keys: { index: 'P:sessions' },
      args: {
        budget: 9,
        sessionHead: 'P:session:',
        user: 'u',
        limit: 5,
        afterMember: '',
        maxScore: '+inf',
      },
    };
    expect(list.keyList(call)).toEqual(['P:sessions']);
    expect(list.argList(call)).toEqual(['+inf', '', '5', 'u', 'P:session:', '9']);
  });

  it('refuses a binding whose names differ from the header', () => {
    expect(
      () =>
        new LuaScript('delete.lua', {
          keys: ['session', 'index', 'events'],
          args: ['sid'],
          reply: () => 0,
        }),
    ).toThrow(
      /delete.lua declares keys session, events, index; its binding names session, index, events/,
    );
    expect(
      () =>
        new LuaScript('delete.lua', {
          keys: ['session', 'events', 'index'],
          args: [],
          reply: () => 0,
        }),
    ).toThrow(/declares args sid/);
    expect(
      () =>
        new LuaScript('delete.lua', {
          keys: ['session', 'events', 'index'],
          args: ['sid'],
          rest: true,
          reply: () => 0,
        }),
    ).toThrow(/@rest/);
  });

  it('expands each fragment once, and leaves no include behind', () => {
    const append = Object.keys(LUA_SOURCES).filter((f) => !f.startsWith('lib/'));
    expect(append.length).toBeGreaterThan(5);
    const script = new LuaScript('create.lua', {
      keys: ['session', 'events', 'index'],
      args: [
        'sid',
        'userId',
        'appName',
        'nowIso',
        'nowScore',
        'ttl',
        'maxEvents',
        'maxSessions',
        'sessionHead',
        'eventsHead',
      ],
      reply: () => 0,
    });
    expect(script.lua).not.toMatch(/--!include/);
    expect(script.lua.match(/local function wrongType/g)).toHaveLength(1);
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
