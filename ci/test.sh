#!/usr/bin/env bash
# Builds mrelay (Release, ninja) and runs every test: ctest (unit tests, netns end-to-end
# tests), pytest for python/, the regression gate's self-test on the rig, the libFuzzer
# targets (bounded time) and the unit tests under ASan+UBSan. Installs missing Debian
# packages first (ci/setup.sh). Prints the time each stage took.
#
#   ci/test.sh              # everything
#   ci/test.sh -L netns     # extra arguments go to ctest; the later stages still run
#   MRELAY_TEST_QUICK=1 ci/test.sh   # ctest + pytest only (skips gate self-test, fuzz, sanitizers)
source "$(dirname "$0")/common.sh"

stage_start=$SECONDS
stage_done() {
  echo "== $1: $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
}

mrelay_build
stage_done "build"

echo "== function lengths"
# House style: no function over a screen (80 lines) without a "Long:" reason above it.
"$MRELAY_PYTHON" "$MRELAY_ROOT/ci/function_lengths.py" --check --top 5
stage_done "function lengths"

echo "== ctest"
ctest_rc=0
ctest --test-dir "$MRELAY_BUILD_DIR" --output-on-failure --timeout 600 "$@" || ctest_rc=$?
# ctest lists skipped tests without their reason: print each one's "SKIP [...]: why" line
# (a kernel without multicast routing, no root...), so nothing is skipped silently.
if [[ -f $MRELAY_BUILD_DIR/Testing/Temporary/LastTest.log ]]; then
  grep -h '^SKIP \[' "$MRELAY_BUILD_DIR/Testing/Temporary/LastTest.log" | sort -u |
    sed 's/^/== skipped: /' || true
fi
[[ $ctest_rc -eq 0 ]] || exit "$ctest_rc"
stage_done "ctest"

if compgen -G "$MRELAY_ROOT/python/tests/test_*.py" >/dev/null; then
  echo "== pytest"
  (cd "$MRELAY_ROOT/python" &&
    MRELAY_BUILD_DIR="$MRELAY_BUILD_DIR" "$MRELAY_PYTHON" -m pytest -q tests)
  stage_done "pytest"
fi

if [[ ${MRELAY_TEST_QUICK:-0} == 1 ]]; then
  echo "== MRELAY_TEST_QUICK=1: gate self-test, fuzz and sanitizer stages skipped"
  exit 0
fi

echo "== gate self-test"
# 77 = skipped with a printed reason (not root, no netns): not a failure.
"$MRELAY_ROOT/ci/gate_selftest.sh" || [[ $? -eq 77 ]]
stage_done "gate self-test"

echo "== fuzz"
"$MRELAY_ROOT/ci/fuzz.sh"
stage_done "fuzz"

echo "== sanitizers"
"$MRELAY_ROOT/ci/sanitize.sh"
stage_done "sanitizers"
echo "== all tests passed"
