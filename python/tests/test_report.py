"""The report (mrelay/report.py, plots.py): data per plot, skipped plots, files written, the
Google Benchmark matrix.

    cd python && /usr/bin/python3 -m pytest -q tests/test_report.py
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mrelay import cli, figures, page, report  # noqa: E402
from test_report_data import document, sample  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def full_document():
    samples = []
    for size, pps in ((512, 200000.0), (1400, 150000.0), (4096, 90000.0)):
        for batch, factor in ((1, 0.5), (32, 1.0)):
            for rep in (1, 2, 3):  # the median is the middle one: pps * factor
                samples.append(sample(size=size, batch=batch, rep=rep,
                                      delivered_pps=pps * factor * (0.8 + 0.1 * rep),
                                      syscalls_per_pkt=1.0 / batch,
                                      buffer_exhaustion_pct=2.0 / batch))
        samples.append(sample(forwarder="kernel", size=size, batch=32,
                              delivered_pps=pps * 1.2))
    for rate in (10000, 50000):
        for forwarder in ("mrelay", "kernel", "socat", "direct"):
            samples.append(sample(forwarder=forwarder, rate=rate, offered_pps=float(rate),
                                  delivered_pps=float(rate),
                                  latency_ns={"p99": rate * 2.0}))
    for fanout in (1, 4, 64):
        samples.append(sample(fanout=fanout, rate="ndr", ndr_pps=100000.0 / fanout,
                              delivered_pps=100000.0))
        if fanout <= 32:
            samples.append(sample(forwarder="kernel", fanout=fanout, rate="ndr",
                                  ndr_pps=50000.0 / fanout, delivered_pps=50000.0))
    samples.append(sample(rate=0, status="failed", delivered_pps=1.0))  # must be ignored
    return document(samples, name="full")


def test_pps_vs_size_takes_medians_per_batch_and_forwarder():
    series = figures.pps_vs_size(full_document())
    assert series["mrelay uring, batch 32"] == pytest.approx(
        [(512.0, 200000.0), (1400.0, 150000.0), (4096.0, 90000.0)])
    assert series["mrelay uring, batch 1"][0] == pytest.approx((512.0, 100000.0))
    assert series["kernel, batch 32"][1] == (1400.0, 180000.0)
    # The relay is listed before the references.
    assert list(series)[0].startswith("mrelay")


def test_latency_uses_fixed_rate_cells_only_in_microseconds():
    series = figures.latency_vs_load(full_document())
    assert set(series) == {"mrelay uring, 512 B", "kernel, 512 B", "socat, 512 B",
                           "direct, 512 B"}
    assert series["kernel, 512 B"] == [(10000.0, 20.0), (50000.0, 100.0)]


def test_fanout_prefers_ndr_and_kernel_stops_at_32():
    total, per_output, kind = figures.fanout_scaling(full_document())
    assert "no-drop" in kind
    assert total["mrelay uring, 512 B"] == [(1.0, 100000.0), (4.0, 100000.0), (64.0, 100000.0)]
    assert [x for x, _ in total["kernel, 512 B"]] == [1.0, 4.0]
    assert per_output["mrelay uring, 512 B"][2] == (64.0, 100000.0 / 64)


def test_syscalls_vs_batch():
    series = figures.syscalls_vs_batch(full_document())
    assert series["mrelay uring, 512 B, fanout 1"] == [(1.0, 1.0), (32.0, 1.0 / 32)]


def test_build_report_writes_markdown_html_and_pngs(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(full_document()))
    index = report.build_report([str(path)], tmp_path / "out")
    text = index.read_text()
    for image in ("pps_vs_size.png", "latency_vs_load.png", "fanout_total.png",
                  "fanout_per_output.png", "syscalls_vs_batch.png", "exhaustion_vs_load.png"):
        assert f"]({image})" in text
        assert (tmp_path / "out" / image).read_bytes().startswith(PNG_MAGIC)
    html = (tmp_path / "out" / "index.html").read_text()
    assert "<img src='pps_vs_size.png'" in html and "<table" not in text[:0]
    assert "Test CPU" in text


def test_absent_data_is_skipped_with_a_reason(tmp_path):
    doc = document([sample(rate=50000, offered_pps=50000.0),
                    sample(rate=10000, offered_pps=10000.0)])
    index = page.write_report(tmp_path, "t", report.results_sections(doc, tmp_path))
    text = index.read_text()
    assert "Skipped: RESULTS has no saturation cells" in text
    assert "Skipped: RESULTS has no relay saturation cells with syscalls_per_pkt" in text
    assert "](latency_vs_load.png)" in text  # fixed-rate data is there
    assert not (tmp_path / "pps_vs_size.png").exists()


def test_all_zero_exhaustion_is_a_sentence_not_a_flat_line(tmp_path):
    doc = document([sample(rate=r, offered_pps=float(r or 2e5)) for r in (0, 10000, 50000)])
    text = page.render_markdown("t", report.results_sections(doc, tmp_path))
    assert "measured 0 % buffer exhaustion" in text
    assert not (tmp_path / "exhaustion_vs_load.png").exists()


def test_single_size_is_skipped_not_drawn(tmp_path):
    doc = document([sample(size=512, batch=b, delivered_pps=1e5) for b in (1, 32)])
    text = page.render_markdown("t", report.results_sections(doc, tmp_path))
    assert "Skipped: every series has fewer than 2 distinct x values" in text


def quickstart_like(reps=3):
    """Each forwarder at one paced load and at saturation, one size, fanout and batch."""
    samples = []
    for forwarder, egress, pps, p99 in (("mrelay", "gso", 280e3, 99e3),
                                        ("mrelay", "uring", 135e3, 135e3),
                                        ("kernel-nft", None, 240e3, 26e3),
                                        ("direct", None, 200e3, 24e3)):
        for rep in range(1, reps + 1):
            wobble = 1 + 0.02 * (rep - 2)
            extra = {"egress": egress} if egress else {}
            samples.append(sample(forwarder=forwarder, rate=0, rep=rep,
                                  delivered_pps=pps * wobble, offered_pps=pps * 1.2,
                                  ratio_to_kernel=pps * wobble / 240e3, **extra))
            samples.append(sample(forwarder=forwarder, rate=50000, rep=rep,
                                  delivered_pps=49e3 * wobble, offered_pps=49e3 * wobble,
                                  latency_ns={"p99": p99 * wobble}, **extra))
    return document(samples, name="quickstart")


def test_one_load_per_forwarder_draws_bars_with_their_spread(tmp_path):
    doc = quickstart_like()
    assert figures.one_load_per_forwarder(doc)
    assert not figures.one_load_per_forwarder(full_document())
    bars = figures.forwarder_bars(doc)
    assert list(bars)[0].startswith("mrelay")
    gso = bars["mrelay gso"]
    assert (gso["delivered_pps"].low, gso["delivered_pps"].median, gso["delivered_pps"].high) == \
        pytest.approx((280e3 * 0.98, 280e3, 280e3 * 1.02))
    assert gso["latency_p99_us"].median == pytest.approx(99.0)
    assert bars["kernel-nft"]["ratio_to_kernel"].median == pytest.approx(1.0)
    index = page.write_report(tmp_path, "t", report.results_sections(doc, tmp_path))
    text = index.read_text()
    assert "](forwarders.png)" in text
    assert (tmp_path / "forwarders.png").read_bytes().startswith(PNG_MAGIC)
    # no line through one point per forwarder, no section that only says "skipped"
    assert "latency_vs_load.png" not in text and "fewer than 2 distinct" not in text


GBENCH = {
    "context": {"date": "2026-11-22", "host_name": "vm", "num_cpus": 2, "mhz_per_cpu": 2000},
    "benchmarks": [
        {"name": f"BM_UdpSend_{m}/bytes:{s}/batch:{b}/process_time", "run_type": "iteration",
         "bytes_per_second": float(s * rate), "items_per_second": float(rate)}
        for m, speed in (("sendto", 1.0), ("sendmmsg", 1.75))
        for s in (512, 1400) for b in (1, 100)
        for rate in [100000 * speed * (1.0 if b == 1 or m == "sendto" else 1.0)]
    ] + [{"name": "BM_ParseFrame", "run_type": "iteration", "items_per_second": 1e8}],
}


def test_gbench_is_detected_and_rendered_with_speedup(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(GBENCH))
    kind, doc = report.load_any([str(path)])
    assert kind == "gbench"
    matrix = figures.gbench_matrix(doc)
    assert set(matrix) == {"sendto", "sendmmsg"}
    assert matrix["sendmmsg"][(1400, 100)]["items_per_second"] == pytest.approx(175000.0)
    index = report.build_report([str(path)], tmp_path / "out")
    text = index.read_text()
    assert "| 512 bytes | 49 MiB/s | 49 MiB/s |" in text  # sendto: 512 * 1e5 B/s
    assert "1.75x" in text
    assert (tmp_path / "out" / "size_batch_heatmap.png").read_bytes().startswith(PNG_MAGIC)


def test_gbench_prefers_median_aggregate():
    doc = {"benchmarks": [
        {"name": "BM_UdpSend_uring/bytes:512/batch:10/process_time", "run_type": "iteration",
         "bytes_per_second": 1.0},
        {"name": "BM_UdpSend_uring/bytes:512/batch:10/process_time_median",
         "run_name": "BM_UdpSend_uring/bytes:512/batch:10/process_time",
         "run_type": "aggregate", "aggregate_name": "median", "bytes_per_second": 7.0},
    ]}
    assert figures.gbench_matrix(doc)["uring"][(512, 10)]["bytes_per_second"] == 7.0


def test_cli_report_and_errors(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(full_document()))
    assert cli.main(["report", str(path), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "index.md").is_file()
    assert cli.main(["report", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert "missing.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{\"x\": 1}")
    assert cli.main(["report", str(bad), "--out", str(tmp_path)]) == 2


def test_fanout_ignores_ndr_searches_that_found_nothing():
    doc = document([sample(fanout=1, rate="ndr", ndr_pps=50000.0, delivered_pps=50000.0),
                    sample(fanout=4, rate="ndr", ndr_pps=None, delivered_pps=4000.0),
                    sample(fanout=8, rate="ndr", ndr_pps=9000.0, delivered_pps=72000.0)])
    total, _, _ = figures.fanout_scaling(doc)
    assert total["mrelay uring, 512 B"] == [(1.0, 50000.0), (8.0, 72000.0)]
