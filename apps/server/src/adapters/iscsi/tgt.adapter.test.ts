import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { TargetExistsError } from './iscsi-target.adapter.js';
import { TGT_MODE as M, TGT_OP as O } from './tgt-ipc.js';
import {
  TGT_OPS,
  TGT_TARGET_PARAMS,
  TgtDriver,
  TgtSecretTransportError,
  tgtIpcRequest,
  tgtadmArgs,
  parseTgtConnRx,
  parseTgtPortals,
  parseTgtShow,
} from './tgt.adapter.js';

const SHOW = readFileSync(new URL('./__fixtures__/tgtadm-show.txt', import.meta.url), 'utf8');
const T = ['-C', '7300', '--lld', 'iscsi'];

describe('parseTgtShow', () => {
  it('reads targets, LUNs (not the controller), accounts, ACLs and logged-in initiators', () => {
    const [a, b] = parseTgtShow(SHOW);
    expect(a).toEqual({
      tid: 1,
      iqn: 'iqn.2024-01.lan.ggnet:pc-01',
      luns: [{ lun: 1, path: '/var/lib/ggnet/writebacks/6f1c0a4e-0000-4000-8000-000000000001.raw' }],
      initiators: ['iqn.2024-01.lan.ggnet:initiator.pc-01'],
      addresses: [],
      chapUsers: ['pc-01'],
      mutualUser: 'tgt.pc-01',
      connections: [
        { initiator: 'iqn.2024-01.lan.ggnet:initiator.pc-01', address: '10.0.0.21', sid: '4', cid: '0' },
      ],
    });
    expect(b).toMatchObject({
      tid: 2,
      iqn: 'iqn.2024-01.lan.ggnet:pc-02',
      initiators: ['iqn.2024-01.lan.ggnet:initiator.pc-02'],
      addresses: ['192.168.1.0/24'],
      chapUsers: ['pc-02'],
      mutualUser: null,
      connections: [],
    });
    expect(b!.luns.map((l) => l.lun)).toEqual([1, 2]);
  });

  it('reads an empty daemon and portal lines', () => {
    expect(parseTgtShow('')).toEqual([]);
    expect(parseTgtPortals('Portal: 127.0.0.1:3260,1\nPortal: 0.0.0.0:3261,1\n')).toEqual([
      '127.0.0.1:3260',
      '0.0.0.0:3261',
    ]);
  });
});

describe('the ops table', () => {
  // Each operation is described once; both forms must be what tgtadm itself sends and takes
  // (the socket form checked byte for byte against tgtadm in tgt-ipc.test.ts).
  const cases: Array<[string, ReturnType<(typeof TGT_OPS)[keyof typeof TGT_OPS]>, object, string | null]> = [
    [
      'showTargets',
      TGT_OPS.showTargets(),
      { mode: M.target, op: O.show, lld: 'iscsi' },
      '--lld iscsi --op show --mode target',
    ],
    [
      'newTarget',
      TGT_OPS.newTarget(3, 'iqn.2024-01.lan.ggnet:a'),
      { mode: M.target, op: O.new, lld: 'iscsi', tid: 3, params: 'targetname=iqn.2024-01.lan.ggnet:a' },
      '--lld iscsi --op new --mode target --tid 3 --targetname iqn.2024-01.lan.ggnet:a',
    ],
    [
      'deleteTarget',
      TGT_OPS.deleteTarget(3, true),
      { mode: M.target, op: O.delete, lld: 'iscsi', tid: 3, force: true },
      '--lld iscsi --op delete --mode target --tid 3 --force',
    ],
    [
      'deleteTarget (no force)',
      TGT_OPS.deleteTarget(3, false),
      { mode: M.target, op: O.delete, lld: 'iscsi', tid: 3, force: false },
      '--lld iscsi --op delete --mode target --tid 3',
    ],
    [
      'newLun',
      TGT_OPS.newLun(3, 1, '/var/lib/ggnet/w/a.raw'),
      { mode: M.device, op: O.new, lld: 'iscsi', tid: 3, lun: 1, params: 'path=/var/lib/ggnet/w/a.raw' },
      '--lld iscsi --op new --mode logicalunit --tid 3 --lun 1 --backing-store /var/lib/ggnet/w/a.raw',
    ],
    [
      'updateLun',
      TGT_OPS.updateLun(3, 1, 'vendor_id=GGnet,scsi_sn=abc'),
      {
        mode: M.device,
        op: O.update,
        lld: 'iscsi',
        tid: 3,
        lun: 1,
        params: 'targetOps vendor_id=GGnet,scsi_sn=abc,',
      },
      '--lld iscsi --op update --mode logicalunit --tid 3 --lun 1 --params vendor_id=GGnet,scsi_sn=abc',
    ],
    [
      'deleteLun',
      TGT_OPS.deleteLun(3, 2),
      { mode: M.device, op: O.delete, lld: 'iscsi', tid: 3, lun: 2 },
      '--lld iscsi --op delete --mode logicalunit --tid 3 --lun 2',
    ],
    [
      'acl bind',
      TGT_OPS.acl(3, 'initiator-name', 'iqn.2024-01.lan.ggnet:i'),
      { mode: M.target, op: O.bind, lld: 'iscsi', tid: 3, params: 'initiator-name=iqn.2024-01.lan.ggnet:i' },
      '--lld iscsi --op bind --mode target --tid 3 --initiator-name iqn.2024-01.lan.ggnet:i',
    ],
    [
      'acl unbind',
      TGT_OPS.acl(3, 'initiator-address', '10.0.0.21', true),
      { mode: M.target, op: O.unbind, lld: 'iscsi', tid: 3, params: 'initiator-address=10.0.0.21' },
      '--lld iscsi --op unbind --mode target --tid 3 --initiator-address 10.0.0.21',
    ],
    [
      'newAccount (socket only)',
      TGT_OPS.newAccount('pc-01', 'Secret1234567890'),
      { mode: M.account, op: O.new, lld: 'iscsi', params: 'user=pc-01,password=Secret1234567890' },
      null,
    ],
    [
      'showAccounts',
      TGT_OPS.showAccounts(),
      { mode: M.account, op: O.show, lld: 'iscsi' },
      '--lld iscsi --op show --mode account',
    ],
    [
      'deleteAccount',
      TGT_OPS.deleteAccount('pc-01'),
      { mode: M.account, op: O.delete, lld: 'iscsi', params: 'user=pc-01' },
      '--lld iscsi --op delete --mode account --user pc-01',
    ],
    [
      'bindAccount incoming',
      TGT_OPS.bindAccount(3, 'pc-01', false),
      { mode: M.account, op: O.bind, lld: 'iscsi', tid: 3, params: 'user=pc-01', acDir: 0 },
      '--lld iscsi --op bind --mode account --tid 3 --user pc-01',
    ],
    [
      'bindAccount outgoing',
      TGT_OPS.bindAccount(3, 'tgt.pc-01', true),
      { mode: M.account, op: O.bind, lld: 'iscsi', tid: 3, params: 'user=tgt.pc-01', acDir: 1 },
      '--lld iscsi --op bind --mode account --tid 3 --user tgt.pc-01 --outgoing',
    ],
    [
      'connectionStats',
      TGT_OPS.connectionStats(3, 4, 0),
      { mode: M.connection, op: O.stats, lld: 'iscsi', tid: 3, sid: 4, cid: 0 },
      '--lld iscsi --op stat --mode conn --tid 3 --sid 4 --cid 0',
    ],
    [
      'deleteConnection',
      TGT_OPS.deleteConnection(3, 4, 0),
      { mode: M.connection, op: O.delete, lld: 'iscsi', tid: 3, sid: 4, cid: 0 },
      '--lld iscsi --op delete --mode conn --tid 3 --sid 4 --cid 0',
    ],
    [
      'showPortals',
      TGT_OPS.showPortals(),
      { mode: M.portal, op: O.show, lld: 'iscsi' },
      '--lld iscsi --op show --mode portal',
    ],
    [
      'portal new',
      TGT_OPS.portal(true, '10.0.0.1:3260'),
      { mode: M.portal, op: O.new, lld: 'iscsi', params: 'portalOps portal=10.0.0.1:3260,' },
      '--lld iscsi --op new --mode portal --param portal=10.0.0.1:3260',
    ],
    [
      'portal delete',
      TGT_OPS.portal(false, '0.0.0.0:3260'),
      { mode: M.portal, op: O.delete, lld: 'iscsi', params: 'portalOps portal=0.0.0.0:3260,' },
      '--lld iscsi --op delete --mode portal --param portal=0.0.0.0:3260',
    ],
    [
      'updateTarget',
      TGT_OPS.updateTarget(3, 'MaxRecvDataSegmentLength', '262144'),
      { mode: M.target, op: O.update, lld: 'iscsi', tid: 3, params: 'MaxRecvDataSegmentLength=262144' },
      '--lld iscsi --op update --mode target --tid 3 --name MaxRecvDataSegmentLength --value 262144',
    ],
    ['showSystem', TGT_OPS.showSystem(), { mode: M.system, op: O.show }, '--op show --mode sys'],
    ['deleteSystem', TGT_OPS.deleteSystem(), { mode: M.system, op: O.delete }, '--op delete --mode system'],
  ];

  it.each(cases)('%s: the socket request and the tgtadm arguments', (_name, op, ipc, cli) => {
    expect(tgtIpcRequest(op)).toEqual(ipc);
    expect(tgtadmArgs(op)?.join(' ') ?? null).toBe(cli);
  });

  it('covers every operation of the table', () => {
    const named = new Set(cases.map(([n]) => n.split(' ')[0]));
    expect(Object.keys(TGT_OPS).filter((k) => !named.has(k))).toEqual([]);
  });
});

describe('TgtDriver commands', () => {
  it('creates a target, LUN with a stable serial and the ACLs (name or address) with exact tgtadm arguments', async () => {
    const r = new FakeProcessRunner();
    const d = new TgtDriver(r, 7300);
    const iqn = 'iqn.2024-01.lan.ggnet:pc-01';
    await d.createTarget(iqn);
    await d.addLun(iqn, { lun: 1, path: '/data/writebacks/x.raw', serial: 'abcdef0123456789' });
    await d.bindInitiator(iqn, 'iqn.2024-01.lan.ggnet:initiator.pc-01');
    await d.bindAddress(iqn, '10.0.0.21');
    await d.unbindAddress(iqn, '10.0.0.21');
    expect(r.calls.map((c) => c.args)).toEqual([
      [...T, '--op', 'new', '--mode', 'target', '--tid', '1', '--targetname', iqn],
      [
        ...T,
        '--op',
        'new',
        '--mode',
        'logicalunit',
        '--tid',
        '1',
        '--lun',
        '1',
        '--backing-store',
        '/data/writebacks/x.raw',
      ],
      [
        ...T,
        '--op',
        'update',
        '--mode',
        'logicalunit',
        '--tid',
        '1',
        '--lun',
        '1',
        '--params',
        'vendor_id=GGnet,product_id=VirtualDisk,scsi_sn=abcdef0123456789',
      ],
      [
        ...T,
        '--op',
        'bind',
        '--mode',
        'target',
        '--tid',
        '1',
        '--initiator-name',
        'iqn.2024-01.lan.ggnet:initiator.pc-01',
      ],
      [...T, '--op', 'bind', '--mode', 'target', '--tid', '1', '--initiator-address', '10.0.0.21'],
      [...T, '--op', 'unbind', '--mode', 'target', '--tid', '1', '--initiator-address', '10.0.0.21'],
    ]);
    expect(r.calls.every((c) => c.command === 'tgtadm')).toBe(true);
    await expect(d.bindAddress(iqn, '10.0.0.21 --force')).rejects.toThrow(/invalid initiator address/);
  });

  it('gives a new target its session parameters before anything else, and keeps it when tgtd refuses one', async () => {
    const r = new FakeProcessRunner();
    const refused: string[] = [];
    const d = new TgtDriver(r, 7300, {
      targetParams: { ...TGT_TARGET_PARAMS, Bogus: '1' },
      onParamError: (name) => refused.push(name),
    });
    r.on((c) => c.args.includes('Bogus'), { exitCode: 22, stderr: 'tgtadm: invalid request' });
    const iqn = 'iqn.2024-01.lan.ggnet:pc-02';
    await d.createTarget(iqn);
    expect(r.calls.map((c) => c.args.slice(2).join(' '))).toEqual([
      `--lld iscsi --op new --mode target --tid 1 --targetname ${iqn}`,
      '--lld iscsi --op update --mode target --tid 1 --name MaxRecvDataSegmentLength --value 262144',
      '--lld iscsi --op update --mode target --tid 1 --name Bogus --value 1',
    ]);
    expect(refused).toEqual(['Bogus']);
    // the target is known and usable
    await d.addLun(iqn, { lun: 1, path: '/data/writebacks/y.raw', serial: 'abc' });
    expect(r.calls.at(-2)!.args).toContain('/data/writebacks/y.raw');
  });

  it('never puts a CHAP secret on a command line: with the tgtadm fallback, accounts are refused', async () => {
    const r = new FakeProcessRunner();
    const d = new TgtDriver(r, 7300, { transport: 'tgtadm' });
    const iqn = 'iqn.2024-01.lan.ggnet:pc-01';
    await d.createTarget(iqn);
    await expect(
      d.setChap(
        iqn,
        'iqn.2024-01.lan.ggnet:initiator.pc-01',
        { user: 'pc-01.s0a1b2c3d', secret: 'Secret1234567890' },
        { user: 'tgt.pc-01.s0a1b2c3d', secret: 'Mutual1234567890' },
      ),
    ).rejects.toBeInstanceOf(TgtSecretTransportError);
    const lines = r.lines().join('\n');
    expect(lines).not.toContain('Secret1234567890');
    expect(lines).not.toContain('Mutual1234567890');
    expect(lines).not.toContain('--password');
    // what carries no secret still works over tgtadm: listing and deleting accounts
    r.on((c) => c.args.includes('account') && c.args.includes('show'), {
      stdout: 'Account list:\n    pc-01.s0a1b2c3d\n    tgt.pc-01.s0a1b2c3d\n',
    });
    expect(await d.accounts()).toEqual(['pc-01.s0a1b2c3d', 'tgt.pc-01.s0a1b2c3d']);
    await d.deleteAccount('pc-01.s0a1b2c3d');
    expect(r.lines().at(-1)).toBe(
      'tgtadm -C 7300 --lld iscsi --op delete --mode account --user pc-01.s0a1b2c3d',
    );
  });

  it("reads a connection's received bytes from `--op stat --mode conn`", async () => {
    expect(
      parseTgtConnRx(
        'sid cid rxdata_octets txdata_octets dataout_pdus datain_pdus cmd_pdus rsp_pdus\n  1   0          1404          2212            0           3        7        7\n',
      ),
    ).toBe(1404);
    expect(parseTgtConnRx('')).toBeNull();
    const r = new FakeProcessRunner()
      .on((c) => c.args.includes('stat'), {
        stdout:
          'sid cid rxdata_octets txdata_octets dataout_pdus datain_pdus cmd_pdus rsp_pdus\n  4   0   96   48  0  0  0  0\n',
      })
      .on((c) => c.args.includes('show'), { stdout: SHOW });
    const d = new TgtDriver(r, 7300);
    const [t] = await d.list();
    expect(await d.connectionRx(t!.iqn, t!.connections[0]!)).toBe(96);
    expect(r.lines().at(-1)).toBe('tgtadm -C 7300 --lld iscsi --op stat --mode conn --tid 1 --sid 4 --cid 0');
  });

  it('allocates the next free tid and tells a taken name from a taken tid', async () => {
    const r = new FakeProcessRunner();
    let shown = SHOW;
    r.on(
      (c) => c.args.includes('show'),
      () => ({ stdout: shown }),
    );
    r.on(
      (c) =>
        c.args.includes('new') &&
        c.args.includes('target') &&
        c.args.includes('3') &&
        !shown.includes('pc-03'),
      () => {
        // someone else took tid 3 meanwhile
        shown += '\nTarget 3: iqn.2024-01.lan.ggnet:other\n';
        return { exitCode: 22, stderr: 'tgtadm: this target already exists' };
      },
    );
    r.on((c) => c.args.includes('--targetname') && c.args.includes('iqn.2024-01.lan.ggnet:pc-01'), {
      exitCode: 22,
      stderr: 'tgtadm: this target already exists',
    });
    const d = new TgtDriver(r, 7300);
    await d.list();
    await d.createTarget('iqn.2024-01.lan.ggnet:pc-03');
    const news = r.calls
      .filter((c) => c.args.includes('--targetname'))
      .map((c) => c.args[c.args.indexOf('--tid') + 1]);
    expect(news).toEqual(['3', '4']);
    await expect(d.createTarget('iqn.2024-01.lan.ggnet:pc-01')).rejects.toBeInstanceOf(TargetExistsError);
  });

  it('deletes a target with force and then its accounts; an unknown target is a no-op', async () => {
    const r = new FakeProcessRunner().on((c) => c.args.includes('show'), { stdout: SHOW });
    const d = new TgtDriver(r, 7300);
    await d.deleteTarget('iqn.2024-01.lan.ggnet:pc-01', { force: true });
    expect(r.calls.slice(1).map((c) => c.args.slice(4).join(' '))).toEqual([
      '--op delete --mode target --tid 1 --force',
      '--op delete --mode account --user pc-01',
      '--op delete --mode account --user tgt.pc-01',
    ]);
    const n = r.calls.length;
    await d.deleteTarget('iqn.2024-01.lan.ggnet:unknown', { force: true });
    expect(r.calls.slice(n).map((c) => c.args.slice(4, 6).join(' '))).toEqual(['--op show']);
  });

  it('kicks one connection and moves the portal', async () => {
    const r = new FakeProcessRunner()
      .on((c) => c.args.includes('portal') && c.args.includes('show'), { stdout: 'Portal: 0.0.0.0:3260,1\n' })
      .on((c) => c.args.includes('show'), { stdout: SHOW });
    const d = new TgtDriver(r, 7300);
    const [t] = await d.list();
    await d.kick(t!.iqn, t!.connections[0]!);
    await d.ensurePortal('10.0.0.1', 3260);
    expect(r.lines().slice(1)).toEqual([
      'tgtadm -C 7300 --lld iscsi --op delete --mode conn --tid 1 --sid 4 --cid 0',
      'tgtadm -C 7300 --lld iscsi --op show --mode portal',
      'tgtadm -C 7300 --lld iscsi --op new --mode portal --param portal=10.0.0.1:3260',
      'tgtadm -C 7300 --lld iscsi --op delete --mode portal --param portal=0.0.0.0:3260',
    ]);
  });

  it('refuses names and paths that could smuggle arguments', async () => {
    const d = new TgtDriver(new FakeProcessRunner(), 7300);
    await expect(d.createTarget('iqn.2024-01.lan.ggnet:pc-01 --force')).rejects.toThrow(/invalid IQN/);
    await d.createTarget('iqn.2024-01.lan.ggnet:pc-09');
    await expect(
      d.addLun('iqn.2024-01.lan.ggnet:pc-09', { lun: 1, path: '/data/../etc/shadow', serial: 'a1' }),
    ).rejects.toThrow(/invalid backing store path/);
    await expect(
      d.setChap('iqn.2024-01.lan.ggnet:pc-09', 'x', { user: 'pc 09', secret: 'Secret1234567890' }, null),
    ).rejects.toThrow(/CHAP user/);
    await expect(
      d.setChap('iqn.2024-01.lan.ggnet:pc-09', 'x', { user: 'pc-09', secret: 'short' }, null),
    ).rejects.toThrow(/CHAP secret/);
    await expect(d.deleteAccount('pc-09 --force')).rejects.toThrow(/CHAP user/);
  });
});
