"""`results export`: the four formats against what each tool documents (mrelay/export.py).

The fixtures restate each format's documented shape with our own names and values:

* Bencher Metric Format: an object of benchmarks, each an object of measures, each
  ``{"value": number, "lower_value"?: number, "upper_value"?: number}`` (value required).
* github-action-benchmark, custom tools ``customBiggerIsBetter`` / ``customSmallerIsBetter``:
  a JSON array of ``{"name": str, "unit": str, "value": number, "range"?: str, "extra"?: str}``.
* Apache Otava, CSV data source: a header row, a time column ("2024-03-01 04:00:00 +0000"),
  attribute columns such as the commit, one numeric column per metric, one row per run.

    cd python && /usr/bin/python3 -m pytest -q tests/test_export.py
"""

import csv
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import cli, export  # noqa: E402

# Our own example in each format's documented shape: what a consumer expects to parse.
BENCHER_EXAMPLE = {"relay hop 512B": {"delivered_pps": {"value": 2.0e5, "lower_value": 1.9e5,
                                                        "upper_value": 2.1e5},
                                      "syscalls_per_pkt": {"value": 0.03}}}
GAB_EXAMPLE = [{"name": "relay hop 512B delivered_pps", "unit": "pps", "value": 2.0e5,
                "range": "190000 .. 210000", "extra": "median of 3 samples"}]
OTAVA_EXAMPLE = ("time,commit,relay.delivered_pps,relay.latency_p99_ns\n"
                 "2024-03-01 04:00:00 +0000,c0ffee1,201000,55000\n"
                 "2024-03-02 04:00:00 +0000,c0ffee2,199000,56000\n")


def sample(label, rate, rep, pps, p99=None, syscalls=0.03, commit="abc123"):
    record = {"cell_id": label, "label": label, "rep": rep, "status": "ok",
              "params": {"forwarder": "mrelay", "rate_pps": rate, "size": 512},
              "delivered_pps": pps, "loss_pct": 0.0, "syscalls_per_pkt": syscalls}
    if p99 is not None:
        record["latency_ns"] = {"p50": p99 / 2, "p99": p99}
    return record


def document(created="2026-12-06T02:00:00Z", commit="abc123", scale=1.0):
    samples = [sample("mrelay(gso,packet) 512B b32 f1 max", 0, rep, scale * pps)
               for rep, pps in enumerate((200_000.0, 210_000.0, 190_000.0), 1)]
    samples += [sample("mrelay(gso,packet) 512B b32 f1 50kpps", 50_000, rep, 49_000.0 + rep,
                       p99=90_000.0 + rep * 1000)
                for rep in (1, 2, 3)]
    return {"format": "mrelay-bench-results/1", "created": created, "git_commit": commit,
            "samples": samples}


def check_bencher_shape(doc):
    assert isinstance(doc, dict) and doc
    for benchmark, measures in doc.items():
        assert isinstance(benchmark, str) and isinstance(measures, dict) and measures
        for measure, metric in measures.items():
            assert isinstance(measure, str) and len(measure) <= 64
            assert "value" in metric and isinstance(metric["value"], (int, float))
            assert set(metric) <= {"value", "lower_value", "upper_value"}
            assert metric.get("lower_value", metric["value"]) <= metric["value"] \
                <= metric.get("upper_value", metric["value"])


def check_gab_shape(entries):
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert {"name", "unit", "value"} <= set(entry) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(entry["value"], (int, float)) and isinstance(entry["name"], str)


def test_the_shape_checks_accept_the_documented_examples():
    check_bencher_shape(BENCHER_EXAMPLE)
    check_gab_shape(GAB_EXAMPLE)
    rows = list(csv.DictReader(io.StringIO(OTAVA_EXAMPLE)))
    assert [r["commit"] for r in rows] == ["c0ffee1", "c0ffee2"]
    with pytest.raises(AssertionError):
        check_bencher_shape({"b": {"m": {"lower_value": 1.0}}})  # value is required


def test_bencher_medians_with_min_max():
    out = export.bencher(document())
    check_bencher_shape(out)
    saturation = out["mrelay(gso,packet) 512B b32 f1 max"]
    assert saturation["delivered_pps"] == {"value": 200_000.0, "lower_value": 190_000.0,
                                           "upper_value": 210_000.0}
    # latency is exported only where the rate was paced (at saturation it measures queues)
    assert "latency_p99_ns" not in saturation
    assert out["mrelay(gso,packet) 512B b32 f1 50kpps"]["latency_p99_ns"]["value"] == 92_000.0


def test_github_action_benchmark_splits_by_direction():
    bigger = export.github_action_benchmark(document(), "bigger")
    smaller = export.github_action_benchmark(document(), "smaller")
    check_gab_shape(bigger)
    check_gab_shape(smaller)
    assert {e["name"].rsplit(" ", 1)[1] for e in bigger} == {"delivered_pps"}
    assert {"syscalls_per_pkt", "latency_p99_ns", "loss_pct"} <= \
        {e["name"].rsplit(" ", 1)[1] for e in smaller}
    assert not {e["name"] for e in bigger} & {e["name"] for e in smaller}
    with pytest.raises(ValueError, match="--direction"):
        export.github_action_benchmark(document(), "sideways")


def test_otava_csv_one_row_per_night_like_the_documented_example():
    text = export.otava_csv([document("2026-12-07T02:00:00Z", "def456", 0.9), document()])
    header, *lines = text.splitlines()
    example_header = OTAVA_EXAMPLE.splitlines()[0].split(",")
    assert header.split(",")[:2] == example_header[:2]  # time, commit first
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["time"] for r in rows] == ["2026-12-06 02:00:00 +0000", "2026-12-07 02:00:00 +0000"]
    assert [r["commit"] for r in rows] == ["abc123", "def456"]
    column = "mrelay_gso_packet_512B_b32_f1_max.delivered_pps"
    assert float(rows[0][column]) == 200_000.0 and float(rows[1][column]) == 180_000.0
    assert all("," not in name and " " not in name for name in header.split(","))


def test_append_history_adds_nights_and_columns(tmp_path):
    history = tmp_path / "history.csv"
    export.append_history(history, document())
    export.append_history(history, document("2026-12-07T02:00:00Z", "def456"))
    export.append_history(history, document("2026-12-07T02:00:00Z", "def456"))  # same night
    columns, rows = export.read_history(history)
    assert [r["commit"] for r in rows] == ["abc123", "def456"]
    later = document("2026-12-08T02:00:00Z", "0123ab")
    later["samples"].append(sample("kernel-nft 512B b32 f1 max", 0, 1, 180_000.0))
    export.append_history(history, later)
    columns2, rows2 = export.read_history(history)
    assert columns2[: len(columns)] == columns and "kernel_nft_512B_b32_f1_max.delivered_pps" in columns2
    assert rows2[0]["kernel_nft_512B_b32_f1_max.delivered_pps"] == ""


def test_cli_export_formats(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document()))
    assert cli.main(["results", "export", "--format", "bencher", str(path)]) == 0
    check_bencher_shape(json.loads(capsys.readouterr().out))
    assert cli.main(["results", "export", "--format", "github-action-benchmark", str(path)]) == 2
    assert "--direction" in capsys.readouterr().err
    assert cli.main(["results", "export", "--format", "github-action-benchmark",
                     "--direction", "smaller", str(path)]) == 0
    check_gab_shape(json.loads(capsys.readouterr().out))
    assert cli.main(["results", "export", "--format", "csv", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"bigger", "smaller"} == {r["direction"] for r in rows}
    history = tmp_path / "h.csv"
    assert cli.main(["results", "export", "--format", "otava-csv", "--append", str(history),
                     str(path)]) == 0
    assert history.read_text().startswith("time,commit,")
