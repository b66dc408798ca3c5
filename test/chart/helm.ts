// Real helm for the chart tests: the binary scripts/controlplane.sh installs, run as a
// child process, with the chart and fixture paths in one place.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { controlPlaneBin } from '../helpers/kube.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CHART = join(ROOT, 'charts', 'kaos-memory');
export const VALUES_DIR = join(ROOT, 'test', 'chart', 'values');
export const GOLDEN_DIR = join(ROOT, 'test', 'chart', 'golden');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run helm; never rejects on a non-zero exit, so tests can assert on refusals. */
export function helm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  // One clear line when scripts/controlplane.sh has not installed helm yet.
  const bin = controlPlaneBin('helm');
  return new Promise((resolve, reject) => {
    // Helm's own folders under .tmp, so it never reads the user's repositories or plugins.
    const child = spawn(bin, args, {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        HELM_CACHE_HOME: join(ROOT, '.tmp', 'helm', 'cache'),
        HELM_CONFIG_HOME: join(ROOT, '.tmp', 'helm', 'config'),
        HELM_DATA_HOME: join(ROOT, '.tmp', 'helm', 'data'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Like helm(), but rejects with helm's own message when it fails. */
export async function helmOk(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await helm(args, env);
  if (result.code !== 0) {
    throw new Error(`helm ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

export const RELEASE = 'kaos-memory';
export const NAMESPACE = 'kaos-system';

/** `helm template` of the chart with the given fixture files and --set pairs. */
export function template(valueFiles: string[] = [], sets: string[] = []): Promise<HelmResult> {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE];
  for (const file of valueFiles) args.push('--values', join(VALUES_DIR, file));
  for (const set of sets) args.push('--set', set);
  return helm(args);
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** The documents of a rendered manifest stream, parsed. */
export function parseManifests(text: string): Manifest[] {
  return text
    .split(/^---$/m)
    .filter((doc) =>
      doc.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('#')),
    )
    .map((doc) => loadYaml<Manifest>(doc));
}

export function find(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.find(
    (m) => m.kind === kind && (name === undefined || m.metadata.name === name),
  );
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the render`);
  return found;
}
