#!/usr/bin/env bash
# mrelay-kfwd --method nft, the nftables kernel reference: a netdev ingress chain on the relay
# input that rewrites group, port, destination MAC, TTL and source MAC and dups the frame to
# every output. On hop and on fanout:40 (beyond multicast routing's 32 interfaces), every
# packet sent with TTL 2 to 239.1.1.1:5000 arrives on every output as 239.2.0.1:6000, intact
# and in order (the sink checks each payload's checksum and sequence), and the rule's counter
# matches what was sent; TTL 1 is not forwarded; the table is gone after exit; a second
# instance in the same namespace is refused; --port without --method nft is a usage error.
# Skipped (77, with the reason) on a kernel without nf_tables netdev dup/fwd.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/kfwd_nft_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay-kfwd mrelay-gen mrelay-sink
mrelay_require_capability nft_netdev_dup
command -v nft >/dev/null || mrelay_skip "nft (package nftables) not installed"
mrelay_test_init kfn

readonly RATE_PPS=10000
readonly COUNT=4000
readonly WARMUP_S=0.1
readonly IN_GROUP=239.1.1.1:5000
readonly OUT_GROUP=239.2.0.1:6000

# Method-specific flags are checked before touching the kernel.
status=0
"$MRELAY_BIN_DIR/mrelay-kfwd" --in rin0 --out rout0 --port 5000 2>"$MRELAY_TMP/port.err" || status=$?
expect_eq "--port without --method nft: exit status" "$status" 2
grep -q -- "--port" "$MRELAY_TMP/port.err" || mrelay_fail "error does not name --port: $(cat "$MRELAY_TMP/port.err")"
status=0
"$MRELAY_BIN_DIR/mrelay-kfwd" --method nft --in rin0 --out rout0 --group 239.1.1.1 \
  2>"$MRELAY_TMP/noport.err" || status=$?
expect_eq "--method nft without --port: exit status" "$status" 2

# run_nft_case TOPOLOGY LABEL
run_nft_case() {
  local topology=$1 label=$2
  mrelay_topology_up "$topology"
  local src relay sink sink_ifaces egress_ifaces outputs
  src=$(topo_get 'j["sources"][0]["ns"]')
  relay=$(topo_get 'j["relays"][0]["ns"]')
  sink=$(topo_get 'j["sinks"][0]["ns"]')
  sink_ifaces=$(topo_get '" ".join(j["sinks"][0]["interfaces"])')
  egress_ifaces=$(topo_get '" ".join(j["relays"][0]["egress"])')
  outputs=$(wc -w <<<"$egress_ifaces")
  local outs=() iface
  for iface in $egress_ifaces; do outs+=(--out "$iface"); done

  start_sink "sink-$label" "$sink" "$sink_ifaces" "$OUT_GROUP" 0
  local sink_pid=$SINK_PID
  mrelay_spawn "$relay" "$MRELAY_TMP/kfwd-$label" mrelay-kfwd --method nft --in rin0 \
    "${outs[@]}" --group "${IN_GROUP%%:*}" --port "${IN_GROUP##*:}" --rewrite "$OUT_GROUP" \
    --json --ready-file "$MRELAY_TMP/kfwd-$label.ready"
  local kfwd_pid=$MRELAY_LAST_PID
  wait_for_file "$MRELAY_TMP/kfwd-$label.ready" 10 || {
    show_logs "$MRELAY_TMP/kfwd-$label"
    mrelay_fail "mrelay-kfwd --method nft never became ready"
  }
  # One instance per namespace: a second one is refused and leaves the first untouched.
  local second=0
  in_ns "$relay" "$MRELAY_BIN_DIR/mrelay-kfwd" --method nft --in rin0 "${outs[@]}" \
    --group "${IN_GROUP%%:*}" --port "${IN_GROUP##*:}" --duration 1 \
    >/dev/null 2>"$MRELAY_TMP/second-$label.err" || second=$?
  expect_eq "kernel-nft $label: second instance exit status" "$second" 1
  grep -q "exists already" "$MRELAY_TMP/second-$label.err" ||
    mrelay_fail "second instance: unexpected error: $(cat "$MRELAY_TMP/second-$label.err")"

  run_gen "gen-$label" "$src" gen0 "$IN_GROUP" --rate "$RATE_PPS" --count "$COUNT" \
    --warmup "$WARMUP_S" --ttl 2
  wait_sink "sink-$label" "$sink_pid"

  # TTL 1 is not forwarded (as by multicast routing): the restarted sink sees nothing.
  SINK_DURATION_S=1.5 start_sink "sink-$label-ttl1" "$sink" "$sink_ifaces" "$OUT_GROUP" 0
  local ttl1_sink=$SINK_PID
  run_gen "gen-$label-ttl1" "$src" gen0 "$IN_GROUP" --rate "$RATE_PPS" --count 500 --ttl 1
  wait_sink "sink-$label-ttl1" "$ttl1_sink"

  stop_pid "$kfwd_pid" 10 || {
    show_logs "$MRELAY_TMP/kfwd-$label"
    mrelay_fail "mrelay-kfwd --method nft failed"
  }
  check_delivery "kernel-nft $label" "gen-$label" "sink-$label" "$outputs"
  expect_eq "kernel-nft $label: TTL 1 packets forwarded" \
    "$(json_get "$MRELAY_TMP/sink-$label-ttl1.out" 'j["received"] + j["warmup_received"]')" 0
  local gen_sent
  gen_sent=$(json_get "$MRELAY_TMP/gen-$label.out" 'j["sent"]')
  local kfwd=$MRELAY_TMP/kfwd-$label.out
  expect_eq "kernel-nft $label: method" "$(json_get "$kfwd" 'j["method"]')" nft
  expect_eq "kernel-nft $label: matched packets (TTL 1 excluded)" \
    "$(json_get "$kfwd" 'j["matched_packets"]')" "$gen_sent"
  expect_eq "kernel-nft $label: sink total" \
    "$(json_get "$MRELAY_TMP/sink-$label.out" 'j["received"] + j["warmup_received"]')" \
    $((gen_sent * outputs))
  # The table is removed on exit.
  if in_ns "$relay" nft list table netdev mrelay_kfwd >/dev/null 2>&1; then
    mrelay_fail "kernel-nft $label: table netdev mrelay_kfwd left behind"
  fi
  mrelay_log "kernel-nft $label: $gen_sent packets x $outputs outputs replicated by nftables"
  mrelay_topology_down
}

run_nft_case hop hop
run_nft_case fanout:40 fanout40
echo "PASS kfwd_nft_test"
