// The `kaos-memory` command as its own process: the built dist/cli/main.js (what
// the image's entrypoint runs) when it is at least as new as every source file,
// else the TypeScript sources through tsx, so a test never exercises stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './root.js';

const SOURCE_DIRS = ['cli', 'lib', 'memory', 'sidecar', 'webhook', 'certs', 'ops'];
/**
 * Set by `npm run bench` (bench/run.ts): what it measures is the build. A source edited
 * while it runs would otherwise switch the processes it starts from then on to tsx, with
 * their memory and start-up, and nothing in the tables would say so.
 */
export const REQUIRE_BUILD = 'KAOS_MEMORY_REQUIRE_BUILD';

export interface CommandLine {
  command: string;
  args: string[];
}

/** `kaos-memory <args>` as a command line for spawn(); `nodeArgs` go before the script. */
export function kaosMemory(args: string[], nodeArgs: string[] = []): CommandLine {
  const dist = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestSource()) {
    return { command: process.execPath, args: [...nodeArgs, dist, ...args] };
  }
  if (process.env[REQUIRE_BUILD] === '1') {
    throw new Error(
      'dist/ is missing or older than a source file: run npm run build, and edit no source while a benchmark runs',
    );
  }
  return {
    command: process.execPath,
    args: [...nodeArgs, '--import', 'tsx', join(REPO_ROOT, 'cli', 'main.ts'), ...args],
  };
}

function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(REPO_ROOT, dir))) walk(join(REPO_ROOT, dir));
  return newest;
}
