#!/usr/bin/env bash
# Installs GGnet as a system service (run as root from a checkout). Debian 13 (trixie) is the
# primary platform; on Debian 12 a Node.js >= 20.19 must be installed first (it stops with what to
# install, before changing anything, otherwise).
#
#   deploy/install.sh [--nginx] [--cert FILE --key FILE] [--server-name NAME]
#                                    install or upgrade in place (idempotent)
#   deploy/install.sh --uninstall    remove the service, the code and the nginx site; keep the data
#                                    (/var/lib/ggnet) and the configuration (/etc/ggnet)
#   deploy/install.sh --purge [--yes]  --uninstall, then delete /var/lib/ggnet, /etc/ggnet and the
#                                    ggnet user after a confirmation (or --yes)
#
# What an install does:
#   - Debian packages GGnet drives (scripts/install-deps.sh runtime; Debian's nodejs and npm on 13)
#   - npm ci + build in this checkout; the build with production dependencies only in /opt/ggnet
#   - the `ggnet` system user; /etc/ggnet/ggnet.toml and ggnet.env (kept if present);
#     /var/lib/ggnet owned by ggnet, mode 0700
#   - ggnet.service (and ggnet-worker.service, not enabled) in /etc/systemd/system, enabled and
#     (re)started; ggnet-storage.service (qemu-storage-daemon of storage backend qcow2) enabled and
#     started, not restarted; ggnet-shutdown.service (ends tgtd when the system goes down);
#     /usr/local/bin/ggnet runs the command line as the ggnet user
#   - with --nginx (or NGINX=1): nginx with TLS in front of the console and API (a self-signed
#     certificate unless --cert/--key are given), /boot/ kept on plain HTTP for PXE clients
# Environment: PREFIX (default /opt/ggnet), NGINX=1, GGNET_TLS_CERT / GGNET_TLS_KEY, SERVER_NAME.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/ggnet}
CONF=/etc/ggnet
DATA=/var/lib/ggnet
UNITS=/etc/systemd/system
NGINX=${NGINX:-0}
CERT=${GGNET_TLS_CERT:-}
KEY=${GGNET_TLS_KEY:-}
SERVER_NAME=${SERVER_NAME:-}
action=install
yes=0

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nginx) NGINX=1 ;;
    --cert) CERT=${2:?--cert needs a file}; shift ;;
    --key) KEY=${2:?--key needs a file}; shift ;;
    --server-name) SERVER_NAME=${2:?--server-name needs a name}; shift ;;
    --uninstall) action=uninstall ;;
    --purge) action=purge ;;
    --yes | -y) yes=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

uninstall() {
  say "removing the GGnet service and code (data in $DATA and configuration in $CONF are kept)"
  if have_systemd; then
    systemctl disable --now ggnet-worker.service ggnet.service ggnet-storage.service ggnet-shutdown.service 2>/dev/null || true
    # tgtd outlives `systemctl stop ggnet` on purpose (booted clients keep their disks);
    # uninstalling ends it: stop what is left in the unit's control group
    systemctl kill --signal=SIGKILL ggnet.service 2>/dev/null || true
  fi
  for pidfile in "$DATA"/run/tgtd.*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tgtd ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -f "$UNITS/ggnet.service" "$UNITS/ggnet-worker.service" "$UNITS/ggnet-storage.service" \
    "$UNITS/ggnet-shutdown.service" /usr/local/bin/ggnet
  rm -rf "$UNITS/ggnet.service.d"
  if [ -e /etc/nginx/sites-available/ggnet.conf ] || [ -L /etc/nginx/sites-enabled/ggnet.conf ]; then
    rm -f /etc/nginx/sites-enabled/ggnet.conf /etc/nginx/sites-available/ggnet.conf
    if have_systemd && systemctl is-active --quiet nginx; then systemctl reload nginx || true; fi
  fi
  rm -rf "$PREFIX" "$PREFIX.new" "$PREFIX.old"
  have_systemd && systemctl daemon-reload
  say "GGnet is uninstalled; kept: $DATA (database, images, secrets) and $CONF"
}

case "$action" in
  uninstall) uninstall; exit 0 ;;
  purge)
    if [ "$yes" != 1 ]; then
      [ -t 0 ] || die "--purge deletes $DATA (database, images, writebacks, secrets) and $CONF: confirm on a terminal or add --yes"
      printf 'Delete %s (database, images, writebacks, secrets), %s and the ggnet user for good? Type "purge": ' "$DATA" "$CONF"
      read -r answer
      [ "$answer" = purge ] || die "not confirmed; nothing was deleted"
    fi
    uninstall
    rm -rf "$DATA" "$CONF"
    if getent passwd ggnet >/dev/null; then userdel ggnet 2>/dev/null || true; fi
    if getent group ggnet >/dev/null; then groupdel ggnet 2>/dev/null || true; fi
    say "purged: $DATA, $CONF and the ggnet user are gone"
    exit 0
    ;;
esac

# --- install / upgrade ------------------------------------------------------------------------
# shellcheck source=scripts/lib/node.sh
. "$SRC/scripts/lib/node.sh"
# before anything is changed: a usable Node.js, or Debian's (13+), or stop with what to install
ggnet_node_plan || exit 1
if [ "$NGINX" = 1 ]; then
  if [ -n "$CERT$KEY" ]; then
    if [ -z "$CERT" ] || [ -z "$KEY" ]; then die "give both --cert and --key (or neither for a self-signed certificate)"; fi
    if [ ! -r "$CERT" ] || [ ! -r "$KEY" ]; then die "cannot read $CERT or $KEY"; fi
  fi
fi

bash "$SRC/scripts/install-deps.sh" runtime

say "building in $SRC"
cd "$SRC"
# --prefer-offline: what npm's cache already has (e.g. from the previous install) is not fetched again
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --prefer-offline
fi
npm run build

say "installing to $PREFIX"
stage="$PREFIX.new"
rm -rf "$stage"
mkdir -p "$stage"
# the built tree: package files, dist folders; then production node_modules
tar -cf - package.json package-lock.json packages/contracts/package.json packages/contracts/dist \
  apps/server/package.json apps/server/bin apps/server/dist apps/server/assets apps/web/package.json apps/web/dist \
  packages/testkit/package.json e2e/package.json bench/package.json | tar -xf - -C "$stage"
# better-sqlite3 was just compiled in the checkout (same lockfile, same version, same Node): reuse
# its binary instead of compiling it a second time; compile it if that is not possible
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
  --workspace @ggnet/server --include-workspace-root=false >/dev/null)
built="$SRC/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
ver() { node -p "require('$1/package.json').version" 2>/dev/null || true; }
if [ -f "$built" ] && [ "$(ver "$SRC/node_modules/better-sqlite3")" = "$(ver "$stage/node_modules/better-sqlite3")" ]; then
  mkdir -p "$stage/node_modules/better-sqlite3/build/Release"
  cp "$built" "$stage/node_modules/better-sqlite3/build/Release/"
else
  (cd "$stage" && npm rebuild better-sqlite3 --no-audit --no-fund)
fi
(cd "$stage" && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()") ||
  die "better-sqlite3 does not load in $stage"
rm -rf "$PREFIX.old"
[ -d "$PREFIX" ] && mv "$PREFIX" "$PREFIX.old"
mv "$stage" "$PREFIX"
rm -rf "$PREFIX.old"

say "user, configuration and data directory"
if ! getent passwd ggnet >/dev/null; then
  useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin \
    --comment "GGnet diskless boot server" ggnet
fi
install -d -m 0750 -o root -g ggnet "$CONF"
[ -f "$CONF/ggnet.toml" ] || install -m 0640 -o root -g ggnet "$SRC/deploy/config/ggnet.toml" "$CONF/ggnet.toml"
[ -f "$CONF/ggnet.env" ] || install -m 0640 -o root -g ggnet "$SRC/deploy/config/ggnet.env" "$CONF/ggnet.env"
install -d -m 0700 -o ggnet -g ggnet "$DATA"
# an older install ran GGnet as root: hand its files to the ggnet user
if [ -n "$(find "$DATA" -xdev ! -user ggnet -print -quit)" ]; then
  chown -R ggnet:ggnet "$DATA"
fi
install -m 0755 "$SRC/deploy/ggnet-cli.sh" /usr/local/bin/ggnet
sed -i "s#/opt/ggnet#$PREFIX#g" /usr/local/bin/ggnet

say "systemd units"
for u in ggnet.service ggnet-worker.service ggnet-storage.service ggnet-shutdown.service; do
  install -m 0644 "$SRC/deploy/systemd/$u" "$UNITS/$u"
  sed -i "s#/opt/ggnet#$PREFIX#g" "$UNITS/$u"
done
# GGnet runs its own tgtd (own control port and portal): Debian's tgt.service would take port 3260
if have_systemd && { systemctl is-enabled --quiet tgt.service 2>/dev/null || systemctl is-active --quiet tgt.service 2>/dev/null; }; then
  systemctl disable --now tgt.service 2>/dev/null || true
  say "disabled Debian's tgt.service (GGnet runs its own tgtd on port 3260)"
fi

if [ "$NGINX" = 1 ]; then
  say "nginx with TLS"
  missing=()
  for p in nginx openssl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # the package lists may be missing or old (nothing else needed a download): refresh them first
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  install -d -m 0750 -o root -g root "$CONF/tls"
  if [ -n "$CERT" ]; then
    install -m 0644 "$CERT" "$CONF/tls/ggnet.crt"
    install -m 0600 "$KEY" "$CONF/tls/ggnet.key"
  elif [ ! -f "$CONF/tls/ggnet.crt" ] || [ ! -f "$CONF/tls/ggnet.key" ]; then
    name=${SERVER_NAME:-$(hostname -f 2>/dev/null || hostname)}
    san="DNS:$name,DNS:localhost,IP:127.0.0.1"
    for ip in $(hostname -I 2>/dev/null || true); do
      case "$ip" in *:*) ;; *) san="$san,IP:$ip" ;; esac
    done
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=$name" -addext "subjectAltName=$san" \
      -keyout "$CONF/tls/ggnet.key" -out "$CONF/tls/ggnet.crt" 2>/dev/null
    chmod 0600 "$CONF/tls/ggnet.key"
    say "generated a self-signed certificate for $name ($CONF/tls/ggnet.crt); replace it with --cert/--key"
  fi
  install -m 0644 "$SRC/deploy/nginx/ggnet.conf" /etc/nginx/sites-available/ggnet.conf
  sed -i "s#/etc/ggnet/tls#$CONF/tls#g" /etc/nginx/sites-available/ggnet.conf
  ln -sf /etc/nginx/sites-available/ggnet.conf /etc/nginx/sites-enabled/ggnet.conf
  # Debian's default site also listens on port 80 as default_server
  rm -f /etc/nginx/sites-enabled/default
  nginx -t -q
  # behind nginx: GGnet listens on loopback only, trusts X-Forwarded-For from nginx, and tells
  # PXE clients to fetch their boot script from nginx's plain-HTTP port 80
  install -d -m 0755 "$UNITS/ggnet.service.d"
  install -m 0644 "$SRC/deploy/systemd/nginx.conf" "$UNITS/ggnet.service.d/nginx.conf"
fi

if have_systemd; then
  systemctl daemon-reload
  # the storage daemon (qcow2 disks) is started if it is not running, never restarted: booted
  # clients' disks live in it
  # (only storage backend qcow2 needs it: a failure is reported, not fatal)
  if ! systemctl enable --quiet --now ggnet-storage.service; then
    say "warning: ggnet-storage.service did not start (journalctl -u ggnet-storage); storage backend qcow2 needs it"
  fi
  # ends GGnet's tgtd when the system goes down (tgtd ignores SIGTERM: the reboot waited 90 s for it)
  systemctl enable --quiet --now ggnet-shutdown.service
  systemctl enable --quiet ggnet.service
  systemctl restart ggnet.service
  if [ "$NGINX" = 1 ]; then systemctl enable --quiet nginx; systemctl reload-or-restart nginx; fi
  # wait for the server to answer (the first start migrates the database)
  port=$(systemctl show -p Environment ggnet.service | grep -o 'GGNET_PORT=[0-9]*' | cut -d= -f2 || true)
  for _ in $(seq 1 120); do
    if node -e "fetch('http://127.0.0.1:${port:-8080}/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then
      break
    fi
    systemctl is-failed --quiet ggnet.service && break
    sleep 1
  done
  if ! systemctl is-active --quiet ggnet.service; then
    journalctl -u ggnet.service -n 30 --no-pager >&2 || true
    die "ggnet.service did not start (journalctl -u ggnet)"
  fi
  say "GGnet is running. The first start prints the password of user admin once:"
  say "  journalctl -u ggnet | grep 'generated password:'     (change it: ggnet user passwd admin)"
  if [ "$NGINX" = 1 ]; then
    say "console: https://$(hostname -f 2>/dev/null || hostname)/   (PXE clients: http://<server>/boot/ipxe)"
  else
    say "console: http://$(hostname -f 2>/dev/null || hostname):8080/"
  fi
else
  say "no systemd here: start it with  ggnet serve   (as user ggnet)"
fi
