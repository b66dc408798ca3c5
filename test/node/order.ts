// The node suites' order in a run. They share one node and one release, in order:
// the node's own checks need no chart; seed installs it; sidecar and failures upgrade it
// back to the defaults (undoing what the one before changed); credentials ends with
// `helm uninstall`, after which tenancy installs it with isolation on; crash kills the
// node and starts the run's second (and last) one, on which the demo installs its own
// release. A node suite not named here runs before crash.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const ORDER = ['node', 'seed', 'sidecar', 'failures', 'credentials', 'tenancy', 'crash', 'demo'];

function rank(spec: TestSpecification): number {
  const at = ORDER.findIndex((name) => spec.moduleId.endsWith(`/${name}.test.ts`));
  return at >= 0 ? at : ORDER.indexOf('crash') - 0.5;
}

export class NodeOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const inNode = (spec: TestSpecification) => spec.project.name === 'node';
    const node = sorted.filter(inNode).sort((a, b) => rank(a) - rank(b));
    let next = 0;
    return sorted.map((spec) => (inNode(spec) ? node[next++]! : spec));
  }
}
