"""Loading, merging and summarising mrelay-bench results files (mrelay/results.py).

    cd python && /usr/bin/python3 -m pytest -q tests/test_results.py
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import results  # noqa: E402

# A record shaped like harness/src/rig/cell.cc writes it (trimmed to the fields read here
# plus a few others that must survive a round trip untouched).
RECORD = {
    "buffer_exhaustion_pct": 0.0,
    "cell_id": "mrelay/packet/uring/q1024/sb4194304/s512/b32/f1/r50000",
    "cpu_pct": {"gen": 40.0, "relay": 20.0, "sink": 10.0},
    "delivered_pps": 49990.0,
    "label": "mrelay(uring,packet,q1024) 512B b32 f1 50kpps",
    "latency_ns": {"p50": 20000, "p90": 30000, "p99": 45000, "p999": 90000, "max": 120000},
    "limited_by": [],
    "loss_pct": 0.0,
    "offered_pps": 50000.0,
    "outputs": 1,
    "params": {"forwarder": "mrelay", "size": 512, "batch": 32, "generator_batch": 32,
               "fanout": 1, "streams": 1, "rate_pps": 50000.0, "warmup_s": 0.5,
               "window_s": 2.0, "ingress": "packet", "egress": "uring", "queue_depth": 1024,
               "sndbuf": 4194304, "topology": "hop"},
    "ratio_to_direct": 0.99,
    "ratio_to_kernel": None,
    "relay_cpu_pct": 20.0,
    "rep": 1,
    "status": "ok",
    "syscalls_per_pkt": 0.04,
}

MACHINE = {"cpu_model": "Test CPU", "cores_online": 2, "kernel": "6.1.0", "arch": "x86_64",
           "virtualization": "kvm", "memory_kib": 4000000, "pmu_present": False,
           "hostname": "runner-1"}


def document(samples, machine=MACHINE, commit="c0ffee"):
    return {"format": "mrelay-bench-results/1", "created": "2026-11-22T04:05:06Z",
            "git_commit": commit, "machine": dict(machine), "placement": {"forwarder_cpu": 1},
            "spec": {"name": "t", "repetitions": 2}, "samples": samples, "planned_runs": 2}


def with_rep(rep, **changes):
    record = json.loads(json.dumps(RECORD))
    record["rep"] = rep
    record.update(changes)
    return record


def test_round_trip_is_exact(tmp_path):
    doc = document([with_rep(1), with_rep(2, delivered_pps=49980.5)])
    first = tmp_path / "a.json"
    results.save(doc, first)
    loaded = results.load(first)
    assert loaded == doc
    second = tmp_path / "b.json"
    results.save(loaded, second)
    assert first.read_text() == second.read_text()
    assert not list(tmp_path.glob("*.tmp"))


def test_merged_document_round_trips(tmp_path):
    merged = results.merge([document([with_rep(1)]), document([with_rep(2)])])
    path = tmp_path / "merged.json"
    results.save(merged, path)
    assert results.load(path) == merged


def test_merge_concatenates_samples_and_notes_sources():
    a = document([with_rep(1), with_rep(2)], commit="aaa")
    b = document([with_rep(3)], commit="bbb", machine=dict(MACHINE, hostname="runner-2"))
    merged = results.merge([a, b], sources=["a.json", "b.json"])
    assert [s["rep"] for s in merged["samples"]] == [1, 2, 3]
    assert [s["source"] for s in merged["samples"]] == [0, 0, 1]
    assert merged["git_commit"] == "mixed"
    assert [m["source"] for m in merged["merged_from"]] == ["a.json", "b.json"]
    assert "machine_mismatch" not in merged  # hostname is not part of the fingerprint
    assert "source" not in a["samples"][0]  # inputs untouched


def test_merge_reports_fingerprint_differences():
    b = document([with_rep(2)], machine=dict(MACHINE, kernel="6.9.0"))
    merged = results.merge([document([with_rep(1)]), b])
    assert any("kernel" in problem for problem in merged["machine_mismatch"])
    assert "fingerprint differs" in results.format_summary(merged)


def test_merge_of_nothing_is_an_error():
    with pytest.raises(results.ResultsError, match="no results"):
        results.merge([])


def test_single_cell_record_is_wrapped(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(RECORD))
    doc = results.load(path)
    assert doc["samples"] == [RECORD]


@pytest.mark.parametrize("text, message", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"foo": 1}', "no 'samples'"),
    ('{"samples": {}}', "'samples' must be a list"),
    ('{"samples": [1]}', r"samples\[0\]"),
    ('{"format": "other/1", "samples": []}', "unknown format"),
])
def test_bad_files_raise_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(results.ResultsError, match=message) as error:
        results.load(path)
    assert "bad.json" in str(error.value)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(results.ResultsError, match="nope.json"):
        results.load(tmp_path / "nope.json")


def test_metric_extraction_and_grouping():
    doc = document([with_rep(1), with_rep(2, delivered_pps=None, status="ok"),
                    with_rep(3, status="error"),
                    with_rep(1, cell_id="other", label="other cell")])
    groups = results.group_by_cell(doc)
    assert list(groups) == [RECORD["cell_id"], "other"]
    assert results.values(groups[RECORD["cell_id"]], "delivered_pps") == [49990.0]
    assert results.metric_value(RECORD, "latency_p99_ns") == 45000.0
    assert results.metric_value(RECORD, "cpu_ns_per_pkt") == pytest.approx(0.2 * 1e9 / 49990.0)
    assert results.metric_value(RECORD, "ratio_to_kernel") is None
    assert results.is_fixed_rate(RECORD)
    assert not results.is_fixed_rate(with_rep(1, params=dict(RECORD["params"], rate_pps=0)))
    with pytest.raises(KeyError, match="unknown metric"):
        results.metric_value(RECORD, "bogus")


def test_summary_shows_family_and_mtu_only_when_they_vary():
    v4 = with_rep(1)
    assert "family" not in results.format_summary(document([v4]))
    v6 = with_rep(1, cell_id=RECORD["cell_id"] + "/ipv6/mtu9000",
                  label=RECORD["label"] + " v6 mtu9000",
                  params=dict(RECORD["params"], family="ipv6", mtu=9000))
    text = results.format_summary(document([v4, v6]))
    header = next(line for line in text.splitlines() if line.startswith("cell"))
    assert header.split()[:4] == ["cell", "family", "MTU", "n"]
    row = next(line for line in text.splitlines() if "v6 mtu9000" in line)
    assert "ipv6" in row and "9000" in row
    old_row = next(line for line in text.splitlines()
                   if line.startswith(RECORD["label"] + " ") and "v6" not in line)
    assert "ipv4" in old_row and "1500" in old_row  # absent keys: IPv4 at 1500


def test_summary_lists_cells_with_medians():
    doc = document([with_rep(1), with_rep(2, delivered_pps=50010.0), with_rep(3, status="error")])
    rows = results.summarize(doc)
    assert len(rows) == 1
    assert rows[0].ok == 2 and rows[0].samples == 3
    assert rows[0].medians["delivered_pps"] == pytest.approx(50000.0)
    text = results.format_summary(doc)
    assert RECORD["label"] in text and "2/3" in text and "50.0" in text


def _worker_record(rep: int, workers: int, worker_pps: list, **changes) -> dict:
    suffix = "" if workers == 1 else f"/w{workers}"
    params = dict(RECORD["params"], streams=4, **({"workers": workers} if workers > 1 else {}))
    rates = [{"worker": w, "cpu": 1 - w, "forwarded": pps * 2, "copies": pps * 2,
              "forwarded_pps": pps, "copies_pps": pps, "share": pps / sum(worker_pps)}
             for w, pps in enumerate(worker_pps)]
    return with_rep(rep, cell_id=RECORD["cell_id"] + suffix, params=params,
                    relay_worker_rates=rates, **changes)


def test_summary_shows_each_workers_rate_and_the_scale_out_ratio():
    one = [_worker_record(r, 1, [pps]) for r, pps in ((1, 50000.0), (2, 52000.0))]
    two = [_worker_record(1, 2, [30000.0, 20000.0], ratio_to_one_worker=1.6),
           _worker_record(2, 2, [34000.0, 22000.0], ratio_to_one_worker=1.8),
           _worker_record(3, 2, [1.0, 1.0], status="error")]
    doc = document(one + two)
    rows = {row.cell_id: row for row in results.summarize(doc)}
    scaled = rows[RECORD["cell_id"] + "/w2"]
    assert scaled.worker_pps == [pytest.approx(32000.0), pytest.approx(21000.0)]
    assert scaled.medians["ratio_to_one_worker"] == pytest.approx(1.7)
    assert rows[RECORD["cell_id"]].medians["ratio_to_one_worker"] is None
    text = results.format_summary(doc)
    header = next(line for line in text.splitlines() if line.startswith("cell"))
    assert "/1 worker" in header and header.endswith("worker kpps")
    assert "32.0/21.0" in text
    assert "worker kpps" not in results.format_summary(document(one))
