"""The November 2025 reproduction (mrelay/reproduce.py) and its model (mrelay/burst_model.py):
the arithmetic, the specs, the rows and their offered-rate check, the page from a results
file, the flags; as root, the buffer probe on this kernel.

    cd python && /usr/bin/python3 -m pytest -q tests/test_reproduce.py
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mrelay import burst_model, cli, reproduce  # noqa: E402
from mrelay.burst_model import Host, Nic, Traffic  # noqa: E402
from test_report_data import document, sample  # noqa: E402

MIB4 = 4 * 1024 * 1024
NIC = Nic(line_rate_bps=20e6, ring_frames=2048, burst_frames=16)
# This kernel's figures for 1400-byte datagrams (probe_buffers), and a burst arriving at 500k/s.
HOST = Host(truesize=2304, wmem_default=212992, relay_pps=500e3)
BURSTS = Traffic(size=1400, burst=1024, rate_pps=1200, fanout=4)


def test_a_buffer_holds_ceil_of_its_size_over_truesize():
    assert burst_model.socket_frames(0, HOST) == 93  # 212992 / 2304 = 92.4, the last goes over
    assert burst_model.socket_frames(MIB4, HOST) == 3641  # the kernel doubles what was asked


def test_before_keeps_what_the_buffer_holds_and_what_the_line_sends_meanwhile():
    p = burst_model.predict(reproduce.BEFORE, BURSTS, NIC, HOST)
    line = 20e6 / (8 * 1442)
    drained = line * 1024 / 500e3
    assert p.drained_frames == pytest.approx(drained)
    assert p.accepted == pytest.approx(93 + 16 + drained)
    assert p.egress_pps == pytest.approx(4 * 1200 * p.accepted / 1024)
    assert p.exhaustion_pct == pytest.approx(100 * (1 - p.accepted / 1024))


def test_after_keeps_the_whole_burst_and_the_queue_depth_does_not_bind():
    p = burst_model.predict(reproduce.AFTER, BURSTS, NIC, HOST)
    assert p.accepted == 1024 and p.egress_pps == pytest.approx(4800)
    assert p.exhaustion_pct == pytest.approx(0)
    assert p.depth_limit_pps > 100 * p.egress_pps


def test_a_ring_smaller_than_the_buffer_is_the_limit():
    small_ring = Nic(line_rate_bps=20e6, ring_frames=200, burst_frames=16)
    p = burst_model.predict(reproduce.AFTER, BURSTS, small_ring, HOST)
    assert p.held_frames == 200 and p.accepted < 1024


def test_the_line_caps_egress_above_its_rate():
    flood = Traffic(size=1400, burst=1, rate_pps=5000, fanout=4)
    p = burst_model.predict(reproduce.AFTER, flood, NIC, HOST)
    assert p.egress_pps == pytest.approx(4 * NIC.line_pps(1400))


def test_littles_law_gives_the_investigations_ceiling():
    assert burst_model.depth_limit_pps(128, 3.3e-3) == pytest.approx(38788, rel=1e-3)
    p = burst_model.predict(reproduce.BEFORE, BURSTS, NIC, HOST)
    assert p.parked_hold_s == pytest.approx(93 / NIC.line_pps(1400))
    assert p.parked_limit_pps == pytest.approx(128 / p.parked_hold_s)


def test_burst_for_ratio_is_the_first_burst_past_the_target():
    b = burst_model.burst_for_ratio(4.5, reproduce.AFTER, reproduce.BEFORE, BURSTS, NIC, HOST)
    shaped = lambda n: Traffic(1400, n, 1200, 4)  # noqa: E731
    assert burst_model.ratio(reproduce.AFTER, reproduce.BEFORE, shaped(b), NIC, HOST) >= 4.5
    assert burst_model.ratio(reproduce.AFTER, reproduce.BEFORE, shaped(b - 1), NIC, HOST) < 4.5


def test_the_nic_is_a_tbf_in_bytes_of_frames():
    assert NIC.qdisc(1400) == "tbf rate 20mbit burst 23072 limit 2953216"


def test_windows_hold_whole_bursts():
    assert reproduce.whole_bursts_window(1024, 1200, 10) == pytest.approx(10.24)
    assert reproduce.whole_bursts_window(128, 1200, 5) == pytest.approx(5.0133, rel=1e-3)


def run_args(*extra):
    return cli.build_parser().parse_args(["reproduce", "nov2025", "--out", "x", *extra])


def test_spec_is_the_four_settings_at_one_burst():
    spec = reproduce.build_spec(run_args(), reproduce.Run("b", 512, 20.0, 1200.0, 5.0, 1))
    assert spec["queue_depths"] == [128, 1024] and spec["sndbufs"] == [0, MIB4]
    assert spec["backends"] == ["uring"] and spec["batches"] == [64]
    assert spec["gen_batch"] == 512 and spec["gen_bursts"] is True
    assert spec["rates"] == [1200.0] and spec["egress_qdisc"] == NIC.qdisc(1400)
    assert spec["window_s"] == pytest.approx(5.12)  # 12 bursts of 512 at 1200 pps


def test_the_plan_is_the_operating_point_then_the_burst_and_line_sweeps():
    runs = reproduce.plan_runs(run_args("--sweep-bursts", "256,1024", "--sweep-line-rates", "40"))
    assert [(r.name, r.burst, r.line_mbit, r.rate, r.repetitions) for r in runs] == [
        ("operating-point", 1024, 20.0, 1200.0, 2), ("burst-256", 256, 20.0, 1200.0, 1),
        ("line-40mbit", 1024, 40.0, 2400.0, 1)]  # the load scales with the line
    assert {(s.queue_depth, s.sndbuf) for s in reproduce.SETTINGS} == {
        (128, 0), (1024, 0), (128, MIB4), (1024, MIB4)}


def nov_sample(setting, burst, delivered, exhaustion, eagain, offered=1200.0, rep=1):
    record = sample(fanout=4, batch=64, size=1400, rate=1200.0, queue_depth=setting.queue_depth,
                    sndbuf=setting.sndbuf, rep=rep, offered_pps=offered,
                    delivered_pps=delivered, buffer_exhaustion_pct=exhaustion,
                    sample_window_s=10.24, generator={"send_pps": 500e3},
                    relay_counters={"uring_sq_full": 0, "drop_eagain": eagain,
                                    "drop_enobufs": 0, "drop_queue_full": 0,
                                    "drop_buffer_exhausted": 0, "kernel_drops": 0},
                    snmp_udp_delta={"relay": {"SndbufErrors": eagain}})
    record["params"].update(generator_batch=burst, generator_bursts=True)
    record["cell_id"] = record["label"] = f"{record['cell_id']}/gb{burst}"
    return record


def nov_document(after_offered=1200.0):
    b, q, s, a = reproduce.SETTINGS
    samples = []
    for rep in (1, 2):
        samples += [nov_sample(b, 1024, 540.0, 89.0, 43600, rep=rep),
                    nov_sample(q, 1024, 541.0, 89.0, 43600, rep=rep),
                    nov_sample(s, 1024, 4800.0, 0.0, 0, rep=rep),
                    nov_sample(a, 1024, 4800.0, 0.0, 0, offered=after_offered, rep=rep)]
    samples += [nov_sample(b, 256, 2080.0, 57.0, 27800), nov_sample(a, 256, 4800.0, 0.0, 0)]
    doc = document(samples, name="november2025")
    doc["spec"] = {"name": "november2025", "reproduce": {
        "size": 1400, "fanout": 4, "batch": 64, "rate": 1200.0, "burst": 1024,
        "buffers": {"size": 1400, "truesize": 2304.0, "wmem_default": 212992,
                    "default_buffer_datagrams": 94},
        "nic": {"line_rate_bps": 20e6, "ring_frames": 2048, "burst_frames": 16}}}
    return doc


def test_rows_carry_the_counters_the_ratio_and_the_model():
    rows = reproduce.analyse(nov_document())
    assert [(r.burst, r.setting.name) for r in rows][:2] == [
        (256, reproduce.BEFORE.name), (256, reproduce.AFTER.name)]
    at = {r.setting.name: r for r in rows if r.burst == 1024}
    before, after = at[reproduce.BEFORE.name], at[reproduce.AFTER.name]
    assert before.counters["drop_eagain"] == pytest.approx(43600 / 10.24)
    assert after.vs_before == pytest.approx(4800 / 540)
    assert before.prediction is not None and abs(before.model_error_pct("egress_pps")) < 5
    assert all(r.failed is None for r in rows)
    assert reproduce.operating_point(rows) == (20e6, 1024)


def test_a_row_whose_generator_missed_the_rate_fails_and_is_left_out():
    rows = reproduce.analyse(nov_document(after_offered=1320.0))  # 10 % over the 1200 asked
    after = next(r for r in rows if r.burst == 1024 and r.setting is reproduce.AFTER)
    assert after.failed and "1,320" in after.failed and after.vs_before is None
    assert reproduce.verdicts(rows)[0].startswith("**Not comparable**")


def test_verdicts_say_what_each_fix_does():
    lines = reproduce.verdicts(reproduce.analyse(nov_document()))
    assert lines[0].startswith(
        "**Operating point** (bursts of 1024, 20 Mbit/s line): after delivers 8.89×")
    assert any(line.startswith("queue depth only (q1024): nothing") for line in lines)
    assert any(line.startswith("send buffer only (4 MiB): all of the gain") for line in lines)
    assert any("39k" in line for line in lines)


def test_from_results_writes_the_page(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(nov_document()))
    out = tmp_path / "nov"
    assert cli.main(["reproduce", "nov2025", "--out", str(out), "--from", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "before (q128, default sndbuf)" in printed and "(reference)" in printed
    text = (out / "index.md").read_text()
    assert "| after (q1024, 4 MiB) | 20 | 1024 | 1,200 | 4,800 | 4,800 |" in text
    for image in ("ratio_vs_burst.png", "egress_vs_burst.png", "drop_counters.png"):
        assert (out / image).is_file() and f"]({image})" in text
    assert (out / "index.html").is_file()


def test_a_faster_line_gets_its_own_rows_model_and_plot(tmp_path):
    doc = nov_document()
    fast = Nic(line_rate_bps=50e6, ring_frames=2048, burst_frames=16)
    for setting, delivered in ((reproduce.BEFORE, 1700.0), (reproduce.AFTER, 12000.0)):
        record = nov_sample(setting, 1024, delivered, 86.0, 1000, offered=3000.0)
        record["params"].update(rate_pps=3000.0, egress_qdisc=fast.qdisc(1400))
        record["cell_id"] += "/fast"
        doc["samples"].append(record)
    doc["spec"]["reproduce"]["nics"] = {fast.qdisc(1400): {
        "line_rate_bps": 50e6, "ring_frames": 2048, "burst_frames": 16}}
    rows = reproduce.analyse(doc)
    fast_rows = [r for r in rows if r.line_rate_bps == 50e6]
    assert [r.setting for r in fast_rows] == [reproduce.BEFORE, reproduce.AFTER]
    assert fast_rows[1].vs_before == pytest.approx(12000 / 1700)
    line = fast.line_pps(1400)
    assert fast_rows[0].prediction.drained_frames == pytest.approx(line * 1024 / 500e3)
    assert reproduce.operating_point(rows) == (20e6, 1024)  # the repeated point, not the sweep
    reproduce.write_outputs(doc, tmp_path)
    assert (tmp_path / "ratio_vs_line.png").is_file()


def test_a_failed_row_makes_the_command_exit_1(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(nov_document(after_offered=1320.0)))
    assert cli.main(["reproduce", "nov2025", "--out", str(tmp_path / "o"), "--from",
                     str(path)]) == 1
    assert "FAILED: the generator offered 1,320 pps" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--rate", "2000"], "--rate: 2000 packets/s does not fit the line"),
    (["--burst", "2000"], "--burst: at most 1024"),
    (["--line-rate", "0"], "--line-rate: must be > 0"),
    (["--ring-frames", "0"], "--ring-frames: must be >= 1"),
])
def test_bad_flags_are_named(tmp_path, capsys, flags, message):
    code = cli.main(["reproduce", "nov2025", "--out", str(tmp_path / "o"), *flags])
    assert code == 2 and message in capsys.readouterr().err


def test_a_run_needs_root(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["reproduce", "nov2025", "--out", str(tmp_path / "o")]) == 2
    assert "needs root" in capsys.readouterr().err


def test_sweep_bursts_are_checked():
    with pytest.raises(SystemExit):
        run_args("--sweep-bursts", "128,x")
    with pytest.raises(SystemExit):
        run_args("--sweep-bursts", "4096")


def test_missing_bench_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # as root, so the bench is looked for
    code = cli.main(["--bin-dir", str(tmp_path), "reproduce", "nov2025", "--out",
                     str(tmp_path / "o")])
    assert code == 2 and "mrelay-bench not found" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a scratch network namespace")
def test_probe_measures_this_kernels_buffers_and_leaves_nothing_behind():
    if subprocess.run(["tc", "qdisc", "help"], capture_output=True).returncode not in (0, 255):
        pytest.skip("no tc")
    found = reproduce.probe_buffers(1400)
    assert found["truesize"] > 1400 + 28  # a datagram costs more than its bytes
    expected = math.ceil(found["wmem_default"] / found["truesize"])
    assert abs(found["default_buffer_datagrams"] - expected) <= 1  # + the one the NIC took
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"mrl-t{os.getpid()}" not in names
