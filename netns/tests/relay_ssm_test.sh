#!/usr/bin/env bash
# Source-specific joins: two sources, A (10.77.0.1) and B (10.77.0.3, a second address on the
# generator's gen0), send to the same group 232.1.1.1:5000 through the relay's one ingress link.
#
#   1. udp ingress, rule for A only (--source A): the relay's socket joins (A, G) with
#      MCAST_JOIN_SOURCE_GROUP, so the kernel never hands it B's datagrams: the sink gets every
#      packet of A and none of B, the relay read exactly A's count (rx_packets) and the relay
#      namespace's UDP InDatagrams grew by A's count only, although rin0 received both.
#   2. udp ingress, no --source (control): the (*,G) join takes both; the same checks would
#      fail, which shows the first run's figures come from the join, not from a quiet B.
#   3. packet ingress, rule for A: the (A, G) membership is joined, the packet socket sees B's
#      frames too (AF_PACKET is before the IP layer) and counts each as unmatched_no_rule;
#      A is delivered, B is not.
#
# Bounded /usr/bin/python3 sender (each source in turn, interleaved, fixed count) and receiver
# (exits after 1 s of silence, at most 10 s) that checks every sequence number of A.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_ssm_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay
mrelay_test_init ssm

readonly SOURCE_A=10.77.0.1
readonly SOURCE_B=10.77.0.3
readonly GROUP=232.1.1.1
readonly OUT_GROUP=239.2.0.1
readonly COUNT=300

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
ip -n "$src" addr add "$SOURCE_B/24" dev gen0 || mrelay_fail "cannot add $SOURCE_B to gen0"

# send_both NAME: COUNT datagrams from each source, alternating A, B; payload "A <seq>" / "B <seq>".
send_both() {
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$src" "$MRELAY_PYTHON" - \
    "$SOURCE_A" "$SOURCE_B" "$GROUP" "$COUNT" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' ||
import socket, sys, time
a, b, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
senders = {}
for tag, address in (("A", a), ("B", b)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    senders[tag] = s
for seq in range(count):
    for tag, s in senders.items():
        s.sendto(f"{tag} {seq}".encode(), (group, 5000))
    time.sleep(0.0005)
print(count)
EOF
    mrelay_fail "sender $1 failed: $(cat "$MRELAY_TMP/$1.err")"
}

# start_receiver NAME: counts "A"/"B" datagrams on snk0 for OUT_GROUP:6000 (JSON on exit).
start_receiver() {
  rm -f "$MRELAY_TMP/$1.ready"
  ip netns exec "$sink" timeout --kill-after=2 15 "$MRELAY_PYTHON" - "$OUT_GROUP" \
    "$MRELAY_TMP/$1.ready" "$COUNT" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' &
import json, socket, struct, sys, time
group, ready, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((group, 6000))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"),
                         socket.if_nametoindex("snk0")))
open(ready, "w").close()
seen = {"A": [], "B": []}
other = 0
s.settimeout(1.0)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        data = s.recv(2048).decode(errors="replace").split()
    except socket.timeout:
        if seen["A"] or seen["B"]:
            break
        continue
    if len(data) == 2 and data[0] in seen:
        seen[data[0]].append(int(data[1]))
    else:
        other += 1
# a_exact: A's sequence numbers are 0..count-1, in order, each once.
print(json.dumps({"A": seen["A"], "B": seen["B"], "other": other,
                  "a_exact": seen["A"] == list(range(count))}))
EOF
  RECEIVER_PID=$!
  MRELAY_PIDS+=("$RECEIVER_PID")
  wait_for_file "$MRELAY_TMP/$1.ready" 5 || mrelay_fail "receiver $1 never became ready"
}

udp_in_datagrams() {
  in_ns "$relay" awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $2 }' /proc/net/snmp
}
rin0_rx_packets() {
  in_ns "$relay" cat /sys/class/net/rin0/statistics/rx_packets
}

# run_case NAME MRELAY_FLAGS...: receiver, relay, both sources, stop; leaves NAME.out/.stats
# and the deltas of rin0's rx_packets (RIN0_RX) and UDP InDatagrams (UDP_IN).
run_case() {
  local name=$1
  shift
  start_receiver "$name-rx"
  local receiver=$RECEIVER_PID
  start_relay "$name" "$relay" rin0 "$GROUP" "$@" --out "rout0:$OUT_GROUP:6000"
  local relay_pid=$RELAY_PID rx_before udp_before
  rx_before=$(rin0_rx_packets)
  udp_before=$(udp_in_datagrams)
  send_both "$name-tx"
  wait_pid "$receiver" 20 || mrelay_fail "receiver $name-rx failed: $(cat "$MRELAY_TMP/$name-rx.err")"
  RIN0_RX=$(($(rin0_rx_packets) - rx_before))
  UDP_IN=$(($(udp_in_datagrams) - udp_before))
  stop_relay "$name" "$relay_pid"
  mrelay_log "$name: rin0 received $RIN0_RX packets, relay ns UDP InDatagrams +$UDP_IN, relay" \
    "rx_packets $(json_get "$MRELAY_TMP/$name.stats" 'j["total"]["rx_packets"]'), unmatched_no_rule" \
    "$(json_get "$MRELAY_TMP/$name.stats" 'j["total"]["unmatched_no_rule"]'), sink A" \
    "$(json_get "$MRELAY_TMP/$name-rx.out" 'len(j["A"])') B $(json_get "$MRELAY_TMP/$name-rx.out" 'len(j["B"])')"
}

# Every packet of A arrives, in order and exactly once.
expect_all_of_a() {
  expect_eq "$1: A delivered in order, once each" \
    "$(json_get "$MRELAY_TMP/$1-rx.out" 'j["a_exact"]')" 1
}

# --check-config shows each rule's sources (a JSON list: A and B).
cat >"$MRELAY_TMP/ssm.json" <<EOF
{"ingress": "udp", "rules": [{"name": "both",
  "input": {"interface": "rin0", "group": "$GROUP", "port": 5000,
            "source": ["$SOURCE_A", "$SOURCE_B"]},
  "outputs": [{"interface": "rout0", "group": "$OUT_GROUP", "port": 6000}]}]}
EOF
in_ns "$relay" "$MRELAY_BIN_DIR/mrelay" --check-config "$MRELAY_TMP/ssm.json" \
  >"$MRELAY_TMP/check.out" 2>&1 || mrelay_fail "--check-config refused: $(cat "$MRELAY_TMP/check.out")"
grep -q "both: rin0 $GROUP:5000 from $SOURCE_A, $SOURCE_B (source-specific)" "$MRELAY_TMP/check.out" ||
  mrelay_fail "--check-config does not show the sources: $(cat "$MRELAY_TMP/check.out")"

# 1. udp ingress, SSM rule for A.
run_case ssm-udp --ingress udp --in "rin0:$GROUP:5000" --source "$SOURCE_A"
expect_all_of_a ssm-udp
expect_eq "ssm-udp: B delivered" "$(json_get "$MRELAY_TMP/ssm-udp-rx.out" 'len(j["B"])')" 0
expect_ge "ssm-udp: rin0 received both sources" "$RIN0_RX" $((2 * COUNT))
expect_eq "ssm-udp: relay rx_packets (the kernel delivered A only)" \
  "$(json_get "$MRELAY_TMP/ssm-udp.stats" 'j["total"]["rx_packets"]')" "$COUNT"
expect_eq "ssm-udp: relay ns UDP InDatagrams (A only)" "$UDP_IN" "$COUNT"
expect_eq "ssm-udp: unmatched_no_rule" \
  "$(json_get "$MRELAY_TMP/ssm-udp.stats" 'j["total"]["unmatched_no_rule"]')" 0

# 2. control: the same flow with a (*,G) join takes B as well.
run_case asm-udp --ingress udp --in "rin0:$GROUP:5000"
expect_all_of_a asm-udp
expect_eq "asm-udp (control): B delivered" \
  "$(json_get "$MRELAY_TMP/asm-udp-rx.out" 'len(j["B"])')" "$COUNT"
expect_eq "asm-udp (control): relay rx_packets" \
  "$(json_get "$MRELAY_TMP/asm-udp.stats" 'j["total"]["rx_packets"]')" $((2 * COUNT))

# 3. packet ingress, SSM rule for A: B is seen by the packet socket and counted, not relayed.
run_case ssm-packet --ingress packet --in "rin0:$GROUP:5000" --source "$SOURCE_A"
expect_all_of_a ssm-packet
expect_eq "ssm-packet: B delivered" "$(json_get "$MRELAY_TMP/ssm-packet-rx.out" 'len(j["B"])')" 0
expect_eq "ssm-packet: B counted as unmatched_no_rule" \
  "$(json_get "$MRELAY_TMP/ssm-packet.stats" 'j["total"]["unmatched_no_rule"]')" "$COUNT"
echo "PASS relay_ssm_test"
