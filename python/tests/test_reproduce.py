"""The November 2025 reproduction (mrelay/reproduce.py): spec, per-setting analysis, the
verdicts computed from counters, outputs written from an existing results file.

    cd python && /usr/bin/python3 -m pytest -q tests/test_reproduce.py
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mrelay import cli, reproduce  # noqa: E402
from test_report_data import document, sample  # noqa: E402

MIB4 = 4 * 1024 * 1024


def nov_sample(queue_depth, sndbuf, rate, delivered, exhaustion, sq_full, snmp=0, rep=1):
    return sample(fanout=4, batch=64, rate=rate, queue_depth=queue_depth, sndbuf=sndbuf,
                  rep=rep, offered_pps=float(rate or 50000), delivered_pps=delivered,
                  buffer_exhaustion_pct=exhaustion,
                  relay_counters={"uring_sq_full": sq_full, "drop_eagain": 0,
                                  "drop_enobufs": 0, "drop_queue_full": sq_full,
                                  "drop_buffer_exhausted": 0},
                  snmp_udp_delta={"relay": {"SndbufErrors": snmp}})


def nov_document():
    samples = []
    for rep in (1, 2):
        samples += [
            nov_sample(128, 0, 12000, 45000.0, 6.0, 4000, snmp=1500, rep=rep),
            nov_sample(1024, 0, 12000, 45200.0, 5.5, 3800, snmp=10000, rep=rep),
            nov_sample(128, MIB4, 12000, 48000.0, 0.0, 0, rep=rep),
            nov_sample(1024, MIB4, 12000, 48000.0, 0.0, 0, rep=rep),
            nov_sample(128, 0, 8000, 32000.0, 0.0, 0, rep=rep),
            nov_sample(128, MIB4, 8000, 32000.0, 0.0, 0, rep=rep),
        ]
    return document(samples, name="november2025")


def test_spec_is_the_four_settings():
    args = cli.build_parser().parse_args(["reproduce", "nov2025", "--out", "x"])
    spec = reproduce.build_spec(args)
    assert spec["queue_depths"] == [128, 1024] and spec["sndbufs"] == [0, MIB4]
    assert spec["backends"] == ["uring"] and spec["egress_qdisc"].startswith("tbf ")
    assert 0 in spec["rates"] and "gen_batch" not in spec
    assert {(s.queue_depth, s.sndbuf) for s in reproduce.SETTINGS} == {
        (128, 0), (1024, 0), (128, MIB4), (1024, MIB4)}


def test_rates_flag_is_validated():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["reproduce", "nov2025", "--out", "x", "--rates", "a,1"])


def test_analyse_rows_counters_per_second_and_improvement():
    rows = reproduce.analyse(nov_document())
    assert [r.rate for r in rows][:2] == [8000.0, 8000.0]  # paced loads first, ascending
    at12 = {r.setting.name: r for r in rows if r.rate == 12000}
    before = at12[reproduce.SETTINGS[0].name]
    assert before.counters["uring_sq_full"] == pytest.approx(2000.0)  # 4000 over a 2 s window
    assert before.counters[reproduce.SNMP_SNDBUF] == pytest.approx(750.0)
    both = at12[reproduce.SETTINGS[3].name]
    assert both.improvement_pct == pytest.approx(100.0 * (48000 / 45000 - 1))


def test_verdicts_follow_the_counters():
    lines = reproduce.verdicts(reproduce.analyse(nov_document()))
    at12 = next(line for line in lines if line.startswith("**12k pps**"))
    assert "queue depth fix only (q1024): no effect on the exhaustion" in at12
    assert "sndbuf fix only (4 MiB): removes the exhaustion" in at12
    at8 = next(line for line in lines if line.startswith("**8k pps**"))
    assert "nothing to remove" in at8


def test_from_results_writes_the_page(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(nov_document()))
    out = tmp_path / "nov"
    assert cli.main(["reproduce", "nov2025", "--out", str(out), "--from", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "before (q128, default sndbuf)" in printed and "(reference)" in printed
    text = (out / "index.md").read_text()
    assert "| both fixes (q1024, 4 MiB) | 12k pps |" in text
    for image in ("egress_vs_load.png", "exhaustion_vs_load.png", "drop_counters.png"):
        assert (out / image).is_file() and f"]({image})" in text
    assert (out / "index.html").is_file()


def test_missing_bench_is_an_error(tmp_path, capsys):
    code = cli.main(["--bin-dir", str(tmp_path), "reproduce", "nov2025", "--out",
                     str(tmp_path / "o")])
    assert code == 2 and "mrelay-bench not found" in capsys.readouterr().err


def test_verdict_warns_when_the_generator_missed_its_rate():
    doc = document([nov_sample(128, 0, 8000, 27000.0, 2.0, 600),
                    nov_sample(128, MIB4, 8000, 32000.0, 0.0, 0)], name="november2025")
    doc["samples"][0]["offered_pps"] = 6900.0  # before fell 14 % short of 8k pps
    line = reproduce.verdicts(reproduce.analyse(doc))[0]
    assert "compare loss, not egress" in line


def test_verdict_warns_when_the_relay_ingress_was_starved():
    starved = nov_sample(1024, 0, 0, 36000.0, 0.0, 0)
    starved["relay_counters"]["kernel_drops"] = 2 * 97000  # 97k/s over the 2 s window
    starved["offered_pps"] = 104000.0
    doc = document([nov_sample(128, 0, 0, 43000.0, 39.0, 57000), starved],
                   name="november2025")
    line = reproduce.verdicts(reproduce.analyse(doc))[0]
    assert "ingress dropped 97,000 pps" in line
