#!/usr/bin/env bash
# Installs the Debian packages GGnet needs, idempotently.
#   install-deps.sh runtime   what `ggnet serve` drives (tgt, qemu-img, dnsmasq, iPXE...) and what
#                             building GGnet needs (Node.js >= 20.19 with npm, and a compiler,
#                             make and python3 for better-sqlite3)
#   install-deps.sh test      runtime + what the test suite needs (PostgreSQL, Chromium,
#                             QEMU system emulation, OVMF, boot-disk build tools, wrk, iperf3
#                             (bench:iscsi-read's TCP ceiling), nginx to
#                             test the shipped site config, shellcheck, mmdebstrap and
#                             systemd-container for the fresh-Debian tests)
# Node.js: Debian 13 (trixie) and later ship a new enough nodejs and npm, which are installed
# from Debian. Elsewhere (Debian 12 ships nodejs 18) a Node.js >= 20.19 must already be there;
# otherwise this stops with what to install, before changing anything (scripts/lib/node.sh).
#   install-deps.sh --list runtime|test
#                             print the packages a fresh Debian 13 gets (Node.js from Debian),
#                             changing nothing (the fresh-Debian tests key their cached root by it)
set -euo pipefail
list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
profile=${1:-runtime}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/node.sh
. "$here/lib/node.sh"

case "$profile" in
  runtime | test) ;;
  *) echo "usage: install-deps.sh [--list] runtime|test" >&2; exit 2 ;;
esac

# First, before anything is changed: where Node.js comes from (or stop with what to install).
if [ "$list" = 1 ]; then GGNET_NODE_PLAN=debian; else ggnet_node_plan || exit 1; fi

# dnsmasq-base is the dnsmasq binary without Debian's dnsmasq.service (GGnet runs its own dnsmasq)
# qemu-system-x86 + qemu-block-extra: the console VM (QEMU with its iSCSI driver) and
# qemu-storage-daemon (the qcow2 storage backend)
RUNTIME=(tgt qemu-utils qemu-system-x86 qemu-block-extra dnsmasq-base ipxe xfsprogs btrfs-progs e2fsprogs
         iproute2 util-linux coreutils ca-certificates postgresql-client)
read -r -a NODE <<< "$(ggnet_node_packages)"
TEST=(libiscsi-bin ipxe-qemu ovmf syslinux syslinux-common extlinux
      busybox-static fdisk dosfstools mtools e2fsprogs cpio file systemd-boot-efi mount xorriso isolinux
      postgresql chromium wrk iperf3 procps iptables nginx openssl
      shellcheck mmdebstrap systemd-container debian-archive-keyring)

pkgs=("${RUNTIME[@]}" "${NODE[@]}")
if [ "$profile" = test ]; then pkgs+=("${TEST[@]}"); fi
if [ "$list" = 1 ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi

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
# keep package scripts from starting services now (some machines this runs on have no init
# system; and Debian's tgt.service would take port 3260 from GGnet's own tgtd)
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
log=$(mktemp /tmp/ggnet-apt.XXXXXX)
apt-get update -qq >"$log" 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
  tail -30 "$log" >&2; echo "install-deps: apt-get install failed (log: $log)" >&2; exit 1; }
rm -f "$log"
# GGnet runs its own tgtd (its own control port and portal). Debian's tgt.service, enabled when the
# package is installed, would listen on 0.0.0.0:3260 at the next boot: disable it when we installed it.
if printf '%s\n' "${missing[@]}" | grep -qx tgt && command -v systemctl >/dev/null; then
  systemctl disable --quiet tgt.service 2>/dev/null || true
  echo "install-deps: disabled Debian's tgt.service (GGnet runs its own tgtd)"
fi
echo "install-deps: done"
