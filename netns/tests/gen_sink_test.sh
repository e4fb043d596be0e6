#!/usr/bin/env bash
# End-to-end test of mrelay-gen and mrelay-sink over a veth pair between two namespaces this
# test creates (mrl-gs-<pid>-a, mrl-gs-<pid>-b) and always removes (EXIT trap).
#
#   sudo MRELAY_BIN_DIR=build/bin bash netns/tests/gen_sink_test.sh
#
# Checks, per case: sink received == gen sent (nothing is lost on an unloaded veth at 10k pps),
# corrupted/lost/reordered/duplicated 0, per-stream sequence ranges equal to gen's, and the
# sink's datagram count equals the UDP InDatagrams delta of /proc/net/snmp inside the sink's
# namespace; latency p99 > 0. Cases: 3 groups x 2 streams at 512 and 1400 bytes; a warm-up
# split; a sink on two interfaces (one stream per arriving interface); --batch 1 (sendto);
# 25 groups on one port with net.ipv4.igmp_max_memberships at 20 (the sink spreads joins
# over a second socket) and raised to 64; an unpaced burst where only the kernel's own
# accounting must agree; SIGINT/SIGTERM mid-run (both still report); mrelay-perfstat on a
# running generator. About 15 s. Exit 77 = skipped (not root, no netns/veth, not built).
set -euo pipefail

BIN=${MRELAY_BIN_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
PY=/usr/bin/python3  # Debian's interpreter; the first python3 on PATH may be another one
ID=gs-$$
NS_A=mrl-$ID-a
NS_B=mrl-$ID-b
TMP=""
PIDS=()
NAMESPACES=()

log() { echo "[gen_sink_test] $*" >&2; }
skip() {
  echo "SKIP [gen_sink_test]: $*" >&2
  exit 77
}
die() {
  echo "FAIL [gen_sink_test]: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "iproute2 not installed"
[[ -x $PY ]] || skip "$PY not installed"
for program in mrelay-gen mrelay-sink; do
  [[ -x $BIN/$program ]] || skip "$BIN/$program not built"
done

TMP=$(mktemp -d "/tmp/mrl-$ID.XXXXXX")
ip netns add "$NS_A" 2>/dev/null || skip "cannot create network namespace $NS_A"
NAMESPACES+=("$NS_A")
ip netns add "$NS_B" || die "cannot create network namespace $NS_B"
NAMESPACES+=("$NS_B")
# Two veth pairs created inside the namespaces, so the names cannot clash with other runs or
# the host: src0-snk0 and src1-snk1 (the second one exercises a sink on two interfaces).
for i in 0 1; do
  ip -n "$NS_A" link add "src$i" type veth peer name "snk$i" netns "$NS_B" || skip "no veth support"
  ip -n "$NS_A" addr add "10.203.$i.1/24" dev "src$i"
  ip -n "$NS_B" addr add "10.203.$i.2/24" dev "snk$i"
  ip -n "$NS_A" link set "src$i" up
  ip -n "$NS_B" link set "snk$i" up
  ip netns exec "$NS_B" sysctl -qw "net.ipv4.conf.snk$i.rp_filter=0"
done
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip netns exec "$NS_B" sysctl -qw net.ipv4.conf.all.rp_filter=0

# A UDP counter of the sink namespace's /proc/net/snmp: InDatagrams is counted when a
# datagram is read, RcvbufErrors when one is dropped for a full receive buffer.
udp_counter() {
  ip netns exec "$NS_B" awk -v name="$1" '/^Udp:/ { if (!seen) { for (i = 1; i <= NF; i++) if ($i == name) col = i; seen = 1 } else print $col }' /proc/net/snmp
}
SINK_EXTRA=()

wait_for_file() {
  local path=$1 tries=$(($2 * 20))
  while ((tries-- > 0)); do
    [[ -e $path ]] && return 0
    sleep 0.05
  done
  return 1
}

# Reaped PIDs leave the cleanup list, so cleanup never signals a recycled PID.
forget_pid() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do
    [[ $pid == "$1" ]] || keep+=("$pid")
  done
  PIDS=("${keep[@]}")
}

# group_args GROUPS: fills GROUP_ARGS. Up to 3 groups alternate two ports (two sockets); more
# share one port so the per-socket membership limit is what the case exercises.
group_args() {
  local groups=$1 g port
  GROUP_ARGS=()
  for ((g = 1; g <= groups; g++)); do
    port=$((groups <= 3 ? 5000 + g % 2 : 5000))
    GROUP_ARGS+=(--group "239.203.$((g / 200)).$((g % 200 + 1)):$port")
  done
}

start_sink() {  # start_sink NAME SINK_ARGS... -> SINK_PID, returns once every group is joined
  local name=$1
  shift
  ip netns exec "$NS_B" "$BIN/mrelay-sink" "$@" --json --ready-file "$TMP/$name.ready" \
    >"$TMP/$name.sink.json" 2>"$TMP/$name.sink.err" &
  SINK_PID=$!  # `ip netns exec` execs the program: this is the sink's own PID
  PIDS+=("$SINK_PID")
  wait_for_file "$TMP/$name.ready" 5 || die "$name: sink never became ready: $(cat "$TMP/$name.sink.err")"
}

wait_sink() {  # wait_sink NAME
  local rc=0
  wait "$SINK_PID" || rc=$?
  forget_pid "$SINK_PID"
  [[ $rc -eq 0 ]] || die "$1: mrelay-sink exited $rc: $(cat "$TMP/$1.sink.err")"
}

# run_case NAME SIZE GROUPS STREAMS COUNT RATE WARMUP MODE IFACES [GEN_ARGS...]
#   MODE exact: no loss allowed; MODE burst: only the kernel's accounting must agree.
#   IFACES: veth pairs carrying traffic (1 or 2); one mrelay-gen run per pair, in turn.
run_case() {
  local name=$1 size=$2 groups=$3 streams=$4 count=$5 rate=$6 warmup=$7 mode=$8 ifaces=$9
  shift 9
  group_args "$groups"
  local sink_args=(--duration 30 --idle-exit 1 "${GROUP_ARGS[@]}" "${SINK_EXTRA[@]}") i
  for ((i = 0; i < ifaces; i++)); do
    sink_args+=(--interface "snk$i")
  done
  if [[ $mode == exact && $warmup == 0 ]]; then
    sink_args+=(--expect "$((count * ifaces))")
  fi
  start_sink "$name" "${sink_args[@]}"
  local before drops_before gen_files=()
  before=$(udp_counter InDatagrams)
  drops_before=$(udp_counter RcvbufErrors)
  for ((i = 0; i < ifaces; i++)); do
    ip netns exec "$NS_A" "$BIN/mrelay-gen" --interface "src$i" "${GROUP_ARGS[@]}" \
      --streams "$streams" --size "$size" --count "$count" --rate "$rate" --warmup "$warmup" \
      --duration 20 --json "$@" >"$TMP/$name.gen$i.json" 2>"$TMP/$name.gen$i.err" ||
      die "$name: mrelay-gen failed: $(cat "$TMP/$name.gen$i.err")"
    gen_files+=("$TMP/$name.gen$i.json")
  done
  wait_sink "$name"
  local after drops_after
  after=$(udp_counter InDatagrams)
  drops_after=$(udp_counter RcvbufErrors)
  "$PY" - "$name" "$mode" "$count" "$streams" "$((after - before))" \
    "$((drops_after - drops_before))" "$TMP/$name.sink.json" "${gen_files[@]}" <<'EOF' ||
import json, sys
name, mode = sys.argv[1], sys.argv[2]
count, streams, snmp_delta, snmp_drops = (int(v) for v in sys.argv[3:7])
sink = json.load(open(sys.argv[7]))
gens = [json.load(open(path)) for path in sys.argv[8:]]
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)
datagrams = sink["received"] + sink["warmup_received"] + sink["corrupted"]
measured_sent = sum(g["measured_sent"] for g in gens)
for i, gen in enumerate(gens):
    check(gen["sent"] == count, f"gen {i} sent {gen['sent']} != --count {count}")
    check(gen["errors"] == 0, f"gen {i} errors {gen['errors_by_errno']}")
    check(gen["sent"] == gen["warmup_sent"] + gen["measured_sent"], f"gen {i}: warm-up + measured != sent")
check(datagrams == snmp_delta, f"sink datagrams {datagrams} != UDP InDatagrams delta {snmp_delta}")
check(sink["corrupted"] == 0, f"corrupted {sink['corrupted']}")
if mode == "exact":
    check(sink["received"] == measured_sent, f"sink received {sink['received']} != gen measured_sent {measured_sent}")
    check(sink["warmup_received"] == sum(g["warmup_sent"] for g in gens), "warm-up counts differ")
    check(sink["lost"] == 0 and sink["reordered"] == 0 and sink["duplicated"] == 0,
          f"lost {sink['lost']} reordered {sink['reordered']} duplicated {sink['duplicated']}")
    check(sink["kernel_drops"] == 0, f"kernel_drops {sink['kernel_drops']}")
    check(len(sink["streams"]) == streams * len(gens), f"{len(sink['streams'])} streams, expected {streams * len(gens)}")
    check(sink["latency_ns"]["p99"] > 0, "latency p99 is 0")
    check(sink["latency_ns"]["count"] == sink["received"], "latency count != received")
    for s in sink["streams"]:
        if s["interface"] not in [f"snk{i}" for i in range(len(gens))]:
            check(False, f"stream arrived on {s['interface']}")
            continue
        g = gens[int(s["interface"][3:])]["streams"][s["stream"]]
        check(s["group"] == g["group"] and s["port"] == g["port"], f"stream {s['stream']} arrived on the wrong group")
        # Sequences start at 0 and warm-up packets come first: a stream's first measured
        # sequence is its warm-up count.
        check(s["received"] == g["sent"] - g["measured_first_seq"], f"stream {s['stream']}: received {s['received']} vs gen sent {g['sent']}")
        check(s["first_seq"] == g["measured_first_seq"] and s["last_seq"] == g["measured_last_seq"], f"stream {s['stream']}: sequence range differs from gen")
else:
    # Unpaced: loss is allowed, but whatever the kernel delivered is counted and bounded,
    # and the drops the sink reports are the kernel's receive-buffer drops.
    check(sink["received"] >= 1, "nothing received")
    check(sink["received"] <= measured_sent, "received more than sent")
    check(sink["kernel_drops"] == snmp_drops, f"kernel_drops {sink['kernel_drops']} != RcvbufErrors delta {snmp_drops}")
    if mode == "overflow":
        check(sink["kernel_drops"] > 0, "a tiny receive buffer under an unpaced burst dropped nothing")
        # Drops at the tail of a stream leave no sequence gap, so sequence loss can only be a
        # lower bound; what is exact is that every packet not received was sent and dropped.
        missing = measured_sent - sink["received"]
        check(sink["kernel_drops"] <= missing, f"kernel_drops {sink['kernel_drops']} > missing {missing}")
        check(sink["lost"] <= missing, f"sequence loss {sink['lost']} > missing {missing}")
lat = sink["latency_ns"]
gen = gens[0]
print(f"{name}: {len(gens)} x sent {gen['sent']} (warm-up {gen['warmup_sent']}) at {gen['achieved_pps']:.0f} pps "
      f"in {gen['syscalls']} send calls; sink received {sink['received']} warm-up {sink['warmup_received']} "
      f"lost {sink['lost']} drops {sink['kernel_drops']} sockets {sink['sockets']} snmp {snmp_delta}; "
      f"latency p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ns")
if problems:
    print("  " + "\n  ".join(problems))
    sys.exit(1)
EOF
    die "$name: checks failed (files in $TMP)"
  echo "$name" >>"$TMP/passed"
}

# SIGINT to mrelay-gen and SIGTERM to mrelay-sink mid-run: both still report, and agree.
signal_case() {
  local name=signals
  group_args 2
  start_sink "$name" --interface snk0 --duration 30 "${GROUP_ARGS[@]}"
  ip netns exec "$NS_A" "$BIN/mrelay-gen" --interface src0 "${GROUP_ARGS[@]}" --rate 5000 \
    --duration 30 --json >"$TMP/$name.gen.json" 2>"$TMP/$name.gen.err" &
  local gen_pid=$! rc=0
  PIDS+=("$gen_pid")
  sleep 1
  kill -INT "$gen_pid"
  wait "$gen_pid" || rc=$?
  forget_pid "$gen_pid"
  [[ $rc -eq 0 ]] || die "$name: mrelay-gen exited $rc after SIGINT"
  sleep 0.3 # let the last datagrams cross the veth
  kill -TERM "$SINK_PID"
  wait_sink "$name"
  "$PY" - "$TMP/$name.gen.json" "$TMP/$name.sink.json" <<'EOF' || die "$name: checks failed"
import json, sys
gen, sink = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"signals: gen stopped after {gen['duration_s']:.2f} s with {gen['sent']} sent; sink received {sink['received']}")
assert 0 < gen["sent"] and gen["duration_s"] < 10, "SIGINT did not stop mrelay-gen early"
assert sink["received"] == gen["sent"] and sink["lost"] == 0, "sink disagrees with gen"
EOF
  echo "$name" >>"$TMP/passed"
}

# mrelay-perfstat on a running mrelay-gen: one sendto per packet must show up as syscalls.
perfstat_case() {
  if [[ ! -x $BIN/mrelay-perfstat ]]; then
    log "perfstat: $BIN/mrelay-perfstat not built, case skipped"
    return 0
  fi
  local name=perfstat
  group_args 1
  ip netns exec "$NS_A" "$BIN/mrelay-gen" --interface src0 "${GROUP_ARGS[@]}" --rate 5000 \
    --batch 1 --duration 2 --json >"$TMP/$name.gen.json" 2>"$TMP/$name.gen.err" &
  local gen_pid=$! rc=0
  PIDS+=("$gen_pid")
  sleep 0.3
  "$BIN/mrelay-perfstat" --pid "$gen_pid" --duration 1 --json >"$TMP/$name.json" ||
    die "$name: mrelay-perfstat failed"
  wait "$gen_pid" || rc=$?
  forget_pid "$gen_pid"
  [[ $rc -eq 0 ]] || die "$name: mrelay-gen exited $rc"
  "$PY" - "$TMP/$name.json" <<'EOF' || die "$name: checks failed ($(cat "$TMP/$name.json"))"
import json, sys
events = json.load(open(sys.argv[1]))["events"]
sc = events["raw_syscalls:sys_enter"]
if not sc["supported"]:
    print(f"perfstat: syscalls unsupported here ({sc['reason']}); not checked")
    sys.exit(0)
print(f"perfstat: {sc['value']} syscalls ({sc['source']}), task-clock {events['task-clock'].get('value')} ns "
      f"in 1 s of a 5000 pps sendto loop")
# 5000 sendto/s plus the pacer's sleeps; half of that leaves room for a loaded machine.
assert sc["value"] >= 2500, "too few syscalls counted"
EOF
  echo "$name" >>"$TMP/passed"
}

run_case three_groups_512 512 3 6 20000 10000 0 exact 1
run_case three_groups_1400 1400 3 6 20000 10000 0 exact 1
run_case warmup_split 512 3 3 10000 10000 0.4 exact 1
run_case two_interfaces 512 2 2 5000 10000 0 exact 2
run_case batch1_sendto 512 2 2 5000 10000 0 exact 1 --batch 1
ip netns exec "$NS_B" sysctl -qw net.ipv4.igmp_max_memberships=20
run_case groups25_default_limit 256 25 25 5000 10000 0 exact 1
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["sockets"] == 2 else 1)' \
  "$TMP/groups25_default_limit.sink.json" || die "25 groups on one port with a limit of 20 should use 2 sockets"
ip netns exec "$NS_B" sysctl -qw net.ipv4.igmp_max_memberships=64
run_case groups25_raised_limit 256 25 25 5000 10000 0 exact 1
run_case unpaced_burst 512 2 2 30000 0 0 burst 1
# A bursty source: 8 bursts of 250 at 1000 pps on average. Its rate is n bursts over n burst
# intervals (it said 8/7 x 1000 = 1143 pps when the window ended at the last send), and its
# send rate inside a burst (send_pps) is far above the average.
run_case bursts_paced 512 1 1 2000 1000 0 exact 1 --batch 250 --bursts
"$PY" - "$TMP/bursts_paced.gen0.json" <<'EOF' || die "bursts_paced: rate or send_pps wrong"
import json, sys
gen = json.load(open(sys.argv[1]))
print(f"bursts_paced: achieved {gen['achieved_pps']:.1f} pps, send_pps {gen['send_pps']:.0f}")
sys.exit(0 if abs(gen["achieved_pps"] / 1000 - 1) < 0.02 and gen["send_pps"] > 10 * 1000 else 1)
EOF
SINK_EXTRA=(--rcvbuf 4096) # the kernel's minimum-ish: an unpaced burst must overflow it
run_case rcvbuf_overflow 1400 2 2 30000 0 0 overflow 1
SINK_EXTRA=()
signal_case
perfstat_case
log "all $(wc -l <"$TMP/passed") cases passed"
