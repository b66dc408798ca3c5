// Namespaces as tenants: the names the webhook, its credentials controller, the sidecar
// and the operator CLI share for an isolated namespace. A namespace opts in with ISOLATION_LABEL; its sidecars then keep their keys
// under tenantPrefix(namespace) and authenticate as tenantUser(namespace), whose Redis
// ACL covers only that prefix. Non-isolated namespaces keep SHARED_PREFIX, the prefix
// KAOS's Python RedisMemory hard-codes.

/** Namespace label that isolates it; its value must be ISOLATION_NAMESPACE. */
export const ISOLATION_LABEL = 'memory.kaos.tools/isolation';
export const ISOLATION_NAMESPACE = 'namespace';

/** The prefix of every non-isolated namespace: the Redis-era layout. */
export const SHARED_PREFIX = 'kaos:memory';

/** The Secret the controller keeps in an isolated namespace: that tenant's Redis user. */
export const TENANT_SECRET = {
  name: 'kaos-memory-tenant',
  usernameKey: 'username',
  passwordKey: 'password',
} as const;

// A namespace name is an RFC 1123 label: no ':', '{', '}', '*', so the prefix and the ACL
// patterns built from it cannot reach another tenant's keys.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function checked(namespace: string): string {
  if (!NAMESPACE.test(namespace))
    throw new Error(`not a namespace name: ${JSON.stringify(namespace)}`);
  return namespace;
}

/** The key prefix of an isolated namespace's sessions. */
export function tenantPrefix(namespace: string): string {
  return `kaos:tenant:${checked(namespace)}`;
}

/** The Redis ACL user of an isolated namespace. */
export function tenantUser(namespace: string): string {
  return `kaos-tenant-${checked(namespace)}`;
}

/** Whether a namespace's labels isolate it. */
export function isIsolated(labels: Record<string, string> | undefined): boolean {
  return labels?.[ISOLATION_LABEL] === ISOLATION_NAMESPACE;
}

/**
 * The commands a tenant user may run: exactly the memory user's allow-list and refusals
 * (charts/kaos-memory/templates/_redis.tpl, kaos-memory.redisMemoryAcl; a chart test
 * checks the two stay equal), which the session layout, the sidecar's scripts and the
 * operator CLI need.
 */
export const MEMORY_COMMANDS =
  '-@all +ping +echo +select +hello +quit +client|setname +client|getname +client|id ' +
  '+multi +exec +discard +watch +unwatch +eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists +wait ' +
  '+exists +type +ttl +pttl +expire +pexpire +persist +del +unlink ' +
  '+hset +hmset +hget +hmget +hgetall +hexists +hdel +hlen ' +
  '+rpush +lpushx +lrange +lindex +llen +ltrim ' +
  '+zadd +zrem +zscore +zcard +zcount +zrange +zrangebyscore +zrevrange +zrevrangebyscore +zremrangebyscore +zscan ' +
  '-@dangerous -@admin -monitor -replicaof -slaveof -config -acl -flushall -flushdb -keys -debug -shutdown -client|kill ' +
  '+info';

/**
 * The ACL rules of a namespace's tenant user after its passwords: its own prefix's keys
 * only (one pattern covers both layouts: on Redis Cluster the hash tag follows the prefix,
 * `P:{T_b}:…`, memory/keys.ts), no channels, the memory user's commands.
 */
export function tenantAclRules(namespace: string): string[] {
  return [
    'resetkeys',
    `~${tenantPrefix(namespace)}:*`,
    'resetchannels',
    ...MEMORY_COMMANDS.split(' '),
  ];
}
