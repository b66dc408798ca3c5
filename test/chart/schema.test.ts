// values.schema.json refuses wrong values before anything is rendered, and says where.
import { describe, expect, it } from 'vitest';
import { template } from './helm.js';

const REFUSED: [string, string[], RegExp][] = [
  [
    'an unknown failurePolicy',
    ['webhook.failurePolicy=Never'],
    /at '\/webhook\/failurePolicy': value must be one of 'Ignore', 'Fail'/,
  ],
  [
    'a timeout above 5 seconds',
    ['webhook.timeoutSeconds=10'],
    /at '\/webhook\/timeoutSeconds': maximum: got 10, want 5/,
  ],
  [
    'sidecar node options that are not flags',
    ['sidecar.nodeOptions=--max-semi-space-size=2 ./preload.js'],
    /at '\/sidecar\/nodeOptions': .* does not match pattern/,
  ],
  [
    'a timeout of 0',
    ['webhook.timeoutSeconds=0'],
    /at '\/webhook\/timeoutSeconds': minimum: got 0, want 1/,
  ],
  [
    'no Redis URL without the bundled Redis',
    ['redis.enabled=false'],
    /at '\/agentDefaults\/memory\/redisUrl': minLength: got 0, want 1/,
  ],
  [
    'a Redis URL with a password in it',
    ['redis.enabled=false', 'agentDefaults.memory.redisUrl=redis://:secret@redis:6379'],
    /at '\/agentDefaults\/memory\/redisUrl': .* does not match pattern/,
  ],
  [
    'a Sentinel URL without the master name',
    ['redis.enabled=false', 'agentDefaults.memory.redisUrl=redis+sentinel://s1:26379'],
    /at '\/agentDefaults\/memory\/redisUrl': .* does not match pattern/,
  ],
  [
    'a Cluster URL with a password',
    ['redis.enabled=false', 'agentDefaults.memory.redisUrl=redis+cluster://:pw@n1:6379'],
    /at '\/agentDefaults\/memory\/redisUrl': .* does not match pattern/,
  ],
  [
    'a negative minReplicas',
    ['sidecar.minReplicas=-1'],
    /at '\/sidecar\/minReplicas': minimum: got -1, want 0/,
  ],
  [
    'a non-Redis URL',
    ['agentDefaults.memory.redisUrl=http://redis:6379'],
    /at '\/agentDefaults\/memory\/redisUrl'/,
  ],
  [
    'an unknown memory type',
    ['agentDefaults.memory.type=postgres'],
    /at '\/agentDefaults\/memory\/type': value must be one of 'redis', 'local'/,
  ],
  [
    'an unknown native-sidecar mode',
    ['sidecar.nativeSidecar=maybe'],
    /at '\/sidecar\/nativeSidecar': value must be one of 'auto', 'true', 'false'/,
  ],
  [
    'a privileged sidecar port',
    ['sidecar.port=80'],
    /at '\/sidecar\/port': minimum: got 80, want 1,?024/,
  ],
  [
    'a sidecar port as text',
    ['sidecar.port=high'],
    /at '\/sidecar\/port': got string, want integer/,
  ],
  [
    'an unknown top-level value',
    ['webhok.replicaCount=3'],
    /additional properties 'webhok' not allowed/,
  ],
  [
    'an unknown webhook value',
    ['webhook.replicas=3'],
    /at '\/webhook': additional properties 'replicas' not allowed/,
  ],
  [
    'an unknown certificates mode',
    ['certificates.mode=vault'],
    /at '\/certificates\/mode': value must be one of 'self-managed', 'cert-manager', 'secret'/,
  ],
  [
    'secret mode without its Secret and CA',
    ['certificates.mode=secret'],
    /at '\/certificates\/secret\/(caBundle|name)': minLength: got 0, want 1/,
  ],
  [
    'an issuerRef without a name',
    ['certificates.mode=cert-manager', 'certificates.certManager.issuerRef.kind=ClusterIssuer'],
    /at '\/certificates\/certManager\/issuerRef': missing property 'name'/,
  ],
  [
    'a webhook URL that is not https',
    ['webhook.url=http://127.0.0.1:9443/mutate'],
    /at '\/webhook\/url': 'http:\/\/127.0.0.1:9443\/mutate' does not match pattern/,
  ],
  [
    'no webhook replicas',
    ['webhook.replicaCount=0'],
    /at '\/webhook\/replicaCount': minimum: got 0, want 1/,
  ],
  [
    'an unknown log level',
    ['webhook.logLevel=verbose'],
    /at '\/webhook\/logLevel': value must be one of/,
  ],
  [
    'a bad resource quantity',
    ['sidecar.resources.limits.memory=lots'],
    /at '\/sidecar\/resources\/limits\/memory'/,
  ],
  [
    'an unknown appendfsync policy',
    ['redis.appendfsync=sometimes'],
    /at '\/redis\/appendfsync': value must be one of 'always', 'everysec', 'no'/,
  ],
  ['a privileged sidecar metrics port', ['sidecar.metricsPort=80'], /at '\/sidecar\/metricsPort'/],
  [
    'an unknown monitoring value',
    ['monitoring.podMonitors.enabled=true'],
    /at '\/monitoring': additional properties 'podMonitors' not allowed/,
  ],
  [
    'a scrape interval that is not a duration',
    ['monitoring.podMonitor.interval=often'],
    /at '\/monitoring\/podMonitor\/interval': .* does not match pattern/,
  ],
  [
    'a monitoring switch as text',
    ['monitoring.prometheusRule.enabled=yes'],
    /at '\/monitoring\/prometheusRule\/enabled': got string, want boolean/,
  ],
  [
    'a password that would break redis.conf',
    ['redis.auth.password=a"b'],
    /at '\/redis\/auth\/password': .* does not match pattern/,
  ],
];

describe('values.schema.json', () => {
  it.each(REFUSED)('refuses %s', async (_what, sets, message) => {
    const result = await template([], sets);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toMatch(message);
  });

  it('accepts a sidecar metrics port of 0 (off)', async () => {
    const result = await template([], ['sidecar.metricsPort=0']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it.each([
    'redis://redis.data:6379',
    'rediss://redis.data:6380/2',
    'redis+sentinel://redis-node-0.redis-headless.data:26379,redis-node-1.redis-headless.data:26379/mymaster',
    'rediss+sentinel://s1:26379/mymaster/1',
    'redis+cluster://redis-cluster-0.data:6379,redis-cluster-1.data:6379',
  ])(
    'accepts the external Redis %s when the bundled Redis is off, and hands it to the webhook unchanged',
    async (url) => {
      const result = await template(
        [],
        ['redis.enabled=false', `agentDefaults.memory.redisUrl=${url.replaceAll(',', '\\,')}`],
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`value: ${JSON.stringify(url)}`);
    },
  );

  it('passes sidecar.minReplicas to the webhook, which gives it to every sidecar', async () => {
    const result = await template([], ['sidecar.minReplicas=1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/- name: INJECT_MIN_REPLICAS\n\s+value: "1"/);
    const none = await template([], []);
    expect(none.stdout).not.toContain('INJECT_MIN_REPLICAS');
  });
});
