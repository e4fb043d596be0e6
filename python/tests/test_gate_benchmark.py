"""Google Benchmark JSON through the gate's decision rule (gate.compare_benchmarks and
`python3 -m mrelay gate --benchmark BASE.json CAND.json`).

    cd python && /usr/bin/python3 -m pytest -q tests/test_gate_benchmark.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import cli, gate  # noqa: E402

CONTEXT = {"num_cpus": 2, "mhz_per_cpu": 2596, "library_build_type": "release",
           "host_name": "vm"}


def gbench(level, seed, reps=6, with_items=True, context=CONTEXT, aggregates=True):
    rng = np.random.default_rng(seed)
    rows = []
    for name, scale in (("BM_Send/batch:1", 1.0), ("BM_Send/batch:32", 10.0)):
        for rep in range(reps):
            value = level * scale * (1 + 0.02 * rng.standard_normal())
            row = {"name": name, "run_name": name, "run_type": "iteration",
                   "repetitions": reps, "repetition_index": rep, "iterations": 1000,
                   "real_time": 1e9 / value, "cpu_time": 1e9 / value, "time_unit": "ns"}
            if with_items:
                row["items_per_second"] = value
            rows.append(row)
        if aggregates:
            rows.append({"name": name + "_mean", "run_name": name, "run_type": "aggregate",
                         "aggregate_name": "mean", "real_time": 1.0, "items_per_second": 1.0})
    return {"context": context, "benchmarks": rows}


def test_same_level_passes_and_aggregates_are_ignored():
    report = gate.compare_benchmarks(gbench(400000, 1), gbench(400000, 2))
    assert report.exit_code == gate.EXIT_PASS
    assert {r.metric for r in report.rows} == {"items_per_second"}
    assert all(r.decision.baseline.n == 6 for r in report.rows)


def test_a_20_percent_drop_in_items_per_second_is_a_regression():
    report = gate.compare_benchmarks(gbench(400000, 1), gbench(320000, 2))
    assert report.exit_code == gate.EXIT_REGRESSION
    assert {r.cell_id for r in report.rows if r.decision.verdict == gate.REGRESSION} == {
        "BM_Send/batch:1", "BM_Send/batch:32"}


def test_real_time_is_used_without_items_per_second_and_good_direction_is_down():
    report = gate.compare_benchmarks(gbench(400000, 1, with_items=False),
                                     gbench(320000, 2, with_items=False))
    assert {r.metric for r in report.rows} == {"real_time_ns"}
    assert report.exit_code == gate.EXIT_REGRESSION  # slower = more ns


def test_context_mismatch_skips_everything_and_is_not_a_pass():
    other = dict(CONTEXT, num_cpus=8)
    report = gate.compare_benchmarks(gbench(400000, 1), gbench(400000, 2, context=other))
    assert report.fingerprint_differences and report.exit_code == gate.EXIT_INCONCLUSIVE


def test_aggregates_only_file_is_an_error_with_a_hint():
    doc = gbench(400000, 1)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["run_type"] == "aggregate"]
    with pytest.raises(ValueError, match="aggregates_only"):
        gate.benchmark_samples(doc)


def test_cli_benchmark_exit_codes(tmp_path, capsys):
    base, same, slow = tmp_path / "b.json", tmp_path / "s.json", tmp_path / "x.json"
    base.write_text(json.dumps(gbench(400000, 1)))
    same.write_text(json.dumps(gbench(400000, 2)))
    slow.write_text(json.dumps(gbench(300000, 3)))
    assert cli.main(["gate", "--benchmark", str(base), str(same)]) == gate.EXIT_PASS
    assert cli.main(["gate", "--benchmark", str(base), str(slow)]) == gate.EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "BM_Send/batch:32" in out and "items_per_second" in out
    assert cli.main(["gate", "--benchmark", str(base)]) == gate.EXIT_ERROR
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["gate", "--benchmark", str(base), str(tmp_path / "bad.json")]) == \
        gate.EXIT_ERROR
