import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sh } from './processes.js';

export type LoopFsKind = 'xfs' | 'btrfs' | 'ext4';

export interface LoopFs {
  /** The mounted filesystem. */
  dir: string;
  kind: LoopFsKind;
  /** Unmounts (retrying while a just-closed file keeps it busy) and removes the file; throws if it stays mounted. */
  cleanup(): Promise<void>;
}

const MKFS: Record<LoopFsKind, (img: string) => [string, string[]]> = {
  xfs: (img) => ['mkfs.xfs', ['-q', '-m', 'reflink=1', img]],
  btrfs: (img) => ['mkfs.btrfs', ['-q', img]],
  // no reserved blocks, no journal: the free space is what the test says
  ext4: (img) => ['mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', img]],
};

const mounted = (dir: string) =>
  sh('mountpoint', ['-q', dir]).then(
    () => true,
    () => false,
  );

/**
 * A filesystem in a sparse loop file under `parent` that the caller makes, mounts and unmounts
 * (root): XFS with reflink=1, btrfs, or ext4 without journal. The loop device goes with the unmount
 * (mount -o loop sets autoclear), the file with its temp dir.
 */
export async function makeLoopFs(kind: LoopFsKind, sizeMiB: number, parent = tmpdir()): Promise<LoopFs> {
  const base = mkdtempSync(join(parent, `ggnet-${kind}-`));
  const img = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  try {
    await mkdir(dir);
    const fh = await open(img, 'w');
    await fh.truncate(sizeMiB * 1024 * 1024);
    await fh.close();
    const [cmd, args] = MKFS[kind](img);
    await sh(cmd, args);
    await sh('mount', ['-o', 'loop', img, dir]);
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    kind,
    cleanup: async () => {
      for (let i = 0; i < 40 && (await mounted(dir)); i++) {
        await sh('umount', [dir]).catch(() => sleep(250));
      }
      if (await mounted(dir)) throw new Error(`could not unmount ${dir}`);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
