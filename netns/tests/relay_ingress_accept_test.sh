#!/usr/bin/env bash
# What packet ingress accepts (hop topology, packet ingress): frames the kernel's own receive
# path would refuse must not be forwarded, each counted once under its own counter, and the
# frames it would accept must arrive intact and separate. mrelay-inject writes the frames from
# the source namespace (gen0); nothing else is sent, so every counter is exact.
#
# Phase "untagged" (quick form: one rule, no VLAN):
#   - other_host (unicast MAC of another host)            -> rejected_other_host, not forwarded
#   - sources 0.1.2.3, 127.0.0.1, 224.0.0.1, 240.0.0.1,
#     255.255.255.255                                     -> rejected_martian_source
#   - a wrong, present UDP checksum                       -> malformed_udp_checksum (never
#                                                            re-stamped valid by the egress)
#   - 802.1Q VLAN 100 / 200, 802.1ad QinQ                 -> unmatched_no_rule (the rule takes
#                                                            untagged frames only)
#   - correct UDP checksum, a checksum still partial (vnet NEEDS_CSUM, as a local sender's
#     frames are on veth)                                 -> forwarded intact
#   - UDP GSO super-frames: 5 x 200 B, and 46 x 1400 B (64 KiB, beyond a ring slot)
#                                                         -> every segment forwarded as its own
#                                                            datagram (gso_frames/gso_segments)
#     With MRELAY_PACKET_RX=recvmmsg (the A/B read path, also the fallback when the kernel
#     refuses a ring) a frame longer than a 2 KiB buffer cannot be read whole: the 64 KiB
#     super-frames are counted as rx_truncated instead, and nothing of them is forwarded.
# Phase "vlan" (config: the same group and port untagged and on VLAN 100, to two outputs):
#   - VLAN 100 and QinQ with outer VLAN 100 reach the VLAN 100 rule's output only, untagged
#     frames the untagged rule's only, VLAN 200 no rule (unmatched_no_rule).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_ingress_accept_test.sh
#   MRELAY_ACCEPT_EGRESS=uring MRELAY_PACKET_RX=recvmmsg netns/tests/relay_ingress_accept_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-sink mrelay-inject
mrelay_test_init acc

readonly EGRESS=${MRELAY_ACCEPT_EGRESS:-gso}
readonly GROUP=239.1.1.1
readonly PORT=5000
readonly OUT_UNTAGGED=239.2.0.1:6000
readonly OUT_VLAN=239.2.0.2:6000

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

# inject PHASE KIND COUNT STREAM: one mrelay-inject run; its JSON goes to PHASE-inject-N.out.
inject_runs=0
inject() {
  local phase=$1 kind=$2 count=$3 stream=$4 status=0
  inject_runs=$((inject_runs + 1))
  local out=$MRELAY_TMP/$phase-inject-$inject_runs
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$src" \
    "$MRELAY_BIN_DIR/mrelay-inject" --interface gen0 --group "$GROUP:$PORT" --kind "$kind" \
    --count "$count" --stream "$stream" --json >"$out.out" 2>"$out.err" || status=$?
  if [[ $status -ne 0 ]]; then
    show_logs "$out"
    mrelay_fail "mrelay-inject --kind $kind exited with status $status"
  fi
}

# check PHASE EXPECTATIONS_JSON: compares the relay's final stats and the sink's report with
# {"counters": {name: value}, "streams": {"STREAM": ["GROUP", datagrams]}}. Every counter of
# the acceptance families not named there must be 0.
check() {
  local phase=$1 expectations=$2
  local verdict=$MRELAY_TMP/$phase-verdict.txt
  "$MRELAY_PYTHON" - "$MRELAY_TMP/$phase-relay.stats" "$MRELAY_TMP/$phase-sink.out" \
    "$expectations" >"$verdict" <<'PY'
import json, sys
text = open(sys.argv[1]).read().strip()
lines = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
total = [l for l in lines if l.get("event") == "final"][-1]["total"]
sink = json.load(open(sys.argv[2]))
want = json.loads(sys.argv[3])
problems = []
families = ("malformed_", "unmatched_", "rejected_", "gso_frames", "gso_segments",
            "rx_truncated", "rx_oversize")
for name in sorted(set(k for k in total if k.startswith(families)) | set(want["counters"])):
    expected = want["counters"].get(name, 0)
    got = total.get(name)
    print(f"  relay {name:26s} {got} (expected {expected})", file=sys.stderr)
    if got != expected:
        problems.append(f"relay {name} = {got}, expected {expected}")
for name in ("exhausted_packets", "kernel_drops", "drop_other_errno"):
    if total.get(name, 0):
        problems.append(f"relay {name} = {total[name]}")
if total["tx_packets"] != total["fwd_packets"]:
    problems.append(f"relay tx_packets {total['tx_packets']} != fwd_packets {total['fwd_packets']}")
streams = {str(s["stream"]): s for s in sink["streams"]}
for stream, (group, datagrams) in want["streams"].items():
    s = streams.pop(stream, None)
    if s is None:
        problems.append(f"stream {stream}: nothing arrived, expected {datagrams} datagrams")
        continue
    got = (s["group"], s["received"], s["first_seq"], s["last_seq"], s["lost"], s["corrupted"],
           s["duplicated"], s["reordered"])
    print(f"  sink stream {stream} at {s['group']}: {s['received']} datagrams, seq "
          f"{s['first_seq']}..{s['last_seq']}, lost {s['lost']}, corrupted {s['corrupted']}",
          file=sys.stderr)
    if got != (group, datagrams, 0, datagrams - 1, 0, 0, 0, 0):
        problems.append(f"stream {stream}: got group/received/seq/lost/corrupted/dup/reorder "
                        f"{got}, expected {group} x{datagrams} intact")
for stream, s in streams.items():
    problems.append(f"stream {stream} at {s['group']} arrived ({s['received']} datagrams) but "
                    "nothing should have been forwarded to it")
for key in ("corrupted", "untracked"):
    if sink.get(key, 0):
        problems.append(f"sink {key} = {sink[key]}")
for p in problems:
    print(p)
PY
  if [[ -s $verdict ]]; then
    cat "$verdict" >&2
    show_logs "$MRELAY_TMP/$phase-relay"
    mrelay_fail "phase $phase: checks failed"
  fi
}

# --- phase "untagged": every acceptance check against a rule without a VLAN ----------------
# Forwarded: 3 + 3 single datagrams, 2 x 5 and 2 x 46 GSO segments (read whole by the ring).
large_frames=2 large_segments=92 large_truncated=0 large_stream=', "904": ["239.2.0.1", 92]'
if [[ ${MRELAY_PACKET_RX:-} == recvmmsg ]]; then
  large_frames=0 large_segments=0 large_truncated=2 large_stream=''
fi
start_sink untagged-sink "$sink" snk0 "$OUT_UNTAGGED" $((3 + 3 + 10 + large_segments)) \
  --idle-exit 10
sink_pid=$SINK_PID
start_relay untagged-relay "$relay" rin0 "$GROUP" --ingress packet --egress "$EGRESS" \
  --in "rin0:$GROUP:$PORT" --out "rout0:$OUT_UNTAGGED"
relay_pid=$RELAY_PID
for kind in other_host source_zeronet source_loopback source_multicast source_class_e \
  source_broadcast udp_bad_checksum vlan_valid vlan_other qinq_valid; do
  inject untagged "$kind" 1 800
done
inject untagged udp_checksum 3 901
inject untagged udp_partial_checksum 3 902
inject untagged gso_run 2 903
inject untagged gso_run_large 2 904
wait_sink untagged-sink "$sink_pid"
kill -0 "$relay_pid" 2>/dev/null || mrelay_fail "relay died during the injection"
stop_relay untagged-relay "$relay_pid"
check untagged '{"counters": {"rejected_other_host": 1, "rejected_martian_source": 5,
  "malformed_udp_checksum": 1, "unmatched_no_rule": 3, "gso_frames": '$((2 + large_frames))',
  "gso_segments": '$((10 + large_segments))', "rx_truncated": '$large_truncated',
  "rx_packets": 20, "fwd_packets": '$((16 + large_segments))'},
  "streams": {"901": ["239.2.0.1", 3], "902": ["239.2.0.1", 3],
              "903": ["239.2.0.1", 10]'"$large_stream"'}}'

# --- phase "vlan": the VLAN is part of the rule's key --------------------------------------
config=$MRELAY_TMP/vlan.json
cat >"$config" <<EOF
{"ingress": "packet", "egress": {"backend": "$EGRESS"},
 "rules": [
  {"name": "untagged", "input": {"interface": "rin0", "group": "$GROUP", "port": $PORT},
   "outputs": [{"interface": "rout0", "group": "${OUT_UNTAGGED%%:*}", "port": 6000}]},
  {"name": "vlan100", "input": {"interface": "rin0", "vlan": 100, "group": "$GROUP",
                                "port": $PORT},
   "outputs": [{"interface": "rout0", "group": "${OUT_VLAN%%:*}", "port": 6000}]}]}
EOF
start_sink vlan-sink "$sink" snk0 "$OUT_UNTAGGED $OUT_VLAN" $((3 + 3 + 3)) --idle-exit 10
sink_pid=$SINK_PID
start_relay vlan-relay "$relay" rin0 "$GROUP" --config "$config"
relay_pid=$RELAY_PID
inject vlan vlan_valid 3 911
inject vlan qinq_valid 3 912
inject vlan udp_checksum 3 913
inject vlan vlan_other 1 800
wait_sink vlan-sink "$sink_pid"
stop_relay vlan-relay "$relay_pid"
check vlan '{"counters": {"unmatched_no_rule": 1, "rx_packets": 10, "fwd_packets": 9},
  "streams": {"911": ["239.2.0.2", 3], "912": ["239.2.0.2", 3], "913": ["239.2.0.1", 3]}}'

echo "PASS relay_ingress_accept_test: other-host, martian, UDP checksum, VLAN and GSO frames" \
  "(packet/$EGRESS)"
