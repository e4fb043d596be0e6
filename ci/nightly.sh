#!/usr/bin/env bash
# Nightly regression gate: build, run the nightly suite, gate it against the stored baseline
# of this machine's profile, and write the verdict and a report to reports/nightly/<date>/.
# Exits with the gate's code: 0 pass, 1 regression (or a fuzzing crash), 3 inconclusive, 2 error.
# Needs root (network namespaces). ~10 minutes on the 2-core VM (under 15 with re-runs).
#
#   sudo ci/nightly.sh                            # profile vm2-nightly
#   sudo MRELAY_MACHINE=ci-runner ci/nightly.sh   # baseline reports/baselines/ci-runner-nightly.json
#   sudo MRELAY_NIGHTLY_SUITE=smoke ci/nightly.sh # a quick rehearsal with the smoke suite
#   sudo MRELAY_NIGHTLY_FUZZ_SECONDS=0 ci/nightly.sh  # without the long fuzzing run
#
# After the gate, every libFuzzer target runs MRELAY_NIGHTLY_FUZZ_SECONDS (600) each
# (ci/fuzz.sh; six targets: about an hour more); its log goes to fuzz.log beside the verdict,
# and a crash turns a passing gate into exit 1 (reproducers kept, path in the log).
#
# Outputs in reports/nightly/<UTC date>/: results.json (every raw sample), verdict.md and
# verdict.json (the gate's table), gate.log, report/ (python3 -m mrelay report, when present),
# changepoints.txt/.json. Across nights: reports/nightly/history-<profile>.csv, each night's
# medians as one row of Apache Otava's CSV (time, commit, one column per cell and metric),
# over which change-point detection (E-divisive means, `results changepoints`) reports the
# lasting shifts and the commit range where each began. The gate compares one night with the
# baseline; the history shows a slow drift or a step the baseline was re-recorded over.
source "$(dirname "$0")/common.sh"

suite="${MRELAY_NIGHTLY_SUITE:-nightly}"
machine="${MRELAY_MACHINE:-vm2}"
profile="${MRELAY_PROFILE:-$machine-$suite}"
baseline="$MRELAY_ROOT/reports/baselines/$profile.json"
out="$MRELAY_ROOT/reports/nightly/$(date -u +%Y-%m-%d)"
# One re-run round (3 more samples per inconclusive cell, with its direct reference): the
# suite itself takes ~10 min on the 2-core VM and a round for a few noisy cells ~1 min more;
# a second round rarely settles a cell that the first did not on a machine that noisy.
rerun_rounds="${MRELAY_NIGHTLY_RERUN_ROUNDS:-1}"
history="${MRELAY_NIGHTLY_HISTORY:-$MRELAY_ROOT/reports/nightly/history-$profile.csv}"

if [[ $(id -u) -ne 0 ]]; then
  echo "nightly: needs root (network namespaces)" >&2
  exit 2
fi
if [[ ! -f $baseline ]]; then
  echo "nightly: no baseline $baseline for profile $profile; record one with" >&2
  echo "  python3 -m mrelay baseline record --profile $profile --suite $suite" >&2
  echo "or gate against a git ref instead: python3 -m mrelay gate --against REF --suite $suite" >&2
  exit 2
fi

mrelay_build
mkdir -p "$out"
# The bench removes its namespaces itself; gc catches a run killed half-way (mrl- only).
trap '"$MRELAY_BIN_DIR/mrelay-bench" gc >/dev/null 2>&1 || true' EXIT

echo "== nightly: suite $suite, baseline $baseline, output $out"
set +e
(cd "$MRELAY_ROOT/python" && MRELAY_BUILD_DIR="$MRELAY_BUILD_DIR" "$MRELAY_PYTHON" -m mrelay \
  gate --baseline "$baseline" --suite "$suite" --out-results "$out/results.json" \
  --rerun-rounds "$rerun_rounds" --json "$out/verdict.json" --markdown "$out/verdict.md") \
  2>&1 | tee "$out/gate.log"
code=${PIPESTATUS[0]}
set -e

# The report subcommand is helper "reports"' work; use it when this checkout has it.
if (cd "$MRELAY_ROOT/python" && "$MRELAY_PYTHON" -m mrelay report --help >/dev/null 2>&1); then
  if [[ -f "$out/results.json" ]]; then
    (cd "$MRELAY_ROOT/python" && MRELAY_BUILD_DIR="$MRELAY_BUILD_DIR" "$MRELAY_PYTHON" -m mrelay \
      report "$out/results.json" --out "$out/report") ||
      echo "nightly: report generation failed (the verdict stands)" >&2
  fi
else
  echo "nightly: 'python3 -m mrelay report' not available in this checkout: report skipped"
fi

# The night's medians join the history; change points over it are reported (they do not
# change the exit code: the gate's verdict does; a shift names the commits to look at).
if [[ -f "$out/results.json" ]]; then
  (cd "$MRELAY_ROOT/python" && "$MRELAY_PYTHON" -m mrelay results export --format otava-csv \
    --append "$history" "$out/results.json") || echo "nightly: history append failed" >&2
  (cd "$MRELAY_ROOT/python" && "$MRELAY_PYTHON" -m mrelay results changepoints "$history" \
    --json >"$out/changepoints.json"; "$MRELAY_PYTHON" -m mrelay results changepoints \
    "$history" | tee "$out/changepoints.txt") || true
fi

# The fuzz targets, longer than CI can afford: 10 minutes each searches far deeper than the
# 15 s per target of every CI run.
fuzz_seconds="${MRELAY_NIGHTLY_FUZZ_SECONDS:-600}"
if [[ $fuzz_seconds -gt 0 ]]; then
  echo "== nightly: fuzzing, ${fuzz_seconds}s per target (log: $out/fuzz.log)"
  if MRELAY_FUZZ_SECONDS="$fuzz_seconds" "$MRELAY_ROOT/ci/fuzz.sh" >"$out/fuzz.log" 2>&1; then
    tail -n 1 "$out/fuzz.log"
  else
    echo "nightly: fuzzing FAILED; see $out/fuzz.log" >&2
    [[ $code -eq 0 ]] && code=1
  fi
fi

echo "nightly: gate exit $code; verdict in $out/verdict.md"
exit "$code"
