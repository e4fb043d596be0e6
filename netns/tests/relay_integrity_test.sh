#!/usr/bin/env bash
# Payload integrity through the relay: at the smallest payload (32 B, header only), an odd
# size and the largest unfragmented one (1472 B at MTU 1500), with 3 interleaved streams,
# every datagram arrives once, in sequence, with every byte unchanged. Two witnesses: the
# sink's own per-byte payload check and sequence tracking, and an independent AF_PACKET
# capture at the source and at the sink whose payload digests must match one for one.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_integrity_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init int

readonly SIZES=${MRELAY_INTEGRITY_SIZES:-"32 777 1472 1001"}
readonly STREAMS=3
# 5k pps: the Python capture witnesses keep up comfortably at this rate.
readonly RATE_PPS=5000
readonly COUNT=3000
readonly WARMUP_S=0.1
# Alternate the relay's modes so both ingress paths carry odd sizes.
readonly MODES=(packet:uring udp:sendmmsg packet:packet packet:sendmmsg)

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

index=0
for size in $SIZES; do
  mode=${MODES[index % ${#MODES[@]}]}
  index=$((index + 1))
  label="integrity ${size}B $mode"
  start_capture "cap-src-$size" "$src" gen0 5000
  cap_src=$CAPTURE_PID
  start_capture "cap-sink-$size" "$sink" snk0 6000
  cap_sink=$CAPTURE_PID
  start_sink "sink-$size" "$sink" snk0 239.2.0.1:6000 0
  sink_pid=$SINK_PID
  start_relay "relay-$size" "$relay" rin0 239.1.1.1 --ingress "${mode%%:*}" \
    --egress "${mode##*:}" --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
  relay_pid=$RELAY_PID
  run_gen "gen-$size" "$src" gen0 239.1.1.1:5000 --streams "$STREAMS" --rate "$RATE_PPS" \
    --count "$COUNT" --warmup "$WARMUP_S" --size "$size"
  wait_sink "sink-$size" "$sink_pid"
  stop_relay "relay-$size" "$relay_pid"
  stop_pid "$cap_src" 10 || mrelay_fail "source capture failed"
  stop_pid "$cap_sink" 10 || mrelay_fail "sink capture failed"

  check_delivery "$label" "gen-$size" "sink-$size" 1
  expect_eq "$label: sink streams" "$(json_get "$MRELAY_TMP/sink-$size.out" 'len(j["streams"])')" "$STREAMS"
  gen_sent=$(json_get "$MRELAY_TMP/gen-$size.out" 'j["sent"]')
  check_relay_counters "$label" "relay-$size" "$gen_sent" 1 "sink-$size"
  compare_captures "$label" "cap-src-$size" "cap-sink-$size" "$gen_sent"
done
echo "PASS relay_integrity_test: sizes $SIZES, $STREAMS streams"
