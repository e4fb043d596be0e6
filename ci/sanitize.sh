#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer (g++, a separate
# tree) and runs them; any sanitizer report fails the run (halt_on_error=1).
#
#   ci/sanitize.sh                                   # build-asan/, both unit test binaries
#   MRELAY_ASAN_DIR=/tmp/asan ci/sanitize.sh         # another build tree
#   ci/sanitize.sh --gtest_filter='Config*'          # extra arguments go to each test binary
#
# Only mrelay_core_test and mrelay_harness_test are built: the netns end-to-end tests need
# root and measure timing, which a sanitizer's 2-3x slowdown would distort. Nearly all the
# time is compiling (56 steps); the tests themselves take ~10 s. Re-runs are incremental.
source "$(dirname "$0")/common.sh"

ASAN_DIR="${MRELAY_ASAN_DIR:-$MRELAY_ROOT/build-asan}"
# Parallel compile jobs: the CI machine has 2 cores; each sanitized TU needs ~0.5-1 GB RAM.
JOBS="${MRELAY_ASAN_JOBS:-2}"

# -O0 -g: sanitizer reports with exact line numbers and the shortest compile (CI time is
# mostly compiling here; the tests themselves take seconds even unoptimised).
cmake -S "$MRELAY_ROOT" -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g" -DCMAKE_C_FLAGS_DEBUG="-O0 -g" \
  -DMRELAY_SANITIZE=ON -DMRELAY_BUILD_TESTS=ON -DMRELAY_BUILD_HARNESS=ON \
  -DMRELAY_BUILD_BENCH=OFF -DMRELAY_BUILD_PYTHON=OFF >/dev/null
cmake --build "$ASAN_DIR" -j "$JOBS" --target mrelay_core_test mrelay_harness_test

# halt_on_error: the first report fails the test binary (UBSan would otherwise only print).
# detect_leaks: LeakSanitizer runs at exit; it needs ptrace, which some containers forbid:
# MRELAY_ASAN_LEAKS=0 turns it off there (the run says so).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=${MRELAY_ASAN_LEAKS:-1}:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
[[ ${MRELAY_ASAN_LEAKS:-1} == 1 ]] || echo "sanitize: LeakSanitizer disabled (MRELAY_ASAN_LEAKS=0)"

status=0
for test_binary in relay/mrelay_core_test harness/mrelay_harness_test; do
  echo "== sanitize: $test_binary"
  if ! "$ASAN_DIR/$test_binary" --gtest_brief=1 "$@"; then
    echo "sanitize: $test_binary FAILED" >&2
    status=1
  fi
done
if [[ $status -eq 0 ]]; then
  echo "sanitize: PASS (ASan+UBSan, mrelay_core_test and mrelay_harness_test)"
fi
exit "$status"
