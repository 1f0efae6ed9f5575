#!/usr/bin/env bash
# The whole test suite, as root on Debian 13 (or Debian 12 with a Node.js >= 20.19):
#   installs every Debian and npm package the tests need, builds, type-checks, lints,
#   starts PostgreSQL, runs every tier: small, integration and system (SQLite and PostgreSQL), web,
#   then the end-to-end tests (VMs that PXE-boot from GGnet, the web UI in Chromium).
# Usage: scripts/test.sh [vitest args...]   (e.g. scripts/test.sh --project small; see README "Tests")
#        scripts/test.sh --project small   (npm test -- --project small: no root, seconds)
# With only --project small and/or web, nothing is installed, built or started: those tiers need
# node_modules and nothing else (the contracts are read from source), so they run in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> %s\n' "$*"; }

# the projects asked for (--project X / --project=X); none means all
projects=() prev=''
for a in "$@"; do
  case "$a" in --project=*) projects+=("${a#--project=}") ;; esac
  if [ "$prev" = --project ]; then projects+=("$a"); fi
  prev=$a
done
quick=0
if [ ${#projects[@]} -gt 0 ]; then
  quick=1
  for p in "${projects[@]}"; do
    case "$p" in small | web) ;; *) quick=0 ;; esac
  done
fi
if [ "$quick" = 1 ]; then
  if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
  exec npx vitest run "$@"
fi

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
