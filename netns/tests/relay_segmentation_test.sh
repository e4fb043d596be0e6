#!/usr/bin/env bash
# Where the gso egress's runs are cut into datagrams (the rig's two segmentation models):
#   1. mrelay-netns up --relay-tx-udp-segmentation off (the rig's default, "software"): the
#      relay's kernel segments its UDP GSO runs before rout0, so the link carries one frame per
#      datagram: the sink's snk0 counts at least as many received frames as datagrams;
#   2. the sink receives every datagram intact either way (checksums, sequence);
#   3. the fault the setting prevents: with tx-udp-segmentation back on ("device", as a NIC
#      with USO), the same relay's runs cross the veth whole: snk0 counts fewer frames than
#      datagrams, so check 1 could fail.
# The generator sends paced bursts of 32 so the relay reads several datagrams per loop turn
# and builds runs; counts only, no timing assertion.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_segmentation_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
command -v ethtool >/dev/null || mrelay_skip "ethtool not installed (ci/setup.sh installs it)"
mrelay_require_capability udp_gso
mrelay_test_init segmentation

readonly RATE_PPS=20000
readonly COUNT=4000
readonly BURST=32

mrelay_topology_up hop --relay-tx-udp-segmentation off
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
expect_eq "settings.relay_tx_udp_segmentation" \
  "$(topo_get 'j["settings"]["relay_tx_udp_segmentation"]')" off
in_ns "$relay" ethtool -k rout0 | grep -q '^tx-udp-segmentation: off' ||
  mrelay_fail "rout0 still has tx-udp-segmentation on"

# snk0_frames: frames snk0 has received so far (veth counts one per skb it passes on).
snk0_frames() {
  in_ns "$sink" cat /sys/class/net/snk0/statistics/rx_packets
}

# forward_bursts NAME: relay (gso egress) + full sink + bounded generator; sets FRAMES (frames
# snk0 received during the run), SENT and GSO_RUNS (the relay's gso_frames counter).
forward_bursts() {
  local name=$1 before
  before=$(snk0_frames)
  start_sink "$name-sink" "$sink" snk0 239.2.0.1:6000 "$COUNT"
  local sink_pid=$SINK_PID
  start_relay "$name" "$relay" rin0 239.1.1.1 --ingress packet --egress gso \
    --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
  local relay_pid=$RELAY_PID
  run_gen "$name-gen" "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --bursts \
    --batch "$BURST" --count "$COUNT" --size 512
  wait_sink "$name-sink" "$sink_pid"
  stop_relay "$name" "$relay_pid"
  FRAMES=$(($(snk0_frames) - before))
  SENT=$(json_get "$MRELAY_TMP/$name-gen.out" 'j["sent"]')
  check_delivery "$name sink" "$name-gen" "$name-sink" 1
}

forward_bursts software
expect_ge "snk0 frames, software segmentation" "$FRAMES" "$SENT"
software_frames=$FRAMES

# 3. The fault: offload back on for rout0; the runs now reach snk0 whole.
in_ns "$relay" ethtool -K rout0 tx-udp-segmentation on >/dev/null
forward_bursts device
((FRAMES < SENT)) ||
  mrelay_fail "with tx-udp-segmentation on, snk0 received $FRAMES frames for $SENT datagrams: no runs crossed whole (check 1 could not fail)"
echo "PASS relay_segmentation_test: $SENT datagrams each; snk0 frames: software $software_frames," \
  "device $FRAMES"
