#!/usr/bin/env bash
# mrelay-gen -> mrelay-sink over IPv6 on the rig's own topology (mrelay-netns up hop --family
# ipv6 --mtu 9000): the generator in src0 sends to ff3e:: groups on gen0, the sinks listen on
# the relay namespace's rin0 (the `direct` path, no forwarder). Every case checks that the sink
# got every measured datagram intact, once and in order (check_delivery: received ==
# measured_sent, no loss, corruption, duplicate or reordering, each stream's sequence range
# equal to the generator's):
#   1. two groups, two ports, two streams at 1400 B through sendmmsg (--batch 32) and through
#      sendto (--batch 1), full sink (MLD joins, IPV6_PKTINFO, payload checksums);
#   2. the fast tester: --gso 16 runs (cut by the kernel before the veth) into the full sink
#      and, in the same run, the counting sink (--count-only: the TPACKET_V3 ring's IPv6 path),
#      which must count exactly what the full sink counts;
#   3. jumbo: 8952 B (the largest IPv6 UDP payload at MTU 9000) into both sinks;
#   4. source-specific joins (--source): a sink joined for the generator's own ULA address
#      gets everything, one joined for another source gets nothing (the filter is real);
#   5. usage errors name the flag: IPv4 and IPv6 groups mixed in one generator (--group), an
#      IPv6 group without an IPv6 --source (--source), an IPv6 group without brackets.
# The generator has no AF_PACKET send path (mrelay-inject, which has one, builds IPv4 frames
# and refuses an IPv6 group: checked too).
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/gen_sink_ipv6_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay-gen mrelay-sink mrelay-inject
[[ -e /proc/sys/net/ipv6 ]] || mrelay_skip "this kernel has no IPv6"
command -v ethtool >/dev/null || mrelay_skip "ethtool not installed (ci/setup.sh installs it)"
mrelay_require_capability udp_gso
mrelay_test_init g6

# 10k pps for 0.3 s: paced well below what a veth carries, so any loss is a bug.
readonly RATE_PPS=10000
readonly COUNT=3000
readonly WARMUP_S=0.05
readonly JUMBO=8952  # 9000 - 40 (IPv6) - 8 (UDP)

mrelay_topology_up hop --family ipv6 --mtu 9000 --source-tx-udp-segmentation off
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
gen_address=$(topo_get 'j["sources"][0]["address6"]')
expect_eq "topology family" "$(topo_get 'j["settings"]["family"]')" ipv6
expect_eq "topology mtu" "$(topo_get 'j["settings"]["mtu"]')" 9000
expect_eq "no IPv4 address in an ipv6 topology" "$(topo_get 'j["sources"][0]["address"]')" ""
ip -n "$relay" link show rin0 | grep -q "mtu 9000" || mrelay_fail "rin0 MTU is not 9000"
ip -n "$relay" -4 addr show dev rin0 | grep -q inet && mrelay_fail "rin0 has an IPv4 address"

readonly GROUPS6="[ff3e::1]:5000 [ff3e::2]:5001"

# run_case NAME SIZE "KINDS" GEN_FLAGS...: one sink per word of KINDS (full, counting), then the
# generator; every sink must have received exactly what was sent.
run_case() {
  local name=$1 size=$2 sink_kinds=$3 kind pids=()
  shift 3
  for kind in $sink_kinds; do
    if [[ $kind == counting ]]; then
      start_sink "$name-$kind" "$relay" rin0 "$GROUPS6" 0 --count-only
    else
      start_sink "$name-$kind" "$relay" rin0 "$GROUPS6" 0
    fi
    pids+=("$SINK_PID")
  done
  run_gen "$name-gen" "$src" gen0 "$GROUPS6" --rate "$RATE_PPS" --count "$COUNT" \
    --warmup "$WARMUP_S" --size "$size" --streams 2 --hop-limit 2 "$@"
  local i=0
  for kind in $sink_kinds; do
    wait_sink "$name-$kind" "${pids[$i]}"
    check_delivery "$name $kind sink" "$name-gen" "$name-$kind" 1
    i=$((i + 1))
  done
  expect_eq "$name: generator sent" "$(json_get "$MRELAY_TMP/$name-gen.out" 'j["sent"]')" "$COUNT"
  expect_eq "$name: stream 0's group" \
    "$(json_get "$MRELAY_TMP/$name-gen.out" 'j["streams"][0]["group"]')" "ff3e::1"
}

run_case sendmmsg 1400 full --batch 32
expect_eq "sendmmsg: the sink's group text" \
  "$(json_get "$MRELAY_TMP/sendmmsg-full.out" 'sorted(s["group"] for s in j["streams"])')" \
  '["ff3e::1", "ff3e::2"]'
run_case sendto 1400 full --batch 1
run_case gso 1400 "full counting" --batch 32 --bursts --gso 16
syscalls=$(json_get "$MRELAY_TMP/gso-gen.out" 'j["syscalls"]')
((syscalls * 4 <= COUNT)) || mrelay_fail "gso: $syscalls send calls for $COUNT datagrams"
expect_eq "gso: counting sink mode" "$(json_get "$MRELAY_TMP/gso-counting.out" 'j["mode"]')" count
run_case jumbo "$JUMBO" "full counting" --batch 8

# 4. Source-specific joins: the generator's own ULA (the kernel's choice for a global-scope
# group over the link-local address) and one that sends nothing.
start_sink ssm-own "$relay" rin0 "$GROUPS6" 0 --source "$gen_address"
own_pid=$SINK_PID
SINK_DURATION_S=3 start_sink ssm-other "$relay" rin0 "$GROUPS6" 0 --source fd77:77::99
other_pid=$SINK_PID
run_gen ssm-gen "$src" gen0 "$GROUPS6" --rate "$RATE_PPS" --count "$COUNT" \
  --warmup "$WARMUP_S" --size 512 --streams 2
wait_sink ssm-own "$own_pid"
check_delivery "ssm own source" ssm-gen ssm-own 1
wait_sink ssm-other "$other_pid"
expect_eq "ssm: a sink joined for another source received" \
  "$(json_get "$MRELAY_TMP/ssm-other.out" 'j["received"] + j["warmup_received"]')" 0

# 5. Usage errors, each naming its flag (exit 2).
expect_usage_error() {  # expect_usage_error NAME FLAG PROGRAM ARGS...
  local name=$1 flag=$2 status=0
  shift 2
  ip netns exec "$relay" "$MRELAY_BIN_DIR/$1" "${@:2}" >"$MRELAY_TMP/$name.out" \
    2>"$MRELAY_TMP/$name.err" || status=$?
  expect_eq "$name: exit status" "$status" 2
  grep -q -- "$flag" "$MRELAY_TMP/$name.err" ||
    mrelay_fail "$name: error does not name $flag: $(cat "$MRELAY_TMP/$name.err")"
}
expect_usage_error mixed "--group: IPv4 and IPv6 groups mixed" mrelay-gen --interface rin0 \
  --group "[ff3e::1]:5000" --group 239.1.1.1:5000 --count 1
expect_usage_error brackets "--group: an IPv6 group is written in brackets" mrelay-gen \
  --interface rin0 --group ff3e::1:5000 --count 1
expect_usage_error source-family "--source: no IPv6 source for --group \[ff3e::1\]:5000" \
  mrelay-sink --interface rin0 --group "[ff3e::1]:5000" --source 10.77.0.1
expect_usage_error source-count-only "--source: not with --count-only" mrelay-sink \
  --interface rin0 --group "[ff3e::1]:5000" --source fd77:77::1 --count-only
expect_usage_error inject "--group: mrelay-inject builds IPv4 frames only" mrelay-inject \
  --interface rin0 --group "[ff3e::1]:5000" --kind all --count 1
echo "PASS gen_sink_ipv6_test"
