#!/usr/bin/env bash
# Faults during paced traffic, on a fanout:2 rig (output 0 on rout0 -> snk0, output 1 on
# rout1 -> snk1). Each case asserts the relay's counters AND the traffic the sinks got, and
# prints one "SUMMARY" line with what was lost (packets, and ms at the paced rate):
#
#   egress     rout0 deleted and re-created (new ifindex) mid-stream: output 0 resumes on the
#              new interface (output_rebinds >= 1), the copies lost in the gap are exactly the
#              relay's counted send errors, output 1 loses nothing.
#   ingress    rin0 down for 0.5 s, then up (packet ring and udp ingress): traffic resumes, the
#              group is joined again, the relay does not spin while the link is down.
#   ingress-recreate
#              rin0 deleted and re-created (a new ifindex; the source's gen0 with it, it is the
#              same veth pair) between two paced runs, packet and udp ingress: the relay follows
#              the interface (netlink) and re-opens its ingress, the second run reaches both
#              outputs in full (ingress_reopens >= 1), without a restart.
#   kill       --supervise, the relay child killed with SIGKILL: restarted, traffic resumes, the
#              sequence gap at the sinks is measured.
#   stalled    one sink SIGSTOPped for 1 s: the other output gets everything, the relay counts
#              no drop (the stalled sink's own socket overflows).
#   smallbuf   --rcvbuf 4096 --sndbuf 4096 under a full-speed burst: every packet is accounted
#              for (received == forwarded + counted drops, copies == sent + counted drops).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_faults_test.sh
#   MRELAY_FAULT_CASES="egress kill" netns/tests/relay_faults_test.sh      # a subset
#   MRELAY_FAULT_CASES=egress MRELAY_FAULT_EGRESS=sendmmsg netns/tests/relay_faults_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init ops

# 2000 pps for 3 s: one packet every 0.5 ms, so a gap in sequence numbers converts to time
# with 0.5 ms resolution, and every case stays ~4 s.
readonly RATE_PPS=2000
readonly COUNT=6000
# When the fault starts, in seconds after the generator: traffic is flowing on both outputs.
readonly FAULT_AT_S=1
# How long the fault lasts (interface gone / link down / sink stopped), in seconds.
readonly FAULT_FOR_S=0.5
readonly CASES=${MRELAY_FAULT_CASES:-"egress ingress-packet ingress-udp ingress-recreate-packet ingress-recreate-udp kill stalled smallbuf-udp smallbuf-packet"}
# Sinks outlive a fault's silence: they stop 3 s after their last packet (or on the duration).
readonly SINK_IDLE_S=3

mrelay_topology_up fanout:2
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
# Addresses of the rout0 <-> snk0 pair, to re-create it as the rig made it.
rout0_addr=$(topo_get '[f for f in j["relays"][0]["feeds"] if f["egress"] == "rout0"][0]["address"]')
snk0_addr=$(topo_get '[f for f in j["relays"][0]["feeds"] if f["egress"] == "rout0"][0]["peer"]')
# Addresses of the gen0 <-> rin0 pair, to re-create it as the rig made it.
gen0_addr=$(topo_get 'j["sources"][0]["address"]')
rin0_addr=$(topo_get 'j["sources"][0]["peer"]')

readonly OUT0=239.2.0.1:6000
readonly OUT1=239.2.0.2:6001
relay_outputs=(--in rin0:239.1.1.1:5000 --out "rout0:$OUT0" --out "rout1:$OUT1")
SUMMARY=()

# start_gen NAME [mrelay-gen flags]: the generator in the background (GEN_PID).
start_gen() {
  local name=$1
  shift
  mrelay_spawn "$src" "$MRELAY_TMP/$name" mrelay-gen --interface gen0 --group 239.1.1.1:5000 \
    --json --size 512 --warmup 0 "$@"
  GEN_PID=$MRELAY_LAST_PID
}

wait_gen() {
  local status=0
  wait_pid "$2" "$MRELAY_PROGRAM_TIMEOUT_S" || status=$?
  [[ $status -eq 0 ]] || {
    show_logs "$MRELAY_TMP/$1"
    mrelay_fail "generator $1 exited with status $status"
  }
}

# start_sinks NAME IDLE_S [flags for the snk0 sink]: one sink per output, NAME-s0 on snk0 and
# NAME-s1 on snk1 (S0_PID, S1_PID).
start_sinks() {
  local name=$1 idle=$2
  shift 2
  start_sink "$name-s0" "$sink" snk0 "$OUT0" 0 --idle-exit "$idle" "$@"
  S0_PID=$SINK_PID
  start_sink "$name-s1" "$sink" snk1 "$OUT1" 0 --idle-exit "$idle"
  S1_PID=$SINK_PID
}

# finish_flow NAME GEN_PID S0_PID S1_PID RELAY_PID: the generator ends, both sinks go idle and
# exit, the relay stops and writes its final stats.
finish_flow() {
  wait_gen "$1-gen" "$2"
  wait_sink "$1-s0" "$3"
  wait_sink "$1-s1" "$4"
  stop_relay "$1-relay" "$5"
}

# relay_cpu_ticks PID: utime + stime of the process, in clock ticks.
relay_cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# verdict LABEL PYTHON_CODE ARGS...: runs a check script that prints problems (one a line)
# on stdout and its summary on stderr; fails the test if it printed any problem.
verdict() {
  local label=$1 code=$2
  shift 2
  local out=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$RATE_PPS" "$@" >"$out" <<<"$code" || mrelay_fail "$label: check crashed"
  if [[ -s $out ]]; then
    cat "$out" >&2
    mrelay_fail "$label: check failed"
  fi
}

# Python prelude shared by the checks: loaders and the relay's final totals.
read -r -d '' PY_PRELUDE <<'EOF' || true
import json, sys
rate = int(sys.argv[1])
def load(path):
    return json.load(open(path))
def final_totals(path):
    lines = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    final = [l for l in lines if l.get("event") == "final"]
    if not final:
        print(f"no final stats in {path}")
        sys.exit(0)
    return final[-1]["total"]
def one_stream(sink, label):
    if len(sink["streams"]) != 1:
        print(f"{label}: expected 1 stream, got {len(sink['streams'])}")
        sys.exit(0)
    return sink["streams"][0]
def ms(packets):
    return packets * 1000.0 / rate
problems = []
EOF

# --- egress: output interface deleted and re-created ------------------------------------
case_egress() {
  local label="egress delete/re-create"
  start_sinks eg "$SINK_IDLE_S"
  local s0=$S0_PID s1=$S1_PID
  # MRELAY_FAULT_EGRESS=send|sendmmsg|uring|packet|gso picks the backend (default: the relay's own, gso).
  start_relay eg-relay "$relay" rin0 239.1.1.1 "${relay_outputs[@]}" \
    ${MRELAY_FAULT_EGRESS:+--egress "$MRELAY_FAULT_EGRESS"}
  local relay_pid=$RELAY_PID
  start_gen eg-gen --rate "$RATE_PPS" --count "$COUNT"
  local gen_pid=$GEN_PID
  sleep "$FAULT_AT_S"
  local old_index
  old_index=$(ip -n "$relay" -o link show rout0 | cut -d: -f1)
  local gone_ns=$(date +%s%N)
  ip -n "$relay" link del rout0
  sleep "$FAULT_FOR_S"
  # Same names and addresses, new ifindex. The relay side stays down until the new sink has
  # joined, so every copy the relay sends after it comes back reaches a listener.
  ip link add rout0 netns "$relay" type veth peer name snk0 netns "$sink"
  ip -n "$sink" addr add "$snk0_addr/24" dev snk0
  ip -n "$sink" link set snk0 up
  ip -n "$relay" addr add "$rout0_addr/24" dev rout0
  start_sink eg-s0b "$sink" snk0 "$OUT0" 0 --idle-exit "$SINK_IDLE_S"
  local s0b=$SINK_PID
  ip -n "$relay" link set rout0 up
  # From before the deletion to after the new link is up (ip commands, sink start included).
  local gone_ms=$((($(date +%s%N) - gone_ns) / 1000000))
  local new_index
  new_index=$(ip -n "$relay" -o link show rout0 | cut -d: -f1)
  [[ $new_index != "$old_index" ]] || mrelay_fail "$label: rout0 kept ifindex $old_index"
  wait_gen eg-gen "$gen_pid"
  wait_sink eg-s1 "$s1"
  wait_sink eg-s0b "$s0b"
  wait_sink eg-s0 "$s0"
  stop_relay eg-relay "$relay_pid"
  # Copies the kernel accepted from the relay but dropped on the new rout0 itself (a packet
  # sent in the instant the link comes up, before its qdisc is attached, is dropped and
  # reported to the sender as sent).
  local rout0_dropped
  rout0_dropped=$(ip -n "$relay" -s -j link show rout0 |
    "$MRELAY_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])')
  grep -q "re-attached: ifindex $old_index -> $new_index" "$MRELAY_TMP/eg-relay.err" ||
    { show_logs "$MRELAY_TMP/eg-relay"; mrelay_fail "$label: no re-attach log line"; }
  local code
  read -r -d '' code <<'PYEOF' || true
gen, s0, s0b, s1 = (load(p) for p in sys.argv[2:6])
t = final_totals(sys.argv[6])
g = gen["streams"][0]
first, last = g["measured_first_seq"], g["measured_last_seq"]
c = one_stream(s1, "snk1")
if not s0b["streams"]:
    print(f"new snk0 received nothing; relay totals {t}; new rout0 tx_dropped {sys.argv[8]}")
    sys.exit(0)
a, b = one_stream(s0, "old snk0"), one_stream(s0b, "new snk0")
# Output 1 is untouched: every packet, in order.
if (c["first_seq"], c["last_seq"], c["received"], c["lost"]) != (first, last, last - first + 1, 0):
    problems.append(f"snk1 got {c}, generator sent {first}..{last}")
# Output 0: an unbroken run before the deletion and an unbroken run to the end after it.
if a["first_seq"] != first or a["lost"] or b["lost"] or b["last_seq"] != last:
    problems.append(f"snk0 runs {a['first_seq']}..{a['last_seq']} (lost {a['lost']}) and "
                    f"{b['first_seq']}..{b['last_seq']} (lost {b['lost']}), sent {first}..{last}")
gap = b["first_seq"] - a["last_seq"] - 1
if gap <= 0:
    problems.append(f"no gap on snk0 ({a['last_seq']} then {b['first_seq']}): fault not seen")
if t["output_rebinds"] < 1:
    problems.append(f"relay output_rebinds = {t['output_rebinds']}")
sent = gen["sent"]
errors = t["drop_other_errno"] + t["drop_enobufs"] + t["drop_eagain"] + t["drop_queue_full"]
if t["fwd_packets"] != sent or t["rx_packets"] != sent:
    problems.append(f"relay rx {t['rx_packets']} fwd {t['fwd_packets']}, generator sent {sent}")
if t["tx_packets"] + errors != 2 * t["fwd_packets"]:
    problems.append(f"relay tx {t['tx_packets']} + send errors {errors} != 2 x fwd {t['fwd_packets']}")
# Every copy the relay counts as sent arrived; every copy lost is a counted send error.
got = a["received"] + b["received"] + c["received"]
dev_dropped = int(sys.argv[8])
# Copies the relay counts as sent that no sink got. Observed: 0, sometimes 1, never more: a
# copy sent in the instant the re-created link comes up is reported sent by the kernel and
# not seen by the sink (not in rout0's tx_dropped either; where exactly it goes was not found).
# Allow that one instant, no more: everything else must be a counted send error.
LINK_UP_SLACK = 2
uncounted = t["tx_packets"] - got - dev_dropped
if not 0 <= uncounted <= LINK_UP_SLACK:
    problems.append(f"sinks got {got} + new rout0 tx_dropped {dev_dropped}, relay tx_packets "
                    f"{t['tx_packets']}: {uncounted} copies sent and not received")
if errors + dev_dropped + uncounted != gap:
    problems.append(f"relay send errors {errors} + new rout0 tx_dropped {dev_dropped} + "
                    f"uncounted {uncounted} != sequence gap on snk0 {gap}")
# The two sink processes on snk0 split the stream: the silence is measured across them
# (the new sink's first arrival minus the old one's last; both CLOCK_MONOTONIC).
silence_ms = (s0b["first_rx_ns"] - s0["last_rx_ns"]) / 1e6
print(f"SUMMARY egress delete/re-create: output 0 lost {gap} packets ({ms(gap):.0f} ms at the "
      f"paced rate; silent {silence_ms:.0f} ms at the sink; {sys.argv[7]} ms from deletion to "
      f"the re-created link up (incl. 0.5 s absent and the new sink start), then re-bound "
      f"within 200 ms), counted as "
      f"drop_other_errno {t['drop_other_errno']} + dropped by the new rout0 {dev_dropped} + "
      f"sent but not received at link-up {uncounted}; "
      f"output_rebinds {t['output_rebinds']}; "
      f"output 1 lost 0 of {c['received']}", file=sys.stderr)
for p in problems: print(p)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/eg-gen.out" "$MRELAY_TMP/eg-s0.out" "$MRELAY_TMP/eg-s0b.out" \
    "$MRELAY_TMP/eg-s1.out" "$MRELAY_TMP/eg-relay.stats" "$gone_ms" "$rout0_dropped"
}

# --- ingress: link down, then up ----------------------------------------------------------
case_ingress() {
  local mode=$1 label="ingress down/up ($1)"
  start_sinks in-$mode "$SINK_IDLE_S"
  local s0=$S0_PID s1=$S1_PID
  start_relay in-$mode-relay "$relay" rin0 239.1.1.1 --ingress "$mode" "${relay_outputs[@]}"
  local relay_pid=$RELAY_PID
  start_gen in-$mode-gen --rate "$RATE_PPS" --count "$COUNT"
  local gen_pid=$GEN_PID
  sleep "$FAULT_AT_S"
  local ticks_before ticks_after ticks_per_s
  ticks_per_s=$(getconf CLK_TCK)
  local down_ns=$(date +%s%N)
  ip -n "$relay" link set rin0 down
  ticks_before=$(relay_cpu_ticks "$relay_pid")
  sleep "$FAULT_FOR_S"
  ticks_after=$(relay_cpu_ticks "$relay_pid")
  ip -n "$relay" link set rin0 up
  # How long the link really was down, from before `down` to after `up` returned: on a
  # loaded machine the ip commands themselves take a while.
  local down_ms=$((($(date +%s%N) - down_ns) / 1000000))
  wait_until 2 relay_joined "$relay" rin0 239.1.1.1 ||
    mrelay_fail "$label: group 239.1.1.1 not joined on rin0 after up"
  finish_flow in-$mode "$gen_pid" "$s0" "$s1" "$relay_pid"
  # A loop spinning on POLLERR would burn the whole FAULT_FOR_S; an idle one almost nothing.
  local cpu_ms=$(((ticks_after - ticks_before) * 1000 / ticks_per_s))
  ((cpu_ms < 150)) || mrelay_fail "$label: relay used $cpu_ms ms CPU in ${FAULT_FOR_S} s link-down"
  local code
  read -r -d '' code <<'PYEOF' || true
gen, s0, s1 = (load(p) for p in sys.argv[2:5])
t = final_totals(sys.argv[5])
mode, cpu_ms = sys.argv[6], sys.argv[7]
g = gen["streams"][0]
first, last = g["measured_first_seq"], g["measured_last_seq"]
streams = [one_stream(s0, "snk0"), one_stream(s1, "snk1")]
for s in streams:
    # Traffic resumed: the last packet arrived on both outputs.
    if s["last_seq"] != last or s["first_seq"] != first:
        problems.append(f"{s['interface']}: seq {s['first_seq']}..{s['last_seq']}, sent {first}..{last}")
lost = [s["lost"] for s in streams]
if lost[0] != lost[1]:
    problems.append(f"outputs lost different counts {lost}: the loss must be at ingress only")
if lost[0] <= 0:
    problems.append("no loss while the ingress link was down: fault not seen")
# The relay forwarded everything it received, to both outputs, and the sinks got all of it.
for key in ("drop_buffer_exhausted", "drop_queue_full", "drop_enobufs", "drop_eagain",
            "drop_other_errno", "exhausted_packets"):
    if t[key]:
        problems.append(f"relay {key} = {t[key]}")
if t["tx_packets"] != 2 * t["fwd_packets"]:
    problems.append(f"relay tx {t['tx_packets']} != 2 x fwd {t['fwd_packets']}")
got = s0["received"] + s1["received"]
if got != t["tx_packets"]:
    problems.append(f"sinks got {got}, relay tx_packets {t['tx_packets']}")
# While rin0 is down the generator's own veth refuses some sends (ENOBUFS): those sequence
# numbers were never on the wire. The rest of the gap was sent and lost at the down link.
unsent = gen["errors"]
lost_on_wire = lost[0] - unsent
if t["fwd_packets"] != gen["sent"] - lost_on_wire:
    problems.append(f"relay fwd {t['fwd_packets']} != sent {gen['sent']} - lost on the wire "
                    f"{lost_on_wire} (gap {lost[0]} - unsent {unsent})")
if mode == "packet" and t["ingress_errors"] < 1:
    problems.append("packet ingress: ingress_errors = 0, ENETDOWN never read")
print(f"SUMMARY ingress down/up ({mode}): gap of {lost[0]} sequence numbers per output "
      f"spanning {streams[0]['max_gap_send_ms']:.0f} ms of the sender's time (sinks silent "
      f"{streams[0]['max_gap_ms']:.0f} ms; link down {sys.argv[8]} ms): {lost_on_wire} packets sent and lost "
      f"at the down link, {unsent} refused by the sender's veth (ENOBUFS); relay drops 0, "
      f"ingress_errors {t['ingress_errors']}, "
      f"relay CPU while down {cpu_ms} ms", file=sys.stderr)
for p in problems: print(p)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/in-$mode-gen.out" "$MRELAY_TMP/in-$mode-s0.out" "$MRELAY_TMP/in-$mode-s1.out" \
    "$MRELAY_TMP/in-$mode-relay.stats" "$mode" "$cpu_ms" "$down_ms"
}

# --- ingress re-created: rin0 deleted and added again (new ifindex) -----------------------
# relay_rejoined NS IFACE GROUP OLD_INDEX: the interface exists with another index than before
# and shows the group again (the relay joined it on the new interface).
relay_rejoined() {
  local index
  index=$(ip -n "$1" -o link show "$2" 2>/dev/null | cut -d: -f1) || return 1
  [[ -n $index && $index != "$4" ]] && relay_joined "$1" "$2" "$3"
}

case_ingress_recreate() {
  local mode=$1 label="ingress re-created ($1)"
  local half=$((COUNT / 2))
  start_sinks ir-$mode "$SINK_IDLE_S"
  local s0=$S0_PID s1=$S1_PID
  start_relay ir-$mode-relay "$relay" rin0 239.1.1.1 --ingress "$mode" "${relay_outputs[@]}"
  local relay_pid=$RELAY_PID
  # Run 1 on the original interface.
  start_gen ir-$mode-gen1 --rate "$RATE_PPS" --count "$half"
  wait_gen ir-$mode-gen1 "$GEN_PID"
  local old_index
  old_index=$(ip -n "$relay" -o link show rin0 | cut -d: -f1)
  # Deleting rin0 deletes its peer gen0 too; re-create the pair as the rig made it.
  ip -n "$relay" link del rin0
  ip link add rin0 netns "$relay" type veth peer name gen0 netns "$src"
  ip netns exec "$relay" sysctl -q -w net.ipv4.conf.rin0.rp_filter=0 >/dev/null
  ip -n "$relay" addr add "$rin0_addr/24" dev rin0
  ip -n "$src" addr add "$gen0_addr/24" dev gen0
  ip -n "$relay" link set rin0 up
  ip -n "$src" link set gen0 up
  ip -n "$src" route replace 224.0.0.0/4 dev gen0
  if ! wait_until 10 relay_rejoined "$relay" rin0 239.1.1.1 "$old_index"; then
    show_logs "$MRELAY_TMP/ir-$mode-relay"
    mrelay_fail "$label: the relay never joined 239.1.1.1 on the re-created rin0"
  fi
  # The workers switched to the new socket (logged once every worker acknowledged).
  if ! wait_until 10 grep -q "re-opened ingress rin0" "$MRELAY_TMP/ir-$mode-relay.err"; then
    show_logs "$MRELAY_TMP/ir-$mode-relay"
    mrelay_fail "$label: the relay never reported re-opening rin0"
  fi
  kill -0 "$relay_pid" 2>/dev/null || mrelay_fail "$label: the relay died"
  # Run 2 through the re-created interface: a second generator process (its own sequence).
  start_gen ir-$mode-gen2 --rate "$RATE_PPS" --count "$half"
  wait_gen ir-$mode-gen2 "$GEN_PID"
  wait_sink ir-$mode-s0 "$s0"
  wait_sink ir-$mode-s1 "$s1"
  stop_relay ir-$mode-relay "$relay_pid"
  local code
  read -r -d '' code <<'PYEOF' || true
gen1, gen2, s0, s1 = (load(p) for p in sys.argv[2:6])
t = final_totals(sys.argv[6])
p = json.loads([l for l in open(sys.argv[6]) if l.strip().startswith("{")][-1]).get("process", {})
mode = sys.argv[7]
sent = gen1["sent"] + gen2["sent"]
for name, sink in (("snk0", s0), ("snk1", s1)):
    if sink["received"] != sent:
        problems.append(f"{name} received {sink['received']}, the two runs sent {gen1['sent']} + "
                        f"{gen2['sent']} = {sent}")
if t["fwd_packets"] != sent or t["tx_packets"] != 2 * sent:
    problems.append(f"relay fwd {t['fwd_packets']} tx {t['tx_packets']}, sent {sent} x 2")
if p.get("ingress_reopens", 0) < 1:
    problems.append(f"relay ingress_reopens = {p.get('ingress_reopens')}")
print(f"SUMMARY ingress re-created ({mode}): rin0 deleted and added again between two runs of "
      f"{gen1['sent']} packets; both outputs got all {sent} without a restart; ingress_reopens "
      f"{p.get('ingress_reopens')}", file=sys.stderr)
for p_ in problems: print(p_)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/ir-$mode-gen1.out" "$MRELAY_TMP/ir-$mode-gen2.out" \
    "$MRELAY_TMP/ir-$mode-s0.out" "$MRELAY_TMP/ir-$mode-s1.out" "$MRELAY_TMP/ir-$mode-relay.stats" \
    "$mode"
}

# --- kill: supervised relay child killed with SIGKILL --------------------------------------
supervised_child() {
  # The last "started relay pid N" line of the supervisor.
  sed -n 's/^mrelay supervise: started relay pid \([0-9]*\) .*/\1/p' "$1" | tail -n 1
}
running_count() {
  grep -c "running:" "$1" || true
}
# restarted_and_running LOG OLD_CHILD: a new child was started and logged "running:".
restarted_and_running() {
  [[ $(running_count "$1") -ge 2 && $(supervised_child "$1") != "$2" ]]
}

case_kill() {
  local label="worker kill (supervised)"
  start_sinks kill "$SINK_IDLE_S"
  local s0=$S0_PID s1=$S1_PID
  start_relay kill-relay "$relay" rin0 239.1.1.1 --supervise "${relay_outputs[@]}"
  local supervisor=$RELAY_PID
  local child
  child=$(supervised_child "$MRELAY_TMP/kill-relay.err")
  [[ -n $child ]] || mrelay_fail "$label: supervisor logged no child pid"
  start_gen kill-gen --rate "$RATE_PPS" --count "$COUNT"
  local gen_pid=$GEN_PID
  sleep "$FAULT_AT_S"
  local killed_ns
  killed_ns=$(date +%s%N)
  kill -KILL "$child"
  wait_until 5 restarted_and_running "$MRELAY_TMP/kill-relay.err" "$child" ||
    { show_logs "$MRELAY_TMP/kill-relay"; mrelay_fail "$label: no restarted, running relay"; }
  local restart_ms=$((($(date +%s%N) - killed_ns) / 1000000))
  local new_child
  new_child=$(supervised_child "$MRELAY_TMP/kill-relay.err")
  wait_gen kill-gen "$gen_pid"
  wait_sink kill-s0 "$s0"
  wait_sink kill-s1 "$s1"
  stop_relay kill-relay "$supervisor"  # SIGTERM forwarded; the supervisor exits 0
  grep -q "killed by signal 9" "$MRELAY_TMP/kill-relay.err" ||
    mrelay_fail "$label: supervisor did not report the kill"
  local code
  read -r -d '' code <<'PYEOF' || true
gen, s0, s1 = (load(p) for p in sys.argv[2:5])
t = final_totals(sys.argv[5])  # the restarted child
restart_ms = int(sys.argv[6])
g = gen["streams"][0]
first, last = g["measured_first_seq"], g["measured_last_seq"]
streams = [one_stream(s0, "snk0"), one_stream(s1, "snk1")]
for s in streams:
    if s["last_seq"] != last or s["first_seq"] != first:
        problems.append(f"{s['interface']}: seq {s['first_seq']}..{s['last_seq']}, sent {first}..{last}")
lost = [s["lost"] for s in streams]
if min(lost) <= 0:
    problems.append(f"no sequence gap {lost}: the kill was not seen")
# The restarted child relays everything it receives to both outputs.
if t["tx_packets"] != 2 * t["fwd_packets"] or t["fwd_packets"] == 0:
    problems.append(f"restarted relay tx {t['tx_packets']} fwd {t['fwd_packets']}")
for key in ("drop_other_errno", "drop_enobufs", "drop_eagain", "drop_queue_full", "exhausted_packets"):
    if t[key]:
        problems.append(f"restarted relay {key} = {t[key]}")
if t["kernel_drops"]:
    print(f"note: the restarted relay counted kernel_drops {t['kernel_drops']}", file=sys.stderr)
gap = [s["max_gap"] for s in streams]
gap_ms = [s["max_gap_ms"] for s in streams]
send_ms = [s["max_gap_send_ms"] for s in streams]
# Everything lost is the kill's gap, except sequence numbers the generator itself could not
# send (ENOBUFS from its veth when the relay namespace's backlog overflows on a loaded host).
unsent = gen["errors"]
for s, g in zip(lost, gap):
    if s > g + unsent + t["kernel_drops"]:
        problems.append(f"loss {lost} exceeds the kill gap {gap} + unsent {unsent} + the "
                        f"restarted relay's kernel_drops {t['kernel_drops']}")
print(f"SUMMARY worker kill: SIGKILL -> new child logged running after {restart_ms} ms "
      f"(backoff 100 ms + start-up; its packet socket buffers from bind on); lost {lost[0]} / "
      f"{lost[1]} packets on output 0 / 1 (largest gap {gap[0]} / {gap[1]}, generator unsent "
      f"{unsent}), the gap spanning {send_ms[0]:.0f} / "
      f"{send_ms[1]:.0f} ms of the sender's time; sinks silent {gap_ms[0]:.0f} / "
      f"{gap_ms[1]:.0f} ms; restarted child "
      f"forwarded {t['fwd_packets']}", file=sys.stderr)
for p in problems: print(p)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/kill-gen.out" "$MRELAY_TMP/kill-s0.out" "$MRELAY_TMP/kill-s1.out" \
    "$MRELAY_TMP/kill-relay.stats" "$restart_ms"
  mrelay_log "$label: child $child killed, child $new_child took over"
}

# --- stalled: one sink stops reading -------------------------------------------------------
case_stalled() {
  local label="stalled sink"
  # The stalled sink has a small receive buffer (64 KiB) so its kernel queue overflows
  # within the stall; the healthy one keeps the rig's 32 MiB.
  start_sinks st "$SINK_IDLE_S" --rcvbuf 65536
  local s0=$S0_PID s1=$S1_PID
  start_relay st-relay "$relay" rin0 239.1.1.1 "${relay_outputs[@]}"
  local relay_pid=$RELAY_PID
  start_gen st-gen --rate "$RATE_PPS" --count "$COUNT"
  local gen_pid=$GEN_PID
  sleep "$FAULT_AT_S"
  kill -STOP "$s0"
  sleep 1
  kill -CONT "$s0"
  finish_flow st "$gen_pid" "$s0" "$s1" "$relay_pid"
  local code
  read -r -d '' code <<'PYEOF' || true
gen, s0, s1 = (load(p) for p in sys.argv[2:5])
t = final_totals(sys.argv[5])
g = gen["streams"][0]
first, last = g["measured_first_seq"], g["measured_last_seq"]
healthy, stalled = one_stream(s1, "snk1"), one_stream(s0, "snk0")
if (healthy["first_seq"], healthy["last_seq"], healthy["received"], healthy["lost"]) != \
        (first, last, last - first + 1, 0):
    problems.append(f"healthy output got {healthy}, sent {first}..{last}")
sent = gen["sent"]
if t["fwd_packets"] != sent or t["tx_packets"] != 2 * sent:
    problems.append(f"relay fwd {t['fwd_packets']} tx {t['tx_packets']}, sent {sent} x 2")
for key in ("drop_other_errno", "drop_enobufs", "drop_eagain", "drop_queue_full",
            "exhausted_packets", "kernel_drops"):
    if t[key]:
        problems.append(f"relay {key} = {t[key]}")
if stalled["last_seq"] != last:
    problems.append(f"stalled sink never caught up: last seq {stalled['last_seq']}")
lost = stalled["lost"]
if lost <= 0 or s0["kernel_drops"] < lost:
    problems.append(f"stalled sink lost {lost}, its socket overflowed {s0['kernel_drops']}: "
                    "expected its own kernel drops to cover the loss")
print(f"SUMMARY stalled sink (SIGSTOP 1 s): stalled output lost {lost} packets at its own socket "
      f"(kernel_drops {s0['kernel_drops']}), healthy output lost 0 of {healthy['received']}, "
      f"relay drops 0", file=sys.stderr)
for p in problems: print(p)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/st-gen.out" "$MRELAY_TMP/st-s0.out" "$MRELAY_TMP/st-s1.out" \
    "$MRELAY_TMP/st-relay.stats"
}

# --- smallbuf: tiny socket buffers under a full-speed burst -------------------------------
case_smallbuf() {
  local mode=$1 label="small buffers ($1)"
  start_sinks sb-$mode 1
  local s0=$S0_PID s1=$S1_PID
  start_relay sb-$mode-relay "$relay" rin0 239.1.1.1 --ingress "$mode" --rcvbuf 4096 \
    --sndbuf 4096 --egress sendmmsg "${relay_outputs[@]}"
  local relay_pid=$RELAY_PID
  # Bursts of 64 at 50k pps: far more than a 4 KiB buffer absorbs, yet below the veth's
  # backlog limit (netdev_max_backlog, 1000), so every drop happens at the relay's sockets,
  # where it is counted. (At full speed, ~500k pps here, the veth backlog in front of the
  # relay drops too, and that count is global to the host, not the relay's.)
  start_gen sb-$mode-gen --count 20000 --batch 64 --rate 50000
  local gen_pid=$GEN_PID
  finish_flow sb-$mode "$gen_pid" "$s0" "$s1" "$relay_pid"
  kill -0 "$relay_pid" 2>/dev/null && mrelay_fail "$label: relay still running"
  local code
  read -r -d '' code <<'PYEOF' || true
gen, s0, s1 = (load(p) for p in sys.argv[2:5])
t = final_totals(sys.argv[5])
mode = sys.argv[6]
sent = gen["sent"]
unmatched = sum(v for k, v in t.items() if k.startswith(("malformed_", "unmatched_")))
# Ingress: every packet received is forwarded or counted (no buffer); every packet sent and not
# received was dropped by the kernel in front of the relay and counted there.
if t["rx_packets"] != t["fwd_packets"] + t["drop_buffer_exhausted"] + unmatched:
    problems.append(f"rx {t['rx_packets']} != fwd {t['fwd_packets']} + no-buffer "
                    f"{t['drop_buffer_exhausted']} + unmatched/malformed {unmatched}")
if t["rx_packets"] + t["kernel_drops"] != sent:
    problems.append(f"rx {t['rx_packets']} + kernel_drops {t['kernel_drops']} != sent {sent}")
# Egress: every copy is sent or counted by reason.
send_drops = t["drop_enobufs"] + t["drop_eagain"] + t["drop_queue_full"] + t["drop_other_errno"]
if t["tx_packets"] + send_drops != 2 * t["fwd_packets"]:
    problems.append(f"tx {t['tx_packets']} + send drops {send_drops} != 2 x fwd {t['fwd_packets']}")
got = s0["received"] + s1["received"] + s0["kernel_drops"] + s1["kernel_drops"]
if s0["received"] + s1["received"] > t["tx_packets"] or got < t["tx_packets"]:
    problems.append(f"sinks received {s0['received']} + {s1['received']} (+ their kernel drops "
                    f"{s0['kernel_drops']} + {s1['kernel_drops']}), relay tx {t['tx_packets']}")
lost_total = 2 * sent - s0["received"] - s1["received"]
print(f"SUMMARY small buffers ({mode}, rcvbuf 4096, sndbuf 4096, {sent} packets at "
      f"{gen['achieved_pps']:.0f} pps): relay kernel_drops {t['kernel_drops']}, no-buffer "
      f"{t['drop_buffer_exhausted']}, EAGAIN {t['drop_eagain']}, ENOBUFS {t['drop_enobufs']}; "
      f"sink socket drops {s0['kernel_drops'] + s1['kernel_drops']}; copies lost {lost_total} of "
      f"{2 * sent}, every one counted", file=sys.stderr)
for p in problems: print(p)
PYEOF
  verdict "$label" "$PY_PRELUDE
$code" "$MRELAY_TMP/sb-$mode-gen.out" "$MRELAY_TMP/sb-$mode-s0.out" "$MRELAY_TMP/sb-$mode-s1.out" \
    "$MRELAY_TMP/sb-$mode-relay.stats" "$mode"
}

for case in $CASES; do
  mrelay_log "case $case"
  case $case in
    egress) case_egress ;;
    ingress-packet) case_ingress packet ;;
    ingress-udp) case_ingress udp ;;
    ingress-recreate-packet) case_ingress_recreate packet ;;
    ingress-recreate-udp) case_ingress_recreate udp ;;
    kill) case_kill ;;
    stalled) case_stalled ;;
    smallbuf-udp) case_smallbuf udp ;;
    smallbuf-packet) case_smallbuf packet ;;
    *) mrelay_fail "unknown case '$case'" ;;
  esac
done
echo "PASS relay_faults_test: ${CASES}"
