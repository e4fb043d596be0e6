#!/usr/bin/env bash
# IPv6 through the relay, in three namespaces this test makes itself (the rig's namespaces
# disable IPv6): source -> relay -> sink over two veth pairs, IPv6 on, DAD off.
#
#   1. hop and fanout:16 in one relay: ff3e::1:5000 -> ff3e::2:6000, and ff3e::1:5001 -> 16
#      groups ff3e::100..ff3e::10f:6000 on the one output veth. For each ingress mode (udp: an
#      MLD-joined socket; packet: AF_PACKET, the relay parses the IPv6 frames) x each egress
#      backend (send, sendmmsg, uring, gso; packet, which builds the IPv6 frames itself), a
#      bounded /usr/bin/python3 receiver on the sink checks that every one of the 17 groups gets
#      every datagram intact, once, in order, with hop limit 8 - 1 (the relay decrements it);
#      packet ingress once more with its recvmmsg read path.
#      With packet ingress the sender sends from 2001:db8:dead::1, a prefix configured nowhere
#      in the relay namespace (it has no route to it): relayed all the same.
#   2. source-specific (MLDv2): sources A and B send to ff3e::1:5000; a rule for A only. udp
#      ingress: the socket's (A, G) join keeps B out of the kernel's delivery (the relay read
#      A's count, and the namespace's Udp6InDatagrams grew by A's count only); the sink gets A,
#      never B. packet ingress: B is seen and counted as unmatched_no_rule, never relayed.
# Also: --check-config shows the IPv6 rules; packet -> packet takes its hop rule from the quick
# form (--in rin0:[ff3e::1]:5000 --out rout0:[ff3e::2]:6000).
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
readonly FANOUT=16
readonly UNROUTABLE=2001:db8:dead::1
readonly SOURCE_A=2001:db8:a::1
readonly SOURCE_B=2001:db8:a::3
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

# The sender's extra addresses (nodad: usable at once). None of these prefixes exists in the
# relay namespace.
for address in "$UNROUTABLE" "$SOURCE_A" "$SOURCE_B"; do
  ip -n "$SRC" -6 addr add "$address/64" dev gen0 nodad || mrelay_fail "address $address on gen0"
done
if ip -n "$RELAY" -6 route get "$UNROUTABLE" >/dev/null 2>&1; then
  mrelay_fail "relay namespace has a route to $UNROUTABLE"
fi

fanout_outputs() {  # FANOUT outputs ff3e::100.. on rout0, as JSON
  local i sep=""
  for ((i = 0; i < FANOUT; i++)); do
    printf '%s{"interface": "rout0", "group": "ff3e::%x", "port": 6000}' "$sep" $((0x100 + i))
    sep=", "
  done
}

write_config() {  # write_config FILE INGRESS BACKEND [fan-only]: without the hop rule
  local hop='{"name": "v6hop", "input": {"interface": "rin0", "group": "ff3e::1", "port": 5000},
   "outputs": [{"interface": "rout0", "group": "ff3e::2", "port": 6000}]},'
  [[ ${4:-} == fan-only ]] && hop=""
  cat >"$1" <<EOF
{"ingress": "$2", "egress": {"backend": "$3"}, "rules": [$hop
  {"name": "v6fan", "input": {"interface": "rin0", "group": "ff3e::1", "port": 5001},
   "outputs": [$(fanout_outputs)]}]}
EOF
}

write_config "$MRELAY_TMP/check.json" packet packet
in_ns "$RELAY" "$MRELAY_BIN_DIR/mrelay" --check-config "$MRELAY_TMP/check.json" \
  >"$MRELAY_TMP/check.out" 2>&1 || mrelay_fail "--check-config: $(cat "$MRELAY_TMP/check.out")"
grep -q "v6hop: rin0 ff3e::1:5000 from any source" "$MRELAY_TMP/check.out" ||
  mrelay_fail "--check-config does not show the IPv6 rule: $(cat "$MRELAY_TMP/check.out")"

# start_receiver NAME GROUPS...: one socket per group on snk0, port 6000; JSON on exit with,
# per group, whether it got every sequence number intact, once, in order.
start_receiver() {
  local name=$1
  shift
  rm -f "$MRELAY_TMP/$name.ready"
  ip netns exec "$SINK" timeout --kill-after=2 20 "$MRELAY_PYTHON" - "$SIZE" "$COUNT" \
    "$MRELAY_TMP/$name.ready" "$@" >"$MRELAY_TMP/$name.out" 2>"$MRELAY_TMP/$name.err" <<'EOF' &
import json, select, socket, struct, sys, time
size, count, ready, groups = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
index = socket.if_nametoindex("snk0")
sockets = {}
for group in groups:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    s.bind((group, 6000))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                 socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index))
    s.setblocking(False)
    sockets[s] = group
open(ready, "w").close()
seqs = {group: [] for group in groups}
tags = {group: set() for group in groups}
bad, hops, quiet_since = 0, set(), None
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    readable, _, _ = select.select(list(sockets), [], [], 0.2)
    if not readable:
        got_any = any(seqs.values()) or bad
        quiet_since = quiet_since or time.monotonic()
        if got_any and time.monotonic() - quiet_since > 1.0:
            break
        continue
    quiet_since = None
    if all(len(v) >= count for v in seqs.values()):
        # Every group complete: 0.3 s more for anything extra (a duplicate) to show.
        deadline = min(deadline, time.monotonic() + 0.3)
    for s in readable:
        while True:
            try:
                data, ancillary, _, _ = s.recvmsg(65536, 64)
            except BlockingIOError:
                break
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                    hops.add(struct.unpack("i", value[:4])[0])
            seq = struct.unpack("!I", data[:4])[0] if len(data) >= 5 else -1
            if len(data) != size or data[5:] != bytes([seq % 256]) * (size - 5):
                bad += 1
            else:
                seqs[sockets[s]].append(seq)
                tags[sockets[s]].add(chr(data[4]))
exact = [g for g in groups if seqs[g] == list(range(count))]
print(json.dumps({"groups": len(groups), "exact_groups": len(exact), "bad": bad,
                  "received": sum(len(v) for v in seqs.values()), "hops": sorted(hops),
                  "tags": sorted(set().union(*tags.values()))}))
EOF
  RECEIVER_PID=$!
  MRELAY_PIDS+=("$RECEIVER_PID")
  wait_for_file "$MRELAY_TMP/$name.ready" 5 || mrelay_fail "receiver $name never became ready"
}

# send NAME PORTS SOURCES: COUNT datagrams to ff3e::1 on each port from each source address
# (tag "A", "B", ...: the fifth payload byte), interleaved; "-" = the kernel's choice.
send() {
  timeout --kill-after=2 "$MRELAY_PROGRAM_TIMEOUT_S" ip netns exec "$SRC" "$MRELAY_PYTHON" - \
    "$SIZE" "$COUNT" "$HOPS" "$2" "$3" >"$MRELAY_TMP/$1.out" 2>"$MRELAY_TMP/$1.err" <<'EOF' ||
import socket, struct, sys, time
size, count, hops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ports = [int(p) for p in sys.argv[4].split(",")]
senders = []
for tag, source in zip("ABCD", sys.argv[5].split(",")):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    if source != "-":
        s.bind((source, 0))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("gen0"))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    senders.append((tag.encode(), s))
for seq in range(count):
    for tag, s in senders:
        payload = struct.pack("!I", seq) + tag + bytes([seq % 256]) * (size - 5)
        for port in ports:
            s.sendto(payload, ("ff3e::1", port))
    time.sleep(0.0005)
print(count)
EOF
    mrelay_fail "sender $1 failed: $(cat "$MRELAY_TMP/$1.err")"
}

relay_joined6() {  # the relay's MLD membership on rin0
  ip -n "$RELAY" -6 maddr show dev rin0 2>/dev/null | grep -q "ff3e::1"
}

# start_relay6 NAME ARGS...: the relay in the relay namespace, joined and running.
start_relay6() {
  local name=$1
  shift
  rm -f "$MRELAY_TMP/$name.stats"
  # A deep receive ring/buffer: a relay held off its core for a while on a busy machine
  # catches up instead of losing the burst.
  mrelay_spawn "$RELAY" "$MRELAY_TMP/$name" mrelay "$@" --rcvbuf 8M \
    --stats-json "$MRELAY_TMP/$name.stats"
  RELAY_PID=$MRELAY_LAST_PID
  wait_until 5 relay_joined6 || { show_logs "$MRELAY_TMP/$name"; mrelay_fail "$name: no MLD join"; }
  wait_until 5 grep -q "running:" "$MRELAY_TMP/$name.err" ||
    { show_logs "$MRELAY_TMP/$name"; mrelay_fail "$name: relay not running"; }
}

stat_of() {  # stat_of NAME COUNTER
  json_get "$MRELAY_TMP/$1.stats" "j[\"total\"][\"$2\"]"
}

rin0_rx_packets() {
  in_ns "$RELAY" cat /sys/class/net/rin0/statistics/rx_packets
}

udp6_in_datagrams() {
  in_ns "$RELAY" awk '$1 == "Udp6InDatagrams" { print $2 }' /proc/net/snmp6
}

# 1. hop + fanout:16, every ingress x every egress backend.
fan_groups=()
for ((i = 0; i < FANOUT; i++)); do
  fan_groups+=("$(printf 'ff3e::%x' $((0x100 + i)))")
done
# run_fanout_case NAME INGRESS BACKEND [quick]: quick, the hop rule from the quick form
# (--in/--out with bracketed IPv6 addresses, appended to the config's fanout rule).
run_fanout_case() {
  local name=$1 out receiver relay_pid
  local -a quick=()
  if [[ ${4:-} == quick ]]; then
    write_config "$MRELAY_TMP/$name.json" "$2" "$3" fan-only
    quick=(--in "rin0:[ff3e::1]:5000" --out "rout0:[ff3e::2]:6000")
  else
    write_config "$MRELAY_TMP/$name.json" "$2" "$3"
  fi
  start_receiver "$name-rx" ff3e::2 "${fan_groups[@]}"
  receiver=$RECEIVER_PID
  start_relay6 "$name" --config "$MRELAY_TMP/$name.json" "${quick[@]}"
  relay_pid=$RELAY_PID
  # Packet ingress: from the unroutable source (the kernel's IP layer is not asked).
  send "$name-tx" 5000,5001 "$([[ $2 == packet ]] && echo "$UNROUTABLE" || echo -)"
  wait_pid "$receiver" 25 || mrelay_fail "receiver $name-rx failed: $(cat "$MRELAY_TMP/$name-rx.err")"
  stop_relay "$name" "$relay_pid"
  out=$MRELAY_TMP/$name-rx.out
  mrelay_log "$name: $(json_get "$out" 'j["exact_groups"]') of $((FANOUT + 1)) groups got all" \
    "$COUNT x $SIZE B; received $(json_get "$out" 'j["received"]'), bad $(json_get "$out" 'j["bad"]')," \
    "hop limits $(json_get "$out" 'j["hops"]'); relay rx $(stat_of "$name" rx_packets)" \
    "fwd $(stat_of "$name" fwd_packets) tx $(stat_of "$name" tx_packets)" \
    "not_udp $(stat_of "$name" unmatched_not_udp)"
  expect_eq "$name: groups with every datagram intact, once, in order" \
    "$(json_get "$out" 'j["exact_groups"]')" $((FANOUT + 1))
  expect_eq "$name: damaged datagrams" "$(json_get "$out" 'j["bad"]')" 0
  expect_eq "$name: hop limit on arrival" "$(json_get "$out" 'j["hops"]')" "[$((HOPS - 1))]"
  expect_eq "$name: relay fwd_packets" "$(stat_of "$name" fwd_packets)" $((2 * COUNT))
  expect_eq "$name: relay tx_packets" "$(stat_of "$name" tx_packets)" $(((FANOUT + 1) * COUNT))
}

for ingress in udp packet; do
  for backend in send sendmmsg uring gso packet; do
    run_fanout_case "v6-$ingress-$backend" "$ingress" "$backend" \
      "$([[ $ingress-$backend == packet-packet ]] && echo quick)"
  done
done
# The packet ingress's other read path (recvmmsg instead of the ring; zero-copy forwarding).
MRELAY_PACKET_RX=recvmmsg run_fanout_case v6-packet-recvmmsg-packet packet packet
grep -q "rx recvmmsg" "$MRELAY_TMP/v6-packet-recvmmsg-packet.err" ||
  mrelay_fail "v6-packet-recvmmsg-packet: the relay did not read with recvmmsg"

# 2. Source-specific: a rule for A; A and B both send. The rule comes from a config file
# (FORM config) or from the quick form's --source (FORM quick).
ssm_case() {  # ssm_case NAME INGRESS FORM
  local name=$1 before rx_before
  start_receiver "$name-rx" ff3e::2
  receiver=$RECEIVER_PID
  if [[ $3 == quick ]]; then
    start_relay6 "$name" --ingress "$2" --egress send --in "rin0:[ff3e::1]:5000" \
      --out "rout0:[ff3e::2]:6000" --source "$SOURCE_A"
  else
    cat >"$MRELAY_TMP/$name.json" <<EOF
{"ingress": "$2", "egress": {"backend": "send"}, "rules": [{"name": "v6ssm",
  "input": {"interface": "rin0", "group": "ff3e::1", "port": 5000, "source": "$SOURCE_A"},
  "outputs": [{"interface": "rout0", "group": "ff3e::2", "port": 6000}]}]}
EOF
    start_relay6 "$name" --config "$MRELAY_TMP/$name.json"
  fi
  relay_pid=$RELAY_PID
  before=$(udp6_in_datagrams)
  rx_before=$(rin0_rx_packets)
  send "$name-tx" 5000 "$SOURCE_A,$SOURCE_B"
  wait_pid "$receiver" 25 || mrelay_fail "receiver $name-rx failed: $(cat "$MRELAY_TMP/$name-rx.err")"
  UDP6_IN=$(($(udp6_in_datagrams) - before))
  RIN0_RX=$(($(rin0_rx_packets) - rx_before))
  stop_relay "$name" "$relay_pid"
  mrelay_log "$name: sink got tags $(json_get "$MRELAY_TMP/$name-rx.out" 'j["tags"]')," \
    "$(json_get "$MRELAY_TMP/$name-rx.out" 'j["received"]') datagrams; relay rx" \
    "$(stat_of "$name" rx_packets), unmatched_no_rule $(stat_of "$name" unmatched_no_rule)," \
    "relay ns Udp6InDatagrams +$UDP6_IN, rin0 received $RIN0_RX"
  expect_eq "$name: every datagram of A, in order" \
    "$(json_get "$MRELAY_TMP/$name-rx.out" 'j["exact_groups"]')" 1
  expect_eq "$name: datagrams received (A's only)" \
    "$(json_get "$MRELAY_TMP/$name-rx.out" 'j["received"]')" "$COUNT"
  expect_eq "$name: sources seen at the sink" \
    "$(json_get "$MRELAY_TMP/$name-rx.out" '" ".join(j["tags"])')" A
}
ssm_case v6-ssm-udp udp config
expect_eq "v6-ssm-udp: relay rx_packets (the kernel delivered A only)" \
  "$(stat_of v6-ssm-udp rx_packets)" "$COUNT"
expect_eq "v6-ssm-udp: relay ns Udp6InDatagrams (A only)" "$UDP6_IN" "$COUNT"
expect_ge "v6-ssm-udp: rin0 received both sources" "$RIN0_RX" $((2 * COUNT))
ssm_case v6-ssm-packet packet quick
expect_eq "v6-ssm-packet: B counted as unmatched_no_rule" \
  "$(stat_of v6-ssm-packet unmatched_no_rule)" "$COUNT"
echo "PASS relay_ipv6_test"
