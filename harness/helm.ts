// The one helm runner: the binary scripts/controlplane.sh builds, with its own
// home folders so it never reads the user's repositories, plugins or caches.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { cachedBinary, REPO_ROOT } from './root.js';

export const CHART_DIR = join(REPO_ROOT, 'charts', 'kaos-memory');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HelmOptions {
  /** Extra environment (KUBECONFIG, say). */
  env?: NodeJS.ProcessEnv;
  /** Where helm and client-go keep their files; default .tmp/helm in the clone (ignored by git). */
  home?: string;
  /** Called with the child as soon as it runs (the demo kills it on Ctrl-C). */
  onSpawn?: (child: ChildProcess) => void;
  /** SIGTERM it after this long (then it resolves as killed). */
  timeoutMs?: number;
}

/** Runs helm; never rejects on a non-zero exit, so tests can assert on refusals. */
export function helm(args: string[], options: HelmOptions = {}): Promise<HelmResult> {
  const bin = cachedBinary('helm');
  const home = options.home ?? join(REPO_ROOT, '.tmp', 'helm');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: {
        PATH: process.env.PATH ?? '',
        // client-go keeps its discovery cache under $HOME/.kube; without HOME it uses the cwd.
        HOME: home,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill(), options.timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout,
        stderr: stderr || (signal ? `killed by ${signal}` : ''),
      });
    });
  });
}

/** Like helm(), but rejects with helm's own message when it fails. */
export async function helmOk(args: string[], options: HelmOptions = {}): Promise<string> {
  const result = await helm(args, options);
  if (result.code !== 0) {
    throw new Error(`helm ${args[0] ?? ''} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
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
