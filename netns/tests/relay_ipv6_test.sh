#!/usr/bin/env bash
# An IPv6 hop: source -> relay -> sink over two veth pairs in three namespaces this test makes
# itself (the rig's namespaces disable IPv6), IPv6 on, DAD off. The relay (udp ingress) joins
# ff3e::1 on rin0 (MLD) and relays each datagram to ff3e::2:6000 on rout0 through each egress
# backend (send, sendmmsg, uring, gso; packet, which sends IPv6 copies through its UDP socket
# egress as it does unicast ones); a bounded /usr/bin/python3 receiver on the sink checks
# every datagram arrives intact, once, and with hop limit 8 - 1 (the relay decrements it as a
# router does). Also checked: --check-config shows the IPv6 rule, and the packet ingress
# refuses an IPv6 group by name (it does not parse IPv6 yet).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_ipv6_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay
mrelay_test_init v6

readonly COUNT=300
readonly SIZE=1200
readonly HOPS=8
SRC=$PREFIX-src
RELAY=$PREFIX-relay
SINK=$PREFIX-sink
V6_NAMESPACES=()

# Our own namespaces, removed on every exit path: the EXIT trap deletes them, then runs lib.sh's
# cleanup, which stops our processes (a deleted namespace lives on until its last process
# exits) and exits with the test's status. INT/TERM exit through it (lib.sh's traps).
v6_cleanup() {
  local ns
  for ns in "${V6_NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap 'status_on_exit=$?; v6_cleanup; (exit "$status_on_exit"); mrelay_cleanup' EXIT

for ns in "$SRC" "$RELAY" "$SINK"; do
  ip netns add "$ns" || mrelay_fail "ip netns add $ns"
  V6_NAMESPACES+=("$ns")
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 || mrelay_fail "sysctl in $ns"
  ip -n "$ns" link set lo up
done
ip link add gen0 netns "$SRC" type veth peer name rin0 netns "$RELAY" || mrelay_fail "veth gen0"
ip link add rout0 netns "$RELAY" type veth peer name snk0 netns "$SINK" || mrelay_fail "veth rout0"
ip -n "$SRC" link set gen0 up
ip -n "$RELAY" link set rin0 up
ip -n "$RELAY" link set rout0 up
ip -n "$SINK" link set snk0 up
# IPv6 is ready on an interface once it has its link-local address: the sender needs it as
# the datagrams' source, and a receiving interface gets its ff00::/8 multicast route with it
# (until then the kernel drops multicast input as Ip6InNoRoutes).
for pair in "$SRC gen0" "$RELAY rin0" "$RELAY rout0" "$SINK snk0"; do
  read -r ns dev <<<"$pair"
  wait_until 5 sh -c "ip -n $ns -6 addr show dev $dev scope link | grep -q inet6" ||
    mrelay_fail "$dev got no IPv6 link-local address"
done

write_config() {  # write_config FILE INGRESS BACKEND
  cat >"$1" <<EOF
{"ingress": "$2", "egress": {"backend": "$3"}, "rules": [{"name": "v6hop",
  "input": {"interface": "rin0", "group": "ff3e::1", "port": 5000},
  "outputs": [{"interface": "rout0", "group": "ff3e::2", "port": 6000}]}]}
EOF
}

write_config "$MRELAY_TMP/check.json" udp gso
in_ns "$RELAY" "$MRELAY_BIN_DIR/mrelay" --check-config "$MRELAY_TMP/check.json" \
  >"$MRELAY_TMP/check.out" 2>&1 || mrelay_fail "--check-config: $(cat "$MRELAY_TMP/check.out")"
grep -q "v6hop: rin0 ff3e::1:5000 from any source" "$MRELAY_TMP/check.out" ||
  mrelay_fail "--check-config does not show the IPv6 rule: $(cat "$MRELAY_TMP/check.out")"

# Packet ingress: refused at start, the error names the field.
write_config "$MRELAY_TMP/packet.json" packet gso
status=0
timeout 10 ip netns exec "$RELAY" "$MRELAY_BIN_DIR/mrelay" --config "$MRELAY_TMP/packet.json" \
  >"$MRELAY_TMP/packet.out" 2>&1 || status=$?
[[ $status -ne 0 ]] || mrelay_fail "packet ingress with an IPv6 group started"
grep -q "rules\[0\].input.group: an IPv6 group needs --ingress udp" "$MRELAY_TMP/packet.out" ||
  mrelay_fail "packet ingress refusal unclear: $(cat "$MRELAY_TMP/packet.out")"

start_receiver() {  # start_receiver NAME: JSON on exit
  rm -f "$MRELAY_TMP/$1.ready"
  ip netns exec "$SINK" timeout --kill-after=2 15 "$MRELAY_PYTHON" - "$SIZE" "$COUNT" \
    "$MRELAY_TMP/$1.ready" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' &
import json, socket, struct, sys, time
size, count, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
index = socket.if_nametoindex("snk0")
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
s.bind(("ff3e::2", 6000))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
             socket.inet_pton(socket.AF_INET6, "ff3e::2") + struct.pack("@I", index))
open(ready, "w").close()
seqs, bad, hops = [], 0, set()
s.settimeout(1.0)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        data, ancillary, _, _ = s.recvmsg(65536, 64)
    except socket.timeout:
        if seqs or bad:
            break
        continue
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
            hops.add(struct.unpack("i", value[:4])[0])
    seq = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
    if len(data) != size or data[4:] != bytes([seq % 256]) * (size - 4):
        bad += 1
    else:
        seqs.append(seq)
print(json.dumps({"received": len(seqs), "bad": bad, "exact": seqs == list(range(count)),
                  "hops": sorted(hops)}))
EOF
  RECEIVER_PID=$!
  MRELAY_PIDS+=("$RECEIVER_PID")
  wait_for_file "$MRELAY_TMP/$1.ready" 5 || mrelay_fail "receiver $1 never became ready"
}

send() {  # send NAME
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$SRC" "$MRELAY_PYTHON" - \
    "$SIZE" "$COUNT" "$HOPS" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' ||
import socket, struct, sys, time
size, count, hops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("gen0"))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
for seq in range(count):
    s.sendto(struct.pack("!I", seq) + bytes([seq % 256]) * (size - 4), ("ff3e::1", 5000))
    time.sleep(0.0005)
print(count)
EOF
    mrelay_fail "sender $1 failed: $(cat "$MRELAY_TMP/$1.err")"
}

relay_joined6() {  # the relay's MLD membership on rin0
  ip -n "$RELAY" -6 maddr show dev rin0 2>/dev/null | grep -q "ff3e::1"
}

for backend in send sendmmsg uring gso packet; do
  name=v6-$backend
  write_config "$MRELAY_TMP/$name.json" udp "$backend"
  start_receiver "$name-rx"
  receiver=$RECEIVER_PID
  rm -f "$MRELAY_TMP/$name.stats"
  mrelay_spawn "$RELAY" "$MRELAY_TMP/$name" mrelay --config "$MRELAY_TMP/$name.json" \
    --stats-json "$MRELAY_TMP/$name.stats"
  relay_pid=$MRELAY_LAST_PID
  wait_until 5 relay_joined6 || { show_logs "$MRELAY_TMP/$name"; mrelay_fail "$name: no MLD join"; }
  wait_until 5 grep -q "running:" "$MRELAY_TMP/$name.err" ||
    { show_logs "$MRELAY_TMP/$name"; mrelay_fail "$name: relay not running"; }
  send "$name-tx"
  wait_pid "$receiver" 20 || mrelay_fail "receiver $name-rx failed: $(cat "$MRELAY_TMP/$name-rx.err")"
  stop_relay "$name" "$relay_pid"
  out=$MRELAY_TMP/$name-rx.out
  mrelay_log "$name: received $(json_get "$out" 'j["received"]') of $COUNT x $SIZE B, bad" \
    "$(json_get "$out" 'j["bad"]'), hop limits $(json_get "$out" 'j["hops"]'), relay rx" \
    "$(json_get "$MRELAY_TMP/$name.stats" 'j["total"]["rx_packets"]') tx" \
    "$(json_get "$MRELAY_TMP/$name.stats" 'j["total"]["tx_packets"]')"
  expect_eq "$name: every datagram intact, once, in order" "$(json_get "$out" 'j["exact"]')" 1
  expect_eq "$name: damaged datagrams" "$(json_get "$out" 'j["bad"]')" 0
  expect_eq "$name: hop limit on arrival" "$(json_get "$out" 'j["hops"]')" "[$((HOPS - 1))]"
  expect_eq "$name: relay tx_packets" \
    "$(json_get "$MRELAY_TMP/$name.stats" 'j["total"]["tx_packets"]')" "$COUNT"
done
echo "PASS relay_ipv6_test"
