# shellcheck shell=bash
# Where GGnet's Node.js comes from (sourced by scripts/install-deps.sh, scripts/run.sh, deploy/install.sh).
# GGnet needs Node.js >= 20.19 with npm. Debian 13 (trixie) and later ship it (nodejs 20.19, npm 9.2);
# Debian 12 (bookworm) ships nodejs 18, too old: there the scripts stop before changing anything,
# unless a new enough Node.js is already installed (e.g. NodeSource's nodejs 20.x package).

GGNET_NODE_MIN=20.19.0

# Prints the version of `node` on PATH (without the v), or nothing.
ggnet_node_version() {
  command -v node >/dev/null 2>&1 || return 0
  node -e 'process.stdout.write(process.versions.node)' 2>/dev/null || true
}

# True when version $1 >= version $2 (dotted numbers).
ggnet_version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

# Debian release of this machine: its major version (12, 13...), "sid" for unstable, or "" elsewhere.
ggnet_debian_release() {
  local id="" version_id="" codename=""
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck disable=SC1091
    version_id=$(. /etc/os-release && echo "${VERSION_ID:-}")
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  fi
  [ "$id" = debian ] || return 0
  if [ -n "$version_id" ]; then echo "${version_id%%.*}"; return 0; fi
  case "$codename" in
    trixie) echo 13 ;;
    forky) echo 14 ;;
    *) echo sid ;;
  esac
}

# Decides, without changing anything, how Node.js comes to this machine. Sets GGNET_NODE_PLAN:
#   present   node >= 20.19 and npm are on PATH: use them
#   debian    Debian 13 or later: install Debian's nodejs and npm
# and returns 0; or prints what to install and returns 1.
ggnet_node_plan() {
  local have release
  have=$(ggnet_node_version)
  if [ -n "$have" ] && ggnet_version_ge "$have" "$GGNET_NODE_MIN" && command -v npm >/dev/null 2>&1; then
    GGNET_NODE_PLAN=present
    return 0
  fi
  release=$(ggnet_debian_release)
  if [ "$release" = sid ] || { [ -n "$release" ] && [ "$release" -ge 13 ]; }; then
    GGNET_NODE_PLAN=debian
    return 0
  fi
  {
    echo "GGnet needs Node.js >= ${GGNET_NODE_MIN%.0} with npm, and this machine has ${have:+Node.js $have}${have:-no Node.js}${have:+ (too old)}."
    if [ "$release" = 12 ]; then
      echo "Debian 12 (bookworm) ships nodejs 18, which is too old; Debian 13 (trixie) ships nodejs 20.19."
    else
      echo "Only Debian 13 (trixie) or later ships a nodejs package that is new enough."
    fi
    echo "Nothing was changed. Either:"
    echo "  - install Debian 13 (trixie) and run this again (GGnet then installs Debian's nodejs and npm), or"
    echo "  - install Node.js 20.19 or newer with npm yourself, e.g. the nodejs package of NodeSource's"
    echo "    node_20.x Debian repository (it includes npm), check that \`node --version\` prints v20.19"
    echo "    or later, and run this again."
  } >&2
  return 1
}

# Debian packages that building GGnet needs besides the runtime tools: Node.js and npm (when they
# come from Debian), and what node-gyp needs to build better-sqlite3 from source when no prebuilt
# binary can be fetched: a C++ compiler, make, python3, and Node's headers (Debian's libnode-dev,
# which Debian's node-gyp finds by itself; npm depends on node-gyp).
ggnet_node_packages() {
  local pkgs=(g++ make python3)
  [ "${GGNET_NODE_PLAN:-}" = debian ] && pkgs+=(nodejs npm node-gyp libnode-dev)
  echo "${pkgs[@]}"
}
