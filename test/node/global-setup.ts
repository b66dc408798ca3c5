// The node project's run: the pid that owns its one shared node (harness/node/shared.ts),
// and at the run's end that node's stop, which must leave nothing on the machine.
import { RUN_ENV, stopSharedNode } from '../../harness/node/shared.js';

export default function setup(): () => Promise<void> {
  process.env[RUN_ENV] = String(process.pid);
  return async () => {
    const left = await stopSharedNode(String(process.pid));
    if (left.length) throw new Error(`the shared node left behind:\n${left.join('\n')}`);
  };
}
