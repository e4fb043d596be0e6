#!/usr/bin/env bash
# `mrelay-bench cell --family ipv6` end to end: short IPv6 cells (0.8 s window, 10k pps, hop on
# mrelay-netns up --family ipv6) with mrelay (udp ingress, IPv6 rule in a config file),
# nftables (ip6 dup with the hop limit decremented) and direct must deliver with no loss and
# say family ipv6 in their record; an IPv6 cell a forwarder cannot do is skipped or
# unsupported with the reason, never an error: the kernel (ipmr) reference (mrelay-kfwd has no
# ip6mr), mrelay's packet ingress when `mrelay-bench probe` says this relay build refuses IPv6
# there, kernel-nft when nftables netdev dup is missing. One jumbo cell (direct, 8972 B at
# --mtu 9000) must deliver and record mtu 9000. No namespace of ours may be left. Runtime
# ~40 s. Exit 77 (skipped) without root or built programs.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/rig_cell_ipv6_test.sh
set -euo pipefail

NETNS_DIR=${MRELAY_NETNS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN_DIR=${MRELAY_BIN_DIR:-$(cd "$NETNS_DIR/.." && pwd)/build/bin}
PYTHON=/usr/bin/python3
export MRELAY_NETNS_DIR=$NETNS_DIR MRELAY_BIN_DIR=$BIN_DIR

skip() { echo "SKIP [rig_cell_ipv6_test]: $*" >&2; exit 77; }
fail() { echo "FAIL [rig_cell_ipv6_test]: $*" >&2; exit 1; }
log() { echo "[rig_cell_ipv6_test] $*" >&2; }

[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
for program in mrelay-bench mrelay mrelay-gen mrelay-sink mrelay-kfwd; do
  [[ -x $BIN_DIR/$program ]] || skip "$BIN_DIR/$program not built"
done
[[ -e /proc/sys/net/ipv6 ]] || skip "this kernel has no IPv6"
[[ -x $NETNS_DIR/mrelay-netns ]] || skip "$NETNS_DIR/mrelay-netns missing"

source "$(dirname "$0")/bench_lib.sh"
bench_test_init v6

# run_cell NAME CELL_FLAGS...: the bench in the background (so the trap can stop it); the
# record in $TMP/NAME.json, the exit status in RC.
run_cell() {
  local name=$1
  shift
  timeout 80 "$BIN_DIR/mrelay-bench" cell --rate 10000 --warmup 0.3 --window 0.8 "$@" \
    >"$TMP/$name.json" 2>"$TMP/$name.err" &
  local pid=$!
  BENCH_PIDS+=("$pid")
  RC=0
  wait "$pid" || RC=$?
  local left
  left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^mrl-b$pid-" || true)
  [[ -z $left ]] || fail "$name: namespaces left behind: $left"
}

has() { "$BIN_DIR/mrelay-bench" probe --need "$1" >/dev/null 2>&1; }

# expect_delivered NAME FAMILY MTU: status ok, every packet delivered (no loss at 10k pps on
# an idle hop: at most the rig's loss_pct tolerance of 0.5 %), the record's family and MTU.
expect_delivered() {
  local name=$1
  [[ $RC -eq 0 ]] || fail "$name: exit $RC: $(tail -c 800 "$TMP/$name.err")"
  "$PYTHON" - "$TMP/$name.json" "$2" "$3" <<'PY' || fail "$name: record check failed"
import json, sys
record, family, mtu = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
errors = []
if record.get("status") != "ok":
    errors.append(f"status {record.get('status')!r}: {record.get('reason')!r}")
else:
    if record["params"].get("family") != family:
        errors.append(f"params.family {record['params'].get('family')!r}")
    if record["params"].get("mtu") != mtu:
        errors.append(f"params.mtu {record['params'].get('mtu')!r}")
    if not record.get("delivered_pps", 0) > 0:
        errors.append("delivered_pps 0")
    if record.get("loss_pct") is None or record["loss_pct"] > 0.5:
        errors.append(f"loss_pct {record.get('loss_pct')}")
    sink = record.get("sink", {})
    groups = {s.get("group") for s in sink.get("streams", [])}
    if family == "ipv6" and not groups <= {"ff3e::1", "ff3e::2"}:
        errors.append(f"sink groups {groups}")
print(f"{record.get('label')}: delivered {record.get('delivered_pps', 0):.0f} pps, "
      f"loss {record.get('loss_pct')} %", file=sys.stderr)
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# expect_not_run NAME STATUS EXIT WORDS: a cell skipped/unsupported with a reason holding WORDS.
expect_not_run() {
  local name=$1 status=$2 code=$3 words=$4
  [[ $RC -eq $code ]] || fail "$name: exit $RC, expected $code: $(tail -c 600 "$TMP/$name.err")"
  "$PYTHON" - "$TMP/$name.json" "$status" "$words" <<'PY' || fail "$name: not $status as expected"
import json, sys
record = json.load(open(sys.argv[1]))
ok = record.get("status") == sys.argv[2] and sys.argv[3] in record.get("reason", "")
print(f"{record.get('label')}: {record.get('status')}: {record.get('reason')}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

run_cell mrelay-udp --family ipv6 --forwarder mrelay --ingress udp --egress gso
expect_delivered mrelay-udp ipv6 1500
grep -q -- "--config" "$TMP/mrelay-udp.json" || fail "mrelay-udp: the relay was not given --config"

run_cell direct --family ipv6 --forwarder direct
expect_delivered direct ipv6 1500

run_cell kernel --family ipv6 --forwarder kernel
expect_not_run kernel unsupported 0 "ip6mr"

run_cell mrelay-packet --family ipv6 --forwarder mrelay --ingress packet --egress gso
if has mrelay_packet_ipv6; then
  expect_delivered mrelay-packet ipv6 1500
else
  expect_not_run mrelay-packet skipped 77 "mrelay AF_PACKET ingress with IPv6 groups"
fi

run_cell nft --family ipv6 --forwarder kernel-nft
if has nft_netdev_dup; then
  expect_delivered nft ipv6 1500
else
  expect_not_run nft skipped 77 "nftables"
fi

if command -v socat >/dev/null; then
  run_cell socat --family ipv6 --forwarder socat
  expect_delivered socat ipv6 1500
fi

run_cell jumbo --forwarder direct --mtu 9000 --size 8972
expect_delivered jumbo ipv4 9000
echo "PASS rig_cell_ipv6_test"
