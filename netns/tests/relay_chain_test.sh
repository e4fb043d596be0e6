#!/usr/bin/env bash
# A chain of 3 relays, each in its own namespace, each rewriting group and port
# (239.1.1.1:5000 -> 239.2.0.1:6000 -> 239.3.0.1:7000 -> 239.4.0.1:8000), with a different
# ingress/egress pair per hop. Everything the generator sent arrives once, intact, in order;
# every relay forwarded exactly what the generator sent.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_chain_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init chn

readonly RELAYS=3
readonly RATE_PPS=10000
readonly COUNT=6000
readonly WARMUP_S=0.1
# Hop r: group and port in, then the mode pair it runs with.
readonly GROUPS_IN=(239.1.1.1:5000 239.2.0.1:6000 239.3.0.1:7000)
readonly GROUPS_OUT=(239.2.0.1:6000 239.3.0.1:7000 239.4.0.1:8000)
readonly MODES=(packet:uring udp:sendmmsg packet:send)

mrelay_topology_up "chain:$RELAYS"
src=$(topo_get 'j["sources"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')
# The topology contract: relay r feeds relay r+1, the last feeds the sink.
for ((r = 0; r < RELAYS; r++)); do
  want=relay
  ((r + 1 < RELAYS)) || want=sink
  expect_eq "relay$r feeds" "$(topo_get "j['relays'][$r]['feeds'][0]['to']")" "$want"
done

start_sink sink "$sink" snk0 "${GROUPS_OUT[RELAYS - 1]}" 0
sink_pid=$SINK_PID
# Back to front, so each relay's downstream is listening before traffic starts.
relay_pids=()
for ((r = RELAYS - 1; r >= 0; r--)); do
  ns=$(topo_get "j['relays'][$r]['ns']")
  in_group=${GROUPS_IN[r]%%:*}
  start_relay "relay$r" "$ns" rin0 "$in_group" --ingress "${MODES[r]%%:*}" \
    --egress "${MODES[r]##*:}" --in "rin0:${GROUPS_IN[r]}" --out "rout0:${GROUPS_OUT[r]}"
  relay_pids[r]=$RELAY_PID
done
run_gen gen "$src" gen0 "${GROUPS_IN[0]}" --rate "$RATE_PPS" --count "$COUNT" \
  --warmup "$WARMUP_S" --size 1000
wait_sink sink "$sink_pid"
for ((r = 0; r < RELAYS; r++)); do
  stop_relay "relay$r" "${relay_pids[r]}"
done

check_delivery "chain:$RELAYS" gen sink 1
gen_sent=$(json_get "$MRELAY_TMP/gen.out" 'j["sent"]')
for ((r = 0; r < RELAYS - 1; r++)); do
  check_relay_counters "chain relay$r ${MODES[r]}" "relay$r" "$gen_sent" 1
done
check_relay_counters "chain relay$((RELAYS - 1)) ${MODES[RELAYS - 1]}" "relay$((RELAYS - 1))" \
  "$gen_sent" 1 sink
echo "PASS relay_chain_test: $RELAYS relays"
