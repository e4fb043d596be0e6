#!/usr/bin/env bash
# Jumbo frames: the hop topology with MTU 9000 on both veth pairs (gen0-rin0, rout0-snk0). The
# relay sizes its packet buffers for the ingress MTU (9000 + 32 -> 9088 bytes, said in its
# "running:" line) and relays 8972-byte datagrams (9000 - 20 - 8: one unfragmented IPv4
# packet) intact through every egress backend (gso, packet, sendmmsg, uring, send) with packet
# ingress, and through gso with udp ingress. Then the output link drops back to MTU 1500: the
# socket backends send each copy as IPv4 fragments (tx_fragmented; the receiver's kernel
# reassembles them, every datagram intact), the packet backend drops each copy (drop_too_big).
#
# Bounded /usr/bin/python3 sender (COUNT datagrams, paced) and receiver (exits after 1 s of
# silence, at most 10 s), which checks every byte of every datagram.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_jumbo_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay
mrelay_test_init jmb

readonly GROUP=239.1.1.1
readonly OUT_GROUP=239.2.0.1
readonly MTU=9000
readonly SIZE=8972
readonly COUNT=200

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

# set_mtu MTU_IN MTU_OUT: both ends of each veth pair.
set_mtu() {
  ip -n "$src" link set dev gen0 mtu "$1" && ip -n "$relay" link set dev rin0 mtu "$1" &&
    ip -n "$relay" link set dev rout0 mtu "$2" && ip -n "$sink" link set dev snk0 mtu "$2" ||
    mrelay_fail "cannot set MTU $1/$2 on the veths"
}

# send NAME: COUNT datagrams of SIZE bytes: 4-byte sequence number, then a pattern shifted by it.
send() {
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$src" "$MRELAY_PYTHON" - \
    "$GROUP" "$SIZE" "$COUNT" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' ||
import socket, struct, sys, time
group, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pattern = bytes(range(251)) * (size // 251 + 2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
for seq in range(count):
    s.sendto(struct.pack("!I", seq) + pattern[seq % 251:seq % 251 + size - 4], (group, 5000))
    time.sleep(0.001)
print(count)
EOF
    mrelay_fail "sender $1 failed: $(cat "$MRELAY_TMP/$1.err")"
}

# start_receiver NAME: checks every datagram on snk0 for OUT_GROUP:6000 (JSON on exit).
start_receiver() {
  rm -f "$MRELAY_TMP/$1.ready"
  ip netns exec "$sink" timeout --kill-after=2 15 "$MRELAY_PYTHON" - "$OUT_GROUP" "$SIZE" \
    "$MRELAY_TMP/$1.ready" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' &
import json, socket, struct, sys, time
group, size, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pattern = bytes(range(251)) * (size // 251 + 2)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
s.bind((group, 6000))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"),
                         socket.if_nametoindex("snk0")))
open(ready, "w").close()
seqs, bad = [], 0
s.settimeout(1.0)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        data = s.recv(65536)
    except socket.timeout:
        if seqs or bad:
            break
        continue
    seq = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
    if len(data) != size or data[4:] != pattern[seq % 251:seq % 251 + size - 4]:
        bad += 1
    else:
        seqs.append(seq)
print(json.dumps({"received": len(seqs), "bad": bad, "seqs": seqs}))
EOF
  RECEIVER_PID=$!
  MRELAY_PIDS+=("$RECEIVER_PID")
  wait_for_file "$MRELAY_TMP/$1.ready" 5 || mrelay_fail "receiver $1 never became ready"
}

# run_case NAME EXPECT_RECEIVED MRELAY_FLAGS...: one relay run; checks the receiver's count,
# that nothing arrived damaged and, when EXPECT_RECEIVED is COUNT, every sequence number once.
run_case() {
  local name=$1 expect=$2
  shift 2
  start_receiver "$name-rx"
  local receiver=$RECEIVER_PID
  start_relay "$name" "$relay" rin0 "$GROUP" --in "rin0:$GROUP:5000" \
    --out "rout0:$OUT_GROUP:6000" "$@"
  local relay_pid=$RELAY_PID
  send "$name-tx"
  if [[ $expect -eq 0 ]]; then
    sleep 1  # nothing is expected: give a stray datagram the time to show
    kill -TERM "$receiver" 2>/dev/null || true
  fi
  wait_pid "$receiver" 20 || [[ $expect -eq 0 ]] ||
    mrelay_fail "receiver $name-rx failed: $(cat "$MRELAY_TMP/$name-rx.err")"
  stop_relay "$name" "$relay_pid"
  local stats=$MRELAY_TMP/$name.stats out=$MRELAY_TMP/$name-rx.out
  [[ -s $out ]] || echo '{"received": 0, "bad": 0, "seqs": []}' >"$out"
  mrelay_log "$name: received $(json_get "$out" 'j["received"]') of $COUNT x $SIZE B," \
    "bad $(json_get "$out" 'j["bad"]'); relay fwd $(json_get "$stats" 'j["total"]["fwd_packets"]')" \
    "tx $(json_get "$stats" 'j["total"]["tx_packets"]')" \
    "tx_fragmented $(json_get "$stats" 'j["total"]["tx_fragmented"]')" \
    "drop_too_big $(json_get "$stats" 'j["total"]["drop_too_big"]')" \
    "rx_oversize $(json_get "$stats" 'j["total"]["rx_oversize"]')"
  expect_eq "$name: datagrams received" "$(json_get "$out" 'j["received"]')" "$expect"
  expect_eq "$name: datagrams damaged" "$(json_get "$out" 'j["bad"]')" 0
  if [[ $expect -eq $COUNT ]]; then
    expect_eq "$name: every sequence number once, in order" \
      "$(json_get "$out" 'j["seqs"] == sorted(j["seqs"]) and len(j["seqs"]) == j["seqs"][-1] + 1')" 1
  fi
  expect_eq "$name: rx_oversize" "$(json_get "$stats" 'j["total"]["rx_oversize"]')" 0
  # A packet whose every copy was refused at hand-over is not forwarded (docs/metrics.md).
  expect_eq "$name: fwd_packets" "$(json_get "$stats" 'j["total"]["fwd_packets"]')" \
    "$((expect == 0 ? 0 : COUNT))"
}

set_mtu "$MTU" "$MTU"
for backend in gso packet sendmmsg uring send; do
  run_case "jumbo-$backend" "$COUNT" --ingress packet --egress "$backend"
  stats=$MRELAY_TMP/jumbo-$backend.stats
  expect_eq "jumbo-$backend: tx_packets" "$(json_get "$stats" 'j["total"]["tx_packets"]')" "$COUNT"
  expect_eq "jumbo-$backend: tx_fragmented" \
    "$(json_get "$stats" 'j["total"]["tx_fragmented"]')" 0
done
grep -q "pool per worker 8192 buffers x 9088 B" "$MRELAY_TMP/jumbo-gso.err" ||
  mrelay_fail "the pool is not sized for MTU $MTU: $(grep running: "$MRELAY_TMP/jumbo-gso.err")"
run_case jumbo-udp-gso "$COUNT" --ingress udp --egress gso

# The output link back to MTU 1500: fragments (socket backends) or drops (packet backend).
set_mtu "$MTU" 1500
for backend in gso sendmmsg; do
  run_case "fragment-$backend" "$COUNT" --ingress packet --egress "$backend"
  expect_eq "fragment-$backend: tx_fragmented" \
    "$(json_get "$MRELAY_TMP/fragment-$backend.stats" 'j["total"]["tx_fragmented"]')" "$COUNT"
done
run_case too-big-packet 0 --ingress packet --egress packet
expect_eq "too-big-packet: drop_too_big" \
  "$(json_get "$MRELAY_TMP/too-big-packet.stats" 'j["total"]["drop_too_big"]')" "$COUNT"
expect_eq "too-big-packet: tx_packets" \
  "$(json_get "$MRELAY_TMP/too-big-packet.stats" 'j["total"]["tx_packets"]')" 0
echo "PASS relay_jumbo_test"
