import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/env.js';
import { loadSidecarConfig } from './config.js';

const base = { MEMORY_REDIS_URL: 'redis://redis:6379' };

describe('sidecar config', () => {
  it('has the documented defaults', () => {
    expect(loadSidecarConfig(base)).toMatchObject({
      keyPrefix: 'kaos:memory',
      maxSessionEvents: 500,
      maxSessions: 1000,
      sessionTtlSeconds: 86_400,
      port: 8790,
      host: '127.0.0.1',
      metricsPort: 9790,
      // Opened only when the webhook (or whoever runs it) says where.
      healthPort: 0,
      bodyLimitBytes: 1_048_576,
      redisTimeoutMs: 2000,
    });
  });

  it.each([
    [{}, /^MEMORY_REDIS_URL: is required/],
    [{ MEMORY_REDIS_URL: 'http://x' }, /^MEMORY_REDIS_URL: must be a redis/],
    [
      { ...base, MEMORY_MAX_SESSION_EVENTS: 'ten' },
      /^MEMORY_MAX_SESSION_EVENTS: must be a whole number/,
    ],
    [{ ...base, MEMORY_MAX_SESSIONS: '0' }, /^MEMORY_MAX_SESSIONS: must be at least 1/],
    [{ ...base, MEMORY_SIDECAR_PORT: '70000' }, /^MEMORY_SIDECAR_PORT: must be at most 65535/],
    [{ ...base, MEMORY_METRICS_PORT: '65536' }, /^MEMORY_METRICS_PORT: must be at most 65535/],
    [
      { ...base, MEMORY_METRICS_PORT: '8790' },
      /^MEMORY_METRICS_PORT: must differ from MEMORY_SIDECAR_PORT \(8790\)/,
    ],
    [
      { ...base, MEMORY_HEALTH_PORT: '8790' },
      /^MEMORY_HEALTH_PORT: must differ from MEMORY_SIDECAR_PORT \(8790\)/,
    ],
    [
      { ...base, MEMORY_HEALTH_PORT: '9790' },
      /^MEMORY_HEALTH_PORT: must differ from MEMORY_METRICS_PORT \(9790\)/,
    ],
    [{ ...base, MEMORY_KEY_PREFIX: 'a b' }, /^MEMORY_KEY_PREFIX: must be/],
    [
      { ...base, MEMORY_SESSION_TTL_SECONDS: '-5' },
      /^MEMORY_SESSION_TTL_SECONDS: must be a whole number/,
    ],
  ])('names the variable that is wrong: %j', (env, message) => {
    expect(() => loadSidecarConfig(env)).toThrow(ConfigError);
    expect(() => loadSidecarConfig(env)).toThrow(message);
  });

  it('reads memory v2 settings: the pod identity and upstream KAOS defaults', () => {
    expect(loadSidecarConfig(base).v2).toEqual({
      agentIdentity: undefined,
      shortTermTokenBudget: 4096,
      shortTermEventCap: 2000,
      defaultTopK: 10,
      factTtlSeconds: 2_592_000,
      maxFacts: 10_000,
      maxFactsPerScope: 1000,
    });
    const env = { ...base, AGENT_IDENTITY: 'kaos://agent/team-a/memory-agent' };
    expect(loadSidecarConfig(env).v2.agentIdentity).toBe('kaos://agent/team-a/memory-agent');
    for (const bad of [
      'memory-agent',
      'kaos://agent/team-a/',
      'kaos://agent/Team/x',
      'kaos://agent/a/b/c',
    ]) {
      expect(() => loadSidecarConfig({ ...base, AGENT_IDENTITY: bad })).toThrow(
        /^AGENT_IDENTITY: must be kaos:\/\/agent\/<namespace>\/<agent>/,
      );
    }
  });

  it("takes the ACL user from MEMORY_REDIS_USERNAME, over the URL's", () => {
    expect(loadSidecarConfig(base).redis.username).toBeUndefined();
    const env = { ...base, MEMORY_REDIS_USERNAME: 'kaos-tenant-team-a' };
    expect(loadSidecarConfig(env).redis.username).toBe('kaos-tenant-team-a');
    const withUser = { ...env, MEMORY_REDIS_URL: 'redis://other@redis:6379' };
    expect(loadSidecarConfig(withUser).redis.username).toBe('kaos-tenant-team-a');
    expect(() => loadSidecarConfig({ ...base, MEMORY_REDIS_USERNAME: 'a b' })).toThrow(
      /^MEMORY_REDIS_USERNAME: must be a Redis user name/,
    );
  });

  it('turns the metrics listener off with 0', () => {
    expect(loadSidecarConfig({ ...base, MEMORY_METRICS_PORT: '0' }).metricsPort).toBe(0);
  });

  it('opens the health listener where MEMORY_HEALTH_PORT says, beside metrics that are off', () => {
    const config = loadSidecarConfig({
      ...base,
      MEMORY_METRICS_PORT: '0',
      MEMORY_HEALTH_PORT: '9791',
    });
    expect(config).toMatchObject({ metricsPort: 0, healthPort: 9791 });
  });

  it('never puts the password in an error', () => {
    try {
      loadSidecarConfig({ MEMORY_REDIS_URL: 'redis://:s3cret@ho st:1' });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).not.toContain('s3cret');
    }
  });
});

describe('sidecar config: the password file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kaos-password-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads the file, which wins over MEMORY_REDIS_PASSWORD, exactly as stored', () => {
    const path = file('a', 'from-file\n');
    expect(
      loadSidecarConfig({
        ...base,
        MEMORY_REDIS_PASSWORD: 'from-env',
        MEMORY_REDIS_PASSWORD_FILE: path,
      }),
    ).toMatchObject({ redisPassword: 'from-file\n', redisPasswordFile: { path, fellBack: false } });
  });

  it('starts with MEMORY_REDIS_PASSWORD while the file cannot be read, and says so', () => {
    const path = join(dir, 'missing');
    expect(
      loadSidecarConfig({
        ...base,
        MEMORY_REDIS_PASSWORD: 'env',
        MEMORY_REDIS_PASSWORD_FILE: path,
      }),
    ).toMatchObject({ redisPassword: 'env', redisPasswordFile: { path, fellBack: true } });
  });

  it('does not start with neither, naming the variable and not any content', () => {
    for (const path of [join(dir, 'missing'), file('empty', '')]) {
      const env = { ...base, MEMORY_REDIS_PASSWORD_FILE: path };
      expect(() => loadSidecarConfig(env)).toThrow(ConfigError);
      expect(() => loadSidecarConfig(env)).toThrow(/^MEMORY_REDIS_PASSWORD_FILE: .* is missing/);
    }
  });
});
