import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './lib/ggnet.js';
import {
  FRESH_CACHE,
  copyCheckout,
  overlayRoot,
  debianRoot,
  diffSnapshots,
  freshDebianUnavailable,
  nspawnRun,
  snapshotRoot,
} from './lib/fresh-debian.js';
import { artifactsDir } from './lib/world.js';

const unavailable = freshDebianUnavailable();

/**
 * A fresh Debian 12 (bookworm) server has nodejs 18 only, too old for GGnet. scripts/run.sh and
 * deploy/install.sh must stop there before changing anything, with a message that says what to
 * install. The root is compared before and after (every file's type, mode, size and mtime, and
 * the package list); the container has no network at all, so nothing could have been fetched.
 */
describe.skipIf(unavailable !== null)(
  'fresh Debian 12: run.sh and install.sh stop before changing anything',
  () => {
    const artifacts = artifactsDir('fresh-debian12');
    const runDir = join(FRESH_CACHE, `run-d12-${process.pid}`);
    let root = '';
    let unmount: (() => Promise<void>) | null = null;
    const log = (l: string) => console.log(`[fresh-debian12] ${l}`);

    beforeAll(async () => {
      const base = await debianRoot('bookworm', ['ca-certificates'], log);
      ({ root, unmount } = await overlayRoot(base, runDir));
      mkdirSync(join(root, 'root'), { recursive: true });
      await copyCheckout(REPO, join(root, 'root', 'ggnet'));
      // one empty run first: what systemd-nspawn itself touches is not the scripts' doing
      await nspawnRun(root, 'true', join(artifacts, 'nspawn.log'));
    }, 900_000);

    afterAll(async () => {
      await unmount?.();
    });

    for (const [name, cmd] of [
      ['scripts/run.sh', 'bash /root/ggnet/scripts/run.sh'],
      ['deploy/install.sh', 'bash /root/ggnet/deploy/install.sh'],
      ['deploy/install.sh --nginx', 'bash /root/ggnet/deploy/install.sh --nginx'],
    ] as const) {
      it(`${name} exits 1 with what to install, and the root is unchanged`, async () => {
        const before = await snapshotRoot(root);
        // the comparison sees the whole root (thousands of files), not an empty directory
        expect(before.files.size).toBeGreaterThan(3000);
        expect(before.packages).not.toMatch(/^nodejs /m);
        const r = await nspawnRun(root, cmd, join(artifacts, 'nspawn.log'));
        expect(r.code, r.stdout + r.stderr).toBe(1);
        const msg = r.stderr;
        expect(msg).toContain('GGnet needs Node.js >= 20.19 with npm, and this machine has no Node.js.');
        expect(msg).toContain('Debian 12 (bookworm) ships nodejs 18, which is too old');
        expect(msg).toContain('Nothing was changed.');
        expect(msg).toContain('install Debian 13 (trixie)');
        expect(msg).toContain('install Node.js 20.19 or newer with npm yourself');
        // nothing before the message either (no "install-deps: installing ...")
        expect(r.stdout).toBe('');
        const after = await snapshotRoot(root);
        expect(after.packages).toBe(before.packages);
        expect(diffSnapshots(before, after)).toEqual([]);
      });
    }
  },
);
