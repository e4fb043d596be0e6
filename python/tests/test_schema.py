"""The results schema (harness/schema/results.schema.json) is the one description of a results
document: every committed results and baseline file under reports/ validates, so do the
documents the Python tools write and a sweep run now, and the schema refuses what is not a
results document.

    cd python && /usr/bin/python3 -m pytest -q tests/test_schema.py
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema  # python3-jsonschema (ci/setup.sh)
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import REPO_ROOT, ab, baseline, bench, results  # noqa: E402

SCHEMA_PATH = REPO_ROOT / "harness" / "schema" / "results.schema.json"
REPORTS = REPO_ROOT / "reports"
#: JSON files under reports/ that are not results documents, each with what it is.
NOT_RESULTS = {
    "sweeps": "sweep specs (mrelay-bench sweep SPEC), not results",
    "templates/report_short.json": "a sweep spec",
    "sizing/sizing_short.json": "a sweep spec",
    "perf/runs/perf-soak.json": "netns/soak_rss.sh's own summary of an RSS soak",
    "perf/runs/perf-soak-gso.json": "netns/soak_rss.sh's own summary of an RSS soak",
    "perf/microbench": "Google Benchmark's JSON (mrelay-microbench --benchmark_out)",
}


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validator(definition: str = "") -> jsonschema.Draft202012Validator:
    full = schema()
    if definition:
        full = {**full["$defs"][definition], "$defs": full["$defs"]}
    return jsonschema.Draft202012Validator(full)


def problems(doc, definition: str = "") -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:160]}"
            for error in validator(definition).iter_errors(doc)]


def committed_results() -> list[Path]:
    found = []
    for path in sorted(REPORTS.rglob("*.json")):
        relative = path.relative_to(REPORTS).as_posix()
        if not any(relative == key or relative.startswith(key + "/") for key in NOT_RESULTS):
            found.append(path)
    return found


def test_the_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


def test_every_committed_results_and_baseline_file_validates():
    paths = committed_results()
    assert any("baselines" in str(p) for p in paths) and len(paths) >= 10
    failures = {str(p.relative_to(REPO_ROOT)): problems(json.loads(p.read_text()))[:3]
                for p in paths}
    assert not {p: f for p, f in failures.items() if f}


def test_the_example_record_validates():
    for example in schema()["$defs"]["record"]["examples"]:
        assert problems(example, "record") == []


def example() -> dict:
    return copy.deepcopy(schema()["$defs"]["record"]["examples"][0])


def document(*samples) -> dict:
    return {"format": "mrelay-bench-results/1", "created": "2026-12-06T00:00:00Z",
            "git_commit": "unknown", "machine": {}, "placement": {}, "spec": {},
            "samples": list(samples)}


def _without(record: dict, key: str) -> dict:
    record.pop(key)
    return record


# (what is wrong, the record) -- each must be refused.
BAD_RECORDS = [
    ("an unknown status", lambda r: {**r, "status": "fine"}),
    ("a key nobody wrote down", lambda r: {**r, "delivered_mpps": 1.0}),
    ("an ok record without delivered_pps", lambda r: _without(r, "delivered_pps")),
    ("a skipped record without its reason", lambda r: {**r, "status": "skipped"}),
    ("an unknown limiter", lambda r: {**r, "limited_by": ["gremlins"]}),
    ("a rate that is neither a number nor ndr", lambda r: {**r, "params": {**r["params"],
                                                                             "rate_pps": "max"}}),
    ("an unknown forwarder", lambda r: {**r, "params": {**r["params"], "forwarder": "vpp"}}),
    ("a negative loss", lambda r: {**r, "loss_pct": -1.0}),
]


@pytest.mark.parametrize("what,mutate", BAD_RECORDS, ids=[what for what, _ in BAD_RECORDS])
def test_the_schema_refuses(what, mutate):
    assert problems(document(mutate(example()))), what


def two_worker_record() -> dict:
    """The example as a 2-worker mrelay cell on a 2-core machine (rig/environment.cc
    cell_placement_json, rig/metrics.cc worker_rates, results/aggregate.cc)."""
    record = example()
    record["params"].update(forwarder="mrelay", streams=4, workers=2)
    record["placement"] = {**record.get("placement", {}), "relay_workers": 2,
                           "relay_cpus": [1, 0], "kernel_rps_cpus_mask": "3",
                           "relay_workers_note": "worker 1 shares the load core (0) with the "
                                                 "generator and sink"}
    record["relay_worker_rates"] = [
        {"worker": 0, "cpu": 1, "forwarded": 600000.0, "copies": 600000.0,
         "forwarded_pps": 300000.0, "copies_pps": 300000.0, "share": 0.6},
        {"worker": 1, "cpu": 0, "forwarded": 400000.0, "copies": 400000.0,
         "forwarded_pps": 200000.0, "copies_pps": 200000.0, "share": 0.4}]
    record["ratio_to_one_worker"] = 1.4
    return record


def test_a_two_worker_record_validates():
    assert problems(document(two_worker_record())) == []
    idle = two_worker_record()
    idle["relay_worker_rates"][1]["share"] = None  # a worker that forwarded nothing
    idle["ratio_to_one_worker"] = None  # no 1-worker cell ran
    assert problems(document(idle)) == []


# (what is wrong, the change to a 2-worker record) -- each must be refused.
BAD_WORKER_RECORDS = [
    ("a share above 1", lambda r: r["relay_worker_rates"][0].update(share=1.5)),
    ("an unknown per-worker key", lambda r: r["relay_worker_rates"][0].update(pps=1.0)),
    ("workers 1 written out (absent means 1)", lambda r: r["params"].update(workers=1)),
    ("more workers than the relay takes", lambda r: r["params"].update(workers=65)),
    ("relay_cpus that are not cores", lambda r: r["placement"].update(relay_cpus=["1"])),
]


@pytest.mark.parametrize("what,mutate", BAD_WORKER_RECORDS,
                         ids=[what for what, _ in BAD_WORKER_RECORDS])
def test_the_schema_refuses_bad_worker_figures(what, mutate):
    record = two_worker_record()
    mutate(record)
    assert problems(document(record)), what


def test_a_document_without_samples_or_with_an_unknown_key_is_refused():
    assert problems({k: v for k, v in document().items() if k != "samples"})
    assert problems({**document(), "sampels": []})
    assert problems({**document(), "format": "mrelay-bench-results/2"})


def test_the_documents_the_python_tools_write_validate():
    sweep = results.load(REPORTS / "perf" / "runs" / "quickstart-20261206T064626Z.json")
    merged = results.merge([sweep, sweep], sources=["a", "b"])
    assert problems(merged) == []
    assert problems(baseline.from_results(sweep, profile="p", suite="smoke")) == []
    wrapped = results.loads(json.dumps(example()))  # one `mrelay-bench cell --out` record
    assert problems(wrapped) == []
    failed = {"status": "error", "reason": "mrelay-bench: timed out", "params": example()["params"]}
    assert problems(ab._document([example(), failed], {"name": "t"}, "ref")) == []


def _fresh_sweep_allowed() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not bench.bench_available():
        return "mrelay-bench not built"
    return ""


@pytest.mark.skipif(bool(_fresh_sweep_allowed()), reason=_fresh_sweep_allowed() or "-")
def test_a_fresh_sweep_and_cell_record_validate(tmp_path):
    program = bench.find_bench()
    spec = {"name": "schema", "forwarders": ["mrelay", "direct"], "rates": [5000],
            "repetitions": 1, "warmup_s": 0.2, "window_s": 0.3}
    spec_path = tmp_path / "schema.json"
    spec_path.write_text(json.dumps(spec))
    out = tmp_path / "run.json"
    done = subprocess.run([str(program), "sweep", str(spec_path), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert out.is_file(), done.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["samples"] and problems(doc) == []
    cell = subprocess.run([str(program), "cell", "--forwarder", "direct", "--rate", "5000",
                           "--warmup", "0.2", "--window", "0.3"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert problems(json.loads(cell.stdout), "record") == []
