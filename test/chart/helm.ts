// The chart tests' fixtures: value files, golden renders, and `helm template`
// of the chart with them (helm itself runs through the harness).
import { join } from 'node:path';
import { CHART_DIR, helm, type HelmResult } from '../../harness/helm.js';
import { REPO_ROOT } from '../../harness/root.js';

export { find, helm, helmOk, parseManifests, type Manifest } from '../../harness/helm.js';

export const CHART = CHART_DIR;
export const VALUES_DIR = join(REPO_ROOT, 'test', 'chart', 'values');
export const GOLDEN_DIR = join(REPO_ROOT, 'test', 'chart', 'golden');

export const RELEASE = 'kaos-memory';
export const NAMESPACE = 'kaos-system';

/** `helm template` of the chart with the given fixture files and --set pairs. */
export function template(valueFiles: string[] = [], sets: string[] = []): Promise<HelmResult> {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE];
  for (const file of valueFiles) args.push('--values', join(VALUES_DIR, file));
  for (const set of sets) args.push('--set', set);
  return helm(args);
}
