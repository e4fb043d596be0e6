#!/usr/bin/env bash
# The unroutable-source case: the source sends from 192.0.2.1 (TEST-NET-1, only inside our
# namespaces), the relay namespace has no route back to it and strict rp_filter (1) on its
# ingress. The kernel's reverse-path check drops such packets before any UDP socket sees
# them, so `--ingress udp` receives nothing, while `--ingress packet` (AF_PACKET, before the
# IP layer) forwards every one of them. Both facts are asserted.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_unroutable_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init unr

readonly UNROUTABLE=192.0.2.1
readonly RATE_PPS=10000
readonly COUNT=6000
readonly WARMUP_S=0.1

mrelay_topology_up hop --unroutable-source "$UNROUTABLE" --rp-filter 1
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

# The rig itself: strict rp_filter on the ingress, no route back, the source really sends
# from the unroutable address.
expect_eq "rp_filter on rin0" "$(in_ns "$relay" sysctl -n net.ipv4.conf.rin0.rp_filter)" 1
if ip -n "$relay" route get "$UNROUTABLE" >/dev/null 2>&1; then
  mrelay_fail "relay namespace has a route to $UNROUTABLE"
fi
expect_eq "source address" "$(ip -n "$src" route get 239.1.1.1 oif gen0 |
  awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')" "$UNROUTABLE"

# packet mode: forwards everything.
start_sink sink-packet "$sink" snk0 239.2.0.1:6000 0
sink_pid=$SINK_PID
start_relay relay-packet "$relay" rin0 239.1.1.1 --ingress packet --egress uring \
  --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID
run_gen gen-packet "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$COUNT" \
  --warmup "$WARMUP_S"
wait_sink sink-packet "$sink_pid"
stop_relay relay-packet "$relay_pid"
check_delivery "unroutable source, packet ingress" gen-packet sink-packet 1
gen_sent=$(json_get "$MRELAY_TMP/gen-packet.out" 'j["sent"]')
check_relay_counters "unroutable source, packet ingress" relay-packet "$gen_sent" 1 sink-packet

# udp mode: the kernel drops every packet (rp_filter), so nothing reaches the relay. A short
# burst is enough to show it.
SINK_DURATION_S=2 start_sink sink-udp "$sink" snk0 239.2.0.1:6000 0
sink_pid=$SINK_PID
start_relay relay-udp "$relay" rin0 239.1.1.1 --ingress udp --egress uring \
  --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID
run_gen gen-udp "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count 1000
wait_sink sink-udp "$sink_pid"
stop_relay relay-udp "$relay_pid"
expect_eq "udp ingress: relay rx_packets (rp_filter drops them all)" \
  "$(json_get "$MRELAY_TMP/relay-udp.stats" 'j["total"]["rx_packets"]')" 0
expect_eq "udp ingress: sink received" \
  "$(json_get "$MRELAY_TMP/sink-udp.out" 'j["received"] + j["warmup_received"]')" 0
echo "[relay_unroutable_test] udp ingress: 0 of 1000 packets from $UNROUTABLE passed rp_filter (as expected)" >&2
echo "PASS relay_unroutable_test"
