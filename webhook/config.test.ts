import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/env.js';
import { SIDECAR_NODE_OPTIONS } from '../lib/contract.js';
import { DEFAULT_RESOURCES, loadConfig } from './config.js';

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

const base = {
  INJECT_REDIS_URL: 'redis://redis.kaos:6379/0',
  INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos/kaos-memory:0.1.0',
};

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      port: 8443,
      host: '0.0.0.0',
      namespace: 'default',
      serviceName: 'kaos-memory-webhook',
      certSecret: 'kaos-memory-webhook-certs',
      webhookConfigName: 'kaos-memory',
      certHosts: [],
      drainSeconds: 5,
      nativeSidecar: 'auto',
      inject: {
        memoryType: 'redis',
        redisUrl: 'redis://redis.kaos:6379/0',
        sidecarImage: 'ghcr.io/kaos/kaos-memory:0.1.0',
        sidecarPort: 8790,
        sidecarMetricsPort: 9790,
        sidecarHealthPort: 9791,
        imagePullPolicy: 'IfNotPresent',
        resources: DEFAULT_RESOURCES,
        nodeOptions: SIDECAR_NODE_OPTIONS,
        sidecarEnv: {},
      },
    });
    expect(config.tlsDir).toBeUndefined();
    expect(config.inject.passwordSecret).toBeUndefined();
    expect(config.credentials).toBeUndefined();
  });

  it('copies the password Secret only when told, with its timings', () => {
    const secret = { ...base, INJECT_REDIS_PASSWORD_SECRET: 'redis-auth/password' };
    expect(loadConfig(secret).credentials).toBeUndefined();
    expect(loadConfig({ ...secret, INJECT_REDIS_PASSWORD_COPY: 'true' }).credentials).toEqual({
      syncIntervalMs: 30_000,
      unusedGraceMs: 300_000,
    });
    expect(
      loadConfig({
        ...secret,
        INJECT_REDIS_PASSWORD_COPY: 'true',
        INJECT_REDIS_PASSWORD_SYNC_SECONDS: '2',
        INJECT_REDIS_PASSWORD_UNUSED_SECONDS: '5',
      }).credentials,
    ).toEqual({ syncIntervalMs: 2_000, unusedGraceMs: 5_000 });
  });

  it('isolates every namespace and runs the tenant controller only when told', () => {
    const plain = loadConfig(base);
    expect(plain.inject.isolateAll).toBeUndefined();
    expect(plain.tenants).toBeUndefined();
    expect(loadConfig({ ...base, INJECT_ISOLATION_DEFAULT: 'namespace' }).inject.isolateAll).toBe(
      true,
    );
    expect(() => loadConfig({ ...base, INJECT_ISOLATION_DEFAULT: 'tenant' })).toThrow(
      /^INJECT_ISOLATION_DEFAULT: must be shared or namespace/,
    );
    expect(loadConfig({ ...base, WEBHOOK_TENANTS: 'provided' }).tenants).toEqual({
      mode: 'provided',
      syncIntervalMs: 30_000,
    });
    expect(() => loadConfig({ ...base, WEBHOOK_TENANTS: 'managed' })).toThrow(
      /^WEBHOOK_TENANT_REDIS_PASSWORD_FILE: is required when WEBHOOK_TENANTS is managed/,
    );
    const managed = loadConfig({
      ...base,
      WEBHOOK_TENANTS: 'managed',
      WEBHOOK_TENANT_REDIS_PASSWORD_FILE: '/etc/kaos-memory/redis-admin/admin-password',
      WEBHOOK_TENANT_SYNC_SECONDS: '10',
    }).tenants;
    expect(managed).toMatchObject({
      mode: 'managed',
      syncIntervalMs: 10_000,
      redis: {
        topology: { kind: 'single', host: 'redis.kaos', port: 6379, username: 'kaos-admin' },
        passwordFile: '/etc/kaos-memory/redis-admin/admin-password',
      },
    });
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        ...base,
        WEBHOOK_PORT: '9443',
        WEBHOOK_HOST: '127.0.0.1',
        WEBHOOK_TLS_DIR: '/tls',
        WEBHOOK_NAMESPACE: 'kaos-system',
        WEBHOOK_SERVICE_NAME: 'mem',
        WEBHOOK_CONFIG_NAME: 'mem-hook',
        WEBHOOK_CERT_HOSTS: '127.0.0.1, localhost,,',
        INJECT_MEMORY_TYPE: 'redis',
        INJECT_REDIS_PASSWORD_SECRET: 'redis-auth/password',
        INJECT_SIDECAR_PORT: '9000',
        INJECT_SIDECAR_METRICS_PORT: '0',
        INJECT_SIDECAR_HEALTH_PORT: '9101',
        INJECT_NATIVE_SIDECAR: 'false',
        INJECT_SIDECAR_RESOURCES: '{"requests":{"cpu":"5m"},"limits":{"cpu":"1","memory":"1Gi"}}',
        INJECT_IMAGE_PULL_POLICY: 'Always',
        INJECT_SIDECAR_NODE_OPTIONS: '--max-semi-space-size=8 --v8-pool-size=2',
        INJECT_KEY_PREFIX: 'team:memory',
        INJECT_MAX_SESSION_EVENTS: '50',
        INJECT_MAX_SESSIONS: '10',
        INJECT_SESSION_TTL_SECONDS: '3600',
        INJECT_MIN_REPLICAS: '1',
      },
      'ignored\n',
    );
    expect(config).toMatchObject({
      port: 9443,
      host: '127.0.0.1',
      tlsDir: '/tls',
      namespace: 'kaos-system',
      certSecret: 'mem-certs',
      webhookConfigName: 'mem-hook',
      certHosts: ['127.0.0.1', 'localhost'],
      nativeSidecar: 'false',
    });
    expect(config.inject).toEqual({
      memoryType: 'redis',
      redisUrl: 'redis://redis.kaos:6379/0',
      passwordSecret: { name: 'redis-auth', key: 'password' },
      sidecarImage: 'ghcr.io/kaos/kaos-memory:0.1.0',
      sidecarPort: 9000,
      sidecarMetricsPort: 0,
      sidecarHealthPort: 9101,
      imagePullPolicy: 'Always',
      resources: { requests: { cpu: '5m' }, limits: { cpu: '1', memory: '1Gi' } },
      nodeOptions: '--max-semi-space-size=8 --v8-pool-size=2',
      sidecarEnv: {
        MEMORY_KEY_PREFIX: 'team:memory',
        MEMORY_MAX_SESSION_EVENTS: '50',
        MEMORY_MAX_SESSIONS: '10',
        MEMORY_SESSION_TTL_SECONDS: '3600',
        MEMORY_REDIS_MIN_REPLICAS: '1',
      },
      version: PACKAGE_VERSION,
    });
  });

  it('takes the namespace from the service account file', () => {
    expect(loadConfig(base, 'kaos-system\n').namespace).toBe('kaos-system');
  });

  it.each([
    [{}, 'INJECT_REDIS_URL: is required'],
    [{ INJECT_REDIS_URL: 'redis://r' }, 'INJECT_SIDECAR_IMAGE: is required'],
    [
      { ...base, INJECT_REDIS_URL: 'http://r' },
      'INJECT_REDIS_URL: must be a redis:// or rediss:// URL',
    ],
    [
      { ...base, INJECT_SIDECAR_IMAGE: 'Not An Image' },
      'INJECT_SIDECAR_IMAGE: must be an image reference',
    ],
    [{ ...base, WEBHOOK_PORT: '0' }, 'WEBHOOK_PORT: must be at least 1'],
    [{ ...base, INJECT_SIDECAR_PORT: 'x' }, 'INJECT_SIDECAR_PORT: must be a whole number'],
    [
      { ...base, INJECT_SIDECAR_METRICS_PORT: '70000' },
      'INJECT_SIDECAR_METRICS_PORT: must be at most 65535',
    ],
    [
      { ...base, INJECT_NATIVE_SIDECAR: 'yes' },
      'INJECT_NATIVE_SIDECAR: must be auto, true or false',
    ],
    [
      { ...base, INJECT_REDIS_PASSWORD_SECRET: 'nokey' },
      'INJECT_REDIS_PASSWORD_SECRET: must be secret-name/key',
    ],
    [{ ...base, INJECT_SIDECAR_RESOURCES: '{' }, 'INJECT_SIDECAR_RESOURCES: must be JSON'],
    [
      { ...base, INJECT_SIDECAR_RESOURCES: '{"requests":{"cpu":"lots"}}' },
      'INJECT_SIDECAR_RESOURCES: requests.cpu',
    ],
    [{ ...base, INJECT_SIDECAR_RESOURCES: '{"limit":{}}' }, 'INJECT_SIDECAR_RESOURCES: '],
    [{ ...base, INJECT_IMAGE_PULL_POLICY: 'always' }, 'INJECT_IMAGE_PULL_POLICY: must be Always'],
    [
      { ...base, INJECT_SIDECAR_NODE_OPTIONS: '--require ./x.js' },
      'INJECT_SIDECAR_NODE_OPTIONS: must be node flags',
    ],
    // What the webhook passes on to the sidecar obeys the sidecar's own rules.
    [
      { ...base, INJECT_MAX_SESSION_EVENTS: '500000' },
      'INJECT_MAX_SESSION_EVENTS: must be at most 100000',
    ],
    [{ ...base, INJECT_MAX_SESSIONS: '0' }, 'INJECT_MAX_SESSIONS: must be at least 1'],
    [{ ...base, INJECT_KEY_PREFIX: 'team a' }, 'INJECT_KEY_PREFIX: must be 1-128 characters'],
    [
      { ...base, INJECT_REDIS_URL: 'redis://r:port' },
      'INJECT_REDIS_URL: has a host that is not host[:port]: "r:port"',
    ],
    [
      { ...base, INJECT_REDIS_URL: 'redis+sentinel://s1:26379' },
      'INJECT_REDIS_URL: needs the monitored master name: redis+sentinel://host:26379/MASTER',
    ],
    [
      { ...base, INJECT_REDIS_URL: 'redis://:pw@r:6379', INJECT_REDIS_PASSWORD_SECRET: 's/k' },
      'INJECT_REDIS_URL: must not hold a password',
    ],
    [
      { ...base, INJECT_REDIS_PASSWORD_COPY: 'true' },
      'INJECT_REDIS_PASSWORD_COPY: needs INJECT_REDIS_PASSWORD_SECRET',
    ],
    [{ ...base, INJECT_REDIS_PASSWORD_COPY: 'yes' }, 'INJECT_REDIS_PASSWORD_COPY: must be true'],
    [
      { ...base, INJECT_REDIS_PASSWORD_SYNC_SECONDS: '0' },
      'INJECT_REDIS_PASSWORD_SYNC_SECONDS: must be at least 1',
    ],
  ])('rejects %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
