#!/usr/bin/env bash
# Protections of the daemon itself (docs/operations.md, "Protections: control plane, drops and
# lifecycle"), each mounted as the attack or fault it guards against, on a hop rig:
#
#   peer       relay started as root with --user nobody: a process of another user that shares
#              the socket's group (nogroup) connects and tries add-rule; it must be refused
#              (exit 1, error names the peer) and nothing changes; the relay's own uid and root
#              keep full access.
#   groups     --control-group / --control-read-group: a member of the read-only group may
#              ping, list and read stats but not add a rule; a member of the control group may.
#   budget     70 idle TCP connections held on the metrics port: mrelayctl still answers (the
#              metrics and control clients have separate budgets), extra scrapers get 503.
#   squat      the metrics port is taken by another process at start: the relay starts anyway,
#              logs it, and serves GET /metrics once the port is free (bounded backoff).
#   signals    20 starts, each sent SIGHUP or SIGTERM as early as possible during start-up: the
#              relay never dies from the signal; SIGHUP is handled once it runs, SIGTERM stops
#              it cleanly (exit 0, final stats written).
#   symlink    a symlink planted at the --stats-json path and at the state file's old temporary
#              name, both pointing at a file that must not change: the target is untouched.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_protections_test.sh
#   MRELAY_PROTECTION_CASES="peer signals" netns/tests/relay_protections_test.sh   # a subset
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelayctl
command -v setpriv >/dev/null || mrelay_skip "setpriv (util-linux) not installed"
getent passwd nobody >/dev/null || mrelay_skip "no user 'nobody'"
mrelay_test_init prot

readonly CASES=${MRELAY_PROTECTION_CASES:-"peer groups budget squat signals symlink"}
readonly NOBODY_UID=$(id -u nobody)
readonly NOBODY_GID=$(id -g nobody)
# Identities no account uses: a stranger who happens to share the relay's group, and the
# members of the control groups in the "groups" case.
readonly STRANGER_UID=4242
readonly READER_GID=4243
readonly ADMIN_GID=4244
# Start-up signal tries (each a fresh relay).
readonly SIGNAL_TRIES=20

mrelay_topology_up hop
relay=$(topo_get 'j["relays"][0]["ns"]')
relay_rule=(--in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000)
RULE_B='{"name":"b","input":{"interface":"rin0","group":"239.1.1.2","port":5001},"outputs":[{"interface":"rout0","group":"239.2.0.2","port":6001}]}'

# Files the relay writes after dropping to nobody live in a directory nobody owns, inside ours
# (traversable, not listable, by others).
chmod 0711 "$MRELAY_TMP"
RUN=$MRELAY_TMP/run
install -d -o nobody -g "$NOBODY_GID" -m 0755 "$RUN"
setpriv --reuid="$STRANGER_UID" --regid="$NOBODY_GID" --clear-groups \
  test -x "$MRELAY_BIN_DIR/mrelayctl" || mrelay_skip "$MRELAY_BIN_DIR/mrelayctl not executable by others"

# start_mrelay NAME ARGS...: mrelay in the relay namespace, waits for "running:" (RELAY_PID).
start_mrelay() {
  local name=$1
  shift
  mrelay_spawn "$relay" "$MRELAY_TMP/$name" mrelay "$@"
  RELAY_PID=$MRELAY_LAST_PID
  if ! wait_until 10 grep -q "running:" "$MRELAY_TMP/$name.err"; then
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "$name: relay never reported running"
  fi
}

# stop_mrelay NAME PID: SIGTERM, expects exit 0.
stop_mrelay() {
  local status=0
  stop_pid "$2" 10 || status=$?
  if [[ $status -ne 0 ]]; then
    show_logs "$MRELAY_TMP/$1"
    mrelay_fail "$1: relay exited with status $status after SIGTERM"
  fi
}

# as_user UID GID [GROUPS] -- CMD...: runs CMD in the relay namespace with that identity.
as_user() {
  local uid=$1 gid=$2 groups=$3
  shift 4
  local group_flags=(--clear-groups)
  [[ -n $groups ]] && group_flags=(--groups "$groups")
  ip netns exec "$relay" setpriv --reuid="$uid" --regid="$gid" "${group_flags[@]}" -- "$@"
}

rule_names() {  # SOCKET: the running rules' names, as root
  in_ns "$relay" "$MRELAY_BIN_DIR/mrelayctl" --socket "$1" --json list-rules |
    "$MRELAY_PYTHON" -c 'import json,sys; print(",".join(r["name"] for r in json.load(sys.stdin)["rules"]))'
}

# --- peer: a stranger sharing the socket's group ------------------------------------------
case_peer() {
  local sock=$RUN/peer.sock
  start_mrelay peer "${relay_rule[@]}" --user nobody --control-socket "$sock" \
    --stats-json "$RUN/peer.stats"
  local pid=$RELAY_PID
  expect_eq "peer: socket owner" "$(stat -c %u:%g "$sock")" "$NOBODY_UID:$NOBODY_GID"
  local status=0
  as_user "$STRANGER_UID" "$NOBODY_GID" "" -- "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" \
    add-rule "$RULE_B" >"$MRELAY_TMP/peer-stranger.out" 2>&1 || status=$?
  cat "$MRELAY_TMP/peer-stranger.out" >&2
  expect_eq "peer: stranger's add-rule exit status" "$status" 1
  grep -q "uid $STRANGER_UID" "$MRELAY_TMP/peer-stranger.out" ||
    mrelay_fail "peer: the refusal does not name the peer"
  expect_eq "peer: rules after the stranger's attempt" "$(rule_names "$sock")" cli
  # The relay's own uid and root keep full access.
  expect_eq "peer: ping as the relay's uid" \
    "$(as_user "$NOBODY_UID" "$NOBODY_GID" "" -- "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" ping)" pong
  expect_eq "peer: add-rule as root" \
    "$(in_ns "$relay" "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" add-rule "$RULE_B")" "added rule b"
  stop_mrelay peer "$pid"
  grep -q "control: refused" "$MRELAY_TMP/peer.err" || mrelay_fail "peer: no refusal log line"
  expect_ge "peer: control_peer_refused" \
    "$(json_get "$RUN/peer.stats" 'j["process"]["control_peer_refused"]')" 1
  echo "SUMMARY peer: uid $STRANGER_UID in group nogroup refused (exit 1), rules unchanged; uid $NOBODY_UID and root served" >&2
}

# --- groups: read-only and full control groups --------------------------------------------
case_groups() {
  local sock=$RUN/groups.sock
  start_mrelay groups "${relay_rule[@]}" --user nobody --control-socket "$sock" \
    --control-group "$ADMIN_GID" --control-read-group "$READER_GID" --stats-json "$RUN/groups.stats"
  local pid=$RELAY_PID
  local ctl=("$MRELAY_BIN_DIR/mrelayctl" --socket "$sock")
  # A reader: ping, version, list-rules and stats work; add-rule is refused by name.
  expect_eq "groups: reader ping" "$(as_user 5001 5001 "$READER_GID" -- "${ctl[@]}" ping)" pong
  as_user 5001 5001 "$READER_GID" -- "${ctl[@]}" stats >/dev/null ||
    mrelay_fail "groups: reader cannot read stats"
  local status=0
  as_user 5001 5001 "$READER_GID" -- "${ctl[@]}" add-rule "$RULE_B" \
    >"$MRELAY_TMP/groups-reader.out" 2>&1 || status=$?
  cat "$MRELAY_TMP/groups-reader.out" >&2
  expect_eq "groups: reader's add-rule exit status" "$status" 1
  grep -q "read-only" "$MRELAY_TMP/groups-reader.out" ||
    mrelay_fail "groups: the refusal does not say read-only"
  expect_eq "groups: rules after the reader's attempt" "$(rule_names "$sock")" cli
  # An admin (supplementary group) may change rules.
  expect_eq "groups: admin add-rule" \
    "$(as_user 5002 5002 "$ADMIN_GID" -- "${ctl[@]}" add-rule "$RULE_B")" "added rule b"
  # Anyone else is refused at the door (the socket is 0666 once a read-only group is set).
  expect_eq "groups: socket mode" "$(stat -c %a "$sock")" 666
  status=0
  as_user 5003 5003 "" -- "${ctl[@]}" ping >"$MRELAY_TMP/groups-outsider.out" 2>&1 || status=$?
  expect_eq "groups: outsider's ping exit status" "$status" 1
  grep -q "uid 5003 .*not in --control-group" "$MRELAY_TMP/groups-outsider.out" ||
    mrelay_fail "groups: the outsider's refusal does not name it: $(cat "$MRELAY_TMP/groups-outsider.out")"
  stop_mrelay groups "$pid"
  expect_ge "groups: control_request_refused" \
    "$(json_get "$RUN/groups.stats" 'j["process"]["control_request_refused"]')" 1
  echo "SUMMARY groups: reader (gid $READER_GID) read-only, admin (gid $ADMIN_GID) full, outsider refused" >&2
}

# --- budget: idle scrapers do not lock the operator out -----------------------------------
case_budget() {
  local sock=$MRELAY_TMP/budget.sock
  start_mrelay budget "${relay_rule[@]}" --control-socket "$sock" --metrics-listen 127.0.0.1:0 \
    --stats-json "$MRELAY_TMP/budget.stats"
  local pid=$RELAY_PID
  local url
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/metrics' "$MRELAY_TMP/budget.err" | head -1)
  [[ -n $url ]] || mrelay_fail "budget: no metrics URL in the log"
  local port=${url##*:}
  port=${port%/metrics}
  # 70 idle connections, held until we remove the hold file. Ready once the relay answered at
  # least one of them with 503: it has seen them all and its metrics budget is full.
  rm -f "$MRELAY_TMP/budget.ready"
  touch "$MRELAY_TMP/budget.hold"
  mrelay_spawn "$relay" "$MRELAY_TMP/budget-holder" "$MRELAY_PYTHON" -c '
import os, socket, sys, time
port, ready, hold = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(70)]
deadline = time.monotonic() + 10
refused = 0
while refused == 0 and time.monotonic() < deadline:
    for c in conns:
        c.settimeout(0.01)
        try:
            if c.recv(100).startswith(b"HTTP/1.1 503"):
                refused += 1
        except (socket.timeout, BlockingIOError):
            pass
print(f"{refused} of 70 refused with 503", flush=True)
open(ready, "w").close()
while os.path.exists(hold) and time.monotonic() < deadline + 20:
    time.sleep(0.05)
' "$port" "$MRELAY_TMP/budget.ready" "$MRELAY_TMP/budget.hold"
  local holder=$MRELAY_LAST_PID
  wait_for_file "$MRELAY_TMP/budget.ready" 15 || mrelay_fail "budget: the holder never got ready"
  local reply status=0
  reply=$(in_ns "$relay" "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" --timeout 5 ping 2>&1) ||
    status=$?
  rm -f "$MRELAY_TMP/budget.hold"
  wait_pid "$holder" 10 || true
  cat "$MRELAY_TMP/budget-holder.out" >&2
  expect_eq "budget: mrelayctl ping with 70 idle scrapers (exit $status)" "$reply" pong
  stop_mrelay budget "$pid"
  expect_ge "budget: metrics_busy_refused" \
    "$(json_get "$MRELAY_TMP/budget.stats" 'j["process"]["metrics_busy_refused"]')" 1
  echo "SUMMARY budget: 70 idle metrics connections, mrelayctl ping answered" >&2
}

# --- squat: the metrics port is busy at start ---------------------------------------------
case_squat() {
  rm -f "$MRELAY_TMP/squat.port"
  mrelay_spawn "$relay" "$MRELAY_TMP/squatter" "$MRELAY_PYTHON" -c '
import signal, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(60)
' "$MRELAY_TMP/squat.port"
  local squatter=$MRELAY_LAST_PID
  wait_for_file "$MRELAY_TMP/squat.port" 5 || mrelay_fail "squat: squatter not ready"
  local port
  port=$(cat "$MRELAY_TMP/squat.port")
  mrelay_spawn "$relay" "$MRELAY_TMP/squat" mrelay "${relay_rule[@]}" \
    --metrics-listen "127.0.0.1:$port" --stats-json "$MRELAY_TMP/squat.stats"
  local pid=$MRELAY_LAST_PID
  if ! wait_until 10 grep -q "running:" "$MRELAY_TMP/squat.err"; then
    show_logs "$MRELAY_TMP/squat"
    mrelay_fail "squat: the relay did not start while its metrics port was busy"
  fi
  grep -q "busy" "$MRELAY_TMP/squat.err" || mrelay_fail "squat: the busy port was not logged"
  stop_pid "$squatter" 5 || true
  local url="http://127.0.0.1:$port/metrics"
  # The backoff is at most 30 s; the port was busy for ~1-2 s, so the retry comes within ~4 s.
  wait_until 20 in_ns "$relay" "$MRELAY_PYTHON" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()' "$url" ||
    { show_logs "$MRELAY_TMP/squat"; mrelay_fail "squat: $url never answered after the port was freed"; }
  stop_mrelay squat "$pid"
  expect_ge "squat: metrics_bind_retries" \
    "$(json_get "$MRELAY_TMP/squat.stats" 'j["process"]["metrics_bind_retries"]')" 1
  echo "SUMMARY squat: started with port $port busy, served $url once it was freed" >&2
}

# --- signals: SIGHUP / SIGTERM during start-up --------------------------------------------
case_signals() {
  # One Python driver for the tries: it polls /proc every 0.5 ms, so each signal lands as soon
  # as mrelay runs its own code (its signal mask is set up, or it wrote its first log line),
  # deep inside start-up, not in the exec of `ip netns exec`, which no program can guard.
  "$MRELAY_PYTHON" - "$relay" "$MRELAY_BIN_DIR/mrelay" "$MRELAY_TMP/signals" "$SIGNAL_TRIES" \
    rin0:239.1.1.1:5000 rout0:239.2.0.1:6000 >"$MRELAY_TMP/signals.out" <<'EOF' ||
import os, signal, subprocess, sys, time
ns, mrelay, base, tries, rule_in, rule_out = sys.argv[1:7]
tries = int(tries)
failures = []

def in_main(pid, err):
    try:
        if not os.readlink(f"/proc/{pid}/exe").endswith("/mrelay"):
            return False
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("SigBlk:") and int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)):
                return True
        return os.path.getsize(err) > 0
    except OSError:
        return False

def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.0005)
    return False

for i in range(tries):
    sig = signal.SIGHUP if i % 2 == 0 else signal.SIGTERM
    err, stats = f"{base}-{i}.err", f"{base}-{i}.stats"
    with open(f"{base}-{i}.out", "w") as out, open(err, "w") as errf:
        p = subprocess.Popen(["ip", "netns", "exec", ns, mrelay, "--in", rule_in, "--out", rule_out,
                              "--stats-json", stats], stdout=out, stderr=errf)
    try:
        if not wait_for(lambda: p.poll() is not None or in_main(p.pid, err), 5):
            failures.append(f"try {i}: mrelay never started")
            continue
        if p.poll() is not None:
            failures.append(f"try {i}: exited {p.returncode} before the signal")
            continue
        p.send_signal(sig)
        if sig == signal.SIGHUP:
            ran = wait_for(lambda: p.poll() is not None or "running:" in open(err).read(), 10)
            if p.poll() is not None:
                failures.append(f"try {i}: SIGHUP during start-up: exit status {p.returncode}")
                continue
            if not ran:
                failures.append(f"try {i}: never reported running after SIGHUP")
            p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=10)
        if code != 0:
            failures.append(f"try {i}: {signal.Signals(sig).name} during start-up: exit status {code}")
        elif not os.path.exists(stats):
            failures.append(f"try {i}: no final stats after {signal.Signals(sig).name}")
        elif sig == signal.SIGHUP and "SIGHUP" not in open(err).read():
            failures.append(f"try {i}: the start-up SIGHUP was never handled")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
print(f"{tries} starts, {tries - len(failures)} survived their start-up signal")
for f in failures:
    print(f)
sys.exit(1 if failures else 0)
EOF
    { cat "$MRELAY_TMP/signals.out" >&2; mrelay_fail "signals: the relay died from a start-up signal"; }
  cat "$MRELAY_TMP/signals.out" >&2
  echo "SUMMARY signals: $(head -1 "$MRELAY_TMP/signals.out")" >&2
}

# --- symlink: files the relay writes never follow a planted link ---------------------------
case_symlink() {
  local dir=$MRELAY_TMP/links
  mkdir -p "$dir"
  local victim=$MRELAY_TMP/victim.txt
  echo "precious" >"$victim"
  ln -s "$victim" "$dir/final.json"
  ln -s "$victim" "$dir/state.json.tmp"
  local sock=$dir/control.sock
  start_mrelay symlink "${relay_rule[@]}" --control-socket "$sock" --state-file "$dir/state.json" \
    --stats-json "$dir/final.json"
  local pid=$RELAY_PID
  expect_eq "symlink: add-rule (saves the state)" \
    "$(in_ns "$relay" "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" add-rule "$RULE_B")" "added rule b"
  local status=0
  stop_pid "$pid" 10 || status=$?
  expect_eq "symlink: victim after the state save and the final stats" "$(cat "$victim")" precious
  [[ -L $dir/final.json ]] || mrelay_fail "symlink: the planted --stats-json link was replaced"
  [[ -f $dir/state.json && ! -L $dir/state.json ]] || mrelay_fail "symlink: no regular state file"
  expect_eq "symlink: saved rules" "$(json_get "$dir/state.json" '[r["name"] for r in j["rules"]]')" \
    '["cli", "b"]'
  # The final stats were refused at the link and went to stdout; the exit status says so.
  expect_eq "symlink: exit status with a refused --stats-json" "$status" 1
  grep -q '"event":"final"' "$MRELAY_TMP/symlink.out" || mrelay_fail "symlink: no final stats on stdout"
  grep -q "symbolic link" "$MRELAY_TMP/symlink.err" || mrelay_fail "symlink: refusal not logged"
  echo "SUMMARY symlink: links at --stats-json and state.json.tmp: target untouched" >&2
}

for case in $CASES; do
  mrelay_log "case $case"
  case $case in
    peer) case_peer ;;
    groups) case_groups ;;
    budget) case_budget ;;
    squat) case_squat ;;
    signals) case_signals ;;
    symlink) case_symlink ;;
    *) mrelay_fail "unknown case '$case'" ;;
  esac
done
echo "PASS relay_protections_test: ${CASES}"
