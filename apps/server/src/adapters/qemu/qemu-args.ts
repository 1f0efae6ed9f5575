/**
 * The argument array of a console VM's QEMU (issue 15 point 3). Pure: built from a spec whose every
 * value is checked against a strict pattern first (nothing reaches a shell, and QEMU's own option
 * syntax, `key=value,key=value`, gets no comma or `=` from a value).
 */
export interface ConsoleVmDisk {
  /** iSCSI portal the VM logs in to (GGnet's tgtd), as a physical maintenance PC does. */
  portalHost: string;
  portalPort: number;
  targetIqn: string;
  lun: number;
  initiatorIqn: string;
  chapUser: string;
  /** File holding the session's CHAP secret (0600, removed once QEMU has read it). */
  chapSecretFile: string;
}

export interface ConsoleVmSpec {
  /** The image id: names the VM (`-name ggnet-console-<id>`), which is how a restarted GGnet recognises it. */
  id: string;
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  disk: ConsoleVmDisk;
  /** An install medium (ISO, absolute path), attached read-only as a CD that boots first. */
  cdrom: string | null;
  /** `user`: QEMU's user-mode network (NAT through the server); `none`: no network card. */
  network: 'none' | 'user';
  vncSocket: string;
  qmpSocket: string;
  pidFile: string;
}

const ID_RE = /^[0-9a-f-]{36}$/;
const PATH_RE = /^\/[A-Za-z0-9._/-]+$/;
const HOST_RE = /^[A-Za-z0-9.:-]+$/;
const IQN_RE = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[A-Za-z0-9._:-]+)?|eui\.[0-9A-Fa-f]{16})$/;
const CHAP_USER_RE = /^[A-Za-z0-9._:-]{1,255}$/;

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new Error(`invalid console VM ${what}: ${String(value)}`);
}
const path = (p: string, what: string) => {
  check(PATH_RE.test(p) && !p.split('/').includes('..'), what, p);
  return p;
};

/** The VM's name on QEMU's command line; `-name` is how adoption recognises the process. */
export const consoleVmName = (id: string) => `ggnet-console-${id}`;

export function buildQemuArgs(s: ConsoleVmSpec): string[] {
  check(ID_RE.test(s.id), 'id', s.id);
  check(s.accel === 'kvm' || s.accel === 'tcg', 'accel', s.accel);
  check(Number.isInteger(s.memoryMiB) && s.memoryMiB >= 128, 'memory', s.memoryMiB);
  check(Number.isInteger(s.cpus) && s.cpus >= 1 && s.cpus <= 256, 'cpus', s.cpus);
  const d = s.disk;
  check(HOST_RE.test(d.portalHost), 'portal host', d.portalHost);
  check(
    Number.isInteger(d.portalPort) && d.portalPort > 0 && d.portalPort < 65536,
    'portal port',
    d.portalPort,
  );
  check(IQN_RE.test(d.targetIqn), 'target', d.targetIqn);
  check(IQN_RE.test(d.initiatorIqn), 'initiator', d.initiatorIqn);
  check(Number.isInteger(d.lun) && d.lun >= 0 && d.lun < 256, 'lun', d.lun);
  check(CHAP_USER_RE.test(d.chapUser), 'CHAP user', d.chapUser);
  const portal = d.portalHost.includes(':')
    ? `[${d.portalHost}]:${d.portalPort}`
    : `${d.portalHost}:${d.portalPort}`;

  const args = [
    '-name',
    `${consoleVmName(s.id)},process=ggnet-console`,
    '-nodefaults',
    '-no-user-config',
    // the guest's own power-off ends the process (the VM is then stopped); no reboot loop on a crash
    '-machine',
    `q35,accel=${s.accel}`,
    '-cpu',
    s.accel === 'kvm' ? 'host' : 'max',
    '-m',
    String(s.memoryMiB),
    '-smp',
    String(s.cpus),
    // the CHAP secret never appears on the command line (/proc/PID/cmdline is world-readable)
    '-object',
    `secret,id=chap0,file=${path(d.chapSecretFile, 'secret file')},format=raw`,
    '-blockdev',
    [
      'driver=iscsi',
      'node-name=disk0',
      'transport=tcp',
      `portal=${portal}`,
      `target=${d.targetIqn}`,
      `lun=${d.lun}`,
      `user=${d.chapUser}`,
      'password-secret=chap0',
      `initiator-name=${d.initiatorIqn}`,
      'cache.direct=on',
    ].join(','),
    '-device',
    'ide-hd,drive=disk0,bus=ide.0,bootindex=1',
  ];
  if (s.cdrom)
    args.push(
      '-blockdev',
      `driver=file,node-name=cd0,filename=${path(s.cdrom, 'medium')},read-only=on`,
      '-device',
      'ide-cd,drive=cd0,bus=ide.1,bootindex=0',
    );
  if (s.network === 'user') args.push('-nic', 'user,model=e1000');
  else args.push('-nic', 'none');
  args.push(
    '-vga',
    'std',
    '-display',
    'none',
    // VNC only on a local unix socket: GGnet proxies it to operators over an authenticated WebSocket
    '-vnc',
    `unix:${path(s.vncSocket, 'VNC socket')}`,
    '-chardev',
    `socket,id=qmp0,path=${path(s.qmpSocket, 'QMP socket')},server=on,wait=off`,
    '-mon',
    'chardev=qmp0,mode=control',
    '-pidfile',
    path(s.pidFile, 'pid file'),
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  );
  return args;
}
