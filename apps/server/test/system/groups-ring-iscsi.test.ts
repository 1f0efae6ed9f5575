import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect, type TestContext } from '../helpers/test-context.js';
import {
  closeIscsiContext,
  iscsiTestContext,
  qemuOpts,
  readRange,
  readThroughIscsi,
  seedImage,
  type LoopFs,
  type SeededImage,
} from '../helpers/iscsi.js';

const mac = () => `52:54:00:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/** The target, LUN, initiator and CHAP of the sanboot line and `set` lines of an iPXE script. */
function parse(script: string) {
  const get = (k: string) => new RegExp(`^set ${k} (\\S+)$`, 'm').exec(script)?.[1] ?? null;
  const u = /^sanboot iscsi:([^:]+)::(\d+):([0-9a-f]+):(\S+) \|\|/m.exec(script);
  if (!u) throw new Error(`no sanboot line in:\n${script}`);
  return {
    initiator: get('initiator-iqn')!,
    user: get('username')!,
    password: get('password')!,
    port: Number(u[2]),
    lun: parseInt(u[3]!, 16),
    iqn: u[4]!,
  };
}

/**
 * Staged release on the real disk path: a machine of a ring group boots the ring's version, a
 * machine of another group the published one. The script's target (tgtd, libiscsi/QEMU initiator)
 * serves the bytes of that version.
 */
describeEachDialect('ring release: boot scripts point at the ring version (real tgtd)', (dialect) => {
  let t: TestContext;
  let fs: LoopFs;
  let controlPort: number;
  let img: SeededImage;
  let scratch: string;
  let v2File: string;

  beforeAll(async () => {
    ({ t, fs, controlPort } = await iscsiTestContext(dialect));
    img = await seedImage(t.container, 'ring-image', { sizeMiB: 16, dataMiB: 1 });
    scratch = join(fs.dir, 'scratch');
    await mkdir(scratch, { recursive: true });
    v2File = join(scratch, 'v2-source.raw');
    const v2 = Buffer.alloc(16 * 1024 * 1024);
    randomBytes(1024 * 1024).copy(v2);
    await writeFile(v2File, v2);
  });

  afterAll(() => closeIscsiContext(t, controlPort, () => fs?.cleanup()));

  const boot = (m: string) =>
    t.app.inject({
      url: `/boot/ipxe?mac=${encodeURIComponent(m)}&arch=x86_64&platform=efi`,
      remoteAddress: '127.0.0.1',
      headers: { host: '127.0.0.1:8080' },
    });

  it('ring machine -> ring version target, other machine -> published version target; promote moves both', async () => {
    const v2 = await t.container.images.addVersionFromFile(img.imageId, v2File, {
      comment: 'update',
      author: 'test',
      parentVersionId: img.versionId,
    });
    const v2Path = t.container.imageFiles.inside(t.container.imageFiles.versionRelPath(img.imageId, v2.id));
    const ring = await t.container.groups.create({ name: 'Ring', bootImageId: img.imageId });
    const hall = await t.container.groups.create({ name: 'Hall', bootImageId: img.imageId });
    await t.container.releases.release(img.imageId, { versionId: v2.id, groupIds: [ring.id] }, 'test');
    const inRing = await t.container.machines.create({ name: 'ring-pc', mac: mac(), groupId: ring.id });
    const inHall = await t.container.machines.create({ name: 'hall-pc', mac: mac(), groupId: hall.id });

    const head = async (file: string) => readRange(file, 0, 64 * 1024);
    const served = async (machineId: string, body: string) => {
      const s = parse(body);
      const m = await t.container.machines.get(machineId);
      const session = await t.container.sessions.get(m.sessionId!);
      const bytes = await readThroughIscsi(
        qemuOpts(s.port, s.iqn, s.lun, { initiator: s.initiator, user: s.user, password: s.password }),
        0,
        64 * 1024,
        scratch,
      );
      return { session, bytes, script: body };
    };

    const r1 = await boot(inRing.mac);
    expect(r1.headers['x-ggnet-boot-result']).toBe('boot');
    const a = await served(inRing.id, r1.body);
    expect(a.session.versionId).toBe(v2.id);
    expect(a.script).toContain('ring-image v2');
    expect(a.bytes.equals(await head(v2Path))).toBe(true);

    const r2 = await boot(inHall.mac);
    expect(r2.headers['x-ggnet-boot-result']).toBe('boot');
    const b = await served(inHall.id, r2.body);
    expect(b.session.versionId).toBe(img.versionId);
    expect(b.script).toContain('ring-image v1');
    expect(b.bytes.equals(await head(img.file))).toBe(true);
    expect(b.bytes.equals(a.bytes)).toBe(false);

    // live state: which version each group boots and runs right now
    const state = await t.container.releases.state(img.imageId);
    expect(state.groups.find((g) => g.name === 'Ring')).toMatchObject({
      versionId: v2.id,
      source: 'ring',
      running: [{ versionId: v2.id, count: 1 }],
    });
    expect(state.groups.find((g) => g.name === 'Hall')).toMatchObject({
      versionId: img.versionId,
      source: 'published',
      running: [{ versionId: img.versionId, count: 1 }],
    });

    // promote: the hall machine's next boot gets v2 too (its running session keeps v1 until it ends;
    // a repeat request of a boot nobody logged in to yet would be handed the same session)
    await t.container.releases.promote(img.imageId, v2.id);
    expect((await t.container.sessions.get(b.session.id)).versionId).toBe(img.versionId);
    await t.container.orchestrator.endSession(b.session.id, 'stopped');
    const r3 = await boot(inHall.mac);
    expect(r3.headers['x-ggnet-boot-result']).toBe('boot');
    const c = await served(inHall.id, r3.body);
    expect(c.session.versionId).toBe(v2.id);
    expect(c.bytes.equals(await head(v2Path))).toBe(true);
  }, 180_000);
});
