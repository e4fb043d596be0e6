# shellcheck shell=bash
# Shared helpers for the end-to-end tests in netns/tests/*_test.sh. Sourced, never run.
#
#   source "$(dirname "$0")/../lib.sh"
#   mrelay_require_root
#   mrelay_require_programs mrelay mrelay-gen mrelay-sink
#   mrelay_test_init hop                       # unique PREFIX, temp dir, cleanup trap
#   mrelay_topology_up hop                     # -> $MRELAY_TOPOLOGY_JSON
#   start_sink sink "$PREFIX-sink0" snk0 239.2.0.1:6000 0      # waits for its ready file
#   start_relay relay "$PREFIX-relay0" rin0 239.1.1.1 --in rin0:239.1.1.1:5000 --out ...
#   run_gen gen "$PREFIX-src0" gen0 239.1.1.1:5000 --rate 10000 --count 6000 --warmup 0.1
#   wait_sink sink "$SINK_PID"; stop_relay relay "$RELAY_PID"
#   check_delivery "hop" gen sink 1                 # received == measured_sent x outputs, ...
#   v=$(json_get "$MRELAY_TMP/sink.out" 'j["received"]')
#   mrelay_spawn NS OUTBASE PROGRAM ARGS...  (any other program; PID in $MRELAY_LAST_PID)
#
# Cleanup (EXIT/INT/TERM trap): SIGTERM to the PIDs this test started (SIGKILL after a grace
# period), then `mrelay-netns down PREFIX`, then the temp dir. Nothing else is touched.
# Exit code 77 means "skipped" to ctest (SKIP_RETURN_CODE).

# Globals (SINK_PID, RELAY_PID, CAPTURE_PID, ...) are set here for the sourcing test to read.
# shellcheck disable=SC2034
set -euo pipefail

MRELAY_NETNS_DIR=${MRELAY_NETNS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
MRELAY_BIN_DIR=${MRELAY_BIN_DIR:-$(cd "$MRELAY_NETNS_DIR/.." && pwd)/build/bin}
MRELAY_NETNS=$MRELAY_NETNS_DIR/mrelay-netns
# Debian's interpreter (the first python3 on PATH may be another one).
MRELAY_PYTHON=/usr/bin/python3
# Seconds a started process gets between SIGTERM and SIGKILL during cleanup: the relay
# drains in-flight sends for up to ~1 s on SIGTERM.
MRELAY_KILL_GRACE_S=3

MRELAY_PIDS=()
# Further run prefixes a test created with mrelay-netns itself; cleanup downs them too.
MRELAY_EXTRA_PREFIXES=()
MRELAY_TMP=""
PREFIX=""
MRELAY_TOPOLOGY_UP=0
MRELAY_TEST_NAME=${MRELAY_TEST_NAME:-$(basename "${0%.sh}")}

mrelay_log() { echo "[$MRELAY_TEST_NAME] $*" >&2; }

mrelay_skip() {
  echo "SKIP [$MRELAY_TEST_NAME]: $*" >&2
  exit 77
}

mrelay_fail() {
  echo "FAIL [$MRELAY_TEST_NAME]: $*" >&2
  exit 1
}

mrelay_require_root() {
  [[ $(id -u) -eq 0 ]] || mrelay_skip "needs root to create network namespaces"
  command -v ip >/dev/null || mrelay_skip "iproute2 (ip) not installed"
  [[ -x $MRELAY_PYTHON ]] || mrelay_skip "$MRELAY_PYTHON not installed"
}

# Skips (77) when a program has not been built: another part of the tree is missing.
mrelay_require_programs() {
  local program
  for program in "$@"; do
    [[ -x $MRELAY_BIN_DIR/$program ]] || mrelay_skip "$MRELAY_BIN_DIR/$program not built"
  done
}

# Skips (77) with the probe's reason when this kernel lacks a capability the test needs
# (names as in `mrelay-bench probe`: ipmr, nft_netdev_dup, tbf, netem, rps, io_uring, af_xdp, ...).
mrelay_require_capability() {
  mrelay_require_programs mrelay-bench
  local need=() name reason rc=0
  for name in "$@"; do need+=(--need "$name"); done
  reason=$("$MRELAY_BIN_DIR/mrelay-bench" probe "${need[@]}" 2>&1) || rc=$?
  case $rc in
    0) ;;
    77) mrelay_skip "${reason#SKIP: }" ;;
    *) mrelay_fail "mrelay-bench probe ${need[*]} exited $rc: $reason" ;;
  esac
}

# Kills what we started (by PID only), removes our namespaces, then the temp dir.
mrelay_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid deadline
  for pid in "${MRELAY_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + MRELAY_KILL_GRACE_S))
  for pid in "${MRELAY_PIDS[@]}"; do
    while ! mrelay_pid_gone "$pid" && ((SECONDS < deadline)); do
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && ! mrelay_pid_gone "$pid"; then
      mrelay_log "pid $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ $MRELAY_TOPOLOGY_UP -eq 1 && -n $PREFIX ]]; then
    "$MRELAY_NETNS" down "$PREFIX" || rc=1
  fi
  local extra
  for extra in "${MRELAY_EXTRA_PREFIXES[@]}"; do
    "$MRELAY_NETNS" down "$extra" || rc=1
  done
  if [[ -n $MRELAY_TMP && -d $MRELAY_TMP ]]; then
    if [[ $rc -ne 0 && $rc -ne 77 && -n ${MRELAY_KEEP_LOGS:-} ]]; then
      mrelay_log "logs kept in $MRELAY_TMP"
    else
      rm -rf "$MRELAY_TMP"
    fi
  fi
  exit "$rc"
}

# mrelay_test_init TAG: unique PREFIX (mrl-<tag><pid><hex>), temp dir, cleanup trap.
mrelay_test_init() {
  local tag=${1:-t}
  PREFIX="mrl-${tag}$$$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
  MRELAY_TMP=$(mktemp -d "/tmp/${PREFIX}.XXXXXX")
  trap mrelay_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# mrelay_topology_up TOPOLOGY [mrelay-netns options]: topology JSON -> $MRELAY_TOPOLOGY_JSON.
mrelay_topology_up() {
  MRELAY_TOPOLOGY_JSON=$MRELAY_TMP/topology.json
  MRELAY_TOPOLOGY_UP=1
  "$MRELAY_NETNS" up "$@" --prefix "$PREFIX" --owner-pid $$ --json >"$MRELAY_TOPOLOGY_JSON" ||
    mrelay_fail "mrelay-netns up $* failed"
}

mrelay_topology_down() {
  "$MRELAY_NETNS" down "$PREFIX" || mrelay_fail "mrelay-netns down $PREFIX failed"
  MRELAY_TOPOLOGY_UP=0
}

# in_ns NS CMD...: run a command inside a namespace (foreground).
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# mrelay_spawn NS OUTBASE PROGRAM ARGS...: start PROGRAM (from $MRELAY_BIN_DIR when it is
# there) inside NS in the background, stdout -> OUTBASE.out, stderr -> OUTBASE.err. The PID
# (ip netns exec execs the program, so it is the program's own) is recorded for cleanup and
# left in $MRELAY_LAST_PID: a $(...) subshell could not record it.
mrelay_spawn() {
  local ns=$1 outbase=$2 program=$3
  shift 3
  if [[ -x $MRELAY_BIN_DIR/$program ]]; then
    program=$MRELAY_BIN_DIR/$program
  fi
  ip netns exec "$ns" "$program" "$@" >"$outbase.out" 2>"$outbase.err" &
  MRELAY_LAST_PID=$!
  MRELAY_PIDS+=("$MRELAY_LAST_PID")
}

# wait_until TIMEOUT_S CMD...: polls CMD every 20 ms until it succeeds; 1 on timeout.
# TIMEOUT_S may be fractional ("0.5").
wait_until() {
  local timeout=$1
  shift
  local timeout_ms
  timeout_ms=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')
  local deadline_ns=$(($(date +%s%N) + timeout_ms * 1000000))
  until "$@" >/dev/null 2>&1; do
    (($(date +%s%N) < deadline_ns)) || return 1
    sleep 0.02
  done
}

# wait_for_file PATH TIMEOUT_S
wait_for_file() {
  wait_until "$2" test -e "$1"
}

# wait_pid PID TIMEOUT_S: waits for one of our children to exit; returns its exit status, or
# 124 (and kills it) when it overstays.
wait_pid() {
  local pid=$1 timeout=$2
  if ! wait_until "$timeout" mrelay_pid_gone "$pid"; then
    mrelay_log "pid $pid still running after ${timeout}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    mrelay_forget_pid "$pid"
    return 124
  fi
  local status=0
  wait "$pid" || status=$?
  mrelay_forget_pid "$pid"
  return "$status"
}

# Drops a reaped PID from the cleanup list: once reaped, the number may belong to someone
# else, and cleanup must only ever signal our own processes.
mrelay_forget_pid() {
  local kept=() pid
  for pid in "${MRELAY_PIDS[@]}"; do
    [[ $pid == "$1" ]] || kept+=("$pid")
  done
  MRELAY_PIDS=("${kept[@]}")
}

mrelay_pid_gone() {
  ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1" 2>/dev/null) == Z* ]]
}

# stop_pid PID TIMEOUT_S: SIGTERM then wait (the relay writes its final stats on SIGTERM).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait_pid "$1" "$2"
}

# json_get FILE QUERY: the value of QUERY over the JSON in FILE (netns/json_get.py): written
# like a Python expression over `j` (the JSON; the last line when FILE holds several JSON lines,
# as relay stats do) and `lines` (all of them), but read as data -- subscripts, arithmetic,
# comparisons, comprehensions, len/sum/min/max/sorted/all/any, .get and .join; nothing else is
# run. Booleans print as 1/0 so shell tests can use them.
json_get() {
  "$MRELAY_PYTHON" "$MRELAY_NETNS_DIR/json_get.py" "$1" "$2"
}

# topo_get EXPR: json_get over the topology JSON of this test.
topo_get() {
  json_get "$MRELAY_TOPOLOGY_JSON" "$1"
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
  if [[ $2 != "$3" ]]; then
    mrelay_fail "$1: got $2, expected $3"
  fi
}

# expect_ge NAME ACTUAL MINIMUM (integers)
expect_ge() {
  if ! (($2 >= $3)); then
    mrelay_fail "$1: got $2, expected >= $3"
  fi
}

# show_logs OUTBASE...: dumps stderr/stdout of programs, for failure diagnosis.
show_logs() {
  local base
  for base in "$@"; do
    for f in "$base.err" "$base.out"; do
      if [[ -s $f ]]; then
        echo "--- $f" >&2
        tail -n 20 "$f" >&2
      fi
    done
  done
}

# relay_joined NS IFACE GROUP: true once GROUP shows in the interface's multicast list (the
# relay joins its input group in both ingress modes, so this says it is listening).
relay_joined() {
  # `ip maddr` prints "inet  239.1.1.1" (two spaces); match the whole address.
  ip -n "$1" maddr show dev "$2" 2>/dev/null | awk -v group="$3" '
    $1 == "inet" && $2 == group { found = 1 } END { exit !found }'
}

# --- traffic helpers: generator, sink, relay ----------------------------------------------
# Files: $MRELAY_TMP/NAME.out (JSON), NAME.err (log). Callers pass namespaces and interfaces
# from the topology JSON.

# Upper bound (seconds) for any single program in a test; keeps every loop bounded even if a
# program hangs. Generous: the longest flow in these tests lasts ~3 s.
MRELAY_PROGRAM_TIMEOUT_S=20

# start_sink NAME NS "IFACE..." "GROUP:PORT..." EXPECT [extra mrelay-sink flags]
# Runs until EXPECT measured packets (0 = no target), 1 s of silence after the first one, or
# SINK_DURATION_S seconds (default 15).
# Starts mrelay-sink and waits until it has joined every group (its --ready-file).
start_sink() {
  local name=$1 ns=$2 ifaces=$3 groups=$4 expect=$5
  shift 5
  local args=() item
  for item in $ifaces; do args+=(--interface "$item"); done
  for item in $groups; do args+=(--group "$item"); done
  rm -f "$MRELAY_TMP/$name.ready"
  # --rcvbuf 32 MiB: the tests share 2 cores with builds; a deep socket buffer rides out
  # scheduling gaps of the sink, so a loss means a forwarding bug, not a starved receiver.
  mrelay_spawn "$ns" "$MRELAY_TMP/$name" mrelay-sink "${args[@]}" --expect "$expect" \
    --duration "${SINK_DURATION_S:-15}" --idle-exit 1 --rcvbuf $((32 << 20)) \
    --ready-file "$MRELAY_TMP/$name.ready" --json "$@"
  SINK_PID=$MRELAY_LAST_PID
  if ! wait_for_file "$MRELAY_TMP/$name.ready" 5; then
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "sink $name never became ready"
  fi
}

# wait_sink NAME PID: waits for the sink's own exit (--expect / --idle-exit / --duration).
wait_sink() {
  local status=0
  wait_pid "$2" "$MRELAY_PROGRAM_TIMEOUT_S" || status=$?
  if [[ $status -ne 0 ]]; then
    show_logs "$MRELAY_TMP/$1"
    mrelay_fail "sink $1 exited with status $status"
  fi
}

# run_gen NAME NS IFACE "GROUP:PORT..." [mrelay-gen flags]: foreground, bounded by timeout.
run_gen() {
  local name=$1 ns=$2 iface=$3 groups=$4
  shift 4
  local args=() item status=0
  for item in $groups; do args+=(--group "$item"); done
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$ns" \
    "$MRELAY_BIN_DIR/mrelay-gen" --interface "$iface" "${args[@]}" --json "$@" \
    >"$MRELAY_TMP/$name.out" 2>"$MRELAY_TMP/$name.err" || status=$?
  if [[ $status -ne 0 ]]; then
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "generator $name exited with status $status"
  fi
}

# start_relay NAME NS INGRESS_IFACE GROUP [mrelay flags]: starts mrelay with its final stats
# going to NAME.stats and waits until it has joined GROUP on INGRESS_IFACE.
start_relay() {
  local name=$1 ns=$2 ingress=$3 group=$4
  shift 4
  rm -f "$MRELAY_TMP/$name.stats"
  mrelay_spawn "$ns" "$MRELAY_TMP/$name" mrelay --stats-json "$MRELAY_TMP/$name.stats" "$@"
  RELAY_PID=$MRELAY_LAST_PID
  if ! wait_until 5 relay_joined "$ns" "$ingress" "$group"; then
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "relay $name never joined $group on $ingress"
  fi
  # The join can precede the end of set-up; mrelay logs "running: ..." once every worker's
  # sockets are ready. The tests count every packet (warm-up included) at the relay, so wait
  # for it, but only warn if the wording ever changes.
  if ! wait_until 5 grep -q "running:" "$MRELAY_TMP/$name.err"; then
    mrelay_log "relay $name: no 'running:' log line after 5 s; continuing"
  fi
  kill -0 "$RELAY_PID" 2>/dev/null || {
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "relay $name exited at start"
  }
}

# stop_relay NAME PID: SIGTERM, wait for the final stats.
stop_relay() {
  local status=0
  stop_pid "$2" 10 || status=$?
  if [[ $status -ne 0 ]]; then
    show_logs "$MRELAY_TMP/$1"
    mrelay_fail "relay $1 exited with status $status after SIGTERM"
  fi
  [[ -s $MRELAY_TMP/$1.stats ]] || {
    show_logs "$MRELAY_TMP/$1"
    mrelay_fail "relay $1 wrote no final stats"
  }
}

# check_delivery LABEL GEN SINK OUTPUTS: the binding end-to-end checks, from the JSON of
# mrelay-gen and mrelay-sink. received == measured_sent x outputs, lost == corrupted ==
# duplicated == reordered == 0, and every output stream carries exactly the generator's
# measured sequence range. Prints the rates seen.
check_delivery() {
  local label=$1 gen=$MRELAY_TMP/$2.out sink=$MRELAY_TMP/$3.out outputs=$4
  local verdict=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$gen" "$sink" "$outputs" "$label" >"$verdict" <<'EOF'
import json, sys
gen = json.load(open(sys.argv[1]))
sink = json.load(open(sys.argv[2]))
outputs, label = int(sys.argv[3]), sys.argv[4]
problems = []
expected = gen["measured_sent"] * outputs
if gen["errors"]:
    problems.append(f"generator send errors {gen['errors_by_errno']}")
if sink["received"] != expected:
    problems.append(f"sink received {sink['received']}, expected measured_sent "
                    f"{gen['measured_sent']} x {outputs} outputs = {expected}")
for key in ("lost", "corrupted", "duplicated", "reordered", "kernel_drops"):
    if sink.get(key, 0):
        problems.append(f"sink {key} = {sink[key]}")
# Output streams are matched to generator streams by (port, stream id): a relay may rewrite
# the group and the port, so the caller's generator streams must have distinct stream ids.
by_stream = {g["stream"]: g for g in gen["streams"]}
seen_outputs = 0
for s in sink["streams"]:
    g = by_stream.get(s["stream"])
    if g is None:
        problems.append(f"sink stream {s} matches no generator stream")
        continue
    seen_outputs += 1
    want = g["measured_last_seq"] - g["measured_first_seq"] + 1
    got = (s["first_seq"], s["last_seq"], s["received"])
    if got != (g["measured_first_seq"], g["measured_last_seq"], want):
        problems.append(f"{s['interface']} {s['group']}:{s['port']} stream {s['stream']}: seq "
                        f"{s['first_seq']}..{s['last_seq']} x{s['received']}, generator sent "
                        f"{g['measured_first_seq']}..{g['measured_last_seq']} x{want}")
if seen_outputs != outputs * len(gen["streams"]):
    problems.append(f"sink saw {seen_outputs} output streams, expected "
                    f"{outputs} x {len(gen['streams'])}")
window = (sink["last_rx_ns"] - sink["first_rx_ns"]) / 1e9 if sink["received"] > 1 else 0
delivered = sink["received"] / window if window > 0 else 0
lat = sink["latency_ns"]
print(f"{label}: offered {gen['achieved_pps']:.0f} pps, delivered {delivered:.0f} pps "
      f"({outputs} output(s)), received {sink['received']}/{expected}, "
      f"p50 {lat['p50'] / 1000:.1f} us, p99 {lat['p99'] / 1000:.1f} us", file=sys.stderr)
for p in problems:
    print(p)
EOF
  if [[ -s $verdict ]]; then
    cat "$verdict" >&2
    mrelay_fail "$label: delivery check failed"
  fi
}

# check_relay_counters LABEL RELAY GEN_SENT OUTPUTS [SINK...]: the relay's final stats agree
# with what was sent and received: fwd_packets == packets the generator sent (warm-up
# included: the relay was up before), tx_packets == fwd_packets x OUTPUTS, no drops, and, when
# sinks are named, tx_packets == what those sinks got (measured + warm-up).
check_relay_counters() {
  local label=$1 stats=$MRELAY_TMP/$2.stats gen_sent=$3 outputs=$4
  shift 4
  local sinks=() name
  for name in "$@"; do sinks+=("$MRELAY_TMP/$name.out"); done
  local verdict=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$stats" "$gen_sent" "$outputs" "$label" "${sinks[@]}" >"$verdict" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
final = [l for l in lines if l.get("event") == "final"]
if not final:
    print(f"no final stats line in {sys.argv[1]}")
    sys.exit(0)
t = final[-1]["total"]
gen_sent, outputs, label = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
problems = []
if t["fwd_packets"] != gen_sent:
    problems.append(f"relay fwd_packets {t['fwd_packets']} != generator sent {gen_sent}")
# A UDP GSO super-frame is one rx packet carrying several datagrams (gso_segments).
rx_datagrams = t["rx_packets"] - t.get("gso_frames", 0) + t.get("gso_segments", 0)
if rx_datagrams < t["fwd_packets"]:
    problems.append(f"relay received {rx_datagrams} datagrams (rx_packets {t['rx_packets']}) "
                    f"< fwd_packets {t['fwd_packets']}")
if t["tx_packets"] != t["fwd_packets"] * outputs:
    problems.append(f"relay tx_packets {t['tx_packets']} != fwd_packets "
                    f"{t['fwd_packets']} x {outputs}")
for key in ("exhausted_packets", "drop_buffer_exhausted", "drop_queue_full", "drop_enobufs",
            "drop_eagain", "drop_other_errno", "kernel_drops", "rx_truncated", "rx_oversize",
            "malformed_gso", "malformed_udp_checksum"):
    if t.get(key, 0):
        problems.append(f"relay {key} = {t[key]}")
if len(sys.argv) > 5:
    got = 0
    for path in sys.argv[5:]:
        s = json.load(open(path))
        got += s["received"] + s["warmup_received"]
    if got != t["tx_packets"]:
        problems.append(f"sinks got {got} (measured + warm-up), relay tx_packets {t['tx_packets']}")
fwd = t["fwd_packets"]
print(f"{label}: relay rx {t['rx_packets']} fwd {fwd} tx {t['tx_packets']} syscalls/pkt "
      f"{t['syscalls'] / fwd if fwd else 0:.3f} batches {t['batches']}", file=sys.stderr)
for p in problems:
    print(p)
EOF
  if [[ -s $verdict ]]; then
    cat "$verdict" >&2
    mrelay_fail "$label: relay counter check failed"
  fi
}

# start_capture NAME NS IFACE PORT: an independent witness for payload integrity. Captures
# every UDP datagram to PORT on IFACE with an AF_PACKET socket (sent or received) and, on exit
# (SIGTERM, or 1.5 s of silence after the first packet, or 30 s), writes NAME.out:
# {"packets":N,"digests":{"<stream>:<seq>":"<blake2b of the whole UDP payload>"}}.
# Comparing the source's capture with the sink's proves the bytes on the wire at the sink
# are the bytes the generator put on the wire, without trusting the payload format code.
start_capture() {
  local name=$1 ns=$2 iface=$3 port=$4
  rm -f "$MRELAY_TMP/$name.ready"
  mrelay_spawn "$ns" "$MRELAY_TMP/$name" "$MRELAY_PYTHON" -c '
import hashlib, json, signal, socket, struct, sys, time
iface, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
# ETH_P_ALL: only "all" taps see outgoing frames (dev_queue_xmit_nit); keep IPv4 below.
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: no drops at test rates
s.bind((iface, 0))
s.settimeout(0.2)
open(ready, "w").close()
digests, packets, first, last = {}, 0, None, None
deadline = time.monotonic() + 30
while not stop and time.monotonic() < deadline:
    if last is not None and time.monotonic() - last > 1.5:
        break
    try:
        frame, address = s.recvfrom(65535)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    if address[1] != 0x0800:
        continue
    ihl = (frame[0] & 0x0F) * 4
    if len(frame) < ihl + 8 or frame[9] != 17:
        continue
    dport = struct.unpack_from("!H", frame, ihl + 2)[0]
    if dport != port:
        continue
    payload = frame[ihl + 8:]
    if len(payload) < 16:
        continue
    stream = struct.unpack_from("<H", payload, 4)[0]
    seq = struct.unpack_from("<Q", payload, 8)[0]
    digests[f"{stream}:{seq}"] = hashlib.blake2b(payload, digest_size=16).hexdigest()
    packets += 1
    last = time.monotonic()
print(json.dumps({"packets": packets, "digests": digests}))
' "$iface" "$port" "$MRELAY_TMP/$name.ready"
  CAPTURE_PID=$MRELAY_LAST_PID
  if ! wait_for_file "$MRELAY_TMP/$name.ready" 5; then
    show_logs "$MRELAY_TMP/$name"
    mrelay_fail "capture $name never became ready"
  fi
}

# compare_captures LABEL SOURCE_CAPTURE SINK_CAPTURE EXPECTED_PACKETS: every datagram seen at
# the source arrived at the sink with identical bytes, and nothing else arrived.
compare_captures() {
  local label=$1 verdict=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$MRELAY_TMP/$2.out" "$MRELAY_TMP/$3.out" "$4" "$label" >"$verdict" <<'EOF'
import json, sys
src, dst = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
expected, label = int(sys.argv[3]), sys.argv[4]
problems = []
if src["packets"] != expected or len(src["digests"]) != expected:
    problems.append(f"source capture saw {src['packets']} datagrams "
                    f"({len(src['digests'])} distinct), generator sent {expected}")
if dst["packets"] != src["packets"]:
    problems.append(f"sink capture saw {dst['packets']} datagrams, source {src['packets']}")
missing = [k for k in src["digests"] if k not in dst["digests"]]
changed = [k for k, d in src["digests"].items() if k in dst["digests"] and dst["digests"][k] != d]
extra = [k for k in dst["digests"] if k not in src["digests"]]
for what, keys in (("missing", missing), ("changed", changed), ("unexpected", extra)):
    if keys:
        problems.append(f"{len(keys)} {what} datagram(s), e.g. stream:seq {keys[:3]}")
print(f"{label}: {dst['packets']} datagrams compared byte for byte with the source's",
      file=sys.stderr)
for p in problems:
    print(p)
EOF
  if [[ -s $verdict ]]; then
    cat "$verdict" >&2
    mrelay_fail "$label: byte-for-byte comparison failed"
  fi
}
