// Reading environment variables without a schema library, for the sidecar,
// whose start-up footprint matters (docs/decisions.md). The webhook uses zod
// through lib/config.ts; the messages are the same.

/** A configuration error names the variable that is wrong, in one line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = NodeJS.ProcessEnv;

/** A variable's value; unset and empty are the same: not given. */
export function optionalEnv(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function stringEnv(
  env: Env,
  name: string,
  rules: { fallback?: string; required?: string; check?: [(v: string) => boolean, string] },
): string {
  const value = optionalEnv(env, name) ?? rules.fallback;
  if (value === undefined) throw new ConfigError(`${name}: ${rules.required ?? 'is required'}`);
  if (rules.check && !rules.check[0](value)) throw new ConfigError(`${name}: ${rules.check[1]}`);
  return value;
}

/** A whole number within bounds, given as a decimal string. */
export function intEnv(env: Env, name: string, min: number, max: number, fallback: number): number {
  const value = optionalEnv(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name}: must be a whole number`);
  const n = Number(value);
  if (n < min) throw new ConfigError(`${name}: must be at least ${min}`);
  if (n > max) throw new ConfigError(`${name}: must be at most ${max}`);
  return n;
}
