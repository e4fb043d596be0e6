#!/usr/bin/env bash
# Forwarding loops and TTL (hop topology). Two parts:
#   a) one host: rules A (v1 239.1.1.1:5000 -> v0 239.2.2.2:6000) and B (v1 239.2.2.2:6000 ->
#      v0 239.1.1.1:5000) over a veth pair v0/v1 inside the relay's namespace feed each other.
#      The relay must refuse them, naming both rules, at --check-config, at start (exit 2), at
#      a SIGHUP reload (running rules unchanged) and at the control socket's add_rule.
#   b) two hosts: relay X (relay namespace, rout0) and relay Y (sink namespace, snk0), the two
#      ends of one veth pair, forward to each other: X rout0 239.1.1.1:5000 -> rout0
#      239.2.2.2:6000[+k], Y snk0 239.2.2.2:6000[+k] -> snk0 239.1.1.1:5000. Neither config
#      has a loop on its own host. One packet is injected (mrelay-gen from Y's side) with TTL
#      N; every hop decrements it, so the loop must die out: from the relays' final stats,
#      fwd_packets, tx_packets and drop_ttl_expired are exactly what N hops allow (fanout 1:
#      N-1 forwards in all, <= N per relay; fanout 2: doubling per round trip, still bounded
#      by the TTL), and nothing else was dropped. Each case runs with other ingress/egress
#      modes, so every egress backend writes the decremented TTL onto the wire.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_loop_test.sh
#   MRELAY_LOOP_PARTS=b netns/tests/relay_loop_test.sh        # only the two-relay part
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelayctl mrelay-gen
mrelay_test_init lop

readonly PARTS=${MRELAY_LOOP_PARTS:-"a b"}
# Part b's cases, LABEL/FANOUT/X_INGRESS:X_EGRESS/Y_INGRESS:Y_EGRESS. Fanout 1: the ping-pong
# of two relays. Fanout 2: the loop multiplies per round trip, and must still end. The modes
# vary so every egress backend and both ingress modes carry the loop.
readonly CASES=${MRELAY_LOOP_CASES:-"pingpong-gso-packet/1/packet:gso/udp:packet pingpong-uring-sendmmsg/1/udp:uring/packet:sendmmsg double-send-gso/2/udp:send/packet:gso"}
# TTL of the injected packet: small, so the doubling case stays a handful of packets.
readonly TTL=8
# Stats line period of the relays (ms): the test polls them to see the loop end.
readonly STATS_MS=100
# Forwards (both relays together) beyond which the loop is a storm: far above anything the
# TTL allows (fanout 2 at TTL 8: 29), reached within milliseconds by an unbounded loop.
readonly STORM_FORWARDS=1000
# Longest wait for the loop to end (s); it ends within milliseconds when the TTL works.
readonly LOOP_DEADLINE_S=15
readonly G1=239.1.1.1
readonly P1=5000
readonly G2=239.2.2.2
readonly P2=6000

mrelay_topology_up hop
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

# --- a) one host: the two-rule loop is refused everywhere --------------------------------
part_one_host() {
  # The pair of the review's report, created inside the relay's namespace (gone with it).
  ip -n "$relay" link add lpv0 type veth peer name lpv1
  ip -n "$relay" link set lpv0 up
  ip -n "$relay" link set lpv1 up
  local rule_a rule_b config=$MRELAY_TMP/loop.json single=$MRELAY_TMP/single.json
  rule_a="{\"name\":\"A\",\"input\":{\"interface\":\"lpv1\",\"group\":\"$G1\",\"port\":$P1},\"outputs\":[{\"interface\":\"lpv0\",\"group\":\"$G2\",\"port\":$P2}]}"
  rule_b="{\"name\":\"B\",\"input\":{\"interface\":\"lpv1\",\"group\":\"$G2\",\"port\":$P2},\"outputs\":[{\"interface\":\"lpv0\",\"group\":\"$G1\",\"port\":$P1}]}"
  printf '{"rules":[%s,%s]}\n' "$rule_a" "$rule_b" >"$config"
  printf '{"rules":[%s]}\n' "$rule_a" >"$single"
  # The error names both rules and says what they do to each other.
  names_both() { grep -q "'A'" "$1" && grep -q "'B'" "$1" && grep -qi "loop" "$1"; }

  local status=0
  in_ns "$relay" "$MRELAY_BIN_DIR/mrelay" --check-config "$config" >"$MRELAY_TMP/check.out" \
    2>"$MRELAY_TMP/check.err" || status=$?
  cat "$MRELAY_TMP/check.out" "$MRELAY_TMP/check.err" >&2
  expect_eq "--check-config of the two-rule loop: exit status" "$status" 2
  names_both "$MRELAY_TMP/check.err" || mrelay_fail "--check-config does not name rules A and B"

  # Starting with it: refused the same way (bounded, in case it would run).
  status=0
  timeout --kill-after=2 5 ip netns exec "$relay" "$MRELAY_BIN_DIR/mrelay" --config "$config" \
    --stats-json "$MRELAY_TMP/start.stats" >/dev/null 2>"$MRELAY_TMP/start.err" || status=$?
  expect_eq "mrelay --config with the two-rule loop: exit status" "$status" 2
  names_both "$MRELAY_TMP/start.err" || mrelay_fail "start-up error does not name A and B"

  # Running with A alone: a SIGHUP to A+B and an add_rule of B are refused, A keeps running.
  local sock=$MRELAY_TMP/control.sock
  cp "$single" "$MRELAY_TMP/live.json"
  start_relay one "$relay" lpv1 "$G1" --config "$MRELAY_TMP/live.json" --control-socket "$sock"
  local one_pid=$RELAY_PID
  cp "$config" "$MRELAY_TMP/live.json"
  kill -HUP "$one_pid"
  wait_until 5 grep -q "SIGHUP: reload rejected" "$MRELAY_TMP/one.err" ||
    mrelay_fail "SIGHUP to the two-rule loop: not rejected"
  grep "SIGHUP: reload rejected" "$MRELAY_TMP/one.err" >"$MRELAY_TMP/hup.err"
  cat "$MRELAY_TMP/hup.err" >&2
  names_both "$MRELAY_TMP/hup.err" || mrelay_fail "SIGHUP rejection does not name A and B"
  status=0
  "$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" add-rule "$rule_b" >"$MRELAY_TMP/add.out" \
    2>"$MRELAY_TMP/add.err" || status=$?
  cat "$MRELAY_TMP/add.err" >&2
  expect_eq "add-rule B next to A: mrelayctl exit status" "$status" 1
  names_both "$MRELAY_TMP/add.err" || mrelay_fail "add-rule rejection does not name A and B"
  expect_eq "rules after both rejections" \
    "$("$MRELAY_BIN_DIR/mrelayctl" --socket "$sock" --json list-rules |
      "$MRELAY_PYTHON" -c 'import json,sys; print([r["name"] for r in json.load(sys.stdin)["rules"]])')" \
    "['A']"
  stop_relay one "$one_pid"
  echo "PASS part a: the one-host loop of rules A and B is refused at load, reload and add_rule" >&2
}

# --- b) two relays feeding each other: the TTL ends the loop -----------------------------

# expected_counts TTL FANOUT: "x_fwd x_tx y_fwd y_tx drops" for one packet injected towards X
# with TTL; X sends each packet to FANOUT outputs, Y each to one.
expected_counts() {
  "$MRELAY_PYTHON" - "$1" "$2" <<'EOF'
import sys
ttl, fanout = int(sys.argv[1]), int(sys.argv[2])
fwd, tx, drops, count, hop = [0, 0], [0, 0], 0, 1, 0
while True:
    at = hop % 2                      # 0 = X, 1 = Y
    if ttl - hop <= 1:                # arrives with TTL <= 1: a copy would leave with TTL 0
        drops = count
        break
    fwd[at] += count
    count *= fanout if at == 0 else 1
    tx[at] += count
    hop += 1
print(fwd[0], tx[0], fwd[1], tx[1], drops)
EOF
}

# loop_state X_OUT Y_OUT EXPECTED_DROPS: "done" once the relays' stats lines show the expected
# TTL drops, "storm F" once they forwarded more than STORM_FORWARDS, else "wait F".
loop_state() {
  "$MRELAY_PYTHON" - "$1" "$2" "$3" "$STORM_FORWARDS" <<'EOF'
import json, sys
fwd = drops = 0
for path in sys.argv[1:3]:
    last = None
    for line in open(path):
        if line.startswith("{"):
            try:
                last = json.loads(line)
            except json.JSONDecodeError:
                pass  # a line being written
    if last:
        fwd += last["total"]["fwd_packets"]
        drops += last["total"].get("drop_ttl_expired", 0)
if fwd > int(sys.argv[4]):
    print("storm", fwd)
elif drops >= int(sys.argv[3]):
    print("done", fwd)
else:
    print("wait", fwd)
EOF
}

# run_loop LABEL FANOUT X_INGRESS:X_EGRESS Y_INGRESS:Y_EGRESS
run_loop() {
  local label=$1 fanout=$2 xmodes=$3 ymodes=$4
  local x_args=(--ingress "${xmodes%%:*}" --egress "${xmodes##*:}" --stats-interval "$STATS_MS")
  local y_args=(--ingress "${ymodes%%:*}" --egress "${ymodes##*:}" --stats-interval "$STATS_MS")
  local k outs=() y_rules=()
  for ((k = 0; k < fanout; k++)); do
    outs+=("{\"interface\":\"rout0\",\"group\":\"$G2\",\"port\":$((P2 + k))}")
    y_rules+=("{\"name\":\"y$k\",\"input\":{\"interface\":\"snk0\",\"group\":\"$G2\",\"port\":$((P2 + k))},\"outputs\":[{\"interface\":\"snk0\",\"group\":\"$G1\",\"port\":$P1}]}")
  done
  local IFS=,
  printf '{"rules":[{"name":"x","input":{"interface":"rout0","group":"%s","port":%s},"outputs":[%s]}]}\n' \
    "$G1" "$P1" "${outs[*]}" >"$MRELAY_TMP/x-$label.json"
  printf '{"rules":[%s]}\n' "${y_rules[*]}" >"$MRELAY_TMP/y-$label.json"
  unset IFS
  # Neither relay has a loop on its own host: both configs pass the one-host check.
  in_ns "$relay" "$MRELAY_BIN_DIR/mrelay" --check-config "$MRELAY_TMP/x-$label.json" \
    >/dev/null 2>&1 || mrelay_fail "$label: X's config refused by --check-config"
  in_ns "$sink" "$MRELAY_BIN_DIR/mrelay" --check-config "$MRELAY_TMP/y-$label.json" \
    >/dev/null 2>&1 || mrelay_fail "$label: Y's config refused by --check-config"

  start_relay "x-$label" "$relay" rout0 "$G1" --config "$MRELAY_TMP/x-$label.json" "${x_args[@]}"
  local x_pid=$RELAY_PID
  start_relay "y-$label" "$sink" snk0 "$G2" --config "$MRELAY_TMP/y-$label.json" "${y_args[@]}"
  local y_pid=$RELAY_PID

  local expected x_fwd x_tx y_fwd y_tx drops
  expected=$(expected_counts "$TTL" "$fanout")
  read -r x_fwd x_tx y_fwd y_tx drops <<<"$expected"

  # One packet towards X, from Y's side of the pair.
  run_gen "inject-$label" "$sink" snk0 "$G1:$P1" --count 1 --ttl "$TTL" --size 64

  local state="" deadline=$((SECONDS + LOOP_DEADLINE_S))
  while ((SECONDS < deadline)); do
    state=$(loop_state "$MRELAY_TMP/x-$label.out" "$MRELAY_TMP/y-$label.out" "$drops")
    [[ $state == wait* ]] || break
    sleep 0.1
  done
  stop_relay "x-$label" "$x_pid"
  stop_relay "y-$label" "$y_pid"
  case $state in
    storm*) mrelay_fail "$label: one packet with TTL $TTL was forwarded ${state#storm } times" \
      "and counting (bound: $((x_fwd + y_fwd))): the loop does not die out" ;;
    wait*) mrelay_fail "$label: the loop did not end within ${LOOP_DEADLINE_S}s (${state#wait }" \
      "forwards, expected $((x_fwd + y_fwd)) and $drops TTL drops)" ;;
  esac

  local verdict=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$MRELAY_TMP/x-$label.stats" "$MRELAY_TMP/y-$label.stats" "$label" \
    "$TTL" "$x_fwd" "$x_tx" "$y_fwd" "$y_tx" "$drops" >"$verdict" <<'EOF'
import json, sys
def final(path):
    lines = [json.loads(l) for l in open(path) if l.startswith("{")]
    return [l for l in lines if l.get("event") == "final"][-1]["total"]
x, y = final(sys.argv[1]), final(sys.argv[2])
label, ttl = sys.argv[3], int(sys.argv[4])
want_x_fwd, want_x_tx, want_y_fwd, want_y_tx, want_drops = map(int, sys.argv[5:10])
problems = []
for name, t, fwd, tx in (("X", x, want_x_fwd, want_x_tx), ("Y", y, want_y_fwd, want_y_tx)):
    if (t["fwd_packets"], t["tx_packets"]) != (fwd, tx):
        problems.append(f"relay {name}: fwd {t['fwd_packets']} tx {t['tx_packets']}, "
                        f"expected fwd {fwd} tx {tx}")
    for key in ("exhausted_packets", "drop_buffer_exhausted", "drop_queue_full", "drop_enobufs",
                "drop_eagain", "drop_other_errno", "kernel_drops", "drop_ttl_threshold"):
        if t.get(key, 0):
            problems.append(f"relay {name}: {key} = {t[key]}")
drops = x.get("drop_ttl_expired", 0) + y.get("drop_ttl_expired", 0)
if drops != want_drops:
    problems.append(f"drop_ttl_expired X+Y = {drops}, expected {want_drops}")
print(f"{label}: one packet at TTL {ttl}: X fwd {x['fwd_packets']} tx {x['tx_packets']}, "
      f"Y fwd {y['fwd_packets']} tx {y['tx_packets']}, TTL drops {drops}", file=sys.stderr)
for p in problems:
    print(p)
EOF
  if [[ -s $verdict ]]; then
    cat "$verdict" >&2
    mrelay_fail "$label: counters do not match the TTL's bound"
  fi
}

for part in $PARTS; do
  case $part in
    a) part_one_host ;;
    b)
      for case in $CASES; do
        IFS=/ read -r label fanout xmodes ymodes <<<"$case"
        run_loop "$label" "$fanout" "$xmodes" "$ymodes"
      done
      echo "PASS part b: loops through two relays die out at the TTL" >&2
      ;;
    *) mrelay_fail "unknown part '$part' in MRELAY_LOOP_PARTS (a, b)" ;;
  esac
done
echo "PASS relay_loop_test: parts $PARTS"
