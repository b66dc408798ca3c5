// The node suites' order in a run. They share one node and one release, in order:
// the node's own checks need no chart; seed installs it; sidecar and failures upgrade it
// back to the defaults (undoing what the one before changed); credentials ends with
// `helm uninstall`, after which tenancy installs it with isolation on; the demo removes
// that release and installs its own; crash kills the node and cleans up after it, so it
// is last: the run boots one node. A node suite not named here runs before the demo.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const ORDER = ['node', 'seed', 'sidecar', 'failures', 'credentials', 'tenancy', 'demo', 'crash'];

function rank(spec: TestSpecification): number {
  const at = ORDER.findIndex((name) => spec.moduleId.endsWith(`/${name}.test.ts`));
  return at >= 0 ? at : ORDER.indexOf('demo') - 0.5;
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
