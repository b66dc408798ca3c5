import { z } from 'zod';
import { ConfigError } from './env.js';

export { ConfigError };

/**
 * Parse an environment once against a schema whose keys are variable names.
 * The first problem becomes one line: `VARIABLE: what is wrong`.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue?.path.join('.') || 'environment';
  const message =
    issue?.code === 'invalid_type' && picked[variable] === undefined
      ? 'is required'
      : issue?.message;
  throw new ConfigError(`${variable}: ${message ?? 'is invalid'}`);
}

/** An integer variable within bounds, given as a decimal string. */
export function intVar(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}
