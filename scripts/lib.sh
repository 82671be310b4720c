# Helpers for scripts/test (sourced, not run). Bash only; callers use `set -euo pipefail`.

# Prints a step marker that stands out in long CI logs.
say() { printf '\n[test] %s\n' "$*"; }
warn() { printf '[test] warning: %s\n' "$*" >&2; }
die() { printf '[test] error: %s\n' "$*" >&2; exit 1; }

# Step timing: `step_start NAME` … `step_end` records "NAME  12s" for the closing table.
STEP_TIMES=()
_step_name=""
_step_t0=0
step_start() { _step_name="$1"; _step_t0=$(date +%s); say "== $1"; }
step_end() {
  local dt=$(( $(date +%s) - _step_t0 ))
  STEP_TIMES+=("$(printf '%-24s %5ss' "$_step_name" "$dt")")
}
print_step_times() {
  local line
  printf '\n[test] time per step:\n'
  for line in "${STEP_TIMES[@]}"; do printf '  %s\n' "$line"; done
}

# Runs apt-get as root (directly, or through sudo when we are not root).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root to run: $* (install it by hand and re-run)"
  fi
}

# `apt-get update` at most once per run, and only when something is actually missing.
_apt_updated=0
apt_update_once() {
  if [[ $_apt_updated -eq 0 ]]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _apt_updated=1
  fi
}
# Packages with a daemon (redis-server, nginx) must not start their system service: the tests
# start their own on free loopback ports, and nginx's postinst fails when port 80 is taken. A
# policy-rc.d that answers 101 ("action forbidden") is Debian's way to say so; one that exists
# already (Docker images ship it) is left alone.
apt_install() {
  [[ $# -gt 0 ]] || return 0
  apt_update_once
  say "apt-get install $*"
  local policy=/usr/sbin/policy-rc.d placed=0
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && placed=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  [[ $placed -eq 1 ]] && as_root rm -f "$policy"
  return $rc
}

# True when the Debian package is installed (not just known).
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# True when `node` can `require('ws')` with the given NODE_PATH.
node_has_ws() { NODE_PATH="$1" node -e 'require("ws")' >/dev/null 2>&1; }
