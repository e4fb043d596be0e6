#!/usr/bin/env bash
# The systemd unit as the install configures it (with this build's programs), checked by
# `systemd-analyze verify` (offline: nothing is started), alone and with the real-time
# drop-in; and its paths against the constants: the control socket is mrelayctl's default
# (kDefaultControlSocket in relay/include/mrelay/config.h) inside the unit's RuntimeDirectory.
#
#   bash dist/tests/unit_test.sh DIST_SOURCE_DIR BIN_DIR        # ctest dist.systemd_unit
set -euo pipefail
DIST=$(cd "${1:?usage: unit_test.sh DIST_DIR BIN_DIR}" && pwd)
BIN=$(cd "${2:?usage: unit_test.sh DIST_DIR BIN_DIR}" && pwd)
SCRATCH=$(mktemp -d /tmp/mrelay-unit.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

unit=$SCRATCH/mrelay.service
sed -e "s|@MRELAY_UNIT_BINDIR@|$BIN|g" -e "s|@MRELAY_UNIT_DOCDIR@|$DIST/../docs|g" \
  "$DIST/mrelay.service.in" >"$unit"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

constant=$(sed -n 's/.*kDefaultControlSocket = "\([^"]*\)".*/\1/p' "$DIST/../relay/include/mrelay/config.h")
[[ -n $constant ]] || fail "kDefaultControlSocket not found in config.h"
grep -q -- "--control-socket $constant " "$unit" || fail "ExecStart does not use --control-socket $constant"
runtime_dir=$(sed -n 's/^RuntimeDirectory=//p' "$unit")
[[ /run/$runtime_dir == "$(dirname "$constant")" ]] ||
  fail "RuntimeDirectory=$runtime_dir does not hold $constant"
state_dir=$(sed -n 's/^StateDirectory=//p' "$unit")
grep -q -- "--state-file /var/lib/$state_dir/" "$unit" || fail "the state file is not in StateDirectory=$state_dir"
grep -q '^Type=notify$' "$unit" || fail "Type is not notify"
# --rt-priority needs both halves of the drop-in: a unit that allowed one without the other
# would be the old contradiction again.
grep -q '^RestrictRealtime=no$' "$DIST/mrelay-rt.conf" || fail "drop-in does not lift RestrictRealtime"
grep -q '^AmbientCapabilities=.*CAP_SYS_NICE' "$DIST/mrelay-rt.conf" || fail "drop-in lacks CAP_SYS_NICE"
if grep -qE '^(CPUSchedulingPolicy|LimitRTPRIO)=' "$unit" && grep -q '^RestrictRealtime=yes' "$unit"; then
  fail "unit asks for real-time scheduling and forbids it"
fi

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP [dist.systemd_unit]: systemd-analyze not found (Debian package systemd); path checks: $failures failures"
  ((failures == 0)) || exit 1
  exit 77
fi
verify() {  # verify WHAT UNIT_DIR
  local out
  if out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$2/mrelay.service" 2>&1) &&
     [[ -z $out ]]; then
    echo "ok: systemd-analyze verify ($1)"
  else
    fail "systemd-analyze verify ($1):"
    printf '%s\n' "$out" | sed 's/^/    /'
  fi
}
verify "unit" "$SCRATCH"
mkdir -p "$SCRATCH/with-rt/mrelay.service.d"
cp "$unit" "$SCRATCH/with-rt/"
cp "$DIST/mrelay-rt.conf" "$SCRATCH/with-rt/mrelay.service.d/rt.conf"
verify "unit + mrelay-rt.conf" "$SCRATCH/with-rt"
((failures == 0)) || { echo "unit_test: $failures failures"; exit 1; }
echo "unit_test: all checks passed"
