// There is no Docker engine here, so the image is checked in two halves: the Dockerfile's
// final stage runs the command the chart runs, and that command works from a production
// install made the way the Dockerfile makes it (build, then production dependencies only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../harness/ports.js';
import { pollUntil } from '../../harness/poll.js';
import { RedisServer } from '../../harness/redis.js';
import { REPO_ROOT as ROOT } from '../../harness/root.js';
import { productionApp } from '../../harness/node/images.js';
import { find, parseManifests, template } from './helm.js';

interface Stage {
  from: string;
  instructions: { op: string; args: string }[];
}

/** The Dockerfile's stages, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') stages.push({ from: args, instructions: [] });
    else stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

function last(stage: Stage, op: string): string | undefined {
  return stage.instructions.filter((i) => i.op === op).at(-1)?.args;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const final = dockerfile.at(-1)!;
const entrypoint = JSON.parse(last(final, 'ENTRYPOINT') ?? 'null') as string[];
const cmd = JSON.parse(last(final, 'CMD') ?? 'null') as string[];

describe('Dockerfile', () => {
  it('builds in one stage and runs non-root from another, without build tools', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile[0]!.from).toMatch(/^node:20-bookworm-slim AS build$/);
    const build = dockerfile[0]!.instructions.map((i) => `${i.op} ${i.args}`).join('\n');
    expect(build).toMatch(/RUN npm ci/);
    expect(build).toMatch(/npm run build && npm prune --omit=dev/);
    expect(final.from).not.toMatch(/ AS build/);
    expect(last(final, 'WORKDIR')).toBe('/app');
    const user = last(final, 'USER') ?? 'root';
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // Only files from the build stage reach the final image, and npm is removed there.
    for (const i of final.instructions.filter((x) => x.op === 'COPY')) {
      expect(i.args).toMatch(/^--from=build /);
    }
    expect(
      final.instructions
        .filter((x) => x.op === 'RUN')
        .map((x) => x.args)
        .join('\n'),
    ).toMatch(/rm -rf .*\/usr\/local\/bin\/npm/);
  });

  it('has the ENTRYPOINT and CMD the chart relies on', async () => {
    expect(entrypoint).toEqual(['node', '/app/dist/cli/main.js']);
    expect(cmd).toEqual(['webhook']);
    const result = await template();
    const deployment = find(parseManifests(result.stdout), 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { command?: string[]; args?: string[] }[] } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT runs
    expect(container.args).toEqual(cmd);
  });
});

describe('the image command from a production install', () => {
  let dir = '';
  let app = '';

  function run(args: string[], env: NodeJS.ProcessEnv = {}) {
    // The ENTRYPOINT with /app replaced by the install folder, from WORKDIR.
    const [node, script] = entrypoint as [string, string];
    return spawnSync(node, [script.replace(/^\/app/, app), ...args], {
      cwd: app,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kaos-image-'));
    app = join(dir, 'app');
    // As the build stage leaves it: `npm run build` (dist, the sidecar's bundle with it),
    // then production dependencies only from the lockfile; the same /app the node's image has.
    await productionApp(app);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds no development dependencies', () => {
    for (const tool of ['typescript', 'vitest', 'eslint', 'tsx', 'prettier', 'testcontainers']) {
      expect(existsSync(join(app, 'node_modules', tool)), tool).toBe(false);
    }
    expect(existsSync(join(app, 'node_modules', '@kubernetes', 'client-node'))).toBe(true);
  });

  it('prints the usage with --help', () => {
    const r = run(['--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: kaos-memory <command>/);
    expect(r.stdout).toMatch(/webhook/);
    expect(r.stdout).toMatch(/sidecar/);
  });

  it.each([
    ['webhook', /^kaos-memory: invalid configuration: INJECT_\w+: /],
    ['sidecar', /^kaos-memory: invalid configuration: MEMORY_\w+: /],
  ])(
    'loads every module of `%s` and stops on missing configuration with one line',
    (command, line) => {
      const r = run([command]);
      expect(r.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(line);
      expect(r.status).toBe(1);
    },
  );

  describe('serves, as the chart and the webhook run it', () => {
    const children: ChildProcess[] = [];
    let redis: RedisServer | undefined;

    function serve(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
      const [node, script] = entrypoint as [string, string];
      const child = spawn(node, [script.replace(/^\/app/, app), ...args], {
        cwd: app,
        env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env },
        stdio: 'ignore',
      });
      children.push(child);
      return child;
    }

    afterAll(async () => {
      for (const child of children) child.kill('SIGKILL');
      await redis?.stop();
    });

    it('`webhook` over TLS with a certificate from `certs`', async () => {
      const tls = join(dir, 'tls');
      const made = run(['certs', '--out', tls, '--dns', 'localhost', '--ip', '127.0.0.1']);
      expect(made.status, made.stderr).toBe(0);
      const port = await freePort();
      const child = serve(['webhook'], {
        WEBHOOK_PORT: String(port),
        WEBHOOK_HOST: '127.0.0.1',
        WEBHOOK_TLS_DIR: tls,
        // No API server here: the cluster view would keep /readyz at 503 until it synced.
        WEBHOOK_CLUSTER_VIEW: 'false',
        INJECT_REDIS_URL: 'redis://redis.memory.svc:6379',
        INJECT_SIDECAR_IMAGE: 'ghcr.io/kaos-tools/kaos-memory:0.1.0',
        INJECT_NATIVE_SIDECAR: 'true',
      });
      const ca = readFileSync(join(tls, 'ca.crt'), 'utf8');
      await pollUntil('webhook /readyz', async () => {
        if (child.exitCode !== null) throw new Error(`webhook exited with ${child.exitCode}`);
        return (await httpsStatus(port, '/readyz', ca)) === 200;
      });
    });

    it('`sidecar` against a real Redis', async () => {
      redis = await RedisServer.start();
      const port = await freePort();
      const child = serve(['sidecar'], {
        MEMORY_REDIS_URL: redis.url,
        MEMORY_SIDECAR_PORT: String(port),
        // Not the default 9790: other suites' sidecars run beside this one.
        MEMORY_METRICS_PORT: String(await freePort()),
      });
      await pollUntil('sidecar /readyz', async () => {
        if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}`);
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      });
      const openapi = (await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as {
        openapi: string;
      };
      expect(openapi.openapi).toMatch(/^3\./);
    });
  });
});

/** The status of a GET over TLS, trusting only `ca`. */
function httpsStatus(port: number, path: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
