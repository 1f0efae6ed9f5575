#!/bin/sh
# /usr/local/bin/ggnet (installed by deploy/install.sh): the GGnet command line with the service's
# configuration, run as the ggnet user so that files it creates (database journal, backups,
# secrets) stay the service's. E.g. `ggnet user passwd admin`, `ggnet backup /root/ggnet.tar`.
set -e
CLI=/opt/ggnet/apps/server/bin/ggnet.js
export GGNET_DATA_DIR="${GGNET_DATA_DIR:-/var/lib/ggnet}" NODE_ENV=production
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
if [ "$(id -u)" -eq 0 ]; then
  # paths given on the command line stay the caller's (backup/restore files): resolve them first
  exec setpriv --reuid=ggnet --regid=ggnet --init-groups --inh-caps=-all -- /usr/bin/node "$CLI" "$@"
fi
exec /usr/bin/node "$CLI" "$@"
