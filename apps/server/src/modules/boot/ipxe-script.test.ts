import { describe, expect, it } from 'vitest';
import {
  chainScript,
  exitScript,
  ipxeText,
  iscsiUri,
  menuScript,
  pinPromptScript,
  sanbootScript,
  waitScript,
  type SanbootScriptOptions,
} from './ipxe-script.js';

const boot: SanbootScriptOptions = {
  baseUrl: 'http://10.0.0.1:8080',
  machineName: 'pc-01',
  mac: '52:54:00:12:34:56',
  sessionId: 's-1',
  imageLabel: 'Win 11 (gaming) v3',
  mode: 'normal',
  initiatorIqn: 'iqn.2024-01.lan.ggnet:initiator.pc-01',
  portalHost: '10.0.0.1',
  portalPort: 3260,
  targetIqn: 'iqn.2024-01.lan.ggnet:pc-01',
  luns: [{ lun: 1, kind: 'boot' }],
  chap: { username: 'pc-01', password: 'abcdEFGH2345jkmn' },
  reverseChap: null,
  retries: 2,
};

describe('iPXE scripts', () => {
  it('ipxeText strips expansion, operators, comments, quotes and line breaks', () => {
    expect(ipxeText('a ${password} || reboot && x\n#y "z" \\ `w`')).toBe('a password reboot x y z w');
    expect(ipxeText('Café é')).toBe('Cafe e');
    expect(ipxeText('x'.repeat(200), 10)).toBe('xxxxxxx...');
  });

  it('iscsiUri writes the LUN in hex and refuses bad values', () => {
    expect(iscsiUri('10.0.0.1', 3260, 1, boot.targetIqn)).toBe(`iscsi:10.0.0.1::3260:1:${boot.targetIqn}`);
    expect(iscsiUri('10.0.0.1', 3260, 10, boot.targetIqn)).toBe(`iscsi:10.0.0.1::3260:a:${boot.targetIqn}`);
    expect(() => iscsiUri('0.0.0.0 x', 3260, 1, boot.targetIqn)).toThrow();
    expect(() => iscsiUri('10.0.0.1', 3260, 1, 'iqn.bad name')).toThrow();
  });

  it('sanboot script: initiator, CHAP, sanboot URI, retries and an error screen that asks again', () => {
    const s = sanbootScript(boot);
    const l = s.split('\n');
    expect(l[0]).toBe('#!ipxe');
    expect(l).toContain('set initiator-iqn iqn.2024-01.lan.ggnet:initiator.pc-01');
    expect(l).toContain('set username pc-01');
    expect(l).toContain('set password abcdEFGH2345jkmn');
    expect(s).not.toContain('reverse-');
    const sanboots = l.filter((x) => x.startsWith('sanboot '));
    expect(sanboots).toHaveLength(3);
    expect(sanboots[0]).toBe('sanboot iscsi:10.0.0.1::3260:1:iqn.2024-01.lan.ggnet:pc-01 || goto fail1');
    expect(l).toContain(':fail3');
    expect(s).toContain('the network disk could not be booted');
    expect(l.at(-2)).toBe(
      'chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform} || goto again',
    );
    expect(s).toContain('echo GGnet: pc-01 boots Win 11 (gaming) v3');
  });

  it('mutual CHAP and extra disks (sanhook on 0x81.., sanboot --drive 0x80, unhook between attempts)', () => {
    const s = sanbootScript({
      ...boot,
      retries: 0,
      mode: 'maintenance',
      luns: [
        { lun: 1, kind: 'boot' },
        { lun: 2, kind: 'extra' },
        { lun: 3, kind: 'extra' },
      ],
      reverseChap: { username: 'ggnet-target', password: 'ZXCVbnmq23456789' },
    });
    const l = s.split('\n');
    expect(l).toContain('set reverse-username ggnet-target');
    expect(l).toContain('set reverse-password ZXCVbnmq23456789');
    expect(l).toContain(`sanhook --drive 0x80 iscsi:10.0.0.1::3260:1:${boot.targetIqn} || goto fail1`);
    expect(l).toContain(`sanhook --drive 0x81 iscsi:10.0.0.1::3260:2:${boot.targetIqn} || goto fail1`);
    expect(l).toContain(`sanhook --drive 0x82 iscsi:10.0.0.1::3260:3:${boot.targetIqn} || goto fail1`);
    expect(l).toContain('sanboot --drive 0x80 || goto fail1');
    expect(l).toContain('sanunhook --drive 0x82 || echo -n');
    expect(s).toContain('MAINTENANCE');
  });

  it('install mode: the disk hooked as 0x80 (and extras after it), the ISO sanbooted from HTTP without a description', () => {
    const media = '0b6f2a9e-1c3d-4e5f-8a7b-9c0d1e2f3a4b';
    const s = sanbootScript({
      ...boot,
      retries: 1,
      mode: 'maintenance',
      luns: [
        { lun: 1, kind: 'boot' },
        { lun: 2, kind: 'extra' },
      ],
      installMediaId: media,
    });
    const l = s.split('\n');
    expect(l).toContain(`sanhook --drive 0x80 iscsi:10.0.0.1::3260:1:${boot.targetIqn} || goto fail1`);
    expect(l).toContain(`sanhook --drive 0x81 iscsi:10.0.0.1::3260:2:${boot.targetIqn} || goto fail1`);
    expect(l).toContain(
      `sanboot --no-describe --drive 0x82 http://10.0.0.1:8080/boot/media/${media}.iso || goto fail2`,
    );
    // nothing boots the network disk itself; a failed attempt unhooks the ISO and the disks
    expect(l.filter((x) => x.startsWith('sanboot '))).toHaveLength(2);
    expect(l.filter((x) => x === 'sanunhook --drive 0x82 || echo -n')).toHaveLength(2);
    expect(l).toContain('sanunhook --drive 0x80 || echo -n');
    expect(s).toContain('INSTALLS onto');
    expect(() => sanbootScript({ ...boot, installMediaId: '../../etc/passwd' })).toThrow();
  });

  it("an image's UEFI boot file: set as san-filename on UEFI only, before the sanboot; never in install mode", () => {
    const file = '\\EFI\\Microsoft\\Boot\\bootmgfw.efi';
    const s = sanbootScript({ ...boot, uefiBootFile: file });
    const l = s.split('\n');
    const set = l.indexOf(`iseq \${platform} efi && set san-filename ${file} || echo -n`);
    expect(set).toBeGreaterThan(0);
    expect(set).toBeLessThan(l.findIndex((x) => x.startsWith('sanboot ')));
    expect(sanbootScript(boot)).not.toContain('san-filename');
    expect(
      sanbootScript({ ...boot, uefiBootFile: file, installMediaId: '0b6f2a9e-1c3d-4e5f-8a7b-9c0d1e2f3a4b' }),
    ).not.toContain('san-filename');
    // only plain backslash paths: nothing that could end the command or expand a setting
    for (const bad of ['\\EFI\\x.efi || shell', '\\EFI\\${net0/mac}.efi', 'EFI/BOOT/x.efi', '\\EFI\\a b.efi'])
      expect(() => sanbootScript({ ...boot, uefiBootFile: bad })).toThrow();
  });

  it('refuses CHAP secrets or IQNs that are not plain tokens', () => {
    expect(() => sanbootScript({ ...boot, chap: { username: 'u', password: 'a b' } })).toThrow();
    expect(() => sanbootScript({ ...boot, initiatorIqn: 'iqn.x ${y}' })).toThrow();
    expect(() => sanbootScript({ ...boot, baseUrl: 'http://x/${y}' })).toThrow();
    expect(() => sanbootScript({ ...boot, luns: [{ lun: 2, kind: 'extra' }] })).toThrow(/boot disk/);
  });

  it('wait, exit, chain and menu scripts', () => {
    const w = waitScript({
      baseUrl: 'http://h:80',
      title: 'waiting for approval',
      lines: ['PC ${x}'],
      retrySec: 10,
    });
    expect(w).toContain('echo PC x');
    expect(w).toContain('sleep 10');
    expect(w).toContain(':retry');
    const e = exitScript('pc-01 boots from its local disk', []);
    expect(e.trim().split('\n').at(-1)).toBe('exit 1');
    expect(chainScript('http://h:80')).toContain(
      'chain --replace --autofree http://h:80/boot/ipxe?mac=${netX/mac}',
    );
    const m = menuScript({
      baseUrl: 'http://h:80',
      machineName: 'pc-01',
      imageName: 'Win',
      defaultMode: 'local',
      timeoutSec: 5,
    });
    expect(m).toContain('choose --timeout 5000 --default local mode || set mode local');
    expect(m).toContain('&mode=${mode}');
    // maintenance is offered only when a PIN or an operator's approval guards it
    expect(m).not.toContain('item maintenance');
    const gated = menuScript({
      baseUrl: 'http://h:80',
      machineName: 'pc-01',
      imageName: 'Win',
      defaultMode: 'normal',
      timeoutSec: 5,
      maintenance: 'gated',
    });
    expect(gated).toContain('item maintenance Maintenance (needs the PIN or an operator approval)');
    // a machine an operator put in maintenance mode has it as its default
    const open = menuScript({
      baseUrl: 'http://h:80',
      machineName: 'pc-01',
      imageName: 'Win',
      defaultMode: 'maintenance',
      timeoutSec: 5,
    });
    expect(open).toContain('item maintenance Maintenance: changes');
    expect(open).toContain('--default maintenance');
  });

  it('PIN prompt: masked login form, URI-encoded PIN, Esc back to the menu, PIN cleared', () => {
    const p = pinPromptScript({
      baseUrl: 'http://h:80',
      machineName: 'pc-01 ${x}',
      wrong: true,
      approval: true,
    });
    const l = p.split('\n');
    expect(l[0]).toBe('#!ipxe');
    expect(p).toContain('Wrong PIN');
    expect(p).toContain('Leave the password empty to ask an operator');
    expect(p).not.toContain('${x}');
    expect(l).toContain('login || goto menu');
    expect(l).toContain(
      'chain --replace --autofree http://h:80/boot/ipxe?mac=${netX/mac}&arch=${buildarch}&platform=${platform}&mode=maintenance&pin=${password:uristring} || goto menu',
    );
    // the PIN does not stay in iPXE's settings on the way back to the menu
    expect(l.slice(l.indexOf(':menu'))).toContain('clear password');
    expect(l.indexOf('clear password')).toBeLessThan(l.indexOf('login || goto menu'));
    const q = pinPromptScript({
      baseUrl: 'http://h:80',
      machineName: 'pc-01',
      wrong: false,
      approval: false,
    });
    expect(q).not.toContain('Wrong PIN');
    expect(q).not.toContain('empty');
  });

  it('a wait script can carry the mode chosen in the menu to its next request', () => {
    const w = waitScript({
      baseUrl: 'http://h:80',
      title: 't',
      lines: [],
      retrySec: 2,
      query: { mode: 'maintenance' },
    });
    expect(w).toContain('&platform=${platform}&mode=maintenance || goto retry');
    expect(() =>
      waitScript({ baseUrl: 'http://h:80', title: 't', lines: [], retrySec: 2, query: { mode: 'x y' } }),
    ).toThrow();
  });
});
