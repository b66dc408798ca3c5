// A folder as the kubelet mounts a Secret: files are symlinks through `..data`, which is
// swapped atomically to a new timestamped folder when the Secret changes.
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../harness/poll.js';
import { MountedValue } from './mounted.js';

let dir: string;
let version = 0;

async function mountSecret(value: string): Promise<void> {
  const folder = `..2026_03_0${++version}`;
  await mkdir(join(dir, folder));
  await writeFile(join(dir, folder, 'password'), value);
  await symlink(folder, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

function follow(rereadMs = 3_600_000) {
  const changes: string[] = [];
  const problems: string[] = [];
  const mounted = new MountedValue({
    dir,
    read: async () => {
      const value = await readFile(join(dir, 'password'), 'utf8');
      if (value === '') throw new Error('empty');
      return value;
    },
    current: 'one',
    onChange: (next) => void changes.push(next),
    onUnreadable: (err) => void problems.push((err as Error).message),
    rereadMs,
  });
  return { mounted, changes, problems };
}

describe('a value mounted from a Secret', () => {
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaos-mounted-'));
    await mountSecret('one');
    await symlink('..data/password', join(dir, 'password'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('hands on only a value different from the one in use', async () => {
    const { mounted, changes } = follow();
    await mounted.check();
    expect(changes).toEqual([]);
    await mountSecret('two');
    await mounted.check();
    await mounted.check();
    expect(changes).toEqual(['two']);
  });

  it('hands a value not taken (onChange false) on again, and then whatever replaced it', async () => {
    const offered: string[] = [];
    let take = false;
    const mounted = new MountedValue({
      dir,
      read: () => readFile(join(dir, 'password'), 'utf8'),
      current: 'one',
      onChange: (next) => {
        offered.push(next);
        return take;
      },
      onUnreadable: () => undefined,
      rereadMs: 3_600_000,
    });
    await mountSecret('two');
    await mounted.check();
    await mounted.check();
    expect(offered).toEqual(['two', 'two']);
    // Back to the old value: it is offered too, since 'two' may be in use now.
    await mountSecret('one');
    take = true;
    await mounted.check();
    await mounted.check();
    expect(offered).toEqual(['two', 'two', 'one']);
  });

  it('keeps the value in use while the mount is unreadable, saying so once', async () => {
    const { mounted, changes, problems } = follow();
    await mountSecret('');
    await mounted.check();
    await mounted.check();
    expect(problems).toEqual(['empty']);
    await mountSecret('three');
    await mounted.check();
    expect(changes).toEqual(['three']);
    await mountSecret('');
    await mounted.check();
    expect(problems).toEqual(['empty', 'empty']);
  });

  it("notices the kubelet's swap through the folder watch, with no re-read due", async () => {
    const { mounted, changes } = follow();
    mounted.start();
    try {
      await mountSecret('watched');
      await pollUntil('the swap to be read', () => changes.length > 0, { timeoutMs: 5_000 });
      expect(changes).toEqual(['watched']);
    } finally {
      mounted.stop();
    }
  });

  it('finds a change by re-reading when there is no folder to watch', async () => {
    const changes: string[] = [];
    const unwatchable: unknown[] = [];
    const mounted = new MountedValue({
      dir: join(dir, 'not-there'),
      read: () => readFile(join(dir, 'password'), 'utf8'),
      current: 'one',
      onChange: (next) => void changes.push(next),
      onUnreadable: () => undefined,
      onWatchError: (err) => void unwatchable.push(err),
      rereadMs: 20,
    });
    mounted.start();
    try {
      expect(unwatchable).toHaveLength(1);
      await mountSecret('polled');
      await pollUntil('the re-read', () => changes.length > 0, { timeoutMs: 5_000 });
      expect(changes).toEqual(['polled']);
    } finally {
      mounted.stop();
    }
  });
});
