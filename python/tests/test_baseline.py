"""Baseline files (mrelay/baseline.py) and the smoke suite's gating rules (gate.SUITE_GATING).

    cd python && /usr/bin/python3 -m pytest -q tests/test_baseline.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import REPO_ROOT, baseline, gate, results  # noqa: E402


def record(cell, rep, rate, syscalls, pps=60000.0, status="ok"):
    return {"cell_id": cell, "label": cell, "rep": rep, "status": status,
            "params": {"forwarder": "mrelay", "rate_pps": rate, "size": 512, "batch": 32,
                       "fanout": 1},
            "delivered_pps": pps, "loss_pct": 0.0, "syscalls_per_pkt": syscalls,
            "buffer_exhaustion_pct": 0.0, "relay_cpu_pct": 50.0,
            "latency_ns": {"p50": 1000, "p99": 5000, "count": 10, "mean": 1.5},
            "forwarder_command": ["/a/very/long/command"] * 20,
            "perf_events": {"cycles": "unsupported"}}


def sweep_doc():
    samples = []
    for rep in range(1, 6):
        samples.append(record("sat", rep, 0.0, 0.035 + rep * 1e-4))
        samples.append(record("paced", rep, 20000.0, 2.0 + rep * 0.3, pps=20000.0))
    return {"format": results.FORMAT, "created": "2026-11-22T05:00:00Z", "git_commit": "abc",
            "machine": {"cpu_model": "X", "cores_online": 2}, "placement": {},
            "spec": {"name": "smoke"}, "samples": samples}


def test_baseline_is_a_results_file_with_one_sorted_line_per_sample(tmp_path):
    base = baseline.from_results(sweep_doc(), profile="vm2", suite="smoke",
                                 spec={"name": "smoke", "repetitions": 5})
    path = tmp_path / "vm2.json"
    baseline.save(base, path)
    text = path.read_text()
    lines = text.splitlines()
    sample_lines = [line for line in lines if line.startswith('  {"')]
    assert len(sample_lines) == 10  # one line per raw sample
    # Sorted by cell then repetition; keys sorted inside each line.
    cells = [json.loads(line.rstrip(","))["cell_id"] for line in sample_lines]
    assert cells == ["paced"] * 5 + ["sat"] * 5
    first = json.loads(sample_lines[0].rstrip(","))
    assert list(first) == sorted(first)
    # No huge blobs: commands and perf dumps are left out, latency keeps percentiles only.
    assert "forwarder_command" not in text and "perf_events" not in text
    assert first["latency_ns"] == {"p50": 1000, "p99": 5000}
    doc = results.load(path)  # every results reader reads a baseline
    assert doc["baseline"]["profile"] == "vm2" and doc["baseline"]["suite"] == "smoke"
    assert doc["baseline"]["format"] == baseline.FORMAT
    assert doc["machine"]["cpu_model"] == "X" and doc["git_commit"] == "abc"
    assert doc["spec"]["repetitions"] == 5
    # Saving the loaded document again gives the same bytes: diffs show real changes only.
    baseline.save(doc, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == text


def test_gating_the_sweep_against_its_own_baseline_passes(tmp_path):
    doc = sweep_doc()
    base = baseline.from_results(doc, profile="vm2", suite="smoke")
    baseline.save(base, tmp_path / "vm2.json")
    report = gate.run_gate(results.load(tmp_path / "vm2.json"), doc,
                           gated=gate.suite_filter("smoke"))
    assert report.exit_code == gate.EXIT_PASS


def test_suite_path_maps_names_to_reports_sweeps():
    assert baseline.suite_path("smoke") == REPO_ROOT / "reports" / "sweeps" / "smoke.json"
    assert baseline.suite_path("/tmp/x.json") == Path("/tmp/x.json")
    assert baseline.suite_path("x.json") == Path("x.json")


def test_committed_suites_exist_and_are_specs():
    for name in ("smoke", "nightly"):
        spec = json.loads(baseline.suite_path(name).read_text())
        assert spec["name"] == name
        assert spec["repetitions"] >= gate.DEFAULT_MIN_SAMPLES


def test_smoke_gates_only_stable_metrics_per_cell_kind():
    gated = gate.suite_filter("smoke")
    paced = {"params": {"rate_pps": 20000}}
    saturated = {"params": {"rate_pps": 0}}
    metric = gate.METRICS_BY_NAME
    assert gated(saturated, metric["syscalls_per_pkt"])
    assert not gated(paced, metric["syscalls_per_pkt"])  # follows the generator's pacing
    assert gated(paced, metric["loss_pct"])
    assert not gated(saturated, metric["delivered_pps"])
    assert not gated(paced, metric["latency_p99_ns"])
    assert gate.suite_filter("an-unknown-suite") is None  # every metric


def test_nightly_gates_throughput_through_paced_cells_and_syscalls_only_where_saturated():
    gated = gate.suite_filter("nightly")
    metric = gate.METRICS_BY_NAME
    paced = {"params": {"rate_pps": 20000, "fanout": 1}}
    hop = {"params": {"rate_pps": 0, "fanout": 1}}
    fanout = {"params": {"rate_pps": 0, "fanout": gate.SATURATING_FANOUT}}
    for name in ("loss_pct", "syscalls_per_pkt", "buffer_exhaustion_pct", "ns_per_copy"):
        assert gated(paced, metric[name]), name
    assert not gated(paced, metric["delivered_pps"])  # the generator's pacing
    assert not gated(paced, metric["latency_p99_ns"])  # one descheduled window moves it
    assert not gated(hop, metric["delivered_pps"])  # saturation pps: tracked, not gated
    assert not gated(hop, metric["syscalls_per_pkt"])  # the hop is not always saturated
    assert gated(fanout, metric["syscalls_per_pkt"])
    assert gated(hop, metric["buffer_exhaustion_pct"])


def test_smoke_sets_its_own_syscalls_threshold_with_a_reason():
    smoke = {m.name: m for m in gate.suite_metrics("smoke")}
    assert smoke["syscalls_per_pkt"].threshold.relative == 1.0
    assert "1.75x" in smoke["syscalls_per_pkt"].reason
    assert smoke["loss_pct"] == gate.METRICS_BY_NAME["loss_pct"]
    assert gate.suite_metrics("an-unknown-suite") == gate.METRICS
    assert {m.name: m for m in gate.suite_metrics("nightly")}["ns_per_copy"].threshold.relative == 0.5
    # The same build at 1.75x the baseline's median is not a regression in smoke; 35x is.
    base = [0.25, 0.24, 0.26, 0.25, 0.24, 0.25, 0.26]
    noisy = [0.42, 0.40, 0.41, 0.43, 0.40, 0.42, 0.41]
    metric = smoke["syscalls_per_pkt"]
    assert gate.decide(base, noisy, direction=metric.direction,
                       threshold=metric.threshold).verdict != gate.REGRESSION
    assert gate.decide(base, [9.0] * 7, direction=metric.direction,
                       threshold=metric.threshold).verdict == gate.REGRESSION


def test_smoke_filter_turns_ungated_metrics_into_skipped_rows_and_still_catches_batch_1():
    doc = sweep_doc()
    candidate = json.loads(json.dumps(doc))
    for sample in candidate["samples"]:
        if sample["cell_id"] == "sat":
            sample["syscalls_per_pkt"] = 1.0  # batch 1
            sample["delivered_pps"] *= 0.5  # not gated at saturation in smoke
    report = gate.compare(doc, candidate, gated=gate.suite_filter("smoke"))
    verdicts = {(r.cell_id, r.metric): r.decision.verdict for r in report.rows}
    assert verdicts[("sat", "syscalls_per_pkt")] == gate.REGRESSION
    assert verdicts[("sat", "delivered_pps")] == gate.SKIPPED
    assert report.exit_code == gate.EXIT_REGRESSION


def test_committed_baseline_is_loadable_and_names_its_suite():
    path = REPO_ROOT / "reports" / "baselines" / "vm2-smoke.json"
    doc = results.load(path)
    assert doc["baseline"]["suite"] in ("smoke", "nightly")
    counts = {}
    for sample in doc["samples"]:
        counts[sample["cell_id"]] = counts.get(sample["cell_id"], 0) + results.is_ok(sample)
    assert counts and min(counts.values()) >= gate.DEFAULT_MIN_SAMPLES


# A stand-in for mrelay-bench `sweep`: one sample per repetition of one saturation cell, with
# syscalls/pkt from $FAKE_SYSCALLS (so a test can inject a batch-1-like regression).
FAKE_SWEEP = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
spec = json.load(open(args[1]))
out = args[args.index("--out") + 1]
level = float(os.environ.get("FAKE_SYSCALLS", "0.035"))
samples = [{"cell_id": "mrelay/sat", "label": "mrelay sat", "rep": rep, "status": "ok",
            "params": {"forwarder": "mrelay", "rate_pps": 0.0},
            "syscalls_per_pkt": level * (1 + 0.001 * rep), "buffer_exhaustion_pct": 0.0,
            "delivered_pps": 1000.0 * rep, "forwarder_command": ["x"]}
           for rep in range(1, spec["repetitions"] + 1)]
json.dump({"format": "mrelay-bench-results/1", "git_commit": "abc", "machine": {"arch": "x"},
           "spec": spec, "samples": samples}, open(out, "w"))
"""


def test_record_and_gate_by_suite_name_with_default_profile(tmp_path, monkeypatch, capsys):
    from mrelay import cli

    program = tmp_path / "bin" / "mrelay-bench"
    program.parent.mkdir()
    program.write_text(FAKE_SWEEP)
    program.chmod(0o755)
    monkeypatch.setenv("MRELAY_BIN_DIR", str(program.parent))
    monkeypatch.setenv("MRELAY_MACHINE", "testbox")
    monkeypatch.delenv("MRELAY_PROFILE", raising=False)
    baselines = tmp_path / "baselines"
    assert cli.main(["baseline", "record", "--suite", "smoke",
                     "--baselines-dir", str(baselines)]) == 0
    path = baselines / "testbox-smoke.json"  # <machine>-<suite>
    doc = results.load(path)
    assert doc["baseline"]["suite"] == "smoke" and len(doc["samples"]) == 7
    assert "forwarder_command" not in path.read_text()
    gate_args = ["gate", "--suite", "smoke", "--baselines-dir", str(baselines),
                 "--rerun-rounds", "0"]
    # The delivered pps of the fake differ wildly between runs' reps, but smoke does not
    # gate saturation pps: the unchanged build passes.
    assert cli.main(gate_args) == gate.EXIT_PASS
    monkeypatch.setenv("FAKE_SYSCALLS", "1.0")  # batch 1
    assert cli.main(gate_args) == gate.EXIT_REGRESSION
    assert "syscalls_per_pkt" in capsys.readouterr().out
    # A suite that does not exist is an error naming it.
    assert cli.main(["gate", "--suite", "nope", "--baseline", str(path)]) == gate.EXIT_ERROR


def test_aa_mode_passes_a_decided_run_and_fails_a_false_alarm_or_too_many_inconclusive(
        tmp_path, capsys):
    from mrelay import cli

    base = baseline.from_results(sweep_doc(), profile="vm2", suite="nightly")
    base_path = tmp_path / "vm2.json"
    baseline.save(base, base_path)
    same, alarm, noisy = sweep_doc(), sweep_doc(), sweep_doc()
    for sample in alarm["samples"]:
        if sample["cell_id"] == "paced":
            sample["loss_pct"] = 5.0  # the same build "losing": a false alarm in an A/A run
    for sample in noisy["samples"]:
        sample["syscalls_per_pkt"] *= 1.0 + 3.0 * (sample["rep"] % 2)  # IQR over 100 %
    files = {}
    for name, doc in (("same", same), ("alarm", alarm), ("noisy", noisy)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(doc))

    def aa(name, max_pct):
        code = cli.main(["gate", "--baseline", str(base_path), str(files[name]),
                         "--rerun-rounds", "0", "--aa", str(max_pct)])
        return code, capsys.readouterr().out.splitlines()[-1]

    code, line = aa("same", 15)
    assert code == 0 and "0 regressions" in line and "PASS" in line
    code, line = aa("alarm", 15)
    assert code == gate.EXIT_REGRESSION and "1 regressions" in line and "FAIL" in line
    code, line = aa("noisy", 15)  # paced syscalls/pkt: 1 of 4 comparisons
    assert code == gate.EXIT_REGRESSION and "inconclusive (" in line and "FAIL" in line
    code, line = aa("noisy", 100)
    assert code == 0
    assert cli.main(["gate", "--baseline", str(base_path), str(files["same"]),
                     "--aa", "150"]) == gate.EXIT_ERROR
