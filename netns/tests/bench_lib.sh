# shellcheck shell=bash
# Shared by the tests that drive `mrelay-bench` (rig_*_test.sh). Sourced, never run. The bench
# makes and removes its own namespaces (mrl-b<pid>-<n>); these helpers start it in the
# background, so the trap can stop it, and check that it left nothing behind.
#
#   source "$(dirname "$0")/bench_lib.sh"
#   bench_test_init scale              # $TMP (removed on exit), BENCH_PIDS, the cleanup trap
#   run_bench "$TMP/x.json" cell --forwarder mrelay ...   # exit status as the bench's
#   no_namespaces_left "${BENCH_PIDS[-1]}"
#
# The sourcing test defines fail() (message, exit 1) before calling these.

# bench_test_init TAG: a temp dir, the PIDs list and the EXIT/INT/TERM trap.
bench_test_init() {
  TMP=$(mktemp -d "/tmp/mrelay-bench-$1-XXXXXX")
  BENCH_PIDS=()
  trap bench_cleanup EXIT INT TERM
}

# Stops only the benches this test started (SIGTERM makes a bench tear down its own rig,
# SIGKILL after 10 s), deletes whatever namespaces a killed one left, removes $TMP.
bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid ns
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    # Its namespaces carry its pid, and gc sees its owner dead.
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^mrl-b$pid-" || true); do
      ip netns delete "$ns" 2>/dev/null || true
    done
  done
  rm -rf "$TMP"
  exit "$rc"
}

# run_bench OUT ARGS...: mrelay-bench ARGS in the background (80 s at most), stdout in OUT and
# stderr in OUT.err; returns the bench's exit status.
run_bench() {
  local out=$1
  shift
  timeout 80 "$BIN_DIR/mrelay-bench" "$@" >"$out" 2>"$out.err" &
  local pid=$!
  BENCH_PIDS+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}

# no_namespaces_left PID: fails when bench PID left a namespace behind.
no_namespaces_left() {
  local left
  left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^mrl-b$1-" || true)
  [[ -z $left ]] || fail "namespaces left behind by bench $1: $left"
}
