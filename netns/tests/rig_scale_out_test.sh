#!/usr/bin/env bash
# End-to-end test of a scale-out cell: `mrelay-bench cell --workers 2` (1 s window, 20k pps,
# hop, 16 streams) and its record. Asserts on counts, never on speed: both workers forwarded
# packets (16 flows from mrelay-gen --flows, hashed by PACKET_FANOUT over two workers: all on
# one would be a 1 in 32768 chance), the per-worker counts add up to the relay's forwarded
# packets exactly and the per-worker rates to its rate within 1e-6, the shares to 1; the
# relay ran with --workers 2 and worker i on the placement's relay_cpus[i] (on 2 cores
# {1, 0}, with the note that worker 1 shares the load core), the RPS mask covers both cores
# and is the one mrelay-netns applied, and the record validates against
# harness/schema/results.schema.json. First, that a cell with fewer streams than workers is
# refused naming --streams; and that no namespace is left.
# Runtime ~10 s. Exit 77 (skipped) without root, the built programs or python3-jsonschema.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/rig_scale_out_test.sh
set -euo pipefail

NETNS_DIR=${MRELAY_NETNS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN_DIR=${MRELAY_BIN_DIR:-$(cd "$NETNS_DIR/.." && pwd)/build/bin}
SCHEMA=$(cd "$NETNS_DIR/.." && pwd)/harness/schema/results.schema.json
PYTHON=/usr/bin/python3
export MRELAY_NETNS_DIR=$NETNS_DIR MRELAY_BIN_DIR=$BIN_DIR

skip() { echo "SKIP [rig_scale_out_test]: $*" >&2; exit 77; }
fail() { echo "FAIL [rig_scale_out_test]: $*" >&2; exit 1; }
log() { echo "[rig_scale_out_test] $*" >&2; }

[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
for program in mrelay-bench mrelay mrelay-gen mrelay-sink; do
  [[ -x $BIN_DIR/$program ]] || skip "$BIN_DIR/$program not built"
done
[[ -x $NETNS_DIR/mrelay-netns ]] || skip "$NETNS_DIR/mrelay-netns missing"
"$PYTHON" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema not installed"

source "$(dirname "$0")/bench_lib.sh"
bench_test_init scale

# Fewer streams than workers: a usage error naming --streams, before any namespace exists.
rc=0
run_bench "$TMP/refused.json" cell --forwarder mrelay --workers 2 --streams 1 || rc=$?
[[ $rc -eq 2 ]] || fail "--workers 2 --streams 1: exit $rc, expected 2 (usage error)"
grep -q -- '--streams: 1 is below workers (2)' "$TMP/refused.json.err" ||
  fail "the refusal does not name --streams: $(cat "$TMP/refused.json.err")"
log "--workers 2 --streams 1 refused: $(head -c 160 "$TMP/refused.json.err")"

out=$TMP/scale.json
rc=0
run_bench "$out" cell --forwarder mrelay --egress gso --workers 2 --streams 16 --rate 20000 \
  --warmup 0.3 --window 1 || rc=$?
[[ $rc -eq 0 ]] || fail "2-worker cell exited $rc: $(tail -c 800 "$out.err")"
no_namespaces_left "${BENCH_PIDS[-1]}"

"$PYTHON" - "$out" "$SCHEMA" <<'PY' || fail "2-worker record check failed"
import json, sys
import jsonschema
record = json.load(open(sys.argv[1]))
schema = json.load(open(sys.argv[2]))
errors = []
def need(cond, what):
    if not cond:
        errors.append(what)
need(record.get("status") == "ok", "status ok (got %r: %r)" % (record.get("status"), record.get("reason")))
need(record.get("params", {}).get("workers") == 2, "params.workers 2")
need("w2" in record.get("cell_id", "").split("/"), "cell id has /w2 (%r)" % record.get("cell_id"))
placement = record.get("placement", {})
cpus = placement.get("relay_cpus")
need(placement.get("relay_workers") == 2 and isinstance(cpus, list) and len(cpus) == 2,
     "placement relay_workers 2 with two relay_cpus (%r)" % placement)
if isinstance(cpus, list) and len(cpus) == 2:
    need(cpus[0] == placement.get("forwarder_cpu"), "worker 0 on the forwarder core")
    if placement.get("cores_online") == 2:
        need(cpus == [1, 0], "2 cores: relay_cpus [1, 0] (%r)" % cpus)
        need("worker 1 shares the load core" in placement.get("relay_workers_note", ""),
             "the note says worker 1 shares the load core")
    mask = placement.get("kernel_rps_cpus_mask")
    if mask is not None:
        need(all(int(mask, 16) >> cpu & 1 for cpu in cpus), "RPS mask %r covers %r" % (mask, cpus))
        applied = record.get("rig", {}).get("settings", {}).get("rps_cpus")
        need(applied == mask, "mrelay-netns applied the RPS mask (%r, placement %r)" % (applied, mask))
    command = record.get("forwarder_command", [])
    need("--workers" in command and command[command.index("--workers") + 1] == "2",
         "mrelay --workers 2")
    need("--cpus" in command and command[command.index("--cpus") + 1] == ",".join(map(str, cpus)),
         "mrelay --cpus is relay_cpus")
generator = record.get("generator_command", [])
need("--flows" in generator and generator[generator.index("--flows") + 1] == "16",
     "mrelay-gen --flows 16")
rates = record.get("relay_worker_rates") or []
need(len(rates) == 2, "two relay_worker_rates (%r)" % rates)
if len(rates) == 2 and not errors:
    counters = record["relay_counters"]
    window = record["relay_window_s"]
    for worker in rates:
        need(worker["forwarded"] > 0, "worker %s forwarded packets (%r)" % (worker["worker"], worker))
    need(sum(w["forwarded"] for w in rates) == counters["fwd_packets"],
         "per-worker forwarded add up to fwd_packets")
    need(sum(w["copies"] for w in rates) == counters["tx_packets"],
         "per-worker copies add up to tx_packets")
    total_pps = counters["fwd_packets"] / window
    need(abs(sum(w["forwarded_pps"] for w in rates) - total_pps) <= 1e-6 * max(total_pps, 1),
         "per-worker rates add up to the relay's forwarded rate")
    need(abs(sum(w["share"] for w in rates) - 1) < 1e-9, "shares add up to 1")
    need(sorted(w["cpu"] for w in rates) == sorted(cpus), "the relay's workers ran on relay_cpus")
validation = sorted(e.message[:160] for e in jsonschema.Draft202012Validator(
    {**schema["$defs"]["record"], "$defs": schema["$defs"]}).iter_errors(record))
need(not validation, "record validates against the schema: %s" % validation[:3])
print("[rig_scale_out_test] 2 workers on cores %s: forwarded %s (shares %s), delivered %.0f pps,"
      " loss %.3f %% (counts checked, not speed)" % (
      cpus, [w.get("forwarded") for w in rates], [round(w.get("share") or 0, 3) for w in rates],
      record.get("delivered_pps", 0), record.get("loss_pct", -1)), file=sys.stderr)
if errors:
    print("wrong: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
PY
log "PASS"
