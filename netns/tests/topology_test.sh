#!/usr/bin/env bash
# mrelay-netns itself: every topology comes up as its JSON says (namespaces, interfaces,
# addresses, links, sysctls) and `down` leaves nothing behind; the options take effect; a
# failing `up` removes what it made; bad arguments exit 2; `gc` removes a run whose owner is
# dead and leaves a live run and a fresh record-less namespace alone.
#
#   sudo netns/tests/topology_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
command -v tc >/dev/null || mrelay_skip "tc (iproute2) not installed"
mrelay_test_init top

# check_topology TOPOLOGY: the live namespaces match the JSON in every detail we promise.
check_topology() {
  local verdict=$MRELAY_TMP/verdict.txt
  "$MRELAY_PYTHON" - "$MRELAY_TOPOLOGY_JSON" "$1" >"$verdict" <<'EOF'
import json, subprocess, sys
topo, name = json.load(open(sys.argv[1])), sys.argv[2]
problems = []
def run(*args):
    return subprocess.run(args, capture_output=True, text=True).stdout
existing = set(line.split()[0] for line in run("ip", "netns", "list").splitlines() if line)
addresses = {}  # (ns, iface) -> {"a.b.c.d/24", ...}
for ns in topo["namespaces"]:
    if ns not in existing:
        problems.append(f"namespace {ns} missing")
        continue
    for entry in json.loads(run("ip", "-n", ns, "-j", "addr")):
        for info in entry.get("addr_info", []):
            if info["family"] == "inet":
                addresses.setdefault((ns, entry["ifname"]), set()).add(
                    f"{info['local']}/{info['prefixlen']}")
        if entry["ifname"] == "lo" and "UP" not in entry["flags"]:
            problems.append(f"{ns}: lo is down")
    value = run("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.igmp_max_memberships").strip()
    if value != "1024":
        problems.append(f"{ns}: igmp_max_memberships {value}")
    if not ns.startswith(topo["prefix"] + "-"):
        problems.append(f"{ns} does not carry the prefix {topo['prefix']}")
for s in topo["sources"]:
    if s["address"] + "/24" not in addresses.get((s["ns"], s["interface"]), ()):
        problems.append(f"source {s}: address {addresses.get((s['ns'], s['interface']))}")
    if "224.0.0.0/4" not in run("ip", "-n", s["ns"], "route"):
        problems.append(f"{s['ns']}: no 224.0.0.0/4 route")
for r in topo["relays"]:
    for iface in r["ingress"]:
        if (r["ns"], iface) not in addresses:
            problems.append(f"{r['ns']}: ingress {iface} missing")
        rp = run("ip", "netns", "exec", r["ns"], "sysctl", "-n", f"net.ipv4.conf.{iface}.rp_filter").strip()
        if rp != topo["settings"]["rp_filter_relay_ingress"]:
            problems.append(f"{r['ns']}: {iface} rp_filter {rp}")
    if [f["egress"] for f in r["feeds"]] != r["egress"]:
        problems.append(f"{r['ns']}: feeds do not cover egress {r['egress']}")
    for f in r["feeds"]:
        if f["address"] + "/24" not in addresses.get((r["ns"], f["egress"]), ()):
            problems.append(f"{r['ns']} {f['egress']}: address {addresses.get((r['ns'], f['egress']))}")
        if f["peer"] + "/24" not in addresses.get((f["ns"], f["interface"]), ()):
            problems.append(f"feed {f}: peer address {addresses.get((f['ns'], f['interface']))}")
        target = topo["relays"][f["index"]]["ns"] if f["to"] == "relay" else topo["sinks"][0]["ns"]
        if target != f["ns"]:
            problems.append(f"feed {f}: index points at {target}")
for s in topo["sinks"]:
    for iface in s["interfaces"]:
        if (s["ns"], iface) not in addresses:
            problems.append(f"{s['ns']}: {iface} missing")
# Shape per topology.
kind, _, count = name.partition(":")
n = int(count) if count else 0
shape = {
    "hop": (1, 1, 1, 1),
    "fanout": (1, 1, 1, n),
    "chain": (1, n, 1, 1),
    "tree": (1, 3, 1, 4),
    "converge": (n, 1, 1, 1),
}[kind]
got = (len(topo["sources"]), len(topo["relays"]), len(topo["sinks"]),
       len(topo["sinks"][0]["interfaces"]))
if got != shape:
    problems.append(f"shape (sources, relays, sinks, sink interfaces) {got}, expected {shape}")
if kind == "converge" and len(topo["relays"][0]["ingress"]) != n:
    problems.append(f"converge relay ingress {topo['relays'][0]['ingress']}")
if kind == "chain":
    for i, r in enumerate(topo["relays"]):
        want = ("relay", i + 1) if i + 1 < n else ("sink", 0)
        if (r["feeds"][0]["to"], r["feeds"][0]["index"]) != want:
            problems.append(f"chain relay{i} feeds {r['feeds'][0]}")
for p in problems:
    print(p)
EOF
  if [[ -s $verdict ]]; then
    head -20 "$verdict" >&2
    mrelay_fail "$1: topology does not match its JSON"
  fi
}

namespaces_of() {
  ip netns list | awk '{print $1}' | grep -c "^$1-" || true
}

# 1. Every topology up and down.
for topology in hop fanout:4 fanout:64 chain:3 tree converge:3; do
  start_ns=$(date +%s%N)
  mrelay_topology_up "$topology"
  elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
  check_topology "$topology"
  expect_eq "$topology: record file" "$(test -f "/run/mrelay-netns/$PREFIX.json" && echo yes)" yes
  mrelay_topology_down
  expect_eq "$topology: namespaces left after down" "$(namespaces_of "$PREFIX")" 0
  expect_eq "$topology: record left after down" "$(test -e "/run/mrelay-netns/$PREFIX.json" && echo yes || echo no)" no
  echo "[topology_test] $topology: up in ${elapsed_ms} ms, matches its JSON, down clean" >&2
done

# 2. Options take effect and are recorded.
# tbf: netem is not built into every kernel (this VM's lacks it).
readonly QDISC="tbf rate 300mbit burst 32kb latency 20ms"
mrelay_topology_up fanout:2 --egress-qdisc "$QDISC" --rps-cpus 1 --rp-filter 1 \
  --unroutable-source 192.0.2.1
check_topology fanout:2
relay=$(topo_get 'j["relays"][0]["ns"]')
for iface in rout0 rout1; do
  qdisc=$(tc -n "$relay" qdisc show dev "$iface")
  [[ $qdisc == *"tbf"*"rate 300Mbit"* ]] || mrelay_fail "--egress-qdisc not on $iface: $qdisc"
done
expect_eq "rps_cpus" "$(in_ns "$relay" cat /sys/class/net/rin0/queues/rx-0/rps_cpus)" 1
expect_eq "settings" "$(topo_get 'j["settings"]["egress_qdisc"] + "|" + j["settings"]["rps_cpus"] + "|" + j["settings"]["rp_filter_relay_ingress"]')" \
  "$QDISC|1|1"
expect_eq "unroutable source address on gen0" \
  "$(ip -n "$(topo_get 'j["sources"][0]["ns"]')" -o addr show dev gen0 | grep -c '192.0.2.1/32')" 1
mrelay_topology_down

# Both families and jumbo frames: every IPv4 address as above, each IPv6 twin the JSON names
# on its interface, every veth at MTU 9000, a link-local address on each (up waited for them).
mrelay_topology_up fanout:2 --family dual --mtu 9000
check_topology fanout:2
expect_eq "family/mtu settings" "$(topo_get 'j["settings"]["family"] + "|" + str(j["settings"]["mtu"])')" \
  "dual|9000"
# Each listing is read whole before it is matched: `ip ... | grep -q` under pipefail fails at
# random when grep's early exit gives ip a SIGPIPE on a line after the match.
while read -r ns iface address; do
  addresses=$(ip -n "$ns" -6 addr show dev "$iface")
  [[ $addresses == *"inet6 $address/64"* ]] || mrelay_fail "$ns $iface: no $address/64: $addresses"
  [[ $(ip -n "$ns" -6 addr show dev "$iface" scope link) == *inet6* ]] ||
    mrelay_fail "$ns $iface: no link-local address"
  [[ $(ip -n "$ns" link show dev "$iface") == *"mtu 9000"* ]] || mrelay_fail "$ns $iface: MTU not 9000"
done < <(topo_get '"\n".join([s["ns"] + " " + s["interface"] + " " + s["address6"] for s in j["sources"]] + [f["ns"] + " " + f["interface"] + " " + f["peer6"] for r in j["relays"] for f in r["feeds"]] + [r["ns"] + " " + f["egress"] + " " + f["address6"] for r in j["relays"] for f in r["feeds"]])')
expect_eq "dad off in the sink" "$(in_ns "$(topo_get 'j["sinks"][0]["ns"]')" sysctl -n net.ipv6.conf.snk1.accept_dad)" 0
mrelay_topology_down

# 3. A failing up removes what it made; usage errors exit 2 and create nothing.
status=0
"$MRELAY_NETNS" up fanout:3 --prefix "$PREFIX" --egress-qdisc "bogus-qdisc" 2>"$MRELAY_TMP/fail.err" || status=$?
MRELAY_TOPOLOGY_UP=1  # in case it left something, cleanup downs it
expect_eq "up with a bad qdisc: exit status" "$status" 1
expect_eq "up with a bad qdisc: namespaces left" "$(namespaces_of "$PREFIX")" 0
expect_eq "up with a bad qdisc: record left" "$(test -e "/run/mrelay-netns/$PREFIX.json" && echo yes || echo no)" no
for bad in "up hop --prefix notours" "up fanout:0" "up mesh" "up hop --rp-filter 7" "down nope" "frobnicate" \
  "up hop --family ipx" "up hop --mtu 9001" "up hop --family ipv6 --mtu 1000" \
  "up hop --family ipv6 --unroutable-source 192.0.2.1"; do
  status=0
  # shellcheck disable=SC2086
  "$MRELAY_NETNS" $bad 2>/dev/null >&2 || status=$?
  expect_eq "mrelay-netns $bad: exit status" "$status" 2
done
"$MRELAY_NETNS" --help >"$MRELAY_TMP/help.txt"
grep -q "converge:M" "$MRELAY_TMP/help.txt" || mrelay_fail "--help does not describe the topologies"

# 4. gc: a run whose owner died goes; a live run and a fresh record-less namespace stay.
dead_prefix="$PREFIX-dead"
live_prefix="$PREFIX-live"
norec_ns="$PREFIX-norec-sink0"
MRELAY_EXTRA_PREFIXES=("$dead_prefix" "$live_prefix" "$PREFIX-norec")
sleep 0 &
dead_pid=$!
wait "$dead_pid"
"$MRELAY_NETNS" up hop --prefix "$dead_prefix" --owner-pid "$dead_pid" >/dev/null
"$MRELAY_NETNS" up hop --prefix "$live_prefix" --owner-pid $$ >/dev/null
ip netns add "$norec_ns"
# A second `up` with a prefix in use fails and leaves the first run intact.
status=0
"$MRELAY_NETNS" up hop --prefix "$live_prefix" 2>/dev/null >&2 || status=$?
expect_eq "up with a prefix in use: exit status" "$status" 1
expect_eq "up with a prefix in use: the first run's namespaces" "$(namespaces_of "$live_prefix")" 3
expect_eq "up with a prefix in use: the first run's record" "$(test -f "/run/mrelay-netns/$live_prefix.json" && echo yes)" yes
# To a file first: grep -q closing the pipe early would fail the pipeline under pipefail.
"$MRELAY_NETNS" list >"$MRELAY_TMP/list.txt"
grep -q "^$dead_prefix owner=$dead_pid stale" "$MRELAY_TMP/list.txt" || mrelay_fail "list does not show the dead run as stale"
grep -q "^$live_prefix owner=$$ live" "$MRELAY_TMP/list.txt" || mrelay_fail "list does not show the live run"
"$MRELAY_NETNS" gc 2>"$MRELAY_TMP/gc.err"
expect_eq "gc: namespaces of the dead owner's run" "$(namespaces_of "$dead_prefix")" 0
expect_eq "gc: record of the dead owner's run" "$(test -e "/run/mrelay-netns/$dead_prefix.json" && echo yes || echo no)" no
expect_eq "gc: namespaces of the live run" "$(namespaces_of "$live_prefix")" 3
expect_eq "gc: fresh record-less namespace" "$(namespaces_of "$PREFIX-norec")" 1
"$MRELAY_NETNS" down "$live_prefix"
ip netns del "$norec_ns"
expect_eq "namespaces of this test left" "$(namespaces_of "$PREFIX")" 0
echo "[topology_test] gc removed the dead owner's run, kept the live run and the fresh record-less namespace" >&2
echo "PASS topology_test"
