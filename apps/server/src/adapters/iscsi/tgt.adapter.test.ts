import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeProcessRunner } from '../process/process-runner.fake.js';
import { TargetExistsError } from './iscsi-target.adapter.js';
import {
  TgtDriver,
  TgtSecretTransportError,
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
