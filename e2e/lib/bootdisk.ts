import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { alive, sh } from '@ggnet/testkit';

/** Where built disks and downloaded .debs are cached between runs (built once per machine). */
export const E2E_CACHE = process.env.GGNET_E2E_CACHE ?? '/var/tmp/ggnet-e2e';

/** Lines the guest prints on its serial console; the tests look for them. */
export const MARK = {
  boot: 'GGNET-E2E-BOOT-OK',
  ibft: 'GGNET-IBFT',
  iscsiRoot: 'GGNET-ISCSI-ROOT-OK',
  iscsiFailed: 'GGNET-ISCSI-ROOT-FAILED',
  seen: 'GGNET-SEEN',
  wrote: 'GGNET-WROTE',
  ready: 'GGNET-READY',
  heartbeat: 'GGNET-HEARTBEAT',
  end: 'GGNET-E2E-END',
} as const;

/** File the guest writes on its iSCSI disk (partition 1). */
export const GUEST_FILE = 'ggnet-wrote.txt';

// /init of the guest: what a diskless OS does, in 40 lines of busybox sh. Per-VM knobs come from
// QEMU's fw_cfg (opt/ggnet/hold = seconds of disk heartbeats before power-off, opt/ggnet/port).
const INIT = `#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo
echo "=== ${MARK.boot} kernel=$(uname -r) uptime=$(up) ==="
echo "cmdline: $(cat /proc/cmdline)"
modprobe qemu_fw_cfg 2>/dev/null
cfg() { f=/sys/firmware/qemu_fw_cfg/by_name/opt/ggnet/$1/raw; [ -r "$f" ] && cat "$f"; }
HOLD=$(cfg hold); HOLD=\${HOLD:-0}
PORT=$(cfg port); PORT=\${PORT:-8080}
modprobe iscsi_ibft 2>/dev/null
ibft() { cat /sys/firmware/ibft/$1 2>/dev/null; }
echo "${MARK.ibft} initiator=$(ibft initiator/initiator-name) target=$(ibft target0/target-name) ip=$(ibft ethernet0/ip-addr) portal=$(ibft target0/ip-addr):$(ibft target0/port) lun=$(ibft target0/lun) chap=$(ibft target0/chap-name)"
if [ ! -d /sys/firmware/ibft ]; then
  echo "${MARK.iscsiFailed} no iBFT: not booted by iPXE from iSCSI"
  echo "=== ${MARK.end} uptime=$(up) ==="
  poweroff -f
fi
for m in e1000 virtio_pci virtio_net crc32c_generic iscsi_tcp sd_mod ext4; do modprobe $m 2>/dev/null; done
i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "--- Linux iSCSI login from the iBFT ---"
iscsistart -N 2>&1 | tail -2
iscsistart -b 2>&1 | tail -3
i=0; while [ ! -b /dev/sda1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
if [ -b /dev/sda1 ] && mount -t ext4 /dev/sda1 /mnt; then
  echo "${MARK.iscsiRoot} uptime=$(up) marker=$(cat /mnt/GGNET-ROOT-MARKER)"
  echo "${MARK.seen} $(cat /mnt/${GUEST_FILE} 2>/dev/null || echo none)"
  bid=$(cat /proc/sys/kernel/random/boot_id)
  echo "boot_id=$bid" > /mnt/${GUEST_FILE}
  sync
  echo "${MARK.wrote} boot_id=$bid"
  echo "${MARK.ready} $(wget -q -O- --post-data '' "http://$(ibft target0/ip-addr):$PORT/boot/ready" 2>&1)"
  n=0
  while [ $n -lt $HOLD ]; do
    n=$((n+1))
    echo "hb $n" > /mnt/ggnet-heartbeat.txt
    sync
    echo 3 > /proc/sys/vm/drop_caches
    if [ "$(cat /mnt/ggnet-heartbeat.txt)" = "hb $n" ]; then echo "${MARK.heartbeat} $n ok"; else echo "${MARK.heartbeat} $n FAILED"; fi
    sleep 1
  done
  umount /mnt && echo "GGNET-UMOUNT-OK"
else
  echo "${MARK.iscsiFailed}"; ls /dev/sd* 2>&1
fi
echo "=== ${MARK.end} uptime=$(up) ==="
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
`;

const BUILDER_VERSION = '1';
const MODULES = [
  'iscsi_ibft',
  'qemu_fw_cfg',
  'e1000',
  'virtio_pci',
  'virtio_net',
  'iscsi_tcp',
  'sd_mod',
  'ext4',
  'crc32c_generic',
];
const APPLETS = [
  'sh',
  'mount',
  'umount',
  'cat',
  'echo',
  'ls',
  'sleep',
  'poweroff',
  'insmod',
  'modprobe',
  'uname',
  'grep',
  'sed',
  'cut',
  'ip',
  'ifconfig',
  'wget',
  'date',
  'sync',
  'tail',
  'head',
  'find',
  'hexdump',
];
const DISK_MB = 96;
const P1_START = 2048;
const P1_SECTORS = 40 * 2048;
const P2_START = P1_START + P1_SECTORS;

export interface BootDisk {
  raw: string;
  vhdx: string;
  kernelPackage: string;
  /** Byte offset and size of partition 1 (ext2 with extlinux and the guest's file). */
  p1: { offset: number; size: number };
}

async function kernelPackage(): Promise<string> {
  // a fresh machine may have no package lists yet
  const out = await sh('apt-cache', ['depends', 'linux-image-amd64']).catch(async () => {
    await sh('apt-get', ['update', '-qq'], { timeoutMs: 600_000 });
    return sh('apt-cache', ['depends', 'linux-image-amd64']);
  });
  const m = /Depends: (linux-image-[0-9][^\s]*-amd64)/.exec(out);
  if (!m) throw new Error('cannot resolve linux-image-amd64 to a kernel package (apt-get update?)');
  return m[1]!;
}

/** A .deb from the cache, else `apt-get download` (as the unprivileged _apt user needs a writable dir). */
async function deb(pkg: string, dl: string): Promise<string> {
  const find = () => readdirSync(dl).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  let f = find();
  if (!f) {
    chmodSync(dl, 0o777);
    await sh('apt-get', ['download', pkg], { cwd: dl, timeoutMs: 600_000 });
    f = find();
  }
  if (!f) throw new Error(`apt-get download ${pkg} left no .deb in ${dl}`);
  return join(dl, f);
}

async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8').trim() || '0');
      if (owner && !alive(owner)) rmSync(lockDir, { recursive: true, force: true });
      else await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** A newc cpio archive of `files` (paths relative to `root`); cpio reads the list on stdin, no shell. */
export function cpioArchive(root: string, files: string[]): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const c = spawn('cpio', ['-o', '-H', 'newc', '--quiet'], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const out: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.on('error', reject);
    c.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`cpio exited ${code}`)),
    );
    c.stdin.end(`${files.join('\n')}\n`);
  });
}

function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(root, p));
    if (e.isDirectory()) out.push(...listFiles(root, p));
  }
  return out;
}

/**
 * A small bootable Linux disk made from Debian packages, built once and cached: MBR (syslinux) +
 * p1 ext2 with extlinux, kernel and a busybox initramfs (BIOS), p2 FAT ESP with systemd-boot,
 * kernel and initramfs (UEFI). The initramfs logs in to its iSCSI disk again from Linux with
 * open-iscsi's iscsistart and the iBFT iPXE left, mounts p1, writes a file, says "OS up" to GGnet.
 */
export async function buildBootDisk(log: (line: string) => void = () => undefined): Promise<BootDisk> {
  const kpkg = await kernelPackage();
  const key = createHash('sha256')
    .update(`${BUILDER_VERSION}\n${kpkg}\n${INIT}\n${MODULES.join(',')}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(E2E_CACHE, 'bootdisk', key);
  const result: BootDisk = {
    raw: join(dir, 'disk.raw'),
    vhdx: join(dir, 'disk.vhdx'),
    kernelPackage: kpkg,
    p1: { offset: P1_START * 512, size: P1_SECTORS * 512 },
  };
  if (existsSync(result.vhdx) && existsSync(result.raw)) return result;
  mkdirSync(join(E2E_CACHE, 'bootdisk'), { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    if (existsSync(result.vhdx) && existsSync(result.raw)) return result;
    const dl = join(E2E_CACHE, 'dl');
    mkdirSync(dl, { recursive: true });
    const w = mkdtempSync(join(E2E_CACHE, 'build-'));
    const cleanups: Array<() => Promise<void>> = [];
    try {
      log(`building the boot disk (${kpkg}) in ${w}`);
      // ---- kernel and modules
      const kdeb = await deb(kpkg, dl);
      await sh('dpkg-deb', ['-x', kdeb, join(w, 'k')]);
      const kver = kpkg.replace(/^linux-image-/, '');
      const vmlinuz = join(w, 'k', 'boot', `vmlinuz-${kver}`);
      const md = join(w, 'k', 'lib', 'modules', kver);
      await sh('busybox', ['depmod', '-b', join(w, 'k'), kver]);
      const deps = readFileSync(join(md, 'modules.dep'), 'utf8').split('\n');

      // ---- initramfs
      const r = join(w, 'initramfs');
      for (const d of [
        'bin',
        'sbin',
        'proc',
        'sys',
        'dev',
        'tmp',
        'mnt',
        'run',
        'etc/iscsi',
        'var/lock',
        'var/lib/iscsi',
        'lib64',
        'lib/x86_64-linux-gnu',
      ])
        mkdirSync(join(r, d), { recursive: true });
      copyFileSync('/usr/bin/busybox', join(r, 'bin', 'busybox'));
      chmodSync(join(r, 'bin', 'busybox'), 0o755);
      for (const a of APPLETS) symlinkSync('busybox', join(r, 'bin', a));
      const rmd = join(r, 'lib', 'modules', kver);
      for (const m of MODULES) {
        const line = deps.find((l) => new RegExp(`(^|/)${m}\\.ko(\\.[a-z]+)?:`).test(l));
        if (!line) {
          log(`module ${m} is built in or missing; skipped`);
          continue;
        }
        const [mod, rest] = line.split(':') as [string, string];
        for (const f of [mod, ...rest.trim().split(/\s+/).filter(Boolean)]) {
          mkdirSync(dirname(join(rmd, f)), { recursive: true });
          copyFileSync(join(md, f), join(rmd, f));
        }
      }
      for (const f of ['modules.order', 'modules.builtin'])
        if (existsSync(join(md, f))) copyFileSync(join(md, f), join(rmd, f));
      await sh('busybox', ['depmod', '-b', r, kver]);
      // open-iscsi's iscsistart and its libraries (not installed on the host: only unpacked)
      const oi = join(w, 'oi');
      for (const p of ['open-iscsi', 'libopeniscsiusr']) await sh('dpkg-deb', ['-x', await deb(p, dl), oi]);
      copyFileSync(join(oi, 'sbin', 'iscsistart'), join(r, 'sbin', 'iscsistart'));
      chmodSync(join(r, 'sbin', 'iscsistart'), 0o755);
      const ldd = await sh('ldd', [join(r, 'sbin', 'iscsistart')], {
        env: { ...process.env, LD_LIBRARY_PATH: join(oi, 'usr', 'lib', 'x86_64-linux-gnu') },
      });
      for (const l of ldd.split('\n')) {
        const lib = /=> (\/\S+)/.exec(l)?.[1] ?? /^\s*(\/lib64\/\S+)/.exec(l)?.[1];
        if (!lib) continue;
        const dst = lib.startsWith('/lib64/') ? join(r, 'lib64') : join(r, 'lib', 'x86_64-linux-gnu');
        copyFileSync(lib, join(dst, lib.split('/').pop()!));
      }
      writeFileSync(join(r, 'init'), INIT, { mode: 0o755 });
      const cpio = await cpioArchive(r, ['.', ...listFiles(r)]);
      const initrd = join(w, 'initrd.img');
      writeFileSync(initrd, gzipSync(cpio, { level: 9 }));

      // ---- the disk: MBR + p1 ext2/extlinux (BIOS) + p2 FAT ESP/systemd-boot (UEFI)
      const img = join(w, 'disk.raw');
      await sh('qemu-img', ['create', '-q', '-f', 'raw', img, `${DISK_MB}M`]);
      await sh('sfdisk', ['-q', img], {
        input: `label: dos\nstart=${P1_START}, size=${P1_SECTORS}, type=83, bootable\nstart=${P2_START}, type=ef\n`,
      });
      const dump = await sh('sfdisk', ['-d', img]);
      const p2Sectors = Number(/disk\.raw2 : start=\s*\d+, size=\s*(\d+)/.exec(dump)?.[1]);
      if (!p2Sectors) throw new Error(`cannot read partition 2 size from sfdisk:\n${dump}`);
      // loop partition scanning does not create nodes here: map p1 by offset instead
      const loop = (
        await sh('losetup', [
          '--find',
          '--show',
          '--offset',
          String(P1_START * 512),
          '--sizelimit',
          String(P1_SECTORS * 512),
          img,
        ])
      ).trim();
      cleanups.push(async () => void (await sh('losetup', ['-d', loop]).catch(() => undefined)));
      await sh('mkfs.ext2', ['-q', '-L', 'ggnetboot', loop]);
      const mnt = join(w, 'mnt');
      mkdirSync(mnt);
      await sh('mount', [loop, mnt]);
      cleanups.push(async () => void (await sh('umount', [mnt]).catch(() => undefined)));
      copyFileSync(vmlinuz, join(mnt, 'vmlinuz'));
      copyFileSync(initrd, join(mnt, 'initrd.img'));
      writeFileSync(join(mnt, 'GGNET-ROOT-MARKER'), `ggnet e2e golden image ${key}\n`);
      mkdirSync(join(mnt, 'boot', 'extlinux'), { recursive: true });
      writeFileSync(
        join(mnt, 'boot', 'extlinux', 'extlinux.conf'),
        [
          'SERIAL 0 115200',
          'PROMPT 0',
          'TIMEOUT 0',
          'DEFAULT ggnet',
          'LABEL ggnet',
          '  KERNEL /vmlinuz',
          '  INITRD /initrd.img',
          '  APPEND console=ttyS0,115200 panic=-1 loglevel=4 ggnetboot=bios-extlinux',
          '',
        ].join('\n'),
      );
      await sh('extlinux', ['--install', join(mnt, 'boot', 'extlinux')]);
      await sh('umount', [mnt]);
      await sh('losetup', ['-d', loop]);
      cleanups.length = 0;
      const mbr = readFileSync('/usr/lib/EXTLINUX/mbr.bin').subarray(0, 440);
      const fd = openSync(img, 'r+');
      writeSync(fd, mbr, 0, mbr.length, 0);
      closeSync(fd);
      // ESP: the host kernel has no vfat driver; mtools writes the FAT without mounting it
      await sh('mkfs.vfat', [
        '--offset',
        String(P2_START),
        '-n',
        'ESP',
        img,
        String(Math.floor(p2Sectors / 2)),
      ]);
      const esp = `${img}@@${P2_START * 512}`;
      const mt = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };
      await sh('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries'], mt);
      await sh(
        'mcopy',
        ['-i', esp, '/usr/lib/systemd/boot/efi/systemd-bootx64.efi', '::/EFI/BOOT/BOOTX64.EFI'],
        mt,
      );
      await sh('mcopy', ['-i', esp, vmlinuz, '::/vmlinuz'], mt);
      await sh('mcopy', ['-i', esp, initrd, '::/initrd.img'], mt);
      writeFileSync(join(w, 'loader.conf'), 'timeout 0\ndefault ggnet.conf\nconsole-mode keep\n');
      writeFileSync(
        join(w, 'ggnet.conf'),
        'title GGnet e2e\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0,115200 panic=-1 loglevel=4 ggnetboot=uefi-systemd-boot\n',
      );
      await sh('mcopy', ['-i', esp, join(w, 'loader.conf'), '::/loader/loader.conf'], mt);
      await sh('mcopy', ['-i', esp, join(w, 'ggnet.conf'), '::/loader/entries/ggnet.conf'], mt);
      await sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vhdx', img, join(w, 'disk.vhdx')]);

      mkdirSync(dir, { recursive: true });
      renameSync(img, result.raw);
      renameSync(join(w, 'disk.vhdx'), result.vhdx);
      log(`boot disk ready: ${result.vhdx} (${statSync(result.vhdx).size} bytes)`);
      return result;
    } finally {
      for (const c of cleanups.reverse()) await c();
      rmSync(w, { recursive: true, force: true });
    }
  });
}

/** Reads a file from partition 1 of a raw disk image (loop mount, read-only), or null when absent. */
export async function readGuestFile(
  rawImage: string,
  p1: BootDisk['p1'],
  name: string,
): Promise<string | null> {
  const loop = (
    await sh('losetup', [
      '--find',
      '--show',
      '--read-only',
      '--offset',
      String(p1.offset),
      '--sizelimit',
      String(p1.size),
      rawImage,
    ])
  ).trim();
  const mnt = mkdtempSync(join(E2E_CACHE, 'mnt-'));
  try {
    await sh('mount', ['-o', 'ro', loop, mnt]);
    try {
      const f = join(mnt, name);
      return existsSync(f) ? readFileSync(f, 'utf8') : null;
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await sh('losetup', ['-d', loop]).catch(() => undefined);
    rmSync(mnt, { recursive: true, force: true });
  }
}
