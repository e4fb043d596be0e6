#!/usr/bin/env bash
# Privilege drop: the relay's every task (main thread and workers) runs with the expected
# identity and capability sets, read from /proc/PID/task/*/status, and still forwards every
# packet of a paced flow.
#
#   packet-user   started as root with --user nobody, packet ingress: uid/gid 65534, CapEff =
#                 CapPrm = CapBnd = CAP_NET_RAW only, CapInh = CapAmb = 0, NoNewPrivs 1.
#   udp-user      the same with udp ingress: no capability at all, bounding set empty.
#   setpriv       started as nobody with only CAP_NET_RAW (setpriv, ambient), packet ingress,
#                 no --user: works, and the ambient capability is gone after start.
#   bad-user      --user with an unknown name: exit 1, the message names --user.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_privileges_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelay-gen mrelay-sink
command -v setpriv >/dev/null || mrelay_skip "setpriv (util-linux) not installed"
getent passwd nobody >/dev/null || mrelay_skip "no user 'nobody'"
mrelay_test_init opp

readonly RATE_PPS=10000
readonly COUNT=5000
readonly NOBODY_UID=$(id -u nobody)
readonly NOBODY_GID=$(id -g nobody)
# CAP_NET_RAW is capability 13: mask 1 << 13, as /proc prints it.
readonly CAP_NET_RAW_MASK=0000000000002000
readonly CAP_NONE=0000000000000000

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

# The relay writes its final stats as nobody: a directory it may write in, inside ours
# (traversable, not listable, by others).
chmod 0711 "$MRELAY_TMP"
stats_dir=$MRELAY_TMP/nobody
install -d -o nobody -g "$NOBODY_GID" -m 0700 "$stats_dir"
[[ -x $MRELAY_BIN_DIR/mrelay ]] && setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" \
  --clear-groups test -x "$MRELAY_BIN_DIR/mrelay" ||
  mrelay_skip "$MRELAY_BIN_DIR/mrelay is not executable by nobody"

# check_tasks LABEL PID UID CAPS_EFF_PRM CAPS_BND: every task of PID has these sets.
check_tasks() {
  local label=$1 pid=$2 uid=$3 caps=$4 bounding=$5
  local tasks=0 status field value
  for status in /proc/"$pid"/task/*/status; do
    tasks=$((tasks + 1))
    local tid=${status#/proc/"$pid"/task/}
    tid=${tid%/status}
    local uids
    uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$status")
    expect_eq "$label: task $tid Uid (real effective saved fs)" "$uids" "$uid $uid $uid $uid"
    for field in CapEff CapPrm; do
      value=$(awk -v f="$field:" '$1 == f { print $2 }' "$status")
      expect_eq "$label: task $tid $field" "$value" "$caps"
    done
    for field in CapInh CapAmb; do
      value=$(awk -v f="$field:" '$1 == f { print $2 }' "$status")
      expect_eq "$label: task $tid $field" "$value" "$CAP_NONE"
    done
    value=$(awk '$1 == "CapBnd:" { print $2 }' "$status")
    expect_eq "$label: task $tid CapBnd" "$value" "$bounding"
    value=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$status")
    expect_eq "$label: task $tid NoNewPrivs" "$value" 1
  done
  # The main thread plus at least one worker: the workers were checked, not only main.
  expect_ge "$label: tasks checked" "$tasks" 2
  mrelay_log "$label: $tasks tasks: Uid $uid, CapEff=CapPrm $caps, CapBnd $bounding, no ambient"
}

# run_case NAME INGRESS UID CAPS BOUNDING LAUNCHER... -- MRELAY_FLAGS...
run_case() {
  local name=$1 ingress=$2 uid=$3 caps=$4 bounding=$5
  shift 5
  local launcher=()
  while [[ $1 != -- ]]; do
    launcher+=("$1")
    shift
  done
  shift
  local label="privileges $name"
  start_sink "sink-$name" "$sink" snk0 239.2.0.1:6000 0
  local sink_pid=$SINK_PID
  local stats=$stats_dir/$name.stats
  mrelay_spawn "$relay" "$MRELAY_TMP/relay-$name" "${launcher[@]}" "$MRELAY_BIN_DIR/mrelay" \
    --ingress "$ingress" --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000 \
    --stats-json "$stats" "$@"
  local relay_pid=$MRELAY_LAST_PID
  if ! wait_until 5 grep -q "running:" "$MRELAY_TMP/relay-$name.err"; then
    show_logs "$MRELAY_TMP/relay-$name"
    mrelay_fail "$label: relay never reported running"
  fi
  grep "privileges:" "$MRELAY_TMP/relay-$name.err" >&2 || mrelay_fail "$label: no privileges line"
  check_tasks "$label" "$relay_pid" "$uid" "$caps" "$bounding"
  run_gen "gen-$name" "$src" gen0 239.1.1.1:5000 --rate "$RATE_PPS" --count "$COUNT" \
    --warmup 0.1 --size 512
  wait_sink "sink-$name" "$sink_pid"
  stop_pid "$relay_pid" 10 || mrelay_fail "$label: relay exit status $?"
  cp "$stats" "$MRELAY_TMP/relay-$name.stats" || mrelay_fail "$label: no final stats from nobody"
  check_delivery "$label" "gen-$name" "sink-$name" 1
  local gen_sent
  gen_sent=$(json_get "$MRELAY_TMP/gen-$name.out" 'j["sent"]')
  check_relay_counters "$label" "relay-$name" "$gen_sent" 1 "sink-$name"
  echo "SUMMARY $label: uid $uid, CapEff=CapPrm=$caps CapBnd=$bounding on every task; " \
    "$gen_sent packets, 0 lost" >&2
}

run_case packet-user packet "$NOBODY_UID" "$CAP_NET_RAW_MASK" "$CAP_NET_RAW_MASK" -- \
  --user nobody
# udp ingress with a UDP-socket egress needs no capability at all (the packet egress, the
# default, opens an AF_PACKET socket on the worker thread and keeps CAP_NET_RAW).
run_case udp-user udp "$NOBODY_UID" "$CAP_NONE" "$CAP_NONE" -- --user nobody --group nogroup \
  --egress sendmmsg
# Not root at all: nobody with CAP_NET_RAW handed over as an ambient capability, the way a
# service manager does it. The relay cannot touch the bounding set (no CAP_SETPCAP), so it
# stays what setpriv left; the permitted/effective sets and ambient are reduced.
run_case setpriv packet "$NOBODY_UID" "$CAP_NET_RAW_MASK" "$CAP_NET_RAW_MASK" \
  setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups \
  --inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw -- \
  --sndbuf 0 --rcvbuf 0

# An unknown user: a set-up failure (exit 1) whose message names the flag.
status=0
in_ns "$relay" "$MRELAY_BIN_DIR/mrelay" --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000 \
  --user no-such-user-mrelay 2>"$MRELAY_TMP/bad-user.err" || status=$?
expect_eq "unknown --user exit status" "$status" 1
grep -q -- "--user: no such user 'no-such-user-mrelay'" "$MRELAY_TMP/bad-user.err" ||
  { cat "$MRELAY_TMP/bad-user.err" >&2; mrelay_fail "unknown --user: message does not name it"; }
echo "PASS relay_privileges_test"
