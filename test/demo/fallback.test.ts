// The demo's fallback, played where no real node can run (local processes: Redis, a
// control plane, the webhook and the sidecar, each on a free port), forced with
// KAOS_DEMO_NODE=0 where one could: its story, a forced failure, missing binaries, Ctrl-C
// and a SIGTERM. It owns nothing machine-wide, so it runs with the integration files; the
// stories on the node are demo.test.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DemoRunner, expectCleanExit, stopMidway } from './run.js';

/** Plays the fallback even where a real node could run (demo/main.ts). */
const FALLBACK = { KAOS_DEMO_NODE: '0' };

const demos = new DemoRunner();
const runDemo = demos.run.bind(demos);
afterAll(() => demos.close());

describe('npm run demo where no node runs', () => {
  it('plays the fallback story with local processes where no node runs, and says why', async () => {
    const run = await runDemo(FALLBACK);
    expect(run.code, run.output).toBe(0);
    const out = run.output;

    // Not a terminal: plain text for CI logs.
    expect(out).not.toContain('\x1b[');
    expect(out).toContain('! no real node: KAOS_DEMO_NODE=0 asks for the fallback;');
    // 1: the injected sidecar and env, read back from the API.
    expect(out).toMatch(/memory\.kaos\.tools\/status: injected/);
    expect(out).toMatch(
      /memory\.kaos\.tools\/injected: >-\n.*\{"version":"[^"]+","initContainers":\["kaos-memory"\]/,
    );
    expect(out).toMatch(/- name: kaos-memory\n.*image: ghcr\.io\/kaos-tools\/kaos-memory/);
    expect(out).toMatch(/MEMORY_API_URL: http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain('MEMORY_REDIS_PASSWORD: (from Secret redis-auth, key password)');
    // 2: the agent's writes acknowledged.
    expect(out).toMatch(
      /"event_type":"user_message","content":"Remember this: the secret code is 42"\}\n.*→ 201/,
    );
    // 3: the keys and the raw stored events.
    expect(out).toMatch(/kaos:memory:session:conversation-1 {2}hash/);
    expect(out).toMatch(/kaos:memory:events:conversation-1 {2}list/);
    expect(out).toMatch(
      /1\) \{"event_id": "[^"]+", "timestamp": "[^"]+", "event_type": "user_message"/,
    );
    // 4: read back through the API after a SIGKILL and a new process.
    const after = out.slice(out.indexOf('Step 4/5'));
    expect(after).toMatch(/kill -9 \d+/);
    expect(after).toContain('user_message: "Remember this: the secret code is 42"');
    expect(after).toContain('User: Remember this: the secret code is 42');
    // 5: every headline checked.
    expect(out).toMatch(/\d+ checks, all passed\./);
    expect(out).toContain('Demo passed');
    expectCleanExit(run);
  });

  it('on the fallback too: names the failed step and stops every local process', async () => {
    const run = await runDemo({ ...FALLBACK, DEMO_FAIL_AT: '3' });
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain(
      '✗ FAILED at Step 3/5 (Look inside Redis): forced failure (DEMO_FAIL_AT=3)',
    );
    expect(run.output).toMatch(/stopped and removed: sidecar, webhook, control plane, Redis/);
    expect(run.output).not.toContain('Demo passed');
    expectCleanExit(run);
  });

  it('fails at the control plane step with the fix when the binaries are missing', async () => {
    const emptyCache = join(demos.scratch, 'empty-cache');
    mkdirSync(emptyCache, { recursive: true });
    const run = await runDemo({ KAOS_CACHE_DIR: emptyCache });
    expect(run.code, run.output).toBe(1);
    // No binaries, no node either: the demo says so before falling back.
    expect(run.output).toMatch(/! no real node: not built: .*\(run scripts\/controlplane\.sh\)/);
    expect(run.output).toMatch(
      /FAILED at Setup 2\/4 \(Start the Kubernetes control plane\): control plane not built: run scripts\/controlplane\.sh/,
    );
    // Redis had started: it is stopped and its data folder removed.
    expect(run.output).toMatch(/stopped and removed: Redis, temporary files/);
    expectCleanExit(run);
  });

  it('cleans up the fallback on Ctrl-C too', async () => {
    const run = await runDemo(FALLBACK, stopMidway('SIGINT', true));
    expect(run.code, run.output).toBe(130);
    expect(run.output).toMatch(/SIGINT during Step [2-4]\/5: stopping/);
    expect(run.output).toContain('Demo stopped by SIGINT');
    // The sidecar dying of the same Ctrl-C is not reported as a failed step.
    expect(run.output).not.toContain('FAILED');
    expectCleanExit(run);
  });

  it('cleans up on a SIGTERM to the demo alone (a cancelled CI job)', async () => {
    const run = await runDemo(FALLBACK, stopMidway('SIGTERM', false));
    expect(run.code, run.output).toBe(143);
    expect(run.output).toMatch(/SIGTERM during Step [2-4]\/5: stopping/);
    expect(run.output).toContain('Demo stopped by SIGTERM');
    expect(run.output).not.toContain('FAILED');
    expect(run.output).not.toContain('Demo passed');
    expectCleanExit(run);
  });
});
