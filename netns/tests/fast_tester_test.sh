#!/usr/bin/env bash
# The fast tester (mrelay-gen --gso, mrelay-sink --count-only) against the full one, through
# mrelay's AF_PACKET ingress on one hop:
#   1. the generator's UDP GSO runs arrive as separate datagrams (mrelay-netns turned
#      tx-udp-segmentation off on gen0): the relay's packet ingress reads one frame per
#      datagram (rx_packets == sent, gso_frames == 0) and forwards every one;
#   2. every datagram keeps its own sequence number: the full sink (checksums, every
#      payload) sees the generator's measured range exactly, no loss, reordering or duplicate;
#   3. the counting sink, on the same link in the same run, counts what the full sink counts:
#      received, lost, first and last sequence per stream;
#   4. the fault the setting prevents: with tx-udp-segmentation back on, the same generator's
#      runs cross the veth as super-packets (the relay counts gso_frames).
# No timing assertion: a paced, bounded run where any difference is a bug.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/fast_tester_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
command -v ethtool >/dev/null || mrelay_skip "ethtool not installed (ci/setup.sh installs it)"
mrelay_require_capability udp_gso
mrelay_test_init fasttester

# 20k pps for 0.4 s in runs of 32: paced well below what the relay forwards, so any loss or
# gap is a bug; two streams so the runs carry interleaved sequence numbers.
readonly RATE_PPS=20000
readonly COUNT=8000
readonly WARMUP_S=0.1
readonly GSO=32

mrelay_topology_up hop --source-tx-udp-segmentation off
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
segmentation=$(topo_get 'j["settings"]["source_tx_udp_segmentation"]')
expect_eq "gen0 tx-udp-segmentation" "$segmentation" off

start_sink full "$sink" snk0 239.2.0.1:6000 0
full_pid=$SINK_PID
start_sink counting "$sink" snk0 239.2.0.1:6000 0 --count-only
counting_pid=$SINK_PID
start_relay relay "$relay" rin0 239.1.1.1 --ingress packet --egress gso \
  --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID
run_gen gen "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --bursts --batch "$GSO" \
  --gso "$GSO" --streams 2 --count "$COUNT" --warmup "$WARMUP_S" --size 512
wait_sink full "$full_pid"
wait_sink counting "$counting_pid"
stop_relay relay "$relay_pid"

gen_sent=$(json_get "$MRELAY_TMP/gen.out" 'j["sent"]')
expect_eq "generator sent" "$gen_sent" "$COUNT"
expect_eq "generator --gso" "$(json_get "$MRELAY_TMP/gen.out" 'j["gso"]')" "$GSO"
# Syscalls well below one per datagram show the runs really left as GSO sends.
syscalls=$(json_get "$MRELAY_TMP/gen.out" 'j["syscalls"]')
(( syscalls * 4 <= COUNT )) || mrelay_fail "generator made $syscalls send calls for $COUNT datagrams"
check_delivery "full sink" gen full 1
check_relay_counters "fast generator" relay "$gen_sent" 1 full

# final_total RELAY COUNTER: a counter of the relay's final stats line.
final_total() {
  "$MRELAY_PYTHON" -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
print([l for l in lines if l.get("event") == "final"][-1]["total"].get(sys.argv[2], 0))' \
    "$MRELAY_TMP/$1.stats" "$2"
}
gso_frames=$(final_total relay gso_frames)
rx_packets=$(final_total relay rx_packets)
expect_eq "relay gso_frames (super-packets on the wire)" "$gso_frames" 0
expect_eq "relay rx_packets (one frame per datagram)" "$rx_packets" "$gen_sent"

"$MRELAY_PYTHON" - "$MRELAY_TMP/full.out" "$MRELAY_TMP/counting.out" >"$MRELAY_TMP/compare.txt" <<'EOF'
import json, sys
full, counting = (json.load(open(p)) for p in sys.argv[1:3])
problems = []
if counting.get("mode") != "count":
    problems.append(f"counting sink mode {counting.get('mode')!r}, expected 'count'")
for key in ("received", "warmup_received", "lost", "reordered", "duplicated", "corrupted"):
    if full[key] != counting[key]:
        problems.append(f"{key}: full sink {full[key]}, counting sink {counting[key]}")
def ranges(sink):
    return sorted((s["stream"], s["first_seq"], s["last_seq"], s["received"])
                  for s in sink["streams"])
if ranges(full) != ranges(counting):
    problems.append(f"streams: full {ranges(full)}, counting {ranges(counting)}")
print(f"full received {full['received']}, counting received {counting['received']}",
      file=sys.stderr)
for p in problems:
    print(p)
EOF
if [[ -s $MRELAY_TMP/compare.txt ]]; then
  cat "$MRELAY_TMP/compare.txt" >&2
  mrelay_fail "the counting sink disagrees with the full sink"
fi
# 4. The fault: segmentation offload back on for gen0, and the runs stay whole on the link.
in_ns "$src" ethtool -K gen0 tx-udp-segmentation on >/dev/null
start_relay offload "$relay" rin0 239.1.1.1 --ingress packet --egress gso \
  --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
offload_pid=$RELAY_PID
run_gen offload-gen "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --bursts --batch "$GSO" \
  --gso "$GSO" --count 640 --size 512
stop_relay offload "$offload_pid"
offload_frames=$(final_total offload gso_frames)
(( offload_frames > 0 )) ||
  mrelay_fail "with tx-udp-segmentation on, the relay saw no GSO super-frames (the check above could not fail)"
echo "PASS fast_tester_test: $gen_sent datagrams in GSO runs of $GSO, $syscalls sends;" \
  "with offload on, $offload_frames super-frames"
