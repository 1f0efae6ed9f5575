import { buildBootDisk, type BootDisk } from './bootdisk.js';

/** What the console VM's test guest prints on its screen (VGA text console), and the word it waits for. */
export const CONSOLE_MARK = {
  boot: 'GGNET-CONSOLE-BOOT',
  ready: 'GGNET-CONSOLE-READY',
  wrote: 'GGNET-CONSOLE-WROTE',
} as const;
export const CONSOLE_WORD = 'ggnetvm';
/** The file the guest writes on partition 1 once the word was typed. */
export const CONSOLE_FILE = 'console-typed.txt';

// /init of the console VM's guest: boots to the VGA console (no serial port in a console VM), finds
// its disk (AHCI on QEMU's q35), waits for a typed word on the keyboard, writes a file, powers off.
const CONSOLE_INIT = `#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "=== ${CONSOLE_MARK.boot} kernel=$(uname -r) ==="
for m in ahci sd_mod crc32c_generic ext4; do modprobe $m 2>/dev/null; done
i=0; while [ ! -b /dev/sda1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 /dev/sda1 /mnt || echo "no disk"
echo "${CONSOLE_MARK.ready} type the word and Enter:"
while read -r w; do
  [ "$w" = "${CONSOLE_WORD}" ] && break
  echo "not the word: $w"
done
echo "typed=$w" > /mnt/${CONSOLE_FILE}
sync
umount /mnt
echo "${CONSOLE_MARK.wrote}"
sleep 1
poweroff -f
`;

const CONSOLE_MODULES = ['ahci', 'sd_mod', 'ext4', 'crc32c_generic'];

/** The tiny Linux test disk with the console guest's /init (built once, cached under /var/tmp). */
export const buildConsoleDisk = (log?: (line: string) => void): Promise<BootDisk> =>
  buildBootDisk(log, { init: CONSOLE_INIT, modules: CONSOLE_MODULES, console: 'tty0' });
