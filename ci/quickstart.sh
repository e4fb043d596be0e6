#!/usr/bin/env bash
# Quickstart: builds mrelay (Release, into build/) and runs a small comparison on the
# namespace rig: hop at 512 B, mrelay with the gso (default), packet and io_uring egress
# against the kernel references (multicast routing where the kernel has it, nftables dup on
# every modern kernel), socat and the direct (no forwarder) ceiling, at a moderate paced rate
# and at saturation, 3 interleaved repetitions of 2 s windows: a few minutes on 2 cores.
# First prints what this kernel cannot do and what that costs the run (mrelay-bench probe);
# cells it cannot run are "skipped: <reason>", not failures. Prints the table (median
# [min-max], × kernel against the best kernel reference that ran, a headroom line saying
# whether the rig or the forwarders set the rates) and writes the raw results and a Markdown
# table to reports/runs/quickstart-<UTC date>.{json,md}. Must run as root (namespaces).
#
#   sudo ci/quickstart.sh
#   sudo ci/quickstart.sh reports/sweeps/november2025.json     # any other sweep spec
source "$(dirname "$0")/common.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "ci/quickstart.sh: must run as root: it creates network namespaces and veth pairs" >&2
  echo "  (and installs missing Debian packages). Try: sudo ci/quickstart.sh" >&2
  exit 1
fi

SPEC=${1:-$MRELAY_ROOT/reports/sweeps/quickstart.json}
mrelay_build

name=$(basename "${SPEC%.json}")
out="$MRELAY_ROOT/reports/runs/$name-$(date -u +%Y%m%dT%H%M%SZ).json"
mkdir -p "$(dirname "$out")"
echo "== mrelay-bench sweep $SPEC"
# Remove namespaces a crashed earlier run may have left (only mrl- ones with a dead owner).
"$MRELAY_BIN_DIR/mrelay-bench" gc >/dev/null || true
rc=0
"$MRELAY_BIN_DIR/mrelay-bench" sweep "$SPEC" --out "$out" || rc=$?
echo "== results: $out"
echo "== table:   ${out%.json}.md"
exit "$rc"
