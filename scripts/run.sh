#!/usr/bin/env bash
# Runs GGnet from this checkout on a fresh Debian 13 machine (as root): installs what is missing
# (the tools GGnet drives, Debian's nodejs and npm, a compiler for better-sqlite3), builds,
# creates the SQLite database and the first admin, and starts the server (API + web UI) on :8080
# in the foreground. On Debian 12, whose nodejs is too old, it stops before changing anything
# unless a Node.js >= 20.19 is already installed. For a service that survives reboots, use
# deploy/install.sh instead.
# Environment: any GGNET_* variable (see README), e.g. GGNET_ADMIN_PASSWORD, GGNET_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/node.sh
. scripts/lib/node.sh
# before anything is changed: a usable Node.js, or Debian's (13+), or stop with what to install
ggnet_node_plan || exit 1
bash scripts/install-deps.sh runtime
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --prefer-offline
fi
if [ ! -f apps/server/dist/cli.js ] || [ -n "$(find apps packages -path '*/node_modules' -prune -o -newer apps/server/dist/cli.js -name '*.ts*' -print -quit)" ] || [ ! -f apps/web/dist/index.html ]; then
  npm run build
fi
if [ "$(id -u)" -eq 0 ]; then export GGNET_DATA_DIR=${GGNET_DATA_DIR:-/var/lib/ggnet}; fi
node apps/server/bin/ggnet.js doctor || echo "(ggnet doctor reported problems above; the server starts anyway)"
exec node apps/server/bin/ggnet.js serve
