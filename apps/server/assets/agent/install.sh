#!/bin/sh
# Installs the GGnet client agent into this Linux image. Run it as root on a PC booted in
# maintenance mode, then apply the session as a new image version:
#   curl -fsS @GGNET_URL@/boot/agent/install.sh | sh
#   (or: wget -qO- @GGNET_URL@/boot/agent/install.sh | sh)
# It writes /usr/local/sbin/ggnet-agent, /etc/systemd/system/ggnet-agent.service and
# /etc/default/ggnet-agent (GGnet's address, kept when present), and enables the service.
set -eu
GGNET_URL='@GGNET_URL@'
[ "$(id -u)" = 0 ] || { echo "run it as root" >&2; exit 1; }
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o "$2" "$GGNET_URL/boot/agent/$1"
  else
    wget -q -O "$2" "$GGNET_URL/boot/agent/$1"
  fi
}
command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 ||
  { echo "the agent needs curl (or busybox wget): apt-get install curl" >&2; exit 1; }
mkdir -p /usr/local/sbin /etc/systemd/system /etc/default
fetch ggnet-agent.sh /usr/local/sbin/ggnet-agent.new
chmod 0755 /usr/local/sbin/ggnet-agent.new
mv /usr/local/sbin/ggnet-agent.new /usr/local/sbin/ggnet-agent
fetch ggnet-agent.service /etc/systemd/system/ggnet-agent.service.new
mv /etc/systemd/system/ggnet-agent.service.new /etc/systemd/system/ggnet-agent.service
[ -f /etc/default/ggnet-agent ] || printf 'GGNET_URL=%s\n' "$GGNET_URL" > /etc/default/ggnet-agent
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable ggnet-agent.service
  systemctl restart ggnet-agent.service
else
  systemctl enable ggnet-agent.service 2>/dev/null ||
    ln -sf /etc/systemd/system/ggnet-agent.service /etc/systemd/system/multi-user.target.wants/ggnet-agent.service
fi
echo "GGnet agent installed (server $GGNET_URL); it starts at every boot"
