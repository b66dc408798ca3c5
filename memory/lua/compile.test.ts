// Every script as the store sends it (its bindings and includes expanded) is one Redis
// accepts: a syntax error would otherwise surface only when that script first runs,
// and a script the store runs in the background (index.lua) fails silently.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../../harness/redis.js';
import { declared, LuaScript } from '../script.js';
import { LUA_SOURCES } from './sources.js';

const SCRIPTS = Object.keys(LUA_SOURCES).filter((file) => !file.startsWith('lib/'));

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

describe('the Lua scripts', () => {
  it('are several', () => {
    expect(SCRIPTS.length).toBeGreaterThan(15);
  });

  it.each(SCRIPTS)('%s compiles in Redis', async (file) => {
    const header = declared(LUA_SOURCES[file] ?? '');
    const script = new LuaScript(file, { ...header, reply: () => undefined });
    const client = redis.client();
    try {
      expect(await client.call('SCRIPT', 'LOAD', script.lua)).toBe(script.sha);
    } finally {
      client.disconnect();
    }
  });
});
