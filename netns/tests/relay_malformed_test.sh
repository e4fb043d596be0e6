#!/usr/bin/env bash
# Malformed frames on the relay's ingress while it forwards valid traffic (hop topology,
# packet ingress): mrelay-inject writes every frame kind from the source namespace (gen0)
# in the middle of a paced mrelay-gen stream. Asserted from the relay's final stats JSON and
# the sink:
#   - every malformed_* / unmatched_* / rejected_* / rx_* counter grew by exactly the frames of
#     the kinds mapped to it (mrelay-inject --list-kinds), and no other counter moved;
#   - the valid-but-unusual kinds (IPv4 options, UDP checksums complete or still partial, UDP
#     GSO super-frames split into their datagrams) were forwarded and arrived intact (their own
#     test-payload stream 900, sequence gap-free);
#   - the generator's traffic was delivered with loss 0, and the relay was still running when
#     the test stopped it.
# The veth pair gen0/rin0 gets MTU 9100 so the 9000-byte jumbo frames reach the relay (at MTU
# 1500 veth drops them before anyone sees them); the relay reads them whole but their payload
# does not fit a packet buffer (rx_oversize): --buffer-size 2048 keeps the buffers at 2 KiB,
# which the relay would otherwise size for rin0's MTU (netns/tests/relay_jumbo_test.sh relays
# jumbo frames). With MRELAY_PACKET_RX=recvmmsg (2 KiB read buffers) the frames longer than
# that, jumbo and the 64 KiB GSO run, count as rx_truncated.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_malformed_test.sh
#   MRELAY_MALFORMED_COUNT=50 MRELAY_MALFORMED_EGRESS=sendmmsg netns/tests/relay_malformed_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink mrelay-inject
mrelay_test_init mal

# Frames per kind: enough that an off-by-one shows, few enough to never fill the ring.
readonly COUNT_PER_KIND=${MRELAY_MALFORMED_COUNT:-20}
readonly EGRESS=${MRELAY_MALFORMED_EGRESS:-uring}
# Valid traffic: 4000 pps for 1.5 s. Modest (any loss is a bug), and long enough that the
# injection (28 kinds x COUNT frames, 200 us apart, ~0.15 s) happens in the middle of it.
readonly RATE_PPS=4000
readonly GEN_COUNT=6000
readonly WARMUP_S=0.1
# The injection starts this long after the generator: well inside its measuring window.
readonly INJECT_DELAY_S=0.4
# Interface MTU for the jumbo frames (bytes): 9000-byte IPv4 datagram + headroom.
readonly JUMBO_MTU=9100
readonly GROUP=239.1.1.1
readonly PORT=5000

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

ip -n "$src" link set dev gen0 mtu "$JUMBO_MTU"
ip -n "$relay" link set dev rin0 mtu "$JUMBO_MTU"

start_sink sink "$sink" snk0 239.2.0.1:6000 0
sink_pid=$SINK_PID
start_relay relay "$relay" rin0 "$GROUP" --ingress packet --egress "$EGRESS" --buffer-size 2048 \
  --in "rin0:$GROUP:$PORT" --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID

mrelay_spawn "$src" "$MRELAY_TMP/gen" mrelay-gen --interface gen0 --group "$GROUP:$PORT" \
  --rate "$RATE_PPS" --count "$GEN_COUNT" --warmup "$WARMUP_S" --size 512 --json
gen_pid=$MRELAY_LAST_PID
sleep "$INJECT_DELAY_S"
inject_status=0
timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$src" \
  "$MRELAY_BIN_DIR/mrelay-inject" --interface gen0 --group "$GROUP:$PORT" --kind all \
  --count "$COUNT_PER_KIND" --json >"$MRELAY_TMP/inject.out" 2>"$MRELAY_TMP/inject.err" ||
  inject_status=$?
if [[ $inject_status -ne 0 ]]; then
  show_logs "$MRELAY_TMP/inject"
  mrelay_fail "mrelay-inject exited with status $inject_status"
fi
gen_status=0
wait_pid "$gen_pid" "$MRELAY_PROGRAM_TIMEOUT_S" || gen_status=$?
mrelay_forget_pid "$gen_pid"
[[ $gen_status -eq 0 ]] || {
  show_logs "$MRELAY_TMP/gen"
  mrelay_fail "generator exited with status $gen_status"
}
wait_sink sink "$sink_pid"

# The relay must have survived every frame: still running before we stop it.
kill -0 "$relay_pid" 2>/dev/null || {
  show_logs "$MRELAY_TMP/relay"
  mrelay_fail "relay died during the injection"
}
stop_relay relay "$relay_pid"

# One Python pass over the four JSON files: prints the per-kind table and any problems.
verdict=$MRELAY_TMP/verdict.txt
"$MRELAY_PYTHON" - "$MRELAY_TMP/inject.out" "$MRELAY_TMP/relay.stats" "$MRELAY_TMP/gen.out" \
  "$MRELAY_TMP/sink.out" >"$verdict" <<'PY'
import json, os, sys
inject = json.load(open(sys.argv[1]))
# The recvmmsg read path cannot read a frame longer than its 2 KiB buffer whole.
if os.environ.get("MRELAY_PACKET_RX") == "recvmmsg":
    for kind in ("jumbo", "gso_run_large"):
        if kind in inject["kinds"]:
            inject["kinds"][kind].update(expected_counter="rx_truncated", datagrams_per_frame=1)
text = open(sys.argv[2]).read().strip()
try:
    stats = json.loads(text)
except json.JSONDecodeError:
    stats = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")][-1]
total = stats["total"]
gen = json.load(open(sys.argv[3]))
sink = json.load(open(sys.argv[4]))
problems = []

expected = {}
forwarded_injected = 0
seen_by_relay = 0
for kind, entry in inject["kinds"].items():
    counter = entry["expected_counter"]
    datagrams = entry["datagrams_per_frame"]
    if entry["errors"]:
        problems.append(f"inject {kind}: {entry['errors']} send errors ({entry.get('last_error')})")
    if counter == "fwd_packets":
        forwarded_injected += entry["sent"] * datagrams
    elif counter != "none":
        expected[counter] = expected.get(counter, 0) + entry["sent"]
    if datagrams > 1:  # a GSO super-frame: one frame in, its datagrams out
        expected["gso_frames"] = expected.get("gso_frames", 0) + entry["sent"]
        expected["gso_segments"] = expected.get("gso_segments", 0) + entry["sent"] * datagrams
    if counter != "none":
        seen_by_relay += entry["sent"]
    print(f"  {kind:20s} sent {entry['sent']:4d} ({entry['frame_bytes']:5d}-byte frames, "
          f"{datagrams} datagram(s)) -> {counter}", file=sys.stderr)

families = ("malformed_", "unmatched_", "rejected_", "gso_frames", "gso_segments",
            "rx_truncated", "rx_oversize")
for name in sorted(k for k in total if k.startswith(families)):
    want = expected.get(name, 0)
    print(f"  relay {name:26s} {total[name]:6d} (expected {want})", file=sys.stderr)
    if total[name] != want:
        problems.append(f"relay {name} = {total[name]}, expected {want}")
for name in set(expected) - set(total):
    problems.append(f"relay stats have no counter {name}")

want_fwd = gen["sent"] + forwarded_injected
want_rx = gen["sent"] + seen_by_relay
print(f"  relay rx_packets {total['rx_packets']} (expected {want_rx} = generator {gen['sent']} "
      f"+ injected {seen_by_relay}), fwd_packets {total['fwd_packets']} (expected {want_fwd})",
      file=sys.stderr)
if total["rx_packets"] != want_rx:
    problems.append(f"relay rx_packets = {total['rx_packets']}, expected {want_rx}")
if total["fwd_packets"] != want_fwd:
    problems.append(f"relay fwd_packets = {total['fwd_packets']}, expected {want_fwd}")
for name in ("exhausted_packets", "kernel_drops"):
    if total.get(name, 0):
        problems.append(f"relay {name} = {total[name]}")

# Sink: the generator's stream complete, the injected stream 900 complete, nothing else.
if gen["errors"]:
    problems.append(f"generator send errors {gen['errors_by_errno']}")
gen_streams = {g["stream"]: g for g in gen["streams"]}
got_injected = 0
for s in sink["streams"]:
    if s["stream"] in gen_streams:
        g = gen_streams[s["stream"]]
        want = g["measured_last_seq"] - g["measured_first_seq"] + 1
        got = (s["first_seq"], s["last_seq"], s["received"], s["lost"])
        if got != (g["measured_first_seq"], g["measured_last_seq"], want, 0):
            problems.append(f"generator stream {s['stream']}: got seq {got[0]}..{got[1]} "
                            f"x{got[2]} lost {got[3]}, sent {g['measured_first_seq']}.."
                            f"{g['measured_last_seq']} x{want}")
    elif s["stream"] == 900:
        got_injected = s["received"]
        if (s["first_seq"], s["last_seq"], s["lost"]) != (0, forwarded_injected - 1, 0):
            problems.append(f"injected stream 900: seq {s['first_seq']}..{s['last_seq']} lost "
                            f"{s['lost']}, expected 0..{forwarded_injected - 1}")
    else:
        problems.append(f"sink stream {s['stream']} matches nothing sent")
if got_injected != forwarded_injected:
    problems.append(f"sink got {got_injected} forwarded injected frames, expected "
                    f"{forwarded_injected}")
for key in ("lost", "corrupted", "duplicated", "reordered", "kernel_drops"):
    if sink.get(key, 0):
        problems.append(f"sink {key} = {sink[key]}")
if sink["received"] != gen["measured_sent"] + forwarded_injected:
    problems.append(f"sink received {sink['received']}, expected measured {gen['measured_sent']}"
                    f" + injected {forwarded_injected}")
print(f"  generator sent {gen['sent']} (measured {gen['measured_sent']}), sink received "
      f"{sink['received']}, lost {sink['lost']}", file=sys.stderr)
for p in problems:
    print(p)
PY
if [[ -s $verdict ]]; then
  cat "$verdict" >&2
  show_logs "$MRELAY_TMP/relay"
  mrelay_fail "malformed injection: checks failed"
fi
echo "PASS relay_malformed_test: $COUNT_PER_KIND frames x every kind counted by reason," \
  "valid traffic delivered (packet/$EGRESS)"
