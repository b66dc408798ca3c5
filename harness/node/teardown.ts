// Taking the node down, and checking that nothing of it is left: processes, mounts,
// cgroups, network links, nftables tables, host paths, sysctls. Synchronous on
// purpose: the same code runs from a process 'exit' hook, where nothing async runs,
// and at start to clean up after a run that crashed.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { alive, processes, zombie, type ProcInfo } from './exec.js';
import { HOST_PATHS, NODE, stateDir } from './paths.js';

/** What start() records so a later run can undo it after a crash. */
export interface Owner {
  pid: number;
  /** net.ipv4.ip_forward before the node turned it on. */
  ipForward: string;
  /** net.bridge.bridge-nf-call-iptables before (Services between pods on one bridge need 1). */
  bridgeNfCall?: string;
  started: string;
}

export function ownerFile(dir = stateDir()): string {
  return join(dir, 'owner.json');
}

/** Records, before the node changes anything, what a later run needs to undo it after a crash. */
export function writeOwner(dir = stateDir()): void {
  const owner: Owner = {
    pid: process.pid,
    ipForward: readSysctl('net/ipv4/ip_forward'),
    bridgeNfCall: readSysctl('net/bridge/bridge-nf-call-iptables'),
    started: new Date().toISOString(),
  };
  writeFileSync(ownerFile(dir), JSON.stringify(owner));
}

export function readOwner(dir = stateDir()): Owner | undefined {
  try {
    return JSON.parse(readFileSync(ownerFile(dir), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** Names of the node's processes (by executable, as `pgrep -x` sees them). */
const NODE_PROCESS_NAMES = [
  'kubelet',
  'containerd',
  'containerd-shim-runc-v2',
  'kube-apiserver',
  'etcd',
  'kube-scheduler',
  'kube-controller-manager',
  'coredns',
  'kube-proxy',
  'hostpath-provisioner',
  'pause',
  'runc',
];

const NFT_TABLES = [
  ['ip', 'kube-proxy'],
  ['ip6', 'kube-proxy'],
  ['inet', 'kaos-node'],
] as const;

function exeName(proc: ProcInfo): string {
  const exe = proc.exe.replace(/ \(deleted\)$/, '');
  return exe ? exe.slice(exe.lastIndexOf('/') + 1) : proc.comm;
}

/** Processes that belong to a node: by name, by a path of the state folder in argv, or in a kubepods cgroup. */
export function nodeProcesses(dir = stateDir()): ProcInfo[] {
  const inPods = new Set(kubepodsPids());
  return processes().filter((proc) => {
    if (proc.pid === process.pid || zombie(proc.pid)) return false;
    if (inPods.has(proc.pid)) return true;
    if (proc.cmdline.some((arg) => arg.includes(dir))) return true;
    // etcd and kube-apiserver also run in the API-only test cluster (test/helpers/kube.ts),
    // from the same bin folder: those are the node's only by a state path in their argv
    // (above). The other names run nowhere else on a test machine.
    const name = exeName(proc);
    return NODE_PROCESS_NAMES.includes(name) && name !== 'etcd' && name !== 'kube-apiserver';
  });
}

function cgroupRoots(): string[] {
  const roots: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    if (fstype === 'cgroup' || fstype === 'cgroup2') roots.push(fields[4]!);
  }
  return roots;
}

/** kubepods folders in every cgroup hierarchy, deepest first. */
function kubepodsCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const entry of entries) walk(join(dir, entry));
    out.push(dir);
  };
  for (const root of cgroupRoots()) {
    for (const top of ['kubepods', 'kubepods.slice']) {
      if (existsSync(join(root, top))) walk(join(root, top));
    }
  }
  return out;
}

function kubepodsPids(): number[] {
  const pids = new Set<number>();
  for (const dir of kubepodsCgroups()) {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (line) pids.add(Number(line));
      }
    } catch {
      // removed meanwhile
    }
  }
  return [...pids];
}

interface Mount {
  target: string;
  source: string;
  fstype: string;
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const sep = fields.indexOf('-');
      const unescape = (s: string) =>
        s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return {
        target: unescape(fields[4]!),
        fstype: fields[sep + 1]!,
        source: unescape(fields[sep + 2]!),
      };
    });
}

function nodeMounts(dir: string): Mount[] {
  return mounts().filter(
    (m) =>
      m.target.startsWith(`${dir}/`) ||
      m.target === dir ||
      m.target.startsWith('/var/lib/kubelet') ||
      m.target.startsWith('/run/containerd') ||
      m.target.startsWith('/run/netns') ||
      m.fstype === 'nsfs',
  );
}

function links(): { name: string; kind: string; master?: string }[] {
  try {
    const out = execFileSync('ip', ['-d', '-j', 'link', 'show'], { encoding: 'utf8' });
    return (
      JSON.parse(out) as { ifname: string; master?: string; linkinfo?: { info_kind?: string } }[]
    ).map((l) => ({
      name: l.ifname,
      kind: l.linkinfo?.info_kind ?? '',
      ...(l.master && { master: l.master }),
    }));
  } catch {
    return [];
  }
}

function nftTables(): string[] {
  try {
    return execFileSync('nft', ['list', 'tables'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .map((line) => line.replace(/^table\s+/, '').trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Everything a node leaves behind; empty when the machine is as it was. */
export function leftovers(dir = stateDir()): string[] {
  const found: string[] = [];
  for (const proc of nodeProcesses(dir))
    found.push(`process ${proc.pid} ${exeName(proc)}: ${proc.cmdline.join(' ').slice(0, 120)}`);
  for (const m of nodeMounts(dir)) found.push(`mount ${m.target} (${m.fstype})`);
  for (const cg of kubepodsCgroups()) found.push(`cgroup ${cg}`);
  for (const link of links()) {
    if (link.name === NODE.bridge || link.kind === 'veth' || link.master === NODE.bridge) {
      found.push(`network link ${link.name}${link.kind ? ` (${link.kind})` : ''}`);
    }
  }
  const tables = nftTables();
  for (const [family, name] of NFT_TABLES) {
    if (tables.includes(`${family} ${name}`)) found.push(`nftables table ${family} ${name}`);
  }
  for (const path of [dir, `${dir}.lock`, ...HOST_PATHS]) {
    if (existsSync(path)) found.push(`path ${path}`);
  }
  return found;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

function killSync(pids: number[], graceMs: number): void {
  if (pids.length === 0) return;
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  const running = () => pids.filter((pid) => alive(pid) && !zombie(pid));
  while (running().length > 0 && Date.now() < deadline) sleepSync(20);
  for (const pid of running()) signal(pid, 'SIGKILL');
  const hard = Date.now() + 5_000;
  while (running().length > 0 && Date.now() < hard) sleepSync(20);
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // nothing to undo
  }
}

function removeEmptyDirs(path: string): void {
  try {
    if (!lstatSync(path).isDirectory()) return;
    for (const entry of readdirSync(path)) removeEmptyDirs(join(path, entry));
    rmdirSync(path);
  } catch {
    // not empty, or gone
  }
}

/**
 * What a node left when the process that ran it ended without stopping it (a crash, an
 * OOM kill), removed: every start does this first, and so does `cli.ts down`. `held`:
 * leftovers that are the caller's own (the lock a start holds).
 */
export function cleanUpEarlierRun(
  dir: string,
  log: (line: string) => void,
  held: readonly string[] = [],
): void {
  const stale = () => leftovers(dir).filter((item) => !held.includes(item));
  const found = stale().length;
  if (!found) return;
  log(`cleaning up after an earlier run (${found} leftovers)`);
  teardown(dir, { graceMs: 1_000 });
  // On a loaded machine a killed node process was once still exiting (its command line
  // already gone) after teardown's waits: what is left gets a few more passes.
  for (let pass = 0; pass < 3 && stale().length > 0; pass++) {
    sleepSync(2_000);
    teardown(dir, { graceMs: 1_000 });
  }
}

/**
 * Stops every node process and undoes everything the node did to the machine. Safe to
 * call when nothing runs, and after a crashed run (it reads what that run recorded).
 * `graceMs` is how long the kubelet and control plane get after SIGTERM.
 */
export function teardown(dir = stateDir(), { graceMs = 3_000 }: { graceMs?: number } = {}): void {
  const owner = readOwner(dir);
  const procs = () => nodeProcesses(dir);
  const byName = (...names: string[]) =>
    procs()
      .filter((p) => names.includes(exeName(p)))
      .map((p) => p.pid);

  const timing = process.env.KAOS_NODE_DEBUG
    ? (what: string, t: number) => console.error(`teardown: ${what} ${Date.now() - t}ms`)
    : () => undefined;
  let t = Date.now();
  // 1. The kubelet first, so nothing restarts containers; the node's agents with it.
  killSync(
    byName(
      'kubelet',
      'kube-proxy',
      'coredns',
      'hostpath-provisioner',
      'kube-scheduler',
      'kube-controller-manager',
    ),
    graceMs,
  );
  timing('kubelet and agents', t);
  t = Date.now();
  // 2. Every container process, wherever it is in kubepods; then the shims and containerd.
  for (let round = 0; round < 20; round++) {
    const pids = kubepodsPids().filter((pid) => pid !== process.pid);
    if (pids.length === 0) break;
    for (const pid of pids) signal(pid, 'SIGKILL');
    sleepSync(50);
  }
  killSync(byName('containerd-shim-runc-v2', 'runc'), 1_000);
  killSync(byName('containerd'), graceMs);
  timing('containers and containerd', t);
  t = Date.now();
  // 3. The control plane, then anything else that still names the state folder.
  // Their data is thrown away: no graceful shutdown to wait for.
  killSync(byName('kube-apiserver', 'etcd'), Math.min(graceMs, 500));
  killSync(
    procs().map((p) => p.pid),
    1_000,
  );
  timing('control plane', t);
  t = Date.now();

  // 4. Mounts: pod volumes, container roots, network namespaces, the kubelet's root,
  //    and last the tmpfs that holds the whole state folder.
  for (let round = 0; round < 5; round++) {
    const left = nodeMounts(dir).sort((a, b) => b.target.length - a.target.length);
    if (left.length === 0) break;
    for (const m of left) quiet('umount', ['--lazy', m.target]);
  }

  timing('mounts', t);
  t = Date.now();
  // 5. Network: the bridge (its veths go with their namespaces), our nftables tables,
  //    and the sysctls as they were.
  for (const link of links()) {
    if (link.master === NODE.bridge || (link.kind === 'veth' && link.name.startsWith('veth')))
      quiet('ip', ['link', 'delete', link.name]);
  }
  quiet('ip', ['link', 'delete', NODE.bridge]);
  const tables = nftTables();
  for (const [family, name] of NFT_TABLES) {
    if (tables.includes(`${family} ${name}`)) quiet('nft', ['delete', 'table', family, name]);
  }
  if (owner) {
    writeSysctl('net/ipv4/ip_forward', owner.ipForward);
    if (owner.bridgeNfCall !== undefined)
      writeSysctl('net/bridge/bridge-nf-call-iptables', owner.bridgeNfCall);
  }

  timing('network', t);
  t = Date.now();
  // 6. cgroups, deepest first (each must be empty of processes).
  for (let round = 0; round < 10; round++) {
    const left = kubepodsCgroups();
    if (left.length === 0) break;
    for (const cg of left) {
      try {
        rmdirSync(cg);
      } catch {
        // busy: a process is still exiting
      }
    }
    sleepSync(50);
  }

  timing('cgroups', t);
  t = Date.now();
  // 7. Files: the state folder, and what the kubelet, containerd and CNI write to fixed
  //    host paths. These paths hold nothing else on a machine without a real node, but
  //    only what is ours (or empty folders) is removed.
  rmSync(dir, { recursive: true, force: true });
  rmSync('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  removeEmptyDirs('/var/lib/kubelet');
  removeLinksInto('/var/log/containers', dir);
  removeEmptyDirs('/var/log/containers');
  removeEmptyDirs('/var/log/pods');
  try {
    for (const entry of readdirSync('/var/lib/cni/results')) {
      if (entry.startsWith(`${NODE.cniNetwork}-`) || entry.startsWith('cni-loopback-'))
        rmSync(join('/var/lib/cni/results', entry), { force: true });
    }
  } catch {
    // none
  }
  removeEmptyDirs('/var/lib/cni');
  if (!procs().some((p) => exeName(p) === 'containerd')) {
    try {
      for (const entry of readdirSync('/run/containerd/s'))
        rmSync(join('/run/containerd/s', entry), { force: true });
    } catch {
      // none
    }
    removeEmptyDirs('/run/containerd');
  }
  removeEmptyDirs('/opt/containerd');
  timing('files', t);
}

function removeLinksInto(folder: string, dir: string): void {
  try {
    for (const entry of readdirSync(folder)) {
      const path = join(folder, entry);
      try {
        if (readlinkSync(path).startsWith(dir) || !existsSync(path)) rmSync(path, { force: true });
      } catch {
        // not a link
      }
    }
  } catch {
    // no folder
  }
}

export function readSysctl(name: string): string {
  return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
}

export function writeSysctl(name: string, value: string): void {
  try {
    if (readSysctl(name) !== value) writeFileSync(`/proc/sys/${name}`, value);
  } catch {
    // not on this kernel
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
