// The node harness from a shell:
//   node --import tsx harness/node/cli.ts images     build (or find cached) the images
//   node --import tsx harness/node/cli.ts up         start a node; Ctrl-C stops it
//                                       [--owner PID] …or PID's end (a test run's node)
//   node --import tsx harness/node/cli.ts down       tear down a node (also after a crash)
//   node --import tsx harness/node/cli.ts leftovers  list what a node left on the machine
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { NodeCluster } from './cluster.js';
import { alive } from './exec.js';
import { buildImages } from './images.js';
import { lockPath } from './lock.js';
import { stateDir } from './paths.js';
import { forgetRun } from './shared.js';
import { cleanUpEarlierRun, leftovers } from './teardown.js';

const log = (line: string) => console.log(`node: ${line}`);

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
}

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'images': {
      const began = Date.now();
      for (const image of await buildImages({ log })) {
        log(`${image.name}${image.cached ? ' (cached)' : ''} ${image.archive}`);
      }
      log(`images ready in ${((Date.now() - began) / 1000).toFixed(1)}s`);
      return 0;
    }
    case 'up': {
      const cluster = await NodeCluster.start({ log });
      log(`KUBECONFIG=${cluster.kubeconfigPath}`);
      log(`timings ${JSON.stringify(cluster.timings)}`);
      log('running; Ctrl-C (SIGINT) or SIGTERM stops it');
      const owner = Number(option('--owner'));
      let watch: NodeJS.Timeout | undefined;
      let ownerGone = false;
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        // A test run killed before its teardown: the node must not outlive it.
        if (owner > 0) {
          watch = setInterval(() => {
            if (alive(owner)) return;
            ownerGone = true;
            resolve();
          }, 1_000);
        }
      });
      clearInterval(watch);
      const began = Date.now();
      await cluster.stop();
      log(`stopped in ${((Date.now() - began) / 1000).toFixed(1)}s`);
      const left = leftovers();
      for (const item of left) log(`left behind: ${item}`);
      // Nobody is left to read the run's record and this output: they go too.
      if (ownerGone) forgetRun(String(owner));
      return left.length ? 1 : 0;
    }
    case 'down': {
      const holder = existsSync(lockPath()) ? Number(readFileSync(lockPath(), 'utf8').trim()) : 0;
      if (holder > 0 && holder !== process.pid && alive(holder)) {
        log(`the node belongs to running process ${holder}: stop it there`);
        return 1;
      }
      cleanUpEarlierRun(stateDir(), log);
      rmSync(lockPath(), { force: true });
      const left = leftovers();
      for (const item of left) log(`left behind: ${item}`);
      return left.length ? 1 : 0;
    }
    case 'leftovers': {
      const left = leftovers();
      for (const item of left) console.log(item);
      return left.length ? 1 : 0;
    }
    default:
      console.error('usage: cli.ts images | up | down | leftovers');
      return 2;
  }
}

process.exitCode = await main(process.argv[2]);
