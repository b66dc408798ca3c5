// The operator CLI on a large store: N sessions (default 100,000) of three KAOS
// events each in a real redis-server, then `kaos-memory sessions export --all` to a
// file and `import` of that file into another prefix, each as its own process
// under /usr/bin/time: wall time and peak RSS. Run after `npm run build`:
//   node --import tsx bench/sessions-cli.ts [N]
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kaosMemory } from '../harness/kaos.js';
import { RedisServer } from '../harness/redis.js';
import { fromMicros } from '../memory/clock.js';
import { encodeEvent } from '../memory/events.js';

const N = Number(process.argv[2] ?? 100_000);

interface Measured {
  seconds: number;
  peakMiB: number;
  status: number;
}

/** One CLI run under /usr/bin/time -f: its exit status, wall time and peak RSS. */
function timed(args: string[], env: NodeJS.ProcessEnv, stdin?: string, stdout?: string) {
  const { command, args: full } = kaosMemory(args);
  return new Promise<Measured>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIME %e %M', command, ...full], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (stdin) createReadStream(stdin).pipe(child.stdin);
    else child.stdin.end();
    if (stdout) child.stdout.pipe(createWriteStream(stdout));
    else child.stdout.resume();
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      const m = /TIME ([\d.]+) (\d+)/.exec(err);
      if (!m) return reject(new Error(`no timing: ${err}`));
      process.stderr.write(
        err
          .split('\n')
          .filter((l) => l.includes('done'))
          .join('\n') + '\n',
      );
      resolve({ seconds: Number(m[1]), peakMiB: Number(m[2]) / 1024, status: status ?? -1 });
    });
  });
}

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'kaos-cli-bench-'));
  try {
    const client = redis.client();
    const prefix = 'bench:memory';
    const started = Date.now();
    for (let from = 0; from < N; from += 1000) {
      const pipeline = client.pipeline();
      for (let i = from; i < Math.min(from + 1000, N); i++) {
        const id = `session_${i.toString(16).padStart(12, '0')}`;
        const t = fromMicros(1_771_322_400_000_000 + i * 1000);
        pipeline.hset(`${prefix}:session:${id}`, {
          session_id: id,
          user_id: `user-${i % 5000}`,
          app_name: 'bench',
          created_at: t.iso,
          updated_at: t.iso,
        });
        pipeline.rpush(
          `${prefix}:events:${id}`,
          encodeEvent(
            { event_type: 'user_message', content: `question ${i}` },
            `event_${i}a`,
            t.iso,
          ),
          encodeEvent(
            { event_type: 'agent_response', content: `answer ${i} `.repeat(8) },
            `event_${i}b`,
            t.iso,
          ),
          encodeEvent(
            { event_type: 'tool_call', content: { tool: 'search', q: i } },
            `event_${i}c`,
            t.iso,
          ),
        );
        pipeline.expire(`${prefix}:session:${id}`, 86_400);
        pipeline.expire(`${prefix}:events:${id}`, 86_400);
        pipeline.zadd(`${prefix}:sessions`, t.score, id);
      }
      await pipeline.exec();
    }
    client.disconnect();
    console.log(`seeded ${N} sessions in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const env = { MEMORY_REDIS_URL: redis.url };
    const file = join(dir, 'export.jsonl');
    const out = await timed(
      ['sessions', 'export', '--all', '--prefix', prefix],
      env,
      undefined,
      file,
    );
    const imp = await timed(['sessions', 'import', '--prefix', 'bench:copy'], env, file);
    const list = await timed(['sessions', 'list', '--limit', '1000', '--prefix', prefix], env);
    const erase = await timed(['sessions', 'erase', '--user', 'user-42', '--prefix', prefix], env);
    console.log(`\n| ${N} sessions | status | wall | peak RSS |`);
    console.log('| --- | --- | --- | --- |');
    const row = (what: string, m: Measured) =>
      console.log(
        `| ${what} | ${m.status} | ${m.seconds.toFixed(1)} s | ${m.peakMiB.toFixed(1)} MiB |`,
      );
    row(`export --all (${(statSync(file).size / 2 ** 20).toFixed(0)} MiB of JSON Lines)`, out);
    row('import (into an empty prefix)', imp);
    row('list --limit 1000', list);
    row('erase --user (20 of them)', erase);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
