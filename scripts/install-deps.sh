#!/usr/bin/env bash
# Installs the Debian packages GGnet needs, idempotently.
#   install-deps.sh runtime   what `ggnet serve` drives (tgt, qemu-img, dnsmasq, iPXE...)
#   install-deps.sh test      runtime + what the test suite needs (PostgreSQL, Chromium,
#                             QEMU system emulation, OVMF, boot-disk build tools, wrk,
#                             nginx to test the shipped site config)
set -euo pipefail
profile=${1:-runtime}

RUNTIME=(tgt qemu-utils dnsmasq ipxe xfsprogs btrfs-progs e2fsprogs iproute2 util-linux coreutils ca-certificates)
TEST=(libiscsi-bin qemu-system-x86 qemu-block-extra ipxe-qemu ovmf syslinux syslinux-common extlinux
      busybox-static fdisk dosfstools mtools e2fsprogs cpio file systemd-boot-efi mount
      postgresql chromium wrk procps iptables nginx)

pkgs=("${RUNTIME[@]}")
[ "$profile" = test ] && pkgs+=("${TEST[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# the images this runs on have no init system: keep package scripts from starting services
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ggnet-apt.log 2>&1 || {
  tail -30 /tmp/ggnet-apt.log >&2; exit 1; }
echo "install-deps: done"
