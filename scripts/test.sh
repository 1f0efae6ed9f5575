#!/usr/bin/env bash
# The whole test suite, as root on Debian 13 (or Debian 12 with a Node.js >= 20.19):
#   installs every Debian and npm package the tests need, builds, type-checks, lints,
#   starts PostgreSQL, runs unit + integration tests (SQLite and PostgreSQL), then the
#   end-to-end tests (VMs that PXE-boot from GGnet, the web UI in Chromium).
# Usage: scripts/test.sh [vitest args...]   (e.g. scripts/test.sh --project unit)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> %s\n' "$*"; }

step "Debian packages"
bash scripts/install-deps.sh test

step "npm packages"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "build"
npm run build

step "typecheck"
npm run typecheck

step "lint"
npm run lint
npm run format:check

step "PostgreSQL"
GGNET_TEST_PG_URL=$(bash scripts/start-postgres.sh)
case "$GGNET_TEST_PG_URL" in
  postgres://*) ;;
  *) echo "scripts/start-postgres.sh printed no URL: '$GGNET_TEST_PG_URL'" >&2; exit 1 ;;
esac
export GGNET_TEST_PG_URL GGNET_REQUIRE_PG=1
echo "using $GGNET_TEST_PG_URL"

mkdir -p test-output
step "tests"
npx vitest run --reporter=default --reporter=junit --outputFile.junit=test-output/junit.xml "$@"

echo
echo "test suite passed in $(( $(date +%s) - started )) s"
