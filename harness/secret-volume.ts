// A Secret volume as the kubelet writes it (its AtomicWriter): the files live in a
// timestamped folder, `..data` is a symlink to it, and each key is a symlink through
// `..data`. An update writes a new folder, renames a new `..data` over the old one, then
// removes the old folder: a reader that resolves `..data` once sees the old set of files or
// the new one, while one that opens file after file may see a mix. Lets a test hand a
// process a mounted Secret and change it the way a running pod sees it change.
import {
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

let generation = 0;

/** Makes `dir` hold exactly `files` (key → content), atomically, as the kubelet does. */
export function writeSecretVolume(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${process.pid}_${++generation}`;
  mkdirSync(join(dir, stamp), { mode: 0o755 });
  for (const [key, content] of Object.entries(files)) {
    writeFileSync(join(dir, stamp, key), content, { mode: 0o644 });
  }
  let previous: string | undefined;
  try {
    previous = readlinkSync(join(dir, '..data'));
  } catch {
    previous = undefined;
  }
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const key of Object.keys(files)) {
    try {
      symlinkSync(join('..data', key), join(dir, key));
    } catch {
      // Already linked through ..data: it now shows the new content.
    }
  }
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith('..') && !(entry in files)) rmSync(join(dir, entry), { force: true });
  }
  if (previous !== undefined) rmSync(join(dir, previous), { recursive: true, force: true });
}
