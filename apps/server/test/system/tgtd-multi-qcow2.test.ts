import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tgtShowTargets } from '@ggnet/testkit';
import { parseFuseMounts } from '../../src/adapters/qsd/qsd.adapter.js';
import { createTestContext, describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  QemuIoSession,
  closeQcow2Context,
  fileSha256,
  iscsiConfig,
  makeLoopFs,
  qemuOpts,
  readRange,
  readThroughIscsi,
  seedImage,
  writeThroughIscsi,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
const MiB = 1024 * 1024;
const fuseMounts = (dir: string) => parseFuseMounts(readFileSync('/proc/self/mountinfo', 'utf8'), dir);

/**
 * The qcow2 session-disk backend (qemu-storage-daemon FUSE exports) with two tgtd instances: each
 * session's export is the LUN of a target on its own daemon, read and written through that daemon's
 * portal port; when qemu-storage-daemon dies, the reconciler exports the disks again and re-adds the
 * LUN on the target's own daemon, and the client of the second daemon keeps its iSCSI session.
 */
describeEachDialect(
  'qcow2 overlays on two tgtd instances (real tgtd x2 + qemu-storage-daemon)',
  (dialect) => {
    let t: TestContext;
    let fs: LoopFs;
    let portalPort: number;
    let controlPort: number;
    let img: SeededImage;
    let scratch: string;
    let exportsDir: string;

    beforeAll(async () => {
      fs = await makeLoopFs('xfs');
      const ic = await iscsiConfig({ dataDir: join(fs.dir, 'data') }, 2);
      portalPort = ic.portalPort;
      controlPort = ic.config.tgtControlPort as number;
      t = await createTestContext(dialect, { config: ic.config });
      await t.container.settings.update({ storage: { backend: 'qcow2', reserveBytes: 0 } }, 'test');
      await t.container.iscsi.start();
      scratch = join(fs.dir, 'scratch');
      mkdirSync(scratch, { recursive: true });
      exportsDir = join(t.config.dataDir, 'exports');
      img = await seedImage(t.container, 'qcow2-multi', { sizeMiB: 64, dataMiB: 8 });
    });

    afterAll(() => closeQcow2Context(t, controlPort, fs));

    it('serves each overlay export from its own daemon; a qemu-storage-daemon crash is repaired on that daemon', async () => {
      const c = t.container;
      const masterSum = await fileSha256(img.file);
      const started = [];
      for (let i = 0; i < 4; i++) {
        const m = await c.machines.create({ name: `pc-qm-${i}`, mac: mac(), bootImageId: img.imageId });
        started.push(
          await c.orchestrator.startSession({ machineId: m.id, mode: 'normal', clientIp: '127.0.0.1' }),
        );
      }
      expect(new Set(started.map((s) => s.portalPort))).toEqual(new Set([portalPort, portalPort + 1]));
      const info = started.find((s) => s.portalPort === portalPort + 1)!;
      const s = await c.sessions.get(info.sessionId);
      const wb = (await c.repos.writebacks.findById(s.writebackId!))!;
      expect(wb).toMatchObject({ backend: 'qcow2', state: 'ready' });
      const exportFile = join(exportsDir, `${wb.id}.img`);
      // the export is the LUN of the second daemon's target (O_DIRECT), and of no target on the first
      const second = await tgtShowTargets(controlPort + 1);
      expect(second).toContain(info.targetIqn);
      expect(second).toContain(`Backing store path: ${exportFile}`);
      expect(second).toMatch(/Backing store path: \S+\.img\s+Backing store flags: \n/);
      expect(await tgtShowTargets(controlPort)).not.toContain(exportFile);
      expect((await c.qsd.exports()).sort()).toHaveLength(4);

      const opts = qemuOpts(info.portalPort, info.targetIqn, 1, {
        initiator: info.initiatorIqn,
        user: info.chap.username,
        password: info.chap.password,
      });
      const chunk = randomBytes(MiB);
      const w = await writeThroughIscsi(opts, 40 * MiB, chunk, scratch);
      expect(w.exitCode, w.stderr).toBe(0);
      expect((await readThroughIscsi(opts, 40 * MiB, MiB, scratch)).equals(chunk)).toBe(true);
      expect((await readThroughIscsi(opts, 0, MiB, scratch)).equals(await readRange(img.file, 0, MiB))).toBe(
        true,
      );
      expect(await fileSha256(img.file)).toBe(masterSum);

      // a running client of the second daemon while qemu-storage-daemon dies and comes back
      const q = new QemuIoSession(opts);
      try {
        await q.cmd('write -P 0x3c 12M 64k', /wrote 65536\/65536/);
        const pid = c.qsd.status().pid!;
        expect(pid).toBeGreaterThan(0);
        const restarted = new Promise<void>((resolve) => c.qsd.onRestart(resolve));
        process.kill(pid, 'SIGKILL');
        await restarted;
        const rep = await c.reconciler.run('qsd restarted');
        expect(rep.errors).toEqual([]);
        expect(rep.exportsRecreated).toBe(4);
        // the LUN was re-added on the second daemon; the first daemon got no copy of that target
        expect(await tgtShowTargets(controlPort)).not.toContain(info.targetIqn);
        expect(await tgtShowTargets(controlPort + 1)).toContain(`Backing store path: ${exportFile}`);
        // the same initiator session reads its data again once the LUN is back
        await q.cmdUntil('read -P 0x3c 12M 64k', /read 65536\/65536/);
        await q.cmd('write -P 0x4d 13M 64k', /wrote 65536\/65536/);
        await q.cmd('read -P 0x4d 13M 64k', /read 65536\/65536/);
      } finally {
        await q.close();
      }

      // every session ends: targets and exports go on both daemons, the master is unchanged
      for (const x of started) await c.sessions.stop(x.sessionId, {});
      await c.storage.idle();
      expect(await c.qsd.exports()).toEqual([]);
      expect(fuseMounts(exportsDir)).toEqual([]);
      expect(await tgtShowTargets(controlPort)).not.toMatch(/^Target \d+:/m);
      expect(await tgtShowTargets(controlPort + 1)).not.toMatch(/^Target \d+:/m);
      expect(await fileSha256(img.file)).toBe(masterSum);
    });
  },
);
