#!/usr/bin/env bash
# The regression gate proves itself on the real rig:
#   1. records a smoke baseline moments before (into a temporary directory, not the
#      committed one), runs the smoke suite again with the same build and gates it: must not
#      be called a regression. PASS (exit 0) is expected; INCONCLUSIVE (exit 3) is accepted
#      and printed -- on a shared, noisy machine the gate may honestly say it cannot tell, and
#      that is not a false alarm -- but REGRESSION (exit 1) fails the self-test;
#   2. injects two known regressions on the smoke suite's saturation cell (7 repetitions;
#      1400 B, fanout 8, the default gso egress), gated against that baseline with the knob
#      ignored when matching cells; each must exit 1 naming syscalls_per_pkt:
#        batch1   relay --batch 1 (generator batch stays 32)      -> syscalls/pkt ~9 vs 0.25
#        send     relay --egress send (one sendmsg per copy)       -> syscalls/pkt ~9 vs 0.25
#   3. the November 2025 "before" settings (io_uring queue depth 128 + default send buffer)
#      against the "after" ones (1024, 4 MiB), both recorded here, 5 repetitions each, behind
#      a tbf 100 Mbit/s egress with a 200 ms queue (~8.7 kpps of 1400 B) fed by a bursty
#      source below the link: 6 kpps on average in bursts of 256 datagrams (358 KB) back to
#      back. Must exit 1 naming buffer_exhaustion_pct. A burst is more than the default
#      208 KB send buffer holds while tbf drains it: "before" loses the tail of every burst
#      (drop_eagain), "after" absorbs it and loses nothing (measured 2026-12-06: 53.5 % vs
#      0 %, loss 0 for "after"). Run above the link instead (20 kpps), both settings now lose
#      the excess alike, since the relay counts a copy the qdisc drops (IP_RECVERR) as
#      exhaustion too. Needs the tbf qdisc: skipped, with the reason, on a kernel without it.
# Why these cells: every metric the smoke suite gates was measured stable on the shared
# 2-core VM with other builds running (see gate.SUITE_GATING), and the injected changes are
# ~35x (syscalls/pkt; the smoke threshold is 100 %, the same build spread 1.75x) and
# 0 -> 53 % (exhaustion): far beyond any noise, so they regress on every run.
# Exit 0 all good, 1 a check failed, 77 skipped (not root / no netns / no build). Prints one
# "gate self-test: exits:" line with each check's gate exit code. About 3 minutes.
#
#   ci/gate_selftest.sh                      # uses $MRELAY_BUILD_DIR (default build/)
#   MRELAY_BUILD_DIR=build-gate ci/gate_selftest.sh
#   GATE_SELFTEST_KEEP=/tmp/st ci/gate_selftest.sh   # keep results and verdicts there
source "$(dirname "$0")/common.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "gate self-test: SKIPPED: needs root (network namespaces)"
  exit 77
fi
if ! ip netns list >/dev/null 2>&1; then
  echo "gate self-test: SKIPPED: ip netns unavailable"
  exit 77
fi
if [[ ! -x "$MRELAY_BIN_DIR/mrelay-bench" ]]; then
  echo "gate self-test: SKIPPED: no $MRELAY_BIN_DIR/mrelay-bench (build first)"
  exit 77
fi

work="$(mktemp -d /tmp/mrelay-gate-selftest.XXXXXX)"
cleanup() {
  if [[ -n "${GATE_SELFTEST_KEEP:-}" ]]; then
    mkdir -p "$GATE_SELFTEST_KEEP" && cp -r "$work"/. "$GATE_SELFTEST_KEEP"/
  fi
  rm -rf "$work"
  # The bench removes its namespaces itself; gc catches a run killed half-way (mrl- only).
  "$MRELAY_BIN_DIR/mrelay-bench" gc >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
exits=()
check() {  # check NAME EXPECTED_EXIT ACTUAL_EXIT VERDICT_FILE [REQUIRED_REGEX]
  local name=$1 expected=$2 actual=$3 verdict=$4 pattern=${5:-}
  exits+=("$name=$actual")
  if [[ $name == unchanged && $actual -eq 3 ]]; then
    # Inconclusive is honest, not a false alarm: accepted, and shown.
    echo "gate self-test: ok: $name (exit 3, INCONCLUSIVE: accepted, not a false alarm); its verdict:"
    grep -v '^\[sweep' "$verdict" | grep -E '^(inconclusive|  .*inconclusive|missing|gate:)' | sed 's/^/    /'
  elif [[ $actual -ne $expected ]]; then
    echo "gate self-test: FAIL: $name: gate exit $actual, expected $expected; its verdict:"
    grep -v '^\[sweep' "$verdict" | sed 's/^/    /'
    failures=$((failures + 1))
  elif [[ -n $pattern ]] && ! grep -Eq "$pattern" "$verdict"; then
    echo "gate self-test: FAIL: $name: verdict does not match /$pattern/; the verdict:"
    grep -v '^\[sweep' "$verdict" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "gate self-test: ok: $name (exit $actual)"
  fi
}

smoke="$MRELAY_ROOT/reports/sweeps/smoke.json"
echo "== gate self-test: baseline of the smoke suite, moments before"
mrelay_py baseline record --profile selftest --suite "$smoke" \
  --baselines-dir "$work/baselines" 2>"$work/baseline.err" | tail -1
baseline="$work/baselines/selftest.json"
[[ -f $baseline ]] || { cat "$work/baseline.err" >&2; echo "gate self-test: FAIL: no baseline"; exit 1; }

echo "== gate self-test: unchanged build (must not be called a regression)"
set +e
mrelay_py gate --baseline "$baseline" --suite "$smoke" --out-results "$work/unchanged.json" \
  2>"$work/unchanged.err" | tee "$work/unchanged.verdict" | grep -v '^\[sweep' | tail -4
code=${PIPESTATUS[0]}
set -e
check unchanged 0 "$code" "$work/unchanged.verdict" '^gate: PASS'

spec_variant() {  # spec_variant OUT JSON_OVERRIDES: the smoke spec's saturation cell, changed
  "$MRELAY_PYTHON" - "$smoke" "$2" "$1" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.update({"rates": [0], "repetitions": 7})
spec.update(json.loads(sys.argv[2]))
json.dump(spec, open(sys.argv[3], "w"), indent=1)
EOF
}

injected() {  # injected NAME METRIC RATE_LABEL BASELINE_FILE GATE_ARGS...: run, gate, expect 1
  local name=$1 metric=$2 rate=$3 base=$4
  shift 4
  set +e
  # No re-runs: a baseline cell without counterpart here is reported missing, and a
  # regression wins over inconclusive anyway.
  mrelay_py gate --baseline "$base" --suite "$work/$name.json" --out-results \
    "$work/$name.results.json" --rerun-rounds 0 "$@" 2>"$work/$name.err" |
    tee "$work/$name.verdict" | grep -E '^(REGRESSION|gate:)'
  local code=${PIPESTATUS[0]}
  set -e
  check "$name" 1 "$code" "$work/$name.verdict" "^REGRESSION +.* $rate +$metric "
}

echo "== gate self-test: injected regression 'batch1' (must exit 1 on syscalls_per_pkt)"
spec_variant "$work/batch1.json" '{"name": "batch1", "batches": [1], "gen_batch": 32}'
injected batch1 syscalls_per_pkt max "$baseline" --ignore-param batch

echo "== gate self-test: injected regression 'send' (must exit 1 on syscalls_per_pkt)"
spec_variant "$work/send.json" '{"name": "send", "backends": ["send"]}'
injected send syscalls_per_pkt max "$baseline" --ignore-param egress

echo "== gate self-test: November 2025 'before' vs 'after' (must exit 1 on buffer_exhaustion_pct)"
if tbf_probe=$("$MRELAY_BIN_DIR/mrelay-bench" probe --need tbf 2>&1); then
  slow_egress='"egress_qdisc": "tbf rate 100mbit burst 32kb latency 200ms"'
  paced='"rates": [6000], "gen_batch": 256, "gen_bursts": true, "repetitions": 5, "backends": ["uring"], "fanouts": [1]'
  spec_variant "$work/nov2025-after.json" "{\"name\": \"nov2025-after\", $paced, $slow_egress}"
  mrelay_py baseline record --profile nov2025-after --suite "$work/nov2025-after.json" \
    --baselines-dir "$work/baselines" 2>"$work/nov2025-after.err" | tail -1
  spec_variant "$work/nov2025.json" \
    "{\"name\": \"nov2025\", \"queue_depths\": [128], \"sndbufs\": [0], $paced, $slow_egress}"
  injected nov2025 buffer_exhaustion_pct 6kpps "$work/baselines/nov2025-after.json" \
    --ignore-param queue_depth --ignore-param sndbuf
else
  echo "gate self-test: SKIPPED: nov2025: ${tbf_probe#SKIP: }"
  exits+=("nov2025=skipped")
fi

echo "gate self-test: exits: ${exits[*]}"
if [[ $failures -ne 0 ]]; then
  echo "gate self-test: $failures check(s) FAILED (results in ${GATE_SELFTEST_KEEP:-$work, removed})"
  exit 1
fi
echo "gate self-test: all checks passed"
