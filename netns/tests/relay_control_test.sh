#!/usr/bin/env bash
# The control plane end to end (hop topology, packet ingress, uring egress): while rule A
# carries a paced stream for ~5 s, rule B is added over the control socket (mrelayctl), its
# group joined on the ingress interface, used by a second stream, listed, and removed again;
# meanwhile 50 clients connect at once, one sends half a request and hangs, one disconnects
# mid-request, and malformed/invalid requests get JSON errors naming the problem. Asserts rule
# A's sink saw zero loss, B's sink got every packet sent while B existed, the socket file is
# 0660, mrelayctl's exit codes, per-rule Prometheus counters, SIGHUP with a valid file (rules
# applied as a diff) and an invalid one (rejected, logged, nothing changes), and that SIGTERM
# drains, exits 0 and removes the socket; then that a rule added at run time survives a
# restart (--state-file) and GET /metrics answers on loopback. Runtime ~20 s.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/relay_control_test.sh
# shellcheck source=netns/lib.sh
source "$(dirname "$0")/../lib.sh"
mrelay_require_root
mrelay_require_programs mrelay mrelayctl mrelay-gen mrelay-sink
mrelay_test_init ctl

# Rule A: 2000 pps for 10 s; the changes happen while it flows (they take ~2-4 s, more on a
# loaded machine). Rule B: 2000 pps for 1 s.
readonly RATE_A=2000
readonly COUNT_A=20000
# The sinks outlive rule A's stream with room to spare (lib.sh default: 15 s).
SINK_DURATION_S=30
readonly RATE_B=2000
readonly COUNT_B=2000
readonly WARMUP_S=0.1

mrelay_topology_up hop
src=$(topo_get 'j["sources"][0]["ns"]')
relay=$(topo_get 'j["relays"][0]["ns"]')
sink=$(topo_get 'j["sinks"][0]["ns"]')

SOCK=$MRELAY_TMP/control.sock
CONFIG=$MRELAY_TMP/relay.json
CTL=("$MRELAY_BIN_DIR/mrelayctl" --socket "$SOCK")

rule_json() {  # NAME IN_GROUP IN_PORT OUT_GROUP OUT_PORT
  printf '{"name":"%s","input":{"interface":"rin0","group":"%s","port":%s},' "$1" "$2" "$3"
  printf '"outputs":[{"interface":"rout0","group":"%s","port":%s}]}' "$4" "$5"
}
write_config() {  # RULE_JSON...
  local IFS=,
  printf '{"egress":{"backend":"uring"},"rules":[%s]}\n' "$*" >"$CONFIG"
}
RULE_A=$(rule_json a 239.1.1.1 5000 239.2.0.1 6000)
RULE_B=$(rule_json b 239.1.1.2 5001 239.2.0.2 6001)
RULE_C=$(rule_json c 239.1.1.3 5002 239.2.0.3 6002)
write_config "$RULE_A"

start_sink sink-a "$sink" snk0 239.2.0.1:6000 0
sink_a=$SINK_PID
start_sink sink-b "$sink" snk0 239.2.0.2:6001 0
sink_b=$SINK_PID
STATE=$MRELAY_TMP/state.json
start_relay relay "$relay" rin0 239.1.1.1 --config "$CONFIG" --control-socket "$SOCK" \
  --state-file "$STATE"
relay_pid=$RELAY_PID

expect_eq "control socket mode" "$(stat -c %a "$SOCK")" 660
expect_eq "ping" "$("${CTL[@]}" ping)" pong

# Rule A's stream, in the background for the whole sequence.
mrelay_spawn "$src" "$MRELAY_TMP/gen-a" mrelay-gen --interface gen0 --group 239.1.1.1:5000 \
  --rate "$RATE_A" --count "$COUNT_A" --warmup "$WARMUP_S" --size 256 --json
gen_a=$MRELAY_LAST_PID
sleep 0.5

# --- add B, see it listed and joined, send through it -------------------------------------
"${CTL[@]}" add-rule "$RULE_B" >"$MRELAY_TMP/add.out" || mrelay_fail "add-rule b failed"
expect_eq "add-rule output" "$(cat "$MRELAY_TMP/add.out")" "added rule b"
"${CTL[@]}" list-rules >"$MRELAY_TMP/list.out"
grep -Eq '^b +rin0:239\.1\.1\.2:5001 +any +rout0:239\.2\.0\.2:6001$' "$MRELAY_TMP/list.out" ||
  mrelay_fail "list-rules does not show b: $(cat "$MRELAY_TMP/list.out")"
expect_eq "list-rules --json" \
  "$("${CTL[@]}" --json list-rules | "$MRELAY_PYTHON" -c 'import json,sys; print([r["name"] for r in json.load(sys.stdin)["rules"]])')" \
  "['a', 'b']"
wait_until 2 relay_joined "$relay" rin0 239.1.1.2 || mrelay_fail "b's group not joined on rin0"
run_gen gen-b "$src" gen0 239.1.1.2:5001 --rate "$RATE_B" --count "$COUNT_B" \
  --warmup "$WARMUP_S" --size 256

# --- misbehaving and many clients while A flows -------------------------------------------
"$MRELAY_PYTHON" - "$SOCK" >"$MRELAY_TMP/clients.out" 2>&1 <<'EOF' || {
import json, socket, sys, time
path = sys.argv[1]
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s
def ask(s, line):
    s.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data)
half = connect()
half.sendall(b'{"cmd":"pi')            # half a request, then silence
leaver = connect()
leaver.sendall(b'{"cmd":"list_ru')     # disconnects mid-request
leaver.close()
many = [connect() for _ in range(50)]  # 50 clients at once
for s in many:
    s.sendall(b'{"cmd":"ping"}\n')
for s in many:
    reply = json.loads(s.makefile().readline())
    assert reply == {"ok": True, "pong": True}, reply
for s in many:
    s.close()
probe = connect()
errors = {
    "garbage": ("request", "malformed JSON"),
    '{"cmd":"fly"}': ("cmd", "unknown command"),
    '{"cmd":"add_rule","rule":{"name":"x","input":{"interface":"rin0","group":"10.0.0.1","port":1},"outputs":[{"interface":"rout0","group":"239.2.0.9","port":1}]}}':
        ("rule.input.group", "not a multicast group"),
    '{"cmd":"add_rule","rule":{"name":"x","input":{"interface":"nope0","group":"239.1.1.9","port":1},"outputs":[{"interface":"rout0","group":"239.2.0.9","port":1}]}}':
        ("rule.input.interface", "no such interface"),
    '{"cmd":"remove_rule","name":"zz"}': ("name", "no rule named"),
}
for line, (field, words) in errors.items():
    reply = ask(probe, line)
    assert reply["ok"] is False and reply["field"] == field and words in reply["error"], reply
big = connect()
try:
    big.sendall(b"x" * (70 * 1024) + b"\n")
    reply = json.loads(big.makefile().readline())
    assert "request too large" in reply["error"], reply
except (BrokenPipeError, ConnectionResetError):
    pass  # closed by the relay before we finished writing: also a refusal
assert ask(probe, '{"cmd":"list_rules"}')["rules"][1]["name"] == "b"
half.sendall(b'ng"}\n')                # the hanging client finishes: still answered
assert json.loads(half.makefile().readline())["pong"] is True
print("clients ok")
EOF
  cat "$MRELAY_TMP/clients.out" >&2
  mrelay_fail "control clients check failed"
}

# mrelayctl exit codes: 1 daemon error, 2 usage, 3 cannot connect.
status=0; "${CTL[@]}" remove-rule zz 2>/dev/null || status=$?
expect_eq "exit code for a daemon error" "$status" 1
status=0; "${CTL[@]}" frobnicate 2>/dev/null || status=$?
expect_eq "exit code for a usage error" "$status" 2
status=0; "$MRELAY_BIN_DIR/mrelayctl" --socket "$MRELAY_TMP/none.sock" ping 2>/dev/null || status=$?
expect_eq "exit code without a daemon" "$status" 3

# --- remove B while A still flows ---------------------------------------------------------
expect_eq "remove-rule" "$("${CTL[@]}" remove-rule b)" "removed rule b"
wait_until 2 bash -c "! ip -n $relay maddr show dev rin0 | grep -qw 239.1.1.2" ||
  mrelay_fail "b's group still joined after remove-rule"
kill -0 "$gen_a" 2>/dev/null || mrelay_fail "rule A's generator finished before the changes were done; raise COUNT_A"

status=0
wait_pid "$gen_a" "$MRELAY_PROGRAM_TIMEOUT_S" || status=$?
[[ $status -eq 0 ]] || mrelay_fail "generator a exited with status $status"
wait_sink sink-a "$sink_a"
wait_sink sink-b "$sink_b"
grep -h "applied" "$MRELAY_TMP/relay.err" >&2 || true  # how long each switch took
check_delivery "rule a (changes while flowing)" gen-a sink-a 1
check_delivery "rule b (while it existed)" gen-b sink-b 1

# Per-rule counters in Prometheus format: rule a matched every packet of its generator.
"${CTL[@]}" stats --prometheus >"$MRELAY_TMP/metrics.txt"
sent_a=$(json_get "$MRELAY_TMP/gen-a.out" 'j["sent"]')
matched_a=$(awk '$1 == "mrelay_rule_matched_packets_total{rule=\"a\"}" { print $2 }' "$MRELAY_TMP/metrics.txt")
expect_eq "rule a matched_packets (prometheus)" "$matched_a" "$sent_a"
grep -q '^# TYPE mrelay_received_packets_total counter$' "$MRELAY_TMP/metrics.txt" ||
  mrelay_fail "no mrelay_received_packets_total family"
"${CTL[@]}" stats >"$MRELAY_TMP/stats.txt"
grep -Eq "^a +$sent_a +" "$MRELAY_TMP/stats.txt" ||
  mrelay_fail "stats table lacks rule a with $sent_a packets: $(cat "$MRELAY_TMP/stats.txt")"

# --- SIGHUP: valid file -> diff applied; invalid -> rejected, logged, unchanged ------------
write_config "$RULE_A" "$RULE_C"
kill -HUP "$relay_pid"
wait_until 3 grep -q "SIGHUP reload: applied (added \[c\], removed \[\], changed \[\])" \
  "$MRELAY_TMP/relay.err" || mrelay_fail "SIGHUP with a valid file: not applied"
expect_eq "rules after a valid reload" \
  "$("${CTL[@]}" --json list-rules | "$MRELAY_PYTHON" -c 'import json,sys; print([r["name"] for r in json.load(sys.stdin)["rules"]])')" \
  "['a', 'c']"
wait_until 2 relay_joined "$relay" rin0 239.1.1.3 || mrelay_fail "c's group not joined after reload"
write_config "$RULE_A" "$(rule_json d 10.1.1.1 5003 239.2.0.4 6003)"
kill -HUP "$relay_pid"
wait_until 3 grep -q "SIGHUP: reload rejected, running configuration unchanged: .*rules\[1\]\.input\.group" \
  "$MRELAY_TMP/relay.err" || mrelay_fail "SIGHUP with an invalid file: no rejection naming the field"
expect_eq "rules after an invalid reload" \
  "$("${CTL[@]}" --json list-rules | "$MRELAY_PYTHON" -c 'import json,sys; print([r["name"] for r in json.load(sys.stdin)["rules"]])')" \
  "['a', 'c']"
expect_eq "ping after an invalid reload" "$("${CTL[@]}" ping)" pong

# --- state file: a rule added at run time survives a restart ------------------------------
expect_eq "add-rule before restart" "$("${CTL[@]}" add-rule "$RULE_B")" "added rule b"
stop_relay relay "$relay_pid"
expect_eq "final stats event" "$(json_get "$MRELAY_TMP/relay.stats" 'j["event"]')" final
[[ ! -e $SOCK ]] || mrelay_fail "control socket left behind after SIGTERM"
expect_eq "state file rules" "$(json_get "$STATE" '[r["name"] for r in j["rules"]]')" \
  '["a", "c", "b"]'
# The invalid file would not start at all; restore the valid one the state was saved on.
write_config "$RULE_A" "$RULE_C"
start_relay relay2 "$relay" rin0 239.1.1.1 --config "$CONFIG" --control-socket "$SOCK" \
  --state-file "$STATE" --metrics-listen 127.0.0.1:0
expect_eq "rules after a restart" \
  "$("${CTL[@]}" --json list-rules | "$MRELAY_PYTHON" -c 'import json,sys; print([r["name"] for r in json.load(sys.stdin)["rules"]])')" \
  "['a', 'c', 'b']"
grep -q "restored 3 rules" "$MRELAY_TMP/relay2.err" || mrelay_fail "no 'restored' log line"
wait_until 2 relay_joined "$relay" rin0 239.1.1.2 || mrelay_fail "restored rule b's group not joined"
# The loopback HTTP endpoint (inside the relay's namespace; port chosen by the kernel).
metrics_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/metrics' "$MRELAY_TMP/relay2.err" | head -1)
[[ -n $metrics_url ]] || mrelay_fail "no metrics URL in the log"
in_ns "$relay" timeout 10 "$MRELAY_PYTHON" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$metrics_url" \
  >"$MRELAY_TMP/http-metrics.txt" || mrelay_fail "GET $metrics_url failed"
grep -qx 'mrelay_rules 3' "$MRELAY_TMP/http-metrics.txt" ||
  mrelay_fail "GET /metrics lacks 'mrelay_rules 3': $(head -c 300 "$MRELAY_TMP/http-metrics.txt")"
stop_relay relay2 "$RELAY_PID"
echo "PASS relay_control_test"
