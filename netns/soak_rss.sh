#!/usr/bin/env bash
# Memory soak (relay memory must stay flat under load): runs mrelay on a hop topology at a fixed paced rate for a
# long window and samples the relay's resident size (VmRSS) at the start, every interval and
# at the end, so a leak or a growing queue shows as a rising line. Prints one JSON object:
# RSS samples in KiB, the generator's and the sink's counts, the loss and the relay's final
# counters. Namespaces are this run's own (prefix mrl-soak...) and are removed on every exit.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/soak_rss.sh --rate 60000 --duration 600 --egress gso
#   netns/soak_rss.sh --help
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
  cat <<'EOF'
usage: soak_rss.sh [--rate PPS] [--duration S] [--egress BACKEND] [--size BYTES]
                   [--interval S] [--rt-priority N]
  --rate PPS        paced generator rate, packets/s (default 50000)
  --duration S      seconds of traffic (default 600)
  --egress B        mrelay egress backend (default gso, as mrelay)
  --size BYTES      UDP payload size (default 512)
  --interval S      seconds between RSS samples (default 30)
  --rt-priority N   mrelay --rt-priority (default 10; 0 = normal scheduling)
Relay on core 1, generator and sink on core 0 (as mrelay-bench places them).
EOF
}

RATE=50000
DURATION_S=600
EGRESS=gso
SIZE=512
INTERVAL_S=30
RT_PRIORITY=10
while [[ $# -gt 0 ]]; do
  case $1 in
    --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
    --duration) DURATION_S=${2:?--duration needs a value}; shift 2 ;;
    --egress) EGRESS=${2:?--egress needs a value}; shift 2 ;;
    --size) SIZE=${2:?--size needs a value}; shift 2 ;;
    --interval) INTERVAL_S=${2:?--interval needs a value}; shift 2 ;;
    --rt-priority) RT_PRIORITY=${2:?--rt-priority needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak_rss.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for number in "$RATE" "$DURATION_S" "$SIZE" "$INTERVAL_S" "$RT_PRIORITY"; do
  [[ $number =~ ^[0-9]+$ ]] || { echo "soak_rss.sh: '$number' is not a whole number" >&2; exit 2; }
done

mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
mrelay_test_init soak
# Every child is bounded by the soak's length plus slack.
MRELAY_PROGRAM_TIMEOUT_S=$((DURATION_S + 60))

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

SINK_DURATION_S=$((DURATION_S + 30)) start_sink sink "$sink" snk0 239.2.0.1:6000 0 --cpu 0
sink_pid=$SINK_PID
start_relay relay "$relay" rin0 239.1.1.1 --egress "$EGRESS" --cpus 1 \
  --rt-priority "$RT_PRIORITY" --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000
relay_pid=$RELAY_PID
# `ip netns exec` execs the program, so the spawned pid is mrelay's own.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$relay_pid/status"; }

mrelay_spawn "$src" "$MRELAY_TMP/gen" mrelay-gen --interface gen0 --group 239.1.1.1:5000 \
  --rate "$RATE" --duration "$DURATION_S" --warmup 1 --size "$SIZE" --cpu 0 --json
gen_pid=$MRELAY_LAST_PID

samples=()
start_s=$SECONDS
sleep 1
samples+=("[$((SECONDS - start_s)), $(rss_kib)]")
while kill -0 "$gen_pid" 2>/dev/null; do
  sleep "$INTERVAL_S"
  kill -0 "$relay_pid" 2>/dev/null || mrelay_fail "relay exited during the soak"
  samples+=("[$((SECONDS - start_s)), $(rss_kib)]")
  mrelay_log "t=$((SECONDS - start_s)) s RSS $(rss_kib) KiB"
done
samples+=("[$((SECONDS - start_s)), $(rss_kib)]")
wait_pid "$gen_pid" 30 || mrelay_fail "generator exited with an error"
wait_sink sink "$sink_pid"
stop_relay relay "$relay_pid"

sent=$(json_get "$MRELAY_TMP/gen.out" 'j["sent"]')
received=$(json_get "$MRELAY_TMP/sink.out" 'sum(s["received"] for s in j["streams"])')
lost=$(json_get "$MRELAY_TMP/sink.out" 'sum(s["lost"] for s in j["streams"])')
joined=$(IFS=,; echo "${samples[*]}")
cat <<EOF
{"rate_pps": $RATE, "duration_s": $DURATION_S, "egress": "$EGRESS", "size": $SIZE,
 "rss_kib_samples": [$joined],
 "generator_sent_measured": $sent, "sink_received": $received, "sink_lost": $lost,
 "relay_final": $(cat "$MRELAY_TMP/relay.stats")}
EOF
