#!/usr/bin/env bash
# Installs GGnet as a system service on Debian 12 (run as root from a checkout):
#   - Debian packages GGnet drives (scripts/install-deps.sh runtime)
#   - npm ci + build, copied to /opt/ggnet
#   - /etc/ggnet/ggnet.toml (kept if present), /var/lib/ggnet
#   - systemd units ggnet.service (+ optional ggnet-worker.service), started and enabled
#   - optional nginx site (NGINX=1) proxying :80 to GGnet with WebSocket and upload settings
# Idempotent: re-running upgrades the code and restarts the service; booted clients keep their
# disks across the restart (tgtd is not in GGnet's kill scope, see ggnet.service).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/ggnet}
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

bash "$SRC/scripts/install-deps.sh" runtime
command -v node >/dev/null || { echo "install.sh: Node.js 20 is required (https://nodejs.org or Debian's nodejs from bookworm-backports)" >&2; exit 1; }

echo "==> building"
(cd "$SRC" && npm ci --no-audit --no-fund && npm run build)

echo "==> installing to $PREFIX"
mkdir -p "$PREFIX"
# the built tree: package files, dist folders and production node_modules
(cd "$SRC" && tar -cf - package.json package-lock.json packages/contracts/package.json packages/contracts/dist \
  apps/server/package.json apps/server/bin apps/server/dist apps/web/package.json apps/web/dist \
  e2e/package.json bench/package.json) | tar -xf - -C "$PREFIX"
(cd "$PREFIX" && npm ci --omit=dev --no-audit --no-fund --workspace @ggnet/server --include-workspace-root=false)

install -d -m 0755 /etc/ggnet
[ -f /etc/ggnet/ggnet.toml ] || install -m 0640 "$SRC/deploy/config/ggnet.toml" /etc/ggnet/ggnet.toml
install -d -m 0750 /var/lib/ggnet

install -m 0644 "$SRC/deploy/systemd/ggnet.service" /etc/systemd/system/ggnet.service
install -m 0644 "$SRC/deploy/systemd/ggnet-worker.service" /etc/systemd/system/ggnet-worker.service
sed -i "s#/opt/ggnet#$PREFIX#g" /etc/systemd/system/ggnet.service /etc/systemd/system/ggnet-worker.service

if [ "${NGINX:-0}" = 1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
  install -m 0644 "$SRC/deploy/nginx/ggnet.conf" /etc/nginx/sites-available/ggnet.conf
  ln -sf /etc/nginx/sites-available/ggnet.conf /etc/nginx/sites-enabled/ggnet.conf
  nginx -t
fi

if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now ggnet.service
  systemctl restart ggnet.service
  [ "${NGINX:-0}" = 1 ] && systemctl reload nginx
  echo "==> GGnet is running: journalctl -u ggnet -f   (the first start prints the admin password there)"
else
  echo "==> no systemd here: start it with  $PREFIX/apps/server/bin/ggnet.js serve"
fi
