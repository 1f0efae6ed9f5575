import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { LioDriver, lioBackstoreName, parseLioConfig, parseLioSessions } from './lio.adapter.js';

// LIO cannot run on the CI machine (no configfs): these tests pin the exact targetcli argument arrays
// and the parsing of its saveconfig JSON and `sessions detail` output.

const IQN = 'iqn.2024-01.lan.ggnet:pc-01';
const INI = 'iqn.2024-01.lan.ggnet:initiator.pc-01';

const SAVECONFIG = {
  fabric_modules: [],
  storage_objects: [
    {
      name: 'ggnet-pc-01-l0',
      plugin: 'fileio',
      dev: '/var/lib/ggnet/writebacks/a.raw',
      size: 67108864,
      write_back: true,
      wwn: '0123456789abcdef',
    },
    { name: 'other', plugin: 'block', dev: '/dev/sdb' },
  ],
  targets: [
    {
      wwn: IQN,
      fabric: 'iscsi',
      tpgs: [
        {
          tag: 1,
          enable: true,
          attributes: { authentication: 1, generate_node_acls: 0 },
          luns: [{ index: 0, storage_object: '/backstores/fileio/ggnet-pc-01-l0' }],
          node_acls: [
            {
              node_wwn: INI,
              chap_userid: 'pc-01',
              chap_password: 'Secret1234567890',
              chap_mutual_userid: 'tgt.pc-01',
              chap_mutual_password: 'Mutual1234567890',
              mapped_luns: [{ index: 0, tpg_lun: 0, write_protect: false }],
            },
          ],
          portals: [{ ip_address: '10.0.0.1', port: 3260 }],
        },
      ],
    },
    { wwn: 'naa.5001405abcdef', fabric: 'loopback', tpgs: [] },
  ],
};

const SESSIONS = `alias: client-1	sid: 3 type: Normal session-state: LOGGED_IN
    name: ${INI} (authenticated)
        mapped-lun: 0 backstore: fileio/ggnet-pc-01-l0 mode: rw
        address: 10.0.0.21 (TCP)  cid: 0 connection-state: LOGGED_IN
alias: other	sid: 4 type: Normal session-state: LOGGED_IN
    name: iqn.1991-05.com.microsoft:x (NOT AUTHENTICATED)
        mapped-lun: 0 backstore: block/other mode: rw
        address: 10.0.0.99 (TCP)  cid: 0 connection-state: LOGGED_IN
`;

describe('LIO parsing', () => {
  it('reads iSCSI targets from saveconfig JSON (LUN paths through the storage objects, ACLs, CHAP users)', () => {
    expect(parseLioConfig(JSON.stringify(SAVECONFIG))).toEqual([
      {
        iqn: IQN,
        luns: [{ lun: 0, path: '/var/lib/ggnet/writebacks/a.raw' }],
        initiators: [INI],
        addresses: [],
        chapUsers: ['pc-01'],
        mutualUser: 'tgt.pc-01',
        connections: [],
      },
    ]);
  });

  it('reads sessions detail', () => {
    expect(parseLioSessions(SESSIONS)).toEqual([
      { sid: '3', initiator: INI, backstores: ['ggnet-pc-01-l0'], addresses: ['10.0.0.21'] },
      { sid: '4', initiator: 'iqn.1991-05.com.microsoft:x', backstores: ['other'], addresses: ['10.0.0.99'] },
    ]);
    expect(parseLioSessions('(no open sessions)\n')).toEqual([]);
  });

  it('names backstores after the target so sessions map back to it', () => {
    expect(lioBackstoreName(IQN, 0)).toBe('ggnet-pc-01-l0');
    expect(lioBackstoreName('iqn.2024-01.lan.ggnet:pc-01.m1a2b3c', 1)).toBe('ggnet-pc-01.m1a2b3c-l1');
  });
});

describe('LioDriver commands', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-lio-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake targetcli whose saveconfig writes the given state to the requested file. */
  const fake = (state: unknown = { storage_objects: [], targets: [] }) =>
    new FakeProcessRunner()
      .on(
        (c) => c.args[0] === 'saveconfig',
        (c) => {
          writeFileSync(c.args[1]!.replace(/^savefile=/, ''), JSON.stringify(state));
          return {};
        },
      )
      .on((c) => c.args[0] === 'sessions', { stdout: SESSIONS });

  it('creates a target with portal, auth attributes, a fileio LUN, an ACL and CHAP with mutual CHAP', async () => {
    const r = fake();
    const d = new LioDriver(r, dir, { host: '10.0.0.1', port: 3260 });
    await d.createTarget(IQN);
    await d.addLun(IQN, { lun: 0, path: '/var/lib/ggnet/writebacks/a.raw', serial: '0123456789abcdef' });
    await d.setChap(
      IQN,
      INI,
      { user: 'pc-01', secret: 'Secret1234567890' },
      { user: 'tgt.pc-01', secret: 'Mutual1234567890' },
    );
    const cmds = r.calls
      .filter((c) => c.args[0] !== 'saveconfig' && c.args[0] !== 'sessions')
      .map((c) => [c.command, ...c.args]);
    expect(cmds).toEqual([
      [
        'targetcli',
        'set',
        'global',
        'auto_save_on_exit=false',
        'auto_add_default_portal=false',
        'auto_add_mapped_luns=true',
      ],
      ['targetcli', '/iscsi', 'create', IQN],
      ['targetcli', `/iscsi/${IQN}/tpg1/portals`, 'create', '10.0.0.1', '3260'],
      [
        'targetcli',
        `/iscsi/${IQN}/tpg1`,
        'set',
        'attribute',
        'authentication=1',
        'generate_node_acls=0',
        'demo_mode_write_protect=1',
      ],
      [
        'targetcli',
        '/backstores/fileio',
        'create',
        'name=ggnet-pc-01-l0',
        'file_or_dev=/var/lib/ggnet/writebacks/a.raw',
        'wwn=0123456789abcdef',
      ],
      ['targetcli', `/iscsi/${IQN}/tpg1/luns`, 'create', '/backstores/fileio/ggnet-pc-01-l0', 'lun=0'],
      ['targetcli', `/iscsi/${IQN}/tpg1/acls`, 'create', INI],
      [
        'targetcli',
        `/iscsi/${IQN}/tpg1/acls/${INI}`,
        'set',
        'auth',
        'userid=pc-01',
        'password=Secret1234567890',
        'mutual_userid=tgt.pc-01',
        'mutual_password=Mutual1234567890',
      ],
    ]);
  });

  it('uses the block backstore for zvols and lists live connections per target from sessions detail', async () => {
    const r = fake(SAVECONFIG);
    const d = new LioDriver(r, dir, { host: '10.0.0.1', port: 3260 });
    await d.addLun(IQN, { lun: 1, path: '/dev/zvol/tank/ggnet/writebacks/x', serial: 'ab' });
    expect(r.lines().slice(1)).toEqual([
      'targetcli /backstores/block create name=ggnet-pc-01-l1 dev=/dev/zvol/tank/ggnet/writebacks/x wwn=ab',
      `targetcli /iscsi/${IQN}/tpg1/luns create /backstores/block/ggnet-pc-01-l1 lun=1`,
    ]);
    const [t] = await d.list();
    expect(t!.connections).toEqual([{ initiator: INI, address: '10.0.0.21', sid: '3', cid: '0' }]);
    expect(await d.kick(IQN, t!.connections[0]!)).toBe(false);
  });

  it('deletes the target and its backstores; refuses to create one that exists', async () => {
    const r = fake(SAVECONFIG);
    const d = new LioDriver(r, dir, { host: '10.0.0.1', port: 3260 });
    await d.deleteTarget(IQN, { force: true });
    expect(r.lines().filter((l) => / delete /.test(l))).toEqual([
      `targetcli /iscsi delete ${IQN}`,
      'targetcli /backstores/fileio delete ggnet-pc-01-l0',
      'targetcli /backstores/block delete ggnet-pc-01-l0',
    ]);
    await expect(d.createTarget(IQN)).rejects.toThrow(/already exists/);
  });
});
