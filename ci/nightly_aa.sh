#!/usr/bin/env bash
# Does the nightly suite decide on this machine? An A/A run: the same build measured twice,
# the second run gated against the first as its baseline. A suite fit for a nightly gate calls
# nothing a regression and leaves at most MRELAY_AA_MAX_INCONCLUSIVE_PCT (15) % of its
# comparisons inconclusive. Exits 0 when it does, 1 when it does not, 2 on an error.
# Needs root (network namespaces); two suite runs plus re-runs: ~20 minutes on a 2-core VM.
#
#   sudo ci/nightly_aa.sh                       # the nightly suite
#   sudo MRELAY_AA_SUITE=smoke ci/nightly_aa.sh # any suite name or spec file
#   sudo MRELAY_AA_KEEP=/tmp/aa ci/nightly_aa.sh   # keep baseline, results and verdict there
#   sudo MRELAY_AA_RECORD=1 ci/nightly_aa.sh    # and install its first run as this machine's
#                                               # baseline (reports/baselines/<machine>-<suite>.json)
source "$(dirname "$0")/common.sh"

suite="${MRELAY_AA_SUITE:-nightly}"
max_inconclusive_pct="${MRELAY_AA_MAX_INCONCLUSIVE_PCT:-15}"
machine="${MRELAY_MACHINE:-vm2}"
profile="$machine-$(basename "$suite" .json)"

if [[ $(id -u) -ne 0 ]]; then
  echo "nightly A/A: needs root (network namespaces)" >&2
  exit 2
fi

work="${MRELAY_AA_KEEP:-$(mktemp -d /tmp/mrelay-aa.XXXXXX)}"
mkdir -p "$work"
cleanup() {
  "$MRELAY_BIN_DIR/mrelay-bench" gc >/dev/null 2>&1 || true
  [[ -n ${MRELAY_AA_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

mrelay_build
started=$(date +%s)
echo "== nightly A/A: run 1 of suite $suite (the baseline)"
mrelay_py baseline record --profile "$profile" --suite "$suite" --baselines-dir "$work" --force |
  grep -v '^\[sweep' || true
[[ -f $work/$profile.json ]] || { echo "nightly A/A: recording the baseline failed" >&2; exit 2; }

echo "== nightly A/A: run 2 of suite $suite, gated against run 1"
set +e
mrelay_py gate --baseline "$work/$profile.json" --suite "$suite" --out-results "$work/candidate.json" \
  --rerun-rounds 1 --json "$work/verdict.json" --markdown "$work/verdict.md" \
  --aa "$max_inconclusive_pct" | grep -v '^\[sweep'
verdict=${PIPESTATUS[0]}
set -e
echo "== nightly A/A: $(( ($(date +%s) - started) / 60 )) min"
[[ $verdict -le 1 ]] || { echo "nightly A/A: the gate failed (exit $verdict)" >&2; exit 2; }
if [[ $verdict -eq 0 && -n ${MRELAY_AA_RECORD:-} ]]; then
  cp "$work/$profile.json" "$MRELAY_ROOT/reports/baselines/$profile.json"
  echo "nightly A/A: run 1 installed as reports/baselines/$profile.json"
fi
exit "$verdict"
