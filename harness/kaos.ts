// The `kaos-memory` command as its own process: the built dist/cli/main.js (what
// the image's entrypoint runs) when it is at least as new as every source file,
// else the TypeScript sources through tsx, so a test never exercises stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './root.js';

const SOURCE_DIRS = ['cli', 'lib', 'memory', 'sidecar', 'webhook', 'certs', 'ops'];

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
