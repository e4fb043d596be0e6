#!/usr/bin/env bash
# The rig's JSON holds whatever its free-text inputs hold, and reading it runs no code:
#   1. mrelay-netns up --json with an egress qdisc spec holding a tab (tc takes a tab between
#      words) prints JSON that parses and gives the spec back unchanged;
#   2. the run's ownership record parses too: `mrelay-netns list` shows the run live under its
#      owner (an unreadable record reads as "owner gone", and gc treats the run as debris);
#   3. lib.sh's json_get refuses a query that would run code, runs nothing, and still answers
#      the queries the tests ask (subscripts, sums, comprehensions, .join).
#
#   sudo netns/tests/netns_json_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
command -v tc >/dev/null || mrelay_skip "tc (iproute2) not installed"
mrelay_require_capability tbf
mrelay_test_init nj

failures=0
problem() {
  mrelay_log "FAILED: $*"
  failures=$((failures + 1))
}

# 1. A tab in the qdisc spec.
qdisc=$'tbf rate 100mbit\tburst 32kb latency 20ms'
mrelay_topology_up hop --egress-qdisc "$qdisc"
if ! verdict=$("$MRELAY_PYTHON" - "$MRELAY_TOPOLOGY_JSON" "$qdisc" 2>&1 <<'PY'
import json, sys
try:
    topo = json.load(open(sys.argv[1]))
except ValueError as error:
    sys.exit(f"up --json printed no JSON: {error}")
given = topo["settings"]["egress_qdisc"]
if given != sys.argv[2]:
    sys.exit(f"egress_qdisc {given!r}, expected {sys.argv[2]!r}")
PY
); then
  problem "topology JSON: $verdict"
fi

# 2. The ownership record.
listed=$("$MRELAY_NETNS" list | grep "^$PREFIX " || true)
[[ $listed == "$PREFIX owner=$$ live: "* ]] ||
  problem "mrelay-netns list: expected '$PREFIX owner=$$ live: ...', got '$listed'"

# 3. json_get: data, not code.
marker=$MRELAY_TMP/code-ran
printf '{"sent": 5, "streams": [{"received": 2}, {"received": 3}]}\n' >"$MRELAY_TMP/j.json"
for query in "__import__('os').system('touch $marker')" \
  "j.__class__.__mro__[1].__subclasses__()" "open('$marker', 'w')"; do
  if answer=$(json_get "$MRELAY_TMP/j.json" "$query" 2>&1); then
    problem "json_get ran the query $query (answered: $answer)"
  fi
done
[[ ! -e $marker ]] || problem "json_get ran code: $marker exists"
expect_eq "json_get sum" "$(json_get "$MRELAY_TMP/j.json" 'sum(s["received"] for s in j["streams"])')" 5
expect_eq "json_get topology" "$(topo_get '" ".join(j["relays"][0]["egress"])')" rout0

[[ $failures -eq 0 ]] || mrelay_fail "$failures check(s) failed"
mrelay_log "ok: tab-holding qdisc round-trips, the record reads as live, json_get runs no code"
