import { describe, expect, it } from 'vitest';
import { buildQemuArgs, type ConsoleVmSpec } from './qemu-args.js';

const ID = '0b7d9a8e-3c1f-4e2a-9a55-6f0c1d2e3f40';
const spec = (over: Partial<ConsoleVmSpec> = {}): ConsoleVmSpec => ({
  id: ID,
  accel: 'tcg',
  memoryMiB: 2048,
  cpus: 2,
  disk: {
    portalHost: '10.0.0.1',
    portalPort: 3260,
    targetIqn: 'iqn.2026-12.lan.ggnet:console-0b7d9a8e',
    lun: 1,
    initiatorIqn: 'iqn.2026-12.lan.ggnet:initiator.console-0b7d9a8e',
    chapUser: 'console-0b7d9a8e.s12345678',
    chapSecretFile: `/var/lib/ggnet/run/console/${ID}.chap`,
  },
  cdrom: null,
  network: 'none',
  vncSocket: `/var/lib/ggnet/run/console/${ID}.vnc`,
  qmpSocket: `/var/lib/ggnet/run/console/${ID}.qmp`,
  pidFile: `/var/lib/ggnet/run/console/${ID}.pid`,
  ...over,
});

const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

describe('console VM QEMU arguments', () => {
  it('attaches the maintenance disk over iSCSI with CHAP from a secret file, VNC on a unix socket only', () => {
    const a = buildQemuArgs(spec());
    expect(after(a, '-machine')).toEqual(['q35,accel=tcg']);
    expect(after(a, '-cpu')).toEqual(['max']);
    expect(after(a, '-m')).toEqual(['2048']);
    expect(after(a, '-smp')).toEqual(['2']);
    expect(after(a, '-blockdev')).toEqual([
      'driver=iscsi,node-name=disk0,transport=tcp,portal=10.0.0.1:3260,target=iqn.2026-12.lan.ggnet:console-0b7d9a8e,lun=1,user=console-0b7d9a8e.s12345678,password-secret=chap0,initiator-name=iqn.2026-12.lan.ggnet:initiator.console-0b7d9a8e,cache.direct=on',
    ]);
    expect(after(a, '-object')).toEqual([
      `secret,id=chap0,file=/var/lib/ggnet/run/console/${ID}.chap,format=raw`,
    ]);
    expect(after(a, '-vnc')).toEqual([`unix:/var/lib/ggnet/run/console/${ID}.vnc`]);
    expect(after(a, '-display')).toEqual(['none']);
    expect(after(a, '-nic')).toEqual(['none']);
    expect(after(a, '-name')).toEqual([`ggnet-console-${ID},process=ggnet-console`]);
    // no TCP listener of any kind, no secret on the command line
    expect(a.join(' ')).not.toMatch(/tcp:|websocket|password=/);
  });

  it('uses the host CPU with KVM, a CD that boots first, and user networking when asked', () => {
    const a = buildQemuArgs(spec({ accel: 'kvm', cdrom: '/var/lib/ggnet/media/x.iso', network: 'user' }));
    expect(after(a, '-machine')).toEqual(['q35,accel=kvm']);
    expect(after(a, '-cpu')).toEqual(['host']);
    expect(after(a, '-blockdev')[1]).toBe(
      'driver=file,node-name=cd0,filename=/var/lib/ggnet/media/x.iso,read-only=on',
    );
    expect(after(a, '-device')).toEqual([
      'ide-hd,drive=disk0,bus=ide.0,bootindex=1',
      'ide-cd,drive=cd0,bus=ide.1,bootindex=0',
    ]);
    expect(after(a, '-nic')).toEqual(['user,model=e1000']);
  });

  it('refuses values that would inject QEMU options', () => {
    expect(() => buildQemuArgs(spec({ cdrom: '/tmp/a.iso,file.locking=off' }))).toThrow(/medium/);
    expect(() => buildQemuArgs(spec({ cdrom: '/var/lib/../etc/shadow' }))).toThrow(/medium/);
    expect(() =>
      buildQemuArgs(spec({ disk: { ...spec().disk, targetIqn: 'iqn.2026-12.lan.ggnet:x,lun=2' } })),
    ).toThrow(/target/);
    expect(() => buildQemuArgs(spec({ disk: { ...spec().disk, chapUser: 'a,b' } }))).toThrow(/CHAP/);
    expect(() => buildQemuArgs(spec({ id: 'x;rm' }))).toThrow(/id/);
    expect(() => buildQemuArgs(spec({ memoryMiB: 64 }))).toThrow(/memory/);
  });
});
