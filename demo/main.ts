// `npm run demo`: the whole story of kaos-memory on this machine, with real parts.
// Where a real node can run (root on Linux, harness/node/cluster.ts's unavailableReason()),
// it is played there (demo/node.ts): the chart installed by helm with its defaults, the
// agent Deployment injected, written to, deleted and replaced, all with real kubectl.
// Elsewhere it says why and plays its fallback (demo/local.ts): Redis with an
// append-only file, etcd and kube-apiserver, the chart installed by helm, the webhook
// and the sidecar as local processes. Every claim the summary makes is checked on the
// way; a failed check fails the step that made it. This file is the bootstrap: pick the
// story, number its steps, and clean up once, whatever ends it.
//
// Environment: NO_COLOR (plain output on a terminal too), KAOS_CACHE_DIR (where
// scripts/controlplane.sh put the binaries), DEMO_FAIL_AT=<setup-N|N> (fail that step
// on purpose, to see the failure path and its cleanup), KAOS_DEMO_NODE=0 (play the
// fallback even where a real node could run: the demo's cheaper tests use it),
// KAOS_DEMO_NODE=running (play on the node already running here, `harness/node/cli.ts up`
// or a test run's, and leave it running: the demo's node tests use it).
import { unavailableReason } from '../harness/node/cluster.js';
import { localStory } from './local.js';
import { nodeStory } from './node.js';
import { LOCAL_HEADLINES, NODE_HEADLINES, Proofs } from './proofs.js';
import { message } from './story.js';
import { Teardown } from './teardown.js';
import * as ui from './ui.js';

/** Why the story is not played on a real node, or undefined when it is. */
const noNode =
  process.env.KAOS_DEMO_NODE === '0'
    ? 'KAOS_DEMO_NODE=0 asks for the fallback'
    : unavailableReason();
const teardown = new Teardown();
const proofs = new Proofs(noNode ? LOCAL_HEADLINES : NODE_HEADLINES);
const began = Date.now();
let current = { label: 'startup', title: '' };
let stopping: NodeJS.Signals | undefined;

/** A numbered step; DEMO_FAIL_AT=<key> makes it fail on purpose (for the demo's own test). */
async function step<T>(
  key: string,
  label: string,
  title: string,
  body: () => Promise<T> | T,
): Promise<T> {
  current = { label, title };
  ui.header(label, title);
  if (process.env.DEMO_FAIL_AT === key) throw new Error(`forced failure (DEMO_FAIL_AT=${key})`);
  return await body();
}

/** The error and its causes, each on its own line: a timeout says what it last saw. */
function explain(err: unknown): string {
  const lines: string[] = [];
  for (let e: unknown = err; e !== undefined && lines.length < 5;) {
    lines.push(lines.length ? `cause: ${message(e)}` : message(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return lines.join('\n');
}

function report(err: unknown): void {
  const message = explain(err);
  const [first, ...rest] = message.split('\n');
  process.stdout.write('\n');
  ui.fail(
    `${ui.bold(`FAILED at ${current.label}`)}${current.title ? ` (${current.title})` : ''}: ${first}`,
  );
  if (rest.length > 0) ui.say(rest.join('\n'));
}

let finishing: Promise<never> | undefined;

/** Clean up once and exit with the first outcome's code. */
function finish(code: number): Promise<never> {
  finishing ??= (async () => {
    ui.header('Cleanup', 'Stopping everything the demo started');
    const stopped = await teardown.run();
    ui.ok(`stopped and removed: ${stopped.length ? stopped.join(', ') : 'nothing was running'}`);
    const took = ui.seconds(Date.now() - began);
    if (code === 0) ui.say(ui.green(ui.bold(`Demo passed in ${took}.`)));
    else if (stopping) ui.say(ui.yellow(ui.bold(`Demo stopped by ${stopping} after ${took}.`)));
    else ui.say(ui.red(ui.bold(`Demo failed (exit ${code}) after ${took}.`)));
    process.exit(code);
  })();
  return finishing;
}

process.on('exit', () => teardown.runNow());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping || finishing) return; // a repeat, or cleanup is already under way
    stopping = signal;
    process.stdout.write('\n');
    ui.warn(`${signal} during ${current.label}: stopping`);
    void finish(signal === 'SIGINT' ? 130 : 143);
  });
}

// A terminal's Ctrl-C reaches the sidecar and the rest too, and their deaths can fail
// a step a moment before this process handles its own SIGINT: wait for it briefly,
// so an interruption is reported as one.
const SIGNAL_GRACE_MS = 250;

(noNode
  ? localStory({ step, teardown, proofs }, noNode)
  : nodeStory({ step, teardown, proofs })
).then(
  () => finish(0),
  async (err: unknown) => {
    await new Promise((resolve) => setTimeout(resolve, SIGNAL_GRACE_MS));
    if (stopping) return; // the interruption reports and cleans up
    report(err);
    return finish(1);
  },
);
