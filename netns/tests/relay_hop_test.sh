#!/usr/bin/env bash
# One hop (src -> relay -> sink) through mrelay with every ingress mode x every egress
# backend: no loss at a paced 10k pps, payload and sequence intact, and the relay's own
# counters agree with what the generator sent and the sink got.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_hop_test.sh
#   MRELAY_HOP_CASES="udp:send" netns/tests/relay_hop_test.sh     # a subset
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init hop

# 10k pps for 0.6 s: modest enough that any loss is a bug, long enough for several batches.
readonly RATE_PPS=10000
readonly COUNT=6000
# Warm-up packets (flagged, excluded from loss) cover the first moments after start.
readonly WARMUP_S=0.1
readonly CASES=${MRELAY_HOP_CASES:-"packet:send packet:sendmmsg packet:uring packet:packet packet:gso udp:send udp:sendmmsg udp:uring udp:packet udp:gso"}

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

for case in $CASES; do
  ingress=${case%%:*}
  egress=${case##*:}
  label="hop $ingress/$egress"
  # Measured packets: the generator's count minus its warm-up share, known only afterwards,
  # so the sink waits for silence (--idle-exit) rather than a count.
  start_sink "sink-$case" "$sink" snk0 239.2.0.1:6000 0
  sink_pid=$SINK_PID
  start_relay "relay-$case" "$relay" rin0 239.1.1.1 --ingress "$ingress" --egress "$egress" \
    --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
  relay_pid=$RELAY_PID
  run_gen "gen-$case" "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$COUNT" \
    --warmup "$WARMUP_S" --size 512
  wait_sink "sink-$case" "$sink_pid"
  stop_relay "relay-$case" "$relay_pid"
  check_delivery "$label" "gen-$case" "sink-$case" 1
  gen_sent=$(json_get "$MRELAY_TMP/gen-$case.out" 'j["sent"]')
  check_relay_counters "$label" "relay-$case" "$gen_sent" 1 "sink-$case"
done
echo "PASS relay_hop_test: ${CASES}"
