#!/usr/bin/env bash
# Unpacks Debian 13 (trixie)'s iPXE (packages ipxe and ipxe-qemu, the 2025 build) into DIR, with
# apt as configured on this machine but trixie's package lists in a temporary directory (nothing
# of this machine's apt state changes). For checking the boot tests against the newer iPXE:
#   bash scripts/ipxe-from-trixie.sh /var/tmp/ggnet-e2e/ipxe-trixie
#   GGNET_E2E_IPXE_DIR=/var/tmp/ggnet-e2e/ipxe-trixie npx vitest run --project e2e sanboot boot-chain
# DIR then holds undionly.kpxe, snponly.efi, ipxe.efi (what GGnet serves over TFTP) and qemu/
# (the NIC option ROMs QEMU's e1000 boots from).
set -euo pipefail
dest=${1:?usage: ipxe-from-trixie.sh DIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/ggnet-ipxe-apt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb $mirror trixie main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0"
          -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_opts[@]}" download ipxe ipxe-qemu)
rm -rf "$dest"
mkdir -p "$dest"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
cp -L "$work"/root/usr/lib/ipxe/*.kpxe "$work"/root/usr/lib/ipxe/*.efi "$dest"/
# ipxe.lkrn: iPXE as a kernel, for VMs that run a given script (e2e/boot-trust)
cp -L "$work"/root/usr/lib/ipxe/ipxe.lkrn "$dest"/ 2>/dev/null || true
mkdir -p "$dest/qemu"
# trixie's ipxe-qemu puts the ROMs in /usr/share/qemu (bookworm's in /usr/lib/ipxe/qemu)
for d in "$work/root/usr/share/qemu" "$work/root/usr/lib/ipxe/qemu"; do
  if [ -d "$d" ]; then cp -L "$d"/*.rom "$dest/qemu/"; fi
done
dpkg-deb -f "$work"/debs/ipxe_*.deb Version > "$dest/VERSION"
echo "iPXE $(cat "$dest/VERSION") unpacked into $dest"
