import {
  AGENT_IDENTITY_PATTERN,
  ENV,
  SESSION_SETTINGS,
  SIDECAR_HOST,
  SIDECAR_METRICS_PORT,
  SIDECAR_PORT,
} from '../lib/contract.js';
import { ConfigError, PORT, intEnv, matches, optionalEnv, stringEnv } from '../lib/env.js';
import { redisUrlEnv, type RedisTopology } from '../lib/redis-url.js';
import { readPasswordFile } from './password-file.js';

export interface SidecarConfig {
  redis: RedisTopology;
  /** The password at start: the file's, else MEMORY_REDIS_PASSWORD, else the URL's. */
  redisPassword: string | undefined;
  /**
   * MEMORY_REDIS_PASSWORD_FILE, re-read while running. `fellBack` when it could not be
   * read at start and MEMORY_REDIS_PASSWORD was used instead (the sidecar says so).
   */
  redisPasswordFile: { path: string; fellBack: boolean } | undefined;
  redisSentinelPassword: string | undefined;
  /** Replicas that must confirm each write (WAIT); 0 for none. */
  redisMinReplicas: number;
  /** The bytes of stored events one response carries at most. */
  maxReadBytes: number;
  keyPrefix: string;
  maxSessionEvents: number;
  maxSessions: number;
  sessionTtlSeconds: number;
  /** A session with no write for this long gets one session_closed event; 0: never. */
  idleCloseSeconds: number;
  port: number;
  host: string;
  /** GET /metrics on every interface at this port; 0 for none. */
  metricsPort: number;
  /** GET /healthz and /readyz on every interface, for kubelet's probes (0: none). */
  healthPort: number;
  bodyLimitBytes: number;
  redisTimeoutMs: number;
  shutdownTimeoutMs: number;
  agentName: string;
  /** Automatic folds into digests; undefined when no summary model is configured. */
  summary: SummaryConfig | undefined;
  /** Live streams (GET …/events/stream) open at once, at most. */
  maxStreams: number;
  /** How often the streams' sessions are checked for writes from elsewhere (Python's). */
  streamPollMs: number;
  /** A comment line on every open stream this often, so proxies and clients see it alive. */
  streamHeartbeatMs: number;
  /** Memory v2 (KAOS's /v1/recall, /v1/write, /v1/forget, /v1/list). */
  v2: MemoryV2Config;
}

export interface SummaryConfig {
  /** An OpenAI-compatible API's base URL, ending in /v1. */
  url: string;
  model: string;
  /** A file holding the API key (a mounted Secret), read for each call; never logged. */
  apiKeyFile: string | undefined;
  /** A session's window past this many tokens is folded… */
  triggerTokens: number;
  /** …down to this many. */
  targetTokens: number;
  timeoutMs: number;
  /** The first retry after a failed fold; each further failure doubles it, up to 10 minutes. */
  retryMs: number;
}

export interface MemoryV2Config {
  /** AGENT_IDENTITY: the only agent this pod's requests may name; undefined: none may. */
  agentIdentity: string | undefined;
  /** Tokens of the short-term window when a request names no budget (KAOS's default). */
  shortTermTokenBudget: number;
  /** Turns the short-term window holds at most, whatever their tokens (KAOS's hard_event_cap). */
  shortTermEventCap: number;
  /** Facts a recall returns when it names no top_k. */
  defaultTopK: number;
  /** A fact not written again for this long is gone; 0: facts never expire. */
  factTtlSeconds: number;
  /** Facts one key prefix (tenant) holds; the oldest go first. */
  maxFacts: number;
  /** Facts one agent, user or session holds; the oldest go first. */
  maxFactsPerScope: number;
}

// A Kubernetes object name's limit; AGENT_NAME usually comes from a label (at most 63).
const MAX_NAME_LENGTH = 253;

/** Reads the sidecar's environment once; throws ConfigError naming the bad variable. */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const { password, file } = redisPassword(env);
  const config: SidecarConfig = {
    redis: redisTopology(env),
    redisPassword: password,
    redisPasswordFile: file,
    redisSentinelPassword: optionalEnv(env, 'MEMORY_REDIS_SENTINEL_PASSWORD'),
    redisMinReplicas: intEnv(env, ENV.minReplicas, SESSION_SETTINGS.minReplicas),
    maxReadBytes: intEnv(env, 'MEMORY_MAX_READ_BYTES', {
      min: 64 * 1024,
      max: 256 * 1024 * 1024,
      fallback: 4 * 1024 * 1024,
    }),
    keyPrefix: stringEnv(env, ENV.keyPrefix, SESSION_SETTINGS.keyPrefix),
    maxSessionEvents: intEnv(env, ENV.maxSessionEvents, SESSION_SETTINGS.maxSessionEvents),
    maxSessions: intEnv(env, ENV.maxSessions, SESSION_SETTINGS.maxSessions),
    sessionTtlSeconds: intEnv(env, ENV.sessionTtlSeconds, SESSION_SETTINGS.sessionTtlSeconds),
    idleCloseSeconds: intEnv(env, ENV.idleCloseSeconds, SESSION_SETTINGS.idleCloseSeconds),
    port: intEnv(env, ENV.sidecarPort, { ...PORT, fallback: SIDECAR_PORT }),
    host: stringEnv(env, 'MEMORY_SIDECAR_HOST', { fallback: SIDECAR_HOST }),
    metricsPort: intEnv(env, ENV.metricsPort, {
      min: 0,
      max: PORT.max,
      fallback: SIDECAR_METRICS_PORT,
    }),
    healthPort: intEnv(env, ENV.healthPort, { min: 0, max: PORT.max, fallback: 0 }),
    bodyLimitBytes: intEnv(env, 'MEMORY_BODY_LIMIT_BYTES', {
      min: 1024,
      max: 64 * 1024 * 1024,
      fallback: 1024 * 1024,
    }),
    redisTimeoutMs: intEnv(env, 'MEMORY_REDIS_TIMEOUT_MS', {
      min: 50,
      max: 60_000,
      fallback: 2000,
    }),
    shutdownTimeoutMs: intEnv(env, 'MEMORY_SHUTDOWN_TIMEOUT_MS', {
      min: 0,
      max: 300_000,
      fallback: 10_000,
    }),
    summary: undefined,
    maxStreams: 0,
    streamPollMs: 0,
    streamHeartbeatMs: 0,
    agentName: stringEnv(env, ENV.agentName, {
      fallback: 'agent',
      checks: [
        [(v) => v.length <= MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`],
      ],
    }),
    v2: memoryV2(env),
  };
  config.summary = summaryConfig(env);
  config.maxStreams = intEnv(env, 'MEMORY_MAX_STREAMS', { min: 0, max: 100_000, fallback: 256 });
  config.streamPollMs = intEnv(env, 'MEMORY_STREAM_POLL_MS', {
    min: 20,
    max: 60_000,
    fallback: 250,
  });
  config.streamHeartbeatMs = intEnv(env, 'MEMORY_STREAM_HEARTBEAT_MS', {
    min: 100,
    max: 600_000,
    fallback: 15_000,
  });
  // Each listener on a port of its own (0: off); a clash names the later variable.
  const listeners = [
    [ENV.sidecarPort, config.port],
    [ENV.metricsPort, config.metricsPort],
    [ENV.healthPort, config.healthPort],
  ] as const;
  listeners.forEach(([name, port], i) => {
    const clash = listeners.slice(0, i).find(([, other]) => port !== 0 && other === port);
    if (clash) throw new ConfigError(`${name}: must differ from ${clash[0]} (${port})`);
  });
  return config;
}

/**
 * MEMORY_REDIS_URL's topology, with MEMORY_REDIS_USERNAME (an isolated namespace's tenant
 * user, from its Secret) as the ACL user when set: it wins over a user in the URL.
 */
function redisTopology(env: NodeJS.ProcessEnv): RedisTopology {
  const topology = redisUrlEnv(env, ENV.redisUrl).topology;
  const username = optionalEnv(
    env,
    ENV.redisUsername,
    matches(/^[^\s@:/]{1,128}$/, 'must be a Redis user name (no spaces, @, : or /)'),
  );
  return username === undefined ? topology : { ...topology, username };
}

/**
 * The file wins: it is the value the kubelet keeps current. Where it cannot be read at
 * start, MEMORY_REDIS_PASSWORD (which the webhook also injects, from the same Secret)
 * serves until it can; with neither, the sidecar does not start.
 */
function redisPassword(env: NodeJS.ProcessEnv): {
  password: string | undefined;
  file: SidecarConfig['redisPasswordFile'];
} {
  const fromEnv = optionalEnv(env, ENV.redisPassword);
  const path = optionalEnv(env, ENV.redisPasswordFile);
  if (path === undefined) return { password: fromEnv, file: undefined };
  const fromFile = readPasswordFile(path);
  if (fromFile !== undefined) return { password: fromFile, file: { path, fellBack: false } };
  if (fromEnv !== undefined) return { password: fromEnv, file: { path, fellBack: true } };
  throw new ConfigError(`${ENV.redisPasswordFile}: ${path} is missing, unreadable or empty`);
}

/**
 * MEMORY_SUMMARY_MODEL_URL turns folding on; MEMORY_SUMMARY_MODEL is then required.
 * The trigger and target are read either way, so a typo is caught before folding is on.
 */
function summaryConfig(env: NodeJS.ProcessEnv): SummaryConfig | undefined {
  const triggerTokens = intEnv(env, 'MEMORY_COMPACTION_TRIGGER_TOKENS', {
    min: 2,
    max: 10_000_000,
    fallback: 8000,
  });
  const targetTokens = intEnv(env, 'MEMORY_COMPACTION_TARGET_TOKENS', {
    min: 1,
    max: 10_000_000,
    fallback: Math.floor(triggerTokens / 2),
  });
  if (targetTokens >= triggerTokens) {
    throw new ConfigError(
      `MEMORY_COMPACTION_TARGET_TOKENS: must be less than MEMORY_COMPACTION_TRIGGER_TOKENS (${triggerTokens})`,
    );
  }
  const url = optionalEnv(env, 'MEMORY_SUMMARY_MODEL_URL', [
    (v) => /^https?:\/\/[^/]+(\/.*)?\/v1\/?$/.test(v),
    'must be an http(s) base URL ending in /v1 (the sidecar adds /chat/completions)',
  ]);
  if (url === undefined) return undefined;
  return {
    url: url.replace(/\/$/, ''),
    model: stringEnv(env, 'MEMORY_SUMMARY_MODEL', {
      required: 'is required when MEMORY_SUMMARY_MODEL_URL is set',
    }),
    apiKeyFile: optionalEnv(env, 'MEMORY_SUMMARY_API_KEY_FILE'),
    triggerTokens,
    targetTokens,
    retryMs: intEnv(env, 'MEMORY_SUMMARY_RETRY_MS', { min: 100, max: 600_000, fallback: 5000 }),
    timeoutMs: intEnv(env, 'MEMORY_SUMMARY_TIMEOUT_MS', {
      min: 100,
      max: 600_000,
      fallback: 30_000,
    }),
  };
}

/** Memory v2's settings; the defaults are upstream KAOS memory's (kaos_memory/config.py). */
function memoryV2(env: NodeJS.ProcessEnv): MemoryV2Config {
  return {
    agentIdentity: optionalEnv(
      env,
      ENV.agentIdentity,
      matches(AGENT_IDENTITY_PATTERN, 'must be kaos://agent/<namespace>/<agent>'),
    ),
    shortTermTokenBudget: intEnv(env, ENV.shortTermTokenBudget, {
      min: 1,
      max: 10_000_000,
      fallback: 4096,
    }),
    shortTermEventCap: intEnv(env, 'MEMORY_SHORT_TERM_EVENT_CAP', {
      min: 1,
      max: 100_000,
      fallback: 2000,
    }),
    defaultTopK: intEnv(env, 'MEMORY_RECALL_TOP_K', { min: 1, max: 1000, fallback: 10 }),
    factTtlSeconds: intEnv(env, 'MEMORY_FACT_TTL_SECONDS', {
      min: 0,
      max: 10 * 365 * 24 * 3600,
      fallback: 30 * 24 * 3600,
    }),
    maxFacts: intEnv(env, 'MEMORY_MAX_FACTS', { min: 1, max: 1_000_000, fallback: 10_000 }),
    maxFactsPerScope: intEnv(env, 'MEMORY_MAX_FACTS_PER_SCOPE', {
      min: 1,
      max: 100_000,
      fallback: 1000,
    }),
  };
}
