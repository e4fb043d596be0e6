#!/usr/bin/env bash
# End-to-end test of an xdp-ingress cell's placement: `mrelay-bench cell --ingress xdp` (20k pps,
# 1 s window, hop) turns the relay ingress's NAPI into a kernel thread and pins it to the
# forwarder's core at a real-time priority above the relay's, so the XDP program and the UMEM
# copy run there as every other forwarder's ingress work does (on a veth they would otherwise
# run on the generator's core). Asserts on the record, never on speed: status ok, no loss,
# ingress_napi names the forwarder core, a priority above forwarder_rt_priority and at least
# one pinned thread; the record validates against the schema; an xdp cell with another
# ingress has no ingress_napi; no namespace or napi/rin0-* thread of ours is left.
# Runtime ~8 s. Exit 77 (skipped) without root, the programs, python3-jsonschema or AF_XDP.
#
#   sudo MRELAY_BIN_DIR=build/bin netns/tests/rig_xdp_napi_test.sh
set -euo pipefail

NETNS_DIR=${MRELAY_NETNS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN_DIR=${MRELAY_BIN_DIR:-$(cd "$NETNS_DIR/.." && pwd)/build/bin}
SCHEMA=$(cd "$NETNS_DIR/.." && pwd)/harness/schema/results.schema.json
PYTHON=/usr/bin/python3
export MRELAY_NETNS_DIR=$NETNS_DIR MRELAY_BIN_DIR=$BIN_DIR

skip() { echo "SKIP [rig_xdp_napi_test]: $*" >&2; exit 77; }
fail() { echo "FAIL [rig_xdp_napi_test]: $*" >&2; exit 1; }
log() { echo "[rig_xdp_napi_test] $*" >&2; }

[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
for program in mrelay-bench mrelay mrelay-gen mrelay-sink; do
  [[ -x $BIN_DIR/$program ]] || skip "$BIN_DIR/$program not built"
done
"$PYTHON" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema not installed"
"$BIN_DIR/mrelay-bench" probe --need af_xdp >/dev/null 2>&1 ||
  skip "no AF_XDP on this kernel ($("$BIN_DIR/mrelay-bench" probe --need af_xdp 2>&1 | tail -1))"

source "$(dirname "$0")/bench_lib.sh"
bench_test_init xdpnapi

out=$TMP/xdp.json
rc=0
run_bench "$out" cell --forwarder mrelay --ingress xdp --rate 20000 --warmup 0.3 --window 1 || rc=$?
[[ $rc -eq 0 ]] || fail "xdp cell exited $rc: $(tail -c 800 "$out.err")"
no_namespaces_left "${BENCH_PIDS[-1]}"
run_bench "$TMP/packet.json" cell --forwarder mrelay --ingress packet --rate 20000 --warmup 0.3 \
  --window 0.5 || fail "packet cell failed: $(tail -c 800 "$TMP/packet.json.err")"

"$PYTHON" - "$out" "$TMP/packet.json" "$SCHEMA" <<'PY' || fail "xdp record check failed"
import json, sys
import jsonschema
record, packet = (json.load(open(p)) for p in sys.argv[1:3])
schema = json.load(open(sys.argv[3]))
errors = []
def need(cond, what):
    if not cond:
        errors.append(what)
need(record.get("status") == "ok", "status ok (got %r: %r)" % (record.get("status"), record.get("reason")))
need(record.get("loss_pct") == 0, "no loss at 20k pps (%r)" % record.get("loss_pct"))
napi = record.get("ingress_napi") or {}
placement = record.get("placement", {})
need(napi.get("threaded") is True and napi.get("pids"), "a pinned NAPI thread (%r)" % napi)
need(napi.get("cpu") == placement.get("forwarder_cpu"), "on the forwarder core (%r)" % napi)
need(napi.get("rt_priority", 0) > placement.get("forwarder_rt_priority", 0),
     "above the relay's priority (%r)" % napi)
need("ingress_napi" not in packet, "no ingress_napi for packet ingress")
validation = sorted(e.message[:160] for e in jsonschema.Draft202012Validator(
    {**schema["$defs"]["record"], "$defs": schema["$defs"]}).iter_errors(record))
need(not validation, "record validates against the schema: %s" % validation[:3])
print("[rig_xdp_napi_test] napi threads %s on core %s at FIFO %s; delivered %.0f pps, loss %s %%"
      % (napi.get("pids"), napi.get("cpu"), napi.get("rt_priority"),
         record.get("delivered_pps", 0), record.get("loss_pct")), file=sys.stderr)
if errors:
    print("wrong: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
PY
for pid in $("$PYTHON" -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["ingress_napi"]["pids"])))' "$out"); do
  [[ ! -e /proc/$pid ]] || [[ $(cat "/proc/$pid/comm" 2>/dev/null) != napi/rin0-* ]] ||
    fail "NAPI thread $pid outlived the cell's namespaces"
done
log "PASS"
