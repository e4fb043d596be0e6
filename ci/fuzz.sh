#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a separate tree) and runs each for a bounded time
# on a COPY of the committed seed corpus; a crash, sanitizer report, leak or broken
# invariant fails the run and leaves the reproducer in the work directory.
#
#   ci/fuzz.sh                                    # 15 s per target (CI)
#   MRELAY_FUZZ_SECONDS=600 ci/fuzz.sh            # longer run (ci/nightly.sh does this)
#   MRELAY_FUZZ_TARGETS="framing cli" ci/fuzz.sh  # a subset
#   MRELAY_FUZZ_KEEP=1 ci/fuzz.sh                 # keep the grown corpus (path printed)
#   build-fuzz/bin/mrelay_parser_fuzz crash-...   # replay a reproducer
#
# The committed corpus (fuzz/corpus/<target>/) is never written: libFuzzer adds new inputs to
# the first corpus directory it is given, which is the temporary copy. To grow the committed
# seeds on purpose, minimise a long run into them by hand (docs/operations.md).
source "$(dirname "$0")/common.sh"

FUZZ_DIR="${MRELAY_FUZZ_DIR:-$MRELAY_ROOT/build-fuzz}"
# Seconds each target runs. 15: six targets fit in a minute and a half of CI (the budget is
# about two minutes) while still running a few hundred thousand inputs each; the nightly job
# runs them 10 minutes each (ci/nightly.sh), raise it locally for deeper searches.
SECONDS_PER_TARGET="${MRELAY_FUZZ_SECONDS:-15}"
# Every target, by the name its corpus directory and dictionary carry (fuzz/CMakeLists.txt).
TARGETS=(${MRELAY_FUZZ_TARGETS:-parser config control framing state cli})
# Per-input limits: 1 s and 512 MiB. A parser taking longer than a second on one input is a
# bug (the hot path budget is microseconds); the RSS cap catches runaway allocation.
PER_INPUT_TIMEOUT_S=1
RSS_LIMIT_MB=512
# Largest generated input in bytes: covers a jumbo frame (9018 bytes) and any sane config.
MAX_LEN=10000

# libFuzzer comes from Debian's libclang-rt-<N>-dev, which must match clang's major version.
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (ci/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
clang_major=$(clang++ -dumpversion | cut -d. -f1)
resource_dir=$(clang++ -print-resource-dir)
if ! compgen -G "$resource_dir/lib/linux/libclang_rt.fuzzer-$(uname -m).a" >/dev/null; then
  echo "fuzz: clang $clang_major has no libFuzzer runtime under $resource_dir" \
    "(install libclang-rt-$clang_major-dev)" >&2
  exit 1
fi
echo "fuzz: clang $(clang++ -dumpversion), runtime $resource_dir"

CC=clang CXX=clang++ cmake -S "$MRELAY_ROOT" -B "$FUZZ_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMRELAY_BUILD_FUZZ=ON -DMRELAY_BUILD_HARNESS=OFF \
  -DMRELAY_BUILD_BENCH=OFF -DMRELAY_BUILD_PYTHON=OFF -DMRELAY_BUILD_TESTS=OFF >/dev/null
binaries=()
for target in "${TARGETS[@]}"; do
  binaries+=("mrelay_${target}_fuzz")
done
cmake --build "$FUZZ_DIR" -j 2 --target "${binaries[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/mrelay-fuzz.XXXXXX")
if [[ ${MRELAY_FUZZ_KEEP:-0} != 1 ]]; then
  trap 'rm -rf "$work"' EXIT
fi

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

status=0
for target in "${TARGETS[@]}"; do
  binary="$FUZZ_DIR/bin/mrelay_${target}_fuzz"
  corpus="$work/$target-corpus"
  artifacts="$work/$target-artifacts/"
  mkdir -p "$corpus" "$artifacts"
  cp "$MRELAY_ROOT/fuzz/corpus/$target/"* "$corpus/"
  dict=()
  [[ -f $MRELAY_ROOT/fuzz/$target.dict ]] && dict=(-dict="$MRELAY_ROOT/fuzz/$target.dict")
  echo "== fuzz: mrelay_${target}_fuzz for ${SECONDS_PER_TARGET}s ($(find "$corpus" -type f | wc -l) seeds)"
  log="$work/$target.log"
  if "$binary" "$corpus" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout="$PER_INPUT_TIMEOUT_S" -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$MAX_LEN" \
    -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
    # The last status line carries exec/s, coverage and corpus size.
    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log"
  else
    status=1
    tail -n 60 "$log" >&2
    echo "fuzz: mrelay_${target}_fuzz FAILED; reproducer(s):" >&2
    ls -l "$artifacts" >&2
    trap - EXIT
    echo "fuzz: work directory kept: $work" >&2
  fi
done
if [[ ${MRELAY_FUZZ_KEEP:-0} == 1 ]]; then
  echo "fuzz: grown corpus kept in $work"
fi
[[ $status -eq 0 ]] && echo "fuzz: PASS (no crash in ${SECONDS_PER_TARGET}s per target)"
exit "$status"
