// One node for every node suite of a test run. A suite's worker process ends with its
// file, so the node runs in a process of its own (`cli.ts up --owner <run>`), started by
// the first suite that asks for it and stopped when the run ends (the node project's
// globalSetup teardown) or when the run's process dies without a teardown.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '../poll.js';
import { REPO_ROOT } from '../root.js';
import { NodeCluster } from './cluster.js';
import { alive } from './exec.js';

/** Set by the node project's globalSetup: the pid of the test run that owns the node. */
export const RUN_ENV = 'KAOS_NODE_RUN';

interface DaemonRecord {
  pid: number;
}

const CLI = join(REPO_ROOT, 'harness/node/cli.ts');
// A start may first wait for another checkout's node on this machine (up to 10 min).
const START_TIMEOUT_MS = 900_000;

function runId(): string {
  const run = process.env[RUN_ENV];
  if (!run) {
    throw new Error(
      `no test run owns a shared node (${RUN_ENV} unset): run node suites with --config test/vitest.integration.config.ts`,
    );
  }
  return run;
}

const recordPath = (run: string) => join(tmpdir(), `kaos-shared-node-${run}.json`);
const logPath = (run: string) => join(tmpdir(), `kaos-shared-node-${run}.log`);

/** The run's record and the node's output removed: the run ended without stopping its node. */
export function forgetRun(run: string): void {
  rmSync(recordPath(run), { force: true });
  rmSync(logPath(run), { force: true });
}

function readRecord(run: string): DaemonRecord | undefined {
  const path = recordPath(run);
  if (!existsSync(path)) return undefined;
  const record = JSON.parse(readFileSync(path, 'utf8')) as DaemonRecord;
  return alive(record.pid) ? record : undefined;
}

/**
 * The run's node: attached if a suite before this one started it, else started now (its
 * output, boot timings included, goes to `log` once it is up).
 */
export async function sharedNode(log: (line: string) => void): Promise<NodeCluster> {
  const run = runId();
  if (readRecord(run)) return NodeCluster.attach();
  const logFile = logPath(run);
  const fd = openSync(logFile, 'w');
  const daemon = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'up', '--owner', run],
    // Its own process group: a suite's worker ending (or being killed) does not end it.
    { cwd: REPO_ROOT, detached: true, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  daemon.unref();
  const output = () => readFileSync(logFile, 'utf8');
  try {
    await pollUntil('the shared node to start', () => output().includes('running;'), {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 200,
      dead: () =>
        daemon.exitCode === null && daemon.signalCode === null
          ? undefined
          : `its process ended (${daemon.exitCode ?? daemon.signalCode}):\n${output().slice(-4000)}`,
    });
  } catch (err) {
    // A start that hangs is stopped (its SIGTERM stops the node); the error keeps the output's end.
    const running = daemon.exitCode === null && daemon.signalCode === null;
    const tail = running ? `\n${output().slice(-4000)}` : '';
    if (running) daemon.kill('SIGTERM');
    rmSync(logFile, { force: true });
    throw new Error(`${(err as Error).message}${tail}`, { cause: err });
  }
  writeFileSync(recordPath(run), JSON.stringify({ pid: daemon.pid! }));
  for (const line of output().trim().split('\n')) log(line.replace(/^node: /, ''));
  return NodeCluster.attach();
}

/**
 * Signals the process that runs the run's node, waits for it to end and forgets it;
 * resolves with its output, or undefined when no node was running.
 */
async function endSharedNode(
  run: string,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<string | undefined> {
  const record = readRecord(run);
  rmSync(recordPath(run), { force: true });
  if (!record) return undefined;
  process.kill(record.pid, signal);
  await pollUntil(`the shared node's process to end (${signal})`, () => !alive(record.pid), {
    timeoutMs,
    intervalMs: 100,
  });
  const output = readFileSync(logPath(run), 'utf8');
  rmSync(logPath(run), { force: true });
  return output;
}

/**
 * SIGKILLs the process that runs the run's node, as an OOM kill or a cancelled CI job
 * would: the node's processes, mounts and cgroups stay behind, and the next
 * `sharedNode()` starts a node that cleans them up first (the crash test).
 */
export async function crashSharedNode(run = runId()): Promise<void> {
  if ((await endSharedNode(run, 'SIGKILL', 10_000)) === undefined) {
    throw new Error('no shared node is running');
  }
}

/**
 * Stops the run's node if one is running and resolves with what it left on the machine
 * (empty when the stop was clean): the run's end.
 */
export async function stopSharedNode(run = process.env[RUN_ENV]): Promise<string[]> {
  if (!run) return [];
  const output = (await endSharedNode(run, 'SIGTERM', 120_000)) ?? '';
  return output
    .split('\n')
    .filter((line) => line.includes('left behind: '))
    .map((line) => line.slice(line.indexOf('left behind: ') + 'left behind: '.length));
}
