// The webhook's work per AdmissionReview in-process, without TLS or HTTP: the fixture,
// configuration and namespace of bench/webhook.ts, CPU time per call (process.cpuUsage) as
// the median of rounds, and the bytes each call allocates (V8's sampling heap profiler, counting
// what the collector has already freed too: the same on a busy machine as on a quiet one). Not
// part of `npm run bench`; a profile of it shows where review() spends its time:
// node --cpu-prof --import tsx bench/review-loop.ts
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { answerBytes, review } from '../webhook/admission.js';
import { benchInjectConfig, NAMESPACE } from './webhook.js';
import { median } from './lib/stats.js';

const FIXTURE = readFileSync(
  new URL('../test/webhook/fixtures/01-kaos-operator-agent.json', import.meta.url),
  'utf8',
);
const ROUNDS = 7;
const CALLS = Number(process.env.BENCH_REVIEW_CALLS ?? 20_000);

/** CPU µs per call of `fn`, median over rounds, after a warm-up round. */
function cpuPerCall(fn: () => unknown): { median: number; rounds: number[] } {
  const rounds: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) fn();
    const used = process.cpuUsage(before);
    if (round > 0) rounds.push((used.user + used.system) / CALLS);
  }
  return { median: median(rounds), rounds };
}

/** Bytes `fn` allocates per call on V8's heap, sampled every 64 bytes over `calls` calls. */
async function bytesPerCall(fn: () => unknown, calls = 5_000): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 64,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < calls; i++) fn();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    let bytes = 0;
    const nodes = [profile.head];
    for (let node = nodes.pop(); node; node = nodes.pop()) {
      bytes += node.selfSize;
      nodes.push(...node.children);
    }
    return bytes / calls;
  } finally {
    session.disconnect();
  }
}

const inject = benchInjectConfig();
const lookup = () => NAMESPACE;
const parsed: unknown = JSON.parse(FIXTURE);
const rows: [string, () => unknown][] = [
  ['JSON.parse of the body', () => JSON.parse(FIXTURE)],
  ['review() of a parsed body', () => review(parsed, inject, lookup)],
  ['review() of a freshly parsed body', () => review(JSON.parse(FIXTURE), inject, lookup)],
  // What /mutate does per request: the JSON review() wrote, else JSON.stringify of the body.
  [
    'parse + review() + the answer as bytes',
    () => {
      const reviewed = review(JSON.parse(FIXTURE), inject, lookup);
      if (reviewed.status !== 200) return 0;
      return answerBytes(reviewed.body).length;
    },
  ],
];
for (const [label, fn] of rows) {
  const { median: us, rounds } = cpuPerCall(fn);
  const kib = (await bytesPerCall(fn)) / 1024;
  console.log(
    `${label.padEnd(40)} ${us.toFixed(1)} µs ${kib.toFixed(1).padStart(6)} KiB  ` +
      `(rounds ${rounds.map((r) => r.toFixed(0)).join(' ')})`,
  );
}
