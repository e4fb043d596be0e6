#!/usr/bin/env bash
# A chain of 4 relays, each in its own namespace, each rewriting group and port
# (239.1.1.1:5000 -> 239.2.0.1:6000 -> 239.3.0.1:7000 -> 239.4.0.1:8000 -> 239.5.0.1:9000),
# with a different ingress/egress pair per hop. Everything the generator sent arrives once,
# intact, in order; every relay forwarded exactly what the generator sent.
#
# The first hop sends with UDP GSO (the default egress) into a relay with packet ingress: on
# veth a GSO run crosses unsegmented, so that relay's packet socket sees one super-frame per
# run and must split it back into its datagrams. The generator sends in bursts (--bursts) so
# the first relay reads several datagrams per loop turn and really forms runs; two phases:
#   small: 200-byte datagrams in bursts of 5 (a 5 x 200 B run must arrive as 5 datagrams);
#   large: 1400-byte datagrams in bursts of 32 (runs far beyond a 2048-byte ring slot).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_chain_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init chn

readonly RELAYS=4
readonly RATE_PPS=10000
readonly COUNT=6000
readonly WARMUP_S=0.1
# Hop r: group and port in, then the mode pair it runs with.
readonly GROUPS_IN=(239.1.1.1:5000 239.2.0.1:6000 239.3.0.1:7000 239.4.0.1:8000)
readonly GROUPS_OUT=(239.2.0.1:6000 239.3.0.1:7000 239.4.0.1:8000 239.5.0.1:9000)
readonly MODES=(packet:gso packet:uring udp:sendmmsg packet:send)
# Phase name, datagram size, burst length.
readonly PHASES=(small:200:5 large:1400:32)

mrelay_topology_up "chain:$RELAYS"
src=$(topo_get 'j["sources"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
# The topology contract: relay r feeds relay r+1, the last feeds the sink.
for ((r = 0; r < RELAYS; r++)); do
  want=relay
  ((r + 1 < RELAYS)) || want=sink
  expect_eq "relay$r feeds" "$(topo_get "j['relays'][$r]['feeds'][0]['to']")" "$want"
done

for phase in "${PHASES[@]}"; do
  IFS=: read -r name size burst <<<"$phase"
  start_sink "sink-$name" "$sink" snk0 "${GROUPS_OUT[RELAYS - 1]}" 0
  sink_pid=$SINK_PID
  # Back to front, so each relay's downstream is listening before traffic starts.
  relay_pids=()
  for ((r = RELAYS - 1; r >= 0; r--)); do
    ns=$(topo_get "j['relays'][$r]['ns']")
    in_group=${GROUPS_IN[r]%%:*}
    start_relay "relay$r-$name" "$ns" rin0 "$in_group" --ingress "${MODES[r]%%:*}" \
      --egress "${MODES[r]##*:}" --in "rin0:${GROUPS_IN[r]}" --out "rout0:${GROUPS_OUT[r]}"
    relay_pids[r]=$RELAY_PID
  done
  run_gen "gen-$name" "$src" gen0 "${GROUPS_IN[0]}" --rate "$RATE_PPS" --count "$COUNT" \
    --warmup "$WARMUP_S" --size "$size" --batch "$burst" --bursts
  wait_sink "sink-$name" "$sink_pid"
  for ((r = 0; r < RELAYS; r++)); do
    stop_relay "relay$r-$name" "${relay_pids[r]}"
  done

  check_delivery "chain:$RELAYS $name" "gen-$name" "sink-$name" 1
  gen_sent=$(json_get "$MRELAY_TMP/gen-$name.out" 'j["sent"]')
  for ((r = 0; r < RELAYS - 1; r++)); do
    check_relay_counters "chain $name relay$r ${MODES[r]}" "relay$r-$name" "$gen_sent" 1
  done
  check_relay_counters "chain $name relay$((RELAYS - 1)) ${MODES[RELAYS - 1]}" \
    "relay$((RELAYS - 1))-$name" "$gen_sent" 1 "sink-$name"
  # The GSO path was exercised: relay1 received super-frames of several datagrams (in the
  # large phase each of those is over 2 x 1400 bytes, beyond a 2048-byte ring slot).
  stats=$MRELAY_TMP/relay1-$name.stats
  frames=$(json_get "$stats" '[l for l in lines if l.get("event") == "final"][-1]["total"]["gso_frames"]')
  segments=$(json_get "$stats" '[l for l in lines if l.get("event") == "final"][-1]["total"]["gso_segments"]')
  mrelay_log "$name: relay1 split $frames GSO frames into $segments datagrams"
  expect_ge "$name: relay1 gso_frames (relay0 formed no GSO run)" "$frames" 1
  expect_ge "$name: relay1 gso_segments" "$segments" $((frames + 1))
done
echo "PASS relay_chain_test: $RELAYS relays, gso egress into packet ingress (${PHASES[*]})"
