import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sh } from '@ggnet/testkit';
import { cpioArchive, E2E_CACHE, type BootDisk } from './bootdisk.js';

/** Lines the installer prints on its serial console. */
export const INSTALL_MARK = {
  start: 'GGNET-INSTALLER-START',
  disk: 'GGNET-INSTALLER-DISK',
  done: 'GGNET-INSTALLED',
  failed: 'GGNET-INSTALL-FAILED',
} as const;

// /init of the installer: finds the network disk Linux logs in to from the iBFT (the disk GGnet's
// install mode hooked as drive 0x80), writes the system it carries onto it, powers off. The same
// kernel modules and iscsistart as the boot disk's initramfs (this archive is appended to it).
const INSTALL_INIT = `#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "=== ${INSTALL_MARK.start} cmdline: $(cat /proc/cmdline) ==="
modprobe iscsi_ibft 2>/dev/null
if [ ! -d /sys/firmware/ibft ]; then
  echo "${INSTALL_MARK.failed} no iBFT: the network disk was not hooked"
  poweroff -f
fi
for m in e1000 virtio_pci virtio_net crc32c_generic iscsi_tcp sd_mod; do modprobe $m 2>/dev/null; done
i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
iscsistart -N 2>&1 | tail -2
iscsistart -b 2>&1 | tail -3
i=0; while [ ! -b /dev/sda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
if [ ! -b /dev/sda ]; then
  echo "${INSTALL_MARK.failed} no network disk after the iSCSI login"; ls /dev/sd* 2>&1
  poweroff -f
fi
echo "${INSTALL_MARK.disk} sectors=$(cat /sys/block/sda/size) target=$(cat /sys/firmware/ibft/target0/target-name)"
busybox gunzip -c /payload/disk.raw.gz | busybox dd of=/dev/sda bs=1M 2>&1 | tail -1
sync
echo 3 > /proc/sys/vm/drop_caches
if busybox cmp -n 512 /payload/mbr.bin /dev/sda; then
  echo "${INSTALL_MARK.done} sha=$(busybox head -c 1048576 /dev/sda | busybox sha256sum | cut -c1-16)"
else
  echo "${INSTALL_MARK.failed} the disk does not read back what was written"
fi
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
`;

const BUILDER_VERSION = '1';

export interface InstallerIso {
  iso: string;
  sha256: string;
}

/**
 * An installer ISO made from Debian packages (xorriso, isolinux, systemd-boot), built once per boot
 * disk and cached: BIOS El Torito with isolinux, UEFI El Torito with a FAT image holding
 * systemd-boot; both boot the boot disk's kernel with its initramfs plus an appended archive that
 * replaces /init with the installer and carries the boot disk (gzipped) as the system to install.
 */
export async function buildInstallerIso(
  disk: BootDisk,
  log: (line: string) => void = () => undefined,
): Promise<InstallerIso> {
  const diskSha = createHash('sha256').update(readFileSync(disk.raw)).digest('hex');
  const key = createHash('sha256')
    .update(`${BUILDER_VERSION}\n${diskSha}\n${INSTALL_INIT}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(E2E_CACHE, 'installer', key);
  const iso = join(dir, 'installer.iso');
  const done = (): InstallerIso => ({
    iso,
    sha256: createHash('sha256').update(readFileSync(iso)).digest('hex'),
  });
  if (existsSync(iso)) return done();
  mkdirSync(join(E2E_CACHE, 'installer'), { recursive: true });
  const w = mkdtempSync(join(E2E_CACHE, 'iso-build-'));
  try {
    log(`building the installer ISO in ${w}`);
    // the boot disk's kernel and initramfs, from its ESP (mtools reads the FAT without mounting)
    const dump = await sh('sfdisk', ['-d', disk.raw]);
    const p2Start = Number(/disk\.raw2 : start=\s*(\d+)/.exec(dump)?.[1]);
    if (!p2Start) throw new Error(`cannot find partition 2 of the boot disk:\n${dump}`);
    const esp = `${disk.raw}@@${p2Start * 512}`;
    const mt = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };
    await sh('mcopy', ['-i', esp, '::/vmlinuz', join(w, 'vmlinuz')], mt);
    await sh('mcopy', ['-i', esp, '::/initrd.img', join(w, 'base-initrd.img')], mt);

    // the appended archive: /init (the installer) and /payload (the system it installs)
    const extra = join(w, 'extra');
    mkdirSync(join(extra, 'payload'), { recursive: true });
    writeFileSync(join(extra, 'init'), INSTALL_INIT, { mode: 0o755 });
    writeFileSync(join(extra, 'payload', 'disk.raw.gz'), gzipSync(readFileSync(disk.raw), { level: 6 }));
    writeFileSync(join(extra, 'payload', 'mbr.bin'), readFileSync(disk.raw).subarray(0, 512));
    const appended = gzipSync(
      await cpioArchive(extra, ['.', 'init', 'payload', 'payload/disk.raw.gz', 'payload/mbr.bin']),
    );
    const initrd = Buffer.concat([readFileSync(join(w, 'base-initrd.img')), appended]);

    // ISO tree: isolinux (BIOS) and the EFI El Torito image (UEFI)
    const root = join(w, 'root');
    mkdirSync(join(root, 'isolinux'), { recursive: true });
    copyFileSync(join(w, 'vmlinuz'), join(root, 'vmlinuz'));
    writeFileSync(join(root, 'initrd.img'), initrd);
    copyFileSync('/usr/lib/ISOLINUX/isolinux.bin', join(root, 'isolinux', 'isolinux.bin'));
    copyFileSync('/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux', 'ldlinux.c32'));
    writeFileSync(
      join(root, 'isolinux', 'isolinux.cfg'),
      [
        'SERIAL 0 115200',
        'PROMPT 0',
        'TIMEOUT 0',
        'DEFAULT install',
        'LABEL install',
        '  KERNEL /vmlinuz',
        '  INITRD /initrd.img',
        '  APPEND console=ttyS0,115200 panic=-1 loglevel=4 ggnetinstall=bios-isolinux',
        '',
      ].join('\n'),
    );
    const efi = join(root, 'efiboot.img');
    const kb = Math.ceil((statSync(join(w, 'vmlinuz')).size + initrd.length) / 1024) + 4096;
    await sh('mkfs.vfat', ['-C', '-n', 'GGNETEFI', efi, String(kb)]);
    await sh('mmd', ['-i', efi, '::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries'], mt);
    await sh(
      'mcopy',
      ['-i', efi, '/usr/lib/systemd/boot/efi/systemd-bootx64.efi', '::/EFI/BOOT/BOOTX64.EFI'],
      mt,
    );
    await sh('mcopy', ['-i', efi, join(w, 'vmlinuz'), '::/vmlinuz'], mt);
    await sh('mcopy', ['-i', efi, join(root, 'initrd.img'), '::/initrd.img'], mt);
    writeFileSync(join(w, 'loader.conf'), 'timeout 0\ndefault install.conf\nconsole-mode keep\n');
    writeFileSync(
      join(w, 'install.conf'),
      'title GGnet e2e installer\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0,115200 panic=-1 loglevel=4 ggnetinstall=uefi-systemd-boot\n',
    );
    await sh('mcopy', ['-i', efi, join(w, 'loader.conf'), '::/loader/loader.conf'], mt);
    await sh('mcopy', ['-i', efi, join(w, 'install.conf'), '::/loader/entries/install.conf'], mt);

    const out = join(w, 'installer.iso');
    await sh(
      'xorriso',
      [
        '-as',
        'mkisofs',
        '-quiet',
        '-o',
        out,
        '-V',
        'GGNET_INSTALL',
        '-J',
        '-R',
        '-b',
        'isolinux/isolinux.bin',
        '-c',
        'isolinux/boot.cat',
        '-no-emul-boot',
        '-boot-load-size',
        '4',
        '-boot-info-table',
        '-eltorito-alt-boot',
        '-e',
        'efiboot.img',
        '-no-emul-boot',
        root,
      ],
      { timeoutMs: 120_000 },
    );
    mkdirSync(dir, { recursive: true });
    renameSync(out, iso);
    log(`installer ISO ready: ${iso} (${statSync(iso).size} bytes)`);
    return done();
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
}
