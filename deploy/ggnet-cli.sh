#!/bin/sh
# /usr/local/bin/ggnet (installed by deploy/install.sh): the GGnet command line with the service's
# configuration, run as the ggnet user so that files it creates (database journal, backups,
# secrets) stay the service's. E.g. `ggnet user passwd admin`, `ggnet backup /root/ggnet.tar`.
set -e
CLI=/opt/ggnet/apps/server/bin/ggnet.js
export GGNET_DATA_DIR="${GGNET_DATA_DIR:-/var/lib/ggnet}" NODE_ENV=production
# as in ggnet.service: the storage daemon of ggnet-storage.service (never one of the command's own)
export GGNET_QSD_SOCKET="${GGNET_QSD_SOCKET:-/run/ggnet-storage/qmp.sock}"
if [ -r /etc/ggnet/ggnet.env ]; then
  set -a
  # shellcheck disable=SC1091
  . /etc/ggnet/ggnet.env
  set +a
fi
# the nginx drop-in's variables, so that `ggnet` talks about the same addresses as the service
if [ -r /etc/systemd/system/ggnet.service.d/nginx.conf ]; then
  while IFS= read -r kv; do export "${kv?}"; done <<EOF2
$(sed -n 's/^Environment=//p' /etc/systemd/system/ggnet.service.d/nginx.conf)
EOF2
fi
as_ggnet() { setpriv --reuid=ggnet --regid=ggnet --init-groups --inh-caps=-all -- /usr/bin/node "$CLI" "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  # A backup or restore file named by root stays root's: GGnet (as ggnet) streams it through a pipe
  # that this root shell opens (e.g. `ggnet backup /root/ggnet.tar.gz`, `ggnet restore /root/x.tar.gz`).
  if [ $# -ge 2 ] && [ "$2" != - ] && [ "${2#-}" = "$2" ]; then
    case "$1" in
      backup)
        file=$2; shift 2
        umask 077
        if as_ggnet backup - "$@" > "$file.partial"; then mv "$file.partial" "$file"; exit 0; fi
        rm -f "$file.partial"; exit 1 ;;
      restore)
        file=$2; shift 2
        [ -r "$file" ] || { echo "ggnet: cannot read $file" >&2; exit 1; }
        as_ggnet restore - "$@" < "$file"; exit $? ;;
    esac
  fi
  as_ggnet "$@"; exit $?
fi
exec /usr/bin/node "$CLI" "$@"
