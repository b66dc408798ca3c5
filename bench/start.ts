// The sidecar's start alone, several ways of starting it compared round by round so that a
// busy machine weighs on each alike: `node --import tsx bench/start.ts [LABEL=COMMAND]...`,
// each COMMAND a node command line split on spaces (`node` is this process's node), run
// in this checkout. Without arguments: the production way (`node dist/cli/main.js sidecar`).
// Per start: spawn to the first /readyz 200 (polled every 5 ms), the CPU the process used
// until then (/proc, 10 ms ticks) and its RssAnon 1 s later. BENCH_START_ROUNDS (9).
import { RedisServer } from '../harness/redis.js';
import { REPO_ROOT } from '../harness/root.js';
import { startSidecar, type Start } from './lib/start.js';
import { median } from './lib/stats.js';
import { table } from './lib/table.js';

const ROUNDS = Number(process.env.BENCH_START_ROUNDS ?? 9);

async function measure(command: string[], redisUrl: string): Promise<Start> {
  const [bin, ...args] = command;
  const { proc, start } = await startSidecar(bin === 'node' ? process.execPath : bin!, args, {
    redisUrl,
    prefix: 'start',
    cwd: REPO_ROOT,
  });
  await proc.kill();
  return start;
}

async function main(): Promise<void> {
  const given = process.argv.slice(2);
  const variants = (given.length > 0 ? given : ['production=node dist/cli/main.js sidecar']).map(
    (spec) => {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new Error(`usage: bench/start.ts [LABEL=COMMAND]... (got "${spec}")`);
      return {
        label: spec.slice(0, eq),
        command: spec
          .slice(eq + 1)
          .trim()
          .split(/\s+/),
      };
    },
  );
  const redis = await RedisServer.start();
  const starts = new Map<string, Start[]>(variants.map((v) => [v.label, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Each variant in turn, the order rotated every round.
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length]!;
        starts.get(variant.label)!.push(await measure(variant.command, redis.url));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await redis.stop();
  }
  const each = (all: Start[], f: (s: Start) => number) => all.map((s) => f(s).toFixed(0)).join(' ');
  const rows = [...starts].map(([label, all]) => [
    label,
    median(all.map((s) => s.readyMs)).toFixed(0),
    each(all, (s) => s.readyMs),
    median(all.map((s) => s.cpuMs)).toFixed(0),
    each(all, (s) => s.cpuMs),
    median(all.map((s) => s.anonMiB)).toFixed(1),
  ]);
  console.log(`start: spawn to the first /readyz 200, ${ROUNDS} interleaved rounds (medians)\n`);
  console.log(
    table(
      [
        'variant',
        'ms to ready',
        'each round',
        'CPU ms to ready',
        'each round',
        'RssAnon 1 s later, MiB',
      ],
      rows,
    ),
  );
}

await main();
