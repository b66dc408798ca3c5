// The release workflow as GitHub would read it: actionlint (built from its Go module by
// scripts/actionlint.sh) finds nothing in it, and does find a broken reference, so the check
// is live; its first step, scripts/release-version.sh, refuses a tag the versions don't match;
// it publishes the image and chart under the names the chart and the README use.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../harness/root.js';

const WORKFLOW = join(REPO_ROOT, '.github/workflows/release.yml');
const ACTIONLINT = join(
  process.env.KAOS_CACHE_DIR ?? join(homedir(), '.cache/kaos-memory'),
  'bin/actionlint',
);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], cwd = REPO_ROOT): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'kaos-release-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** actionlint over a repository whose only workflow is `text`. */
async function lint(text: string): Promise<Ran> {
  const dir = mkdtempSync(join(scratch, 'repo-'));
  mkdirSync(join(dir, '.github/workflows'), { recursive: true });
  writeFileSync(join(dir, '.github/workflows/release.yml'), text);
  return run(ACTIONLINT, ['-no-color', '.github/workflows/release.yml'], dir);
}

describe('the release workflow', () => {
  const text = readFileSync(WORKFLOW, 'utf8');

  it('passes actionlint', async () => {
    const ran = await run(ACTIONLINT, ['-no-color', WORKFLOW]);
    expect(`${ran.stdout}${ran.stderr}`).toBe('');
    expect(ran.code).toBe(0);
  });

  it('fails actionlint when a job reads an output that does not exist', async () => {
    const broken = text.replace(
      'tags: ${{ env.IMAGE }}:${{ needs.version.outputs.version }}',
      'tags: ${{ env.IMAGE }}:${{ needs.version.outputs.tag }}',
    );
    expect(broken).not.toBe(text);
    const ran = await lint(broken);
    expect(ran.code).toBe(1);
    expect(ran.stdout).toMatch(/property "tag" is not defined/);
  });

  it('publishes the image the chart runs, and the chart where the README says', () => {
    const values = readFileSync(join(REPO_ROOT, 'charts/kaos-memory/values.yaml'), 'utf8');
    const repository = /\nwebhook:[\s\S]*?\n\s+repository:\s*(\S+)/.exec(values)?.[1];
    expect(text).toContain(`IMAGE: ${repository}\n`);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const charts = /CHARTS: (\S+)\n/.exec(text)?.[1];
    expect(readme).toContain(`${charts}/kaos-memory --version`);
    expect(readme).toContain('.github/workflows/release.yml');
  });
});

describe('scripts/release-version.sh', () => {
  const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version;
  const check = (tag: string) => run('bash', ['scripts/release-version.sh', tag]);

  it("accepts the tag of the checkout's version and prints the version", async () => {
    expect(await check(`v${version}`)).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('refuses a tag the chart and the package do not say, naming each file', async () => {
    const ran = await check('v99.0.0');
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain(`Chart.yaml version is '${version}', the tag says 99.0.0`);
    expect(ran.stderr).toContain(`Chart.yaml appVersion is '${version}'`);
    expect(ran.stderr).toContain(`package.json version is '${version}'`);
  });

  it('refuses a chart whose appVersion alone differs', async () => {
    const dir = mkdtempSync(join(scratch, 'versions-'));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'charts/kaos-memory'), { recursive: true });
    copyFileSync(
      join(REPO_ROOT, 'scripts/release-version.sh'),
      join(dir, 'scripts/release-version.sh'),
    );
    copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
    const chart = readFileSync(join(REPO_ROOT, 'charts/kaos-memory/Chart.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'charts/kaos-memory/Chart.yaml'),
      chart.replace(/^appVersion:.*$/m, "appVersion: '0.0.1'"),
    );
    const ran = await run('bash', ['scripts/release-version.sh', `v${version}`], dir);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toBe(
      `release-version: charts/kaos-memory/Chart.yaml appVersion is '0.0.1', the tag says ${version}\n`,
    );
  });

  it('refuses what is not vX.Y.Z', async () => {
    for (const tag of ['0.1.0', 'v1.2', 'v1.2.3-rc.1', ''])
      expect((await check(tag)).code, tag).toBe(2);
  });
});
