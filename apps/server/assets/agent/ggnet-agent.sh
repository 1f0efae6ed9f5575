#!/bin/sh
# GGnet client agent for Linux: POSIX sh + curl (or busybox wget). Protocol: docs/agent-protocol.md.
#
# At boot it claims the token of its boot session from GGnet (POST /boot/agent/claim; only from the
# address that session booted from, once per session), keeps it in $GGNET_AGENT_STATE (/run: gone at
# the next boot), reports what the OS is doing (hostname, OS version, users, uptime, CPU, RAM) every
# heartbeat, and long-polls for commands: shutdown, reboot, message. Nothing secret is in the image.
#
# Configuration (environment or /etc/default/ggnet-agent):
#   GGNET_URL               http://<ggnet>:<port> (install.sh writes it); else the iSCSI portal from
#                           the iBFT with GGNET_PORT (80)
#   GGNET_AGENT_STATE       where the token is kept (/run/ggnet-agent)
#   GGNET_AGENT_POWEROFF    the command that powers off (systemctl poweroff, else poweroff)
#   GGNET_AGENT_REBOOT      the command that reboots (systemctl reboot, else reboot)
#   GGNET_AGENT_CONSOLES    where messages are written besides wall (/dev/console)
AGENT_VERSION=1
# shellcheck source=/dev/null
[ -r /etc/default/ggnet-agent ] && . /etc/default/ggnet-agent
STATE=${GGNET_AGENT_STATE:-/run/ggnet-agent}
CONSOLES=${GGNET_AGENT_CONSOLES:-/dev/console}
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  POWEROFF=${GGNET_AGENT_POWEROFF:-systemctl poweroff}
  REBOOT=${GGNET_AGENT_REBOOT:-systemctl reboot}
else
  POWEROFF=${GGNET_AGENT_POWEROFF:-poweroff}
  REBOOT=${GGNET_AGENT_REBOOT:-reboot}
fi
if [ -z "${GGNET_URL:-}" ] && [ -r /sys/firmware/ibft/target0/ip-addr ]; then
  GGNET_URL="http://$(cat /sys/firmware/ibft/target0/ip-addr):${GGNET_PORT:-80}"
fi
[ -n "${GGNET_URL:-}" ] || { echo "ggnet-agent: set GGNET_URL in /etc/default/ggnet-agent" >&2; exit 2; }
GGNET_URL=${GGNET_URL%/}
TOKEN=

log() { echo "ggnet-agent: $*" >&2; }

# http METHOD PATH [BODY]: the answer's body on stdout; non-zero on a network error or an HTTP error.
# A 401 (the token died with its session) leaves $STATE/dead behind: the token is dropped then, and
# only then (GGnet being away for a while is no reason to give up a token that cannot be claimed again).
http() {
  _m=$1 _p=$2 _b=${3-}
  if command -v curl >/dev/null 2>&1; then
    set -- -fsS -m 40 -X "$_m" -H 'Content-Type: application/json'
    [ -n "$TOKEN" ] && set -- "$@" -H "Authorization: Bearer $TOKEN"
    [ "$_m" = POST ] && set -- "$@" --data-binary "$_b"
    curl "$@" "$GGNET_URL$_p" 2>"$STATE/http.err"
  else
    # no -T: busybox 1.35's wget crashes with it (Debian 12); the server answers a poll within 25 s
    set -- -q -O- --header 'Content-Type: application/json'
    [ -n "$TOKEN" ] && set -- "$@" --header "Authorization: Bearer $TOKEN"
    [ "$_m" = POST ] && set -- "$@" --post-data "$_b"
    wget "$@" "$GGNET_URL$_p" 2>"$STATE/http.err"
  fi
  _rc=$?
  if [ $_rc -ne 0 ]; then
    cat "$STATE/http.err" >&2
    grep -q ' 401' "$STATE/http.err" && : >"$STATE/dead"
  fi
  return $_rc
}

# after a 401: forget the token, claim again (a new boot session has a new one)
dead() {
  [ -e "$STATE/dead" ] || return 1
  rm -f "$STATE/dead" "$STATE/token"
  TOKEN=
  log "the token died with its session; claiming again"
}

# a JSON string of the first line of $1 (control characters dropped)
jstr() {
  printf '"%s"' "$(printf '%s\n' "$1" | head -n 1 | sed 's/[[:cntrl:]]//g; s/\\/\\\\/g; s/"/\\"/g')"
}

num() { case $1 in '' | *[!0-9.]*) echo null ;; *) echo "$1" ;; esac; }

facts() {
  host=$(cat /proc/sys/kernel/hostname 2>/dev/null)
  os=
  if [ -r /etc/os-release ]; then
    os=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | sed 's/^"//; s/"$//')
  fi
  os="${os:+$os; }$(uname -sr)"
  users=
  if command -v who >/dev/null 2>&1; then
    for u in $(who 2>/dev/null | cut -d' ' -f1); do
      case " $users " in *" $u "*) ;; *) users="$users $u" ;; esac
    done
  fi
  ulist=
  for u in $users; do ulist="${ulist:+$ulist,}$(jstr "$u")"; done
  up=$(cut -d. -f1 /proc/uptime)
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  ncpu=$(grep -c '^processor' /proc/cpuinfo)
  load=$(cut -d' ' -f1 /proc/loadavg)
  memt=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo)
  mema=$(sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo)
  [ -n "$memt" ] && memt=$((memt * 1024))
  [ -n "$mema" ] && mema=$((mema * 1024))
  printf '{"hostname":%s,"osVersion":%s,"users":[%s],"uptimeSec":%s,"cpuModel":%s,"cpuCount":%s,"load1":%s,"memTotalBytes":%s,"memAvailableBytes":%s,"agentVersion":"%s"}' \
    "$(jstr "$host")" "$(jstr "$os")" "$ulist" "$(num "$up")" "$(jstr "$cpu")" "$(num "$ncpu")" \
    "$(num "$load")" "$(num "$memt")" "$(num "$mema")" "$AGENT_VERSION"
}

claim() {
  if [ -s "$STATE/token" ]; then
    TOKEN=$(cat "$STATE/token")
    return 0
  fi
  out=$(http POST /boot/agent/claim '{}') || return 1
  t=$(printf '%s' "$out" | sed -n 's/.*"token":"\([A-Za-z0-9_-]*\)".*/\1/p')
  [ -n "$t" ] || return 1
  (umask 077 && printf '%s\n' "$t" > "$STATE/token.new" && mv "$STATE/token.new" "$STATE/token")
  TOKEN=$t
  last=-$HEARTBEAT
  log "claimed the token of session $(printf '%s' "$out" | sed -n 's/.*"sessionId":"\([^"]*\)".*/\1/p')"
}

report() {
  http POST /boot/agent/report "$(facts)" >/dev/null
}

ack() { # id done|failed [detail]
  http POST "/boot/agent/commands/$1/ack" "{\"status\":\"$2\",\"detail\":$(jstr "${3:-}")}" >/dev/null
}

show() { # the message on every console: logged-in terminals (wall) and the system console
  line="*** Message from GGnet: $1"
  command -v wall >/dev/null 2>&1 && printf '%s\n' "$line" | wall 2>/dev/null
  for c in $CONSOLES; do
    [ -w "$c" ] && printf '\r\n%s\r\n' "$line" > "$c" 2>/dev/null
  done
  log "message shown: $1"
}

run() { # id type base64-text
  case $2 in
    message)
      text=$(printf '%s' "$3" | base64 -d 2>/dev/null)
      show "$text"
      ack "$1" "done" "shown"
      ;;
    shutdown)
      ack "$1" "done" "powering off" && log "shutdown: $POWEROFF" && sync && $POWEROFF
      ;;
    reboot)
      ack "$1" "done" "rebooting" && log "reboot: $REBOOT" && sync && $REBOOT
      ;;
    *) ack "$1" failed "unknown command $2" ;;
  esac
}

HEARTBEAT=30
last=-$HEARTBEAT
(umask 077 && mkdir -p "$STATE") || exit 1
rm -f "$STATE/dead"
while :; do
  if [ -z "$TOKEN" ] && ! claim; then
    log "cannot claim a token from $GGNET_URL (not booted from GGnet, or claimed already); retrying"
    sleep 30
    continue
  fi
  now=$(cut -d. -f1 /proc/uptime)
  if [ $((now - last)) -ge $HEARTBEAT ]; then
    if report; then
      last=$now
    else
      dead || sleep 5
      continue
    fi
  fi
  if cmds=$(http GET '/boot/agent/commands?wait=25&format=text'); then
    printf '%s\n' "$cmds" | while read -r id type text; do
      [ -n "$id" ] && run "$id" "$type" "$text"
    done
  else
    dead || sleep 5
  fi
done
