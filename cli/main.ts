#!/usr/bin/env node
// The one entry point: picks a subcommand and hands over. Each subcommand's
// `run` does bootstrap only; its logic lives in its own folder. Nothing but node:fs and
// node:url is imported up front, so a subcommand can size its runtime before its modules load.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const USAGE = `usage: kaos-memory <command>

commands:
  sidecar   serve the memory HTTP API beside an agent (127.0.0.1:8790)
  webhook   serve the mutating admission webhook over TLS
  certs     write a CA and serving certificate: certs --out DIR --dns NAME... --ip ADDR...
  sessions  operate on stored memory: list, show, export, import, delete, erase (sessions --help)
`;

type Command = (argv: string[]) => Promise<void>;

/**
 * The sidecar's `run`: its one-file bundle (scripts/bundle.mjs, made by `npm run build`),
 * run as a script with its code cache (cli/bundle.ts), when it was made from this build;
 * else the module graph (from the sources, a `tsc` alone). The bundle starts in about half
 * the CPU time (docs/adr/0038-the-sidecar-s-cpu-and-start.md).
 */
async function sidecarRun(): Promise<Command> {
  const bundle = fileURLToPath(new URL('../bundle/sidecar.cjs', import.meta.url));
  const graph = new URL('../sidecar/main.js', import.meta.url);
  let fresh = false;
  try {
    fresh = statSync(bundle).mtimeMs >= statSync(graph).mtimeMs;
  } catch {
    // No bundle beside this file.
  }
  if (!fresh) return ((await import(graph.href)) as typeof import('../sidecar/main.js')).run;
  const { loadBundle } = await import('./bundle.js');
  const { exports, codeCache } = loadBundle(bundle);
  const { run } = exports as unknown as typeof import('../sidecar/main.js');
  return (argv) => run(argv, { codeCache });
}

const commands: Record<string, () => Promise<Command>> = {
  sidecar: async () => {
    // Before the sidecar's modules load: the first full GCs happen while they do. The
    // bundle's code cache is made under this flag too (scripts/bundle.mjs).
    (await import('../sidecar/runtime.js')).limitHeapGrowth();
    return sidecarRun();
  },
  webhook: async () => (await import('../webhook/main.js')).run,
  certs: async () => (await import('../certs/main.js')).run,
  sessions: async () => (await import('../ops/main.js')).run,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`kaos-memory: unknown command "${name}"\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const command = await load();
  await command(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // By name: nothing is imported up front, lib/env.ts included (see the top).
  if (err instanceof Error && err.name === 'ConfigError') {
    process.stderr.write(`kaos-memory: invalid configuration: ${err.message}\n`);
  } else {
    process.stderr.write(`kaos-memory: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
