#!/usr/bin/env bash
# Fanout 64 (beyond the kernel's 32-VIF limit): one input group relayed to 64 egress veths,
# received by one sink namespace on 64 interfaces. No loss, every copy intact, relay counters
# consistent.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_fanout_test.sh
#   MRELAY_FANOUT=8 MRELAY_FANOUT_BACKENDS=send netns/tests/relay_fanout_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init fan

readonly FANOUT=${MRELAY_FANOUT:-64}
# 2000 pps in = 128k copies/s out at fanout 64: a modest load for the relay, but every one of
# the 64 sink sockets' queues sees it; 3000 packets keep the case ~1.5 s.
readonly RATE_PPS=2000
readonly COUNT=3000
readonly WARMUP_S=0.1
readonly BACKENDS=${MRELAY_FANOUT_BACKENDS:-"uring sendmmsg packet"}

mrelay_topology_up "fanout:$FANOUT"
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
sink_ifaces=$(topo_get '" ".join(j["sinks"][0]["interfaces"])')
egress_ifaces=$(topo_get '" ".join(j["relays"][0]["egress"])')
[[ $(wc -w <<<"$sink_ifaces") -eq $FANOUT ]] || mrelay_fail "topology has $(wc -w <<<"$sink_ifaces") sink interfaces, expected $FANOUT"

outs=()
for iface in $egress_ifaces; do
  outs+=(--out "$iface:239.2.0.1:6000")
done

for egress in $BACKENDS; do
  label="fanout:$FANOUT packet/$egress"
  start_sink "sink-$egress" "$sink" "$sink_ifaces" 239.2.0.1:6000 0
  sink_pid=$SINK_PID
  start_relay "relay-$egress" "$relay" rin0 239.1.1.1 --egress "$egress" \
    --in rin0:239.1.1.1:5000 "${outs[@]}"
  relay_pid=$RELAY_PID
  run_gen "gen-$egress" "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$COUNT" \
    --warmup "$WARMUP_S" --size 512
  wait_sink "sink-$egress" "$sink_pid"
  stop_relay "relay-$egress" "$relay_pid"
  check_delivery "$label" "gen-$egress" "sink-$egress" "$FANOUT"
  gen_sent=$(json_get "$MRELAY_TMP/gen-$egress.out" 'j["sent"]')
  check_relay_counters "$label" "relay-$egress" "$gen_sent" "$FANOUT" "sink-$egress"
done
echo "PASS relay_fanout_test: fanout $FANOUT, backends $BACKENDS"
