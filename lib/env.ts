// The one environment reader, for both deployables: unset and empty mean "not given",
// and every problem is one line, `VARIABLE: what is wrong`. No schema library: the
// sidecar's start-up footprint matters (docs/decisions.md, "The sidecar's memory");
// a value with structure of its own is parsed by the caller through `parsedEnv`.

/** A configuration error names the variable that is wrong, in one line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Thrown by a `parsedEnv` parser: what is wrong with the value; the reader adds the name. */
export class InvalidValue extends Error {}

/** A test a given value must pass, and what to say when it fails. */
export type Check = readonly [test: (value: string) => boolean, problem: string];

/** A check that the whole value matches `pattern`. */
export function matches(pattern: RegExp, problem: string): Check {
  return [(value) => pattern.test(value), problem];
}

type Env = NodeJS.ProcessEnv;

function check(name: string, value: string, checks: readonly Check[]): string {
  for (const [test, problem] of checks) {
    if (!test(value)) throw new ConfigError(`${name}: ${problem}`);
  }
  return value;
}

/** A variable's value when given, after its checks. */
export function optionalEnv(env: Env, name: string, ...checks: Check[]): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : check(name, value, checks);
}

/** A variable with a fallback, or required (`required` is then the problem to report). */
export function stringEnv(
  env: Env,
  name: string,
  rules: { fallback?: string; required?: string; checks?: readonly Check[] },
): string {
  const value = optionalEnv(env, name) ?? rules.fallback;
  if (value === undefined) throw new ConfigError(`${name}: ${rules.required ?? 'is required'}`);
  return check(name, value, rules.checks ?? []);
}

/** A whole number's bounds, and its value when not given. */
export interface IntRule {
  min: number;
  max: number;
  fallback?: number;
}

/** A TCP port. */
export const PORT = { min: 1, max: 65_535 } as const;

/** A whole number within bounds, given as a decimal string; without a fallback, optional. */
export function intEnv(env: Env, name: string, rule: IntRule & { fallback: number }): number;
export function intEnv(env: Env, name: string, rule: IntRule): number | undefined;
export function intEnv(env: Env, name: string, rule: IntRule): number | undefined {
  const value = optionalEnv(env, name, matches(/^\d+$/, 'must be a whole number'));
  if (value === undefined) return rule.fallback;
  const n = Number(value);
  if (n < rule.min) throw new ConfigError(`${name}: must be at least ${rule.min}`);
  if (n > rule.max) throw new ConfigError(`${name}: must be at most ${rule.max}`);
  return n;
}

/** One of a few words, e.g. `must be auto, true or false`. */
export function oneOfEnv<T extends string>(
  env: Env,
  name: string,
  values: readonly T[],
  fallback: T,
): T {
  const value = optionalEnv(env, name);
  if (value === undefined) return fallback;
  if ((values as readonly string[]).includes(value)) return value as T;
  const list = `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
  throw new ConfigError(`${name}: must be ${list}`);
}

/** A comma-separated list; blanks around and between items are dropped. */
export function listEnv(env: Env, name: string): string[] {
  return (optionalEnv(env, name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A value with structure of its own; `parse` throws InvalidValue saying what is wrong. */
export function parsedEnv<T>(env: Env, name: string, parse: (value: string) => T): T | undefined {
  const value = optionalEnv(env, name);
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof InvalidValue) throw new ConfigError(`${name}: ${err.message}`);
    throw err;
  }
}
