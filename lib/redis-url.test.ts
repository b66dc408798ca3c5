import { describe, expect, it } from 'vitest';
import { describeTopology, hasPassword, parseRedisUrl } from './redis-url.js';

describe('parseRedisUrl', () => {
  it('reads one Redis, with credentials, TLS and a database', () => {
    expect(parseRedisUrl('redis://r:6380/2')).toEqual({
      kind: 'single',
      tls: false,
      host: 'r',
      port: 6380,
      db: 2,
    });
    expect(parseRedisUrl('rediss://app:p%40ss@r.example')).toEqual({
      kind: 'single',
      tls: true,
      username: 'app',
      password: 'p@ss',
      host: 'r.example',
      port: 6379,
      db: 0,
    });
    expect(parseRedisUrl('redis://:secret@[::1]:7000')).toMatchObject({
      host: '::1',
      port: 7000,
      password: 'secret',
    });
  });

  it('reads Sentinel: the sentinels, the master name and a database', () => {
    expect(parseRedisUrl('redis+sentinel://:pw@s1:26379,s2,s3:26380/mymaster/1')).toEqual({
      kind: 'sentinel',
      tls: false,
      password: 'pw',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: 's3', port: 26380 },
      ],
      masterName: 'mymaster',
      db: 1,
    });
    expect(parseRedisUrl('rediss+sentinel://s1/m').tls).toBe(true);
  });

  it('reads Cluster: the seed nodes', () => {
    expect(parseRedisUrl('redis+cluster://n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      tls: false,
      seeds: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
    });
  });

  it.each([
    ['http://x', /^must be a redis:\/\//],
    ['redis://a,b', /more than one host/],
    ['redis+sentinel://s1:26379', /master name/],
    ['redis+cluster://n1/0', /must not have a path/],
    ['redis://r:99999', /port outside/],
    ['redis://r/x', /database that is not a number/],
    ['redis://r:port', /host that is not host\[:port\]/],
    ['redis://:%zz@r', /percent-encoding/],
  ])('refuses %s, saying why', (url, why) => {
    expect(() => parseRedisUrl(url)).toThrow(why);
  });

  it('never repeats a password in a message or a description', () => {
    let message = '';
    try {
      parseRedisUrl('redis://:hunter2@r:6379/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain('hunter2');
    expect(describeTopology(parseRedisUrl('redis+sentinel://:hunter2@s:1/m'))).not.toContain(
      'hunter2',
    );
    expect(hasPassword('redis+cluster://:hunter2@n:1')).toBe(true);
    expect(hasPassword('redis://r')).toBe(false);
  });
});
