#!/usr/bin/env node
// The one entry point: picks a subcommand and hands over. Each subcommand's
// `run` does bootstrap only; its logic lives in its own folder. Nothing is imported up
// front, so a subcommand can size its runtime before its modules load (cli/sidecar.ts).

const USAGE = `usage: kaos-memory <command>

commands:
  sidecar   serve the memory HTTP API beside an agent (127.0.0.1:8790)
  webhook   serve the mutating admission webhook over TLS
  certs     write a CA and serving certificate: certs --out DIR --dns NAME... --ip ADDR...
  sessions  operate on stored memory: list, show, export, import, delete, erase (sessions --help)
`;

type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, () => Promise<Command>> = {
  sidecar: async () => (await import('./sidecar.js')).sidecarCommand(),
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
