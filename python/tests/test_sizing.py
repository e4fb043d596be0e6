"""The hardware-sizing table (mrelay/sizing.py): rates, Gbit/s, CPU per 100k pps, the kernel
ratio and its 32-VIF limit, the fingerprint above the table.

    cd python && /usr/bin/python3 -m pytest -q tests/test_sizing.py
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mrelay import cli, sizing  # noqa: E402
from test_report_data import document, sample  # noqa: E402


def sizing_document():
    return document([
        # 1400 B, fanout 4: NDR 50k pps in, 200k copies out, relay at 40 % of a core.
        sample(size=1400, fanout=4, rate="ndr", ndr_pps=50000.0, delivered_pps=200000.0,
               relay_cpu_pct=40.0),
        sample(size=1400, fanout=4, rate="ndr", batch=1, ndr_pps=20000.0,
               delivered_pps=80000.0, relay_cpu_pct=60.0),  # a worse setting: not chosen
        sample(forwarder="kernel", size=1400, fanout=4, rate="ndr", ndr_pps=25000.0,
               delivered_pps=100000.0),
        # fanout 40: no kernel cell exists (beyond 32 VIFs).
        sample(size=1400, fanout=40, rate="ndr", ndr_pps=5000.0, delivered_pps=200000.0,
               relay_cpu_pct=50.0),
        # 512 B, fanout 1: only a saturation cell.
        sample(size=512, fanout=1, rate=0, delivered_pps=120000.0, relay_cpu_pct=90.0),
    ])


def test_rows_pick_the_best_setting_and_compute_figures():
    rows = {(r.size, r.fanout): r for r in sizing.sizing_rows(sizing_document())}
    row = rows[(1400, 4)]
    assert row.source == "ndr" and row.config.startswith("uring b32")
    assert row.pps_per_core == 50000.0
    assert row.copies_pps == 200000.0
    assert row.gbits() == pytest.approx(200000 * 1400 * 8 / 1e9)
    assert row.gbits(True) == pytest.approx(200000 * 1442 * 8 / 1e9)
    assert row.cpu_per_100k == pytest.approx(20.0)  # 40 % of a core for 200k copies/s
    assert row.kernel_ratio == pytest.approx(2.0)
    wide = rows[(1400, 40)]
    assert wide.kernel_ratio is None and "32-VIF" in wide.kernel_note
    saturated = rows[(512, 1)]
    assert saturated.source == "saturation" and saturated.pps_per_core == 120000.0
    assert saturated.kernel_note == "not measured or skipped"


def test_markdown_has_fingerprint_and_rows():
    text = sizing.format_markdown(sizing_document())
    lines = text.splitlines()
    machine_line = next(i for i, line in enumerate(lines) if line.startswith("Machine:"))
    table_line = next(i for i, line in enumerate(lines) if line.startswith("| size"))
    assert machine_line < table_line
    assert "Test CPU @ 2.0GHz" in lines[machine_line] and "6.18.0-test" in lines[machine_line]
    assert ("| 1400 | 4 | ndr | 50.0k | 200.0k | 2.24 / 2.31 | 20.0 % of a core | 2.00x (ipmr) |"
            in text)
    assert "n/a (beyond ipmr's 32-VIF limit, no kernel-nft cell)" in text


def test_the_best_kernel_reference_is_the_one_compared_and_named():
    doc = sizing_document()
    # nftables replication delivered more than multicast routing at 1400 B, fanout 4, and is
    # the only kernel reference beyond 32 outputs.
    doc["samples"] += [
        sample(forwarder="kernel-nft", size=1400, fanout=4, rate="ndr", ndr_pps=40000.0,
               delivered_pps=160000.0),
        sample(forwarder="kernel-nft", size=1400, fanout=40, rate="ndr", ndr_pps=2500.0,
               delivered_pps=100000.0),
    ]
    rows = {(r.size, r.fanout): r for r in sizing.sizing_rows(doc)}
    assert rows[(1400, 4)].kernel_reference == "nft"
    assert rows[(1400, 4)].kernel_ratio == pytest.approx(1.25)
    assert rows[(1400, 40)].kernel_ratio == pytest.approx(2.0)
    assert "| 1.25x (nft) |" in sizing.format_markdown(doc)


def test_empty_results_say_what_to_run():
    text = sizing.format_markdown(document([sample(rate=10000)]))
    assert "nothing to size" in text


def test_cli_sizing_writes_and_prints(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(sizing_document()))
    out = tmp_path / "sizing.md"
    assert cli.main(["sizing", str(path), "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out
    gbench = tmp_path / "g.json"
    gbench.write_text(json.dumps({"benchmarks": []}))
    assert cli.main(["sizing", str(gbench)]) == 2


def test_an_ndr_search_that_found_nothing_is_reported_not_hidden():
    doc = document([sample(size=512, fanout=4, rate="ndr", ndr_pps=None, delivered_pps=4000.0,
                           ndr={"found": False, "note": "confirmation failed at every step"})])
    text = sizing.format_markdown(doc)
    assert "No no-drop rate found for 512 B, fanout 4" in text
    assert "confirmation failed at every step" in text


def test_a_multi_host_table_names_dut_tester_their_links_and_the_headroom():
    doc = sizing_document()
    nic = {"driver": "ice", "speed_mbps": 25000, "mtu": 1500}
    doc["hosts"] = {
        "d1": {"role": "dut", "ssh": "root@dut1", "bin_dir": "/usr/bin",
               "fingerprint": {"cpu_model": "Big CPU", "cores_online": 32, "kernel": "6.1.0",
                               "interfaces": {"ens1f0": nic, "ens1f1": nic}}},
        "t1": {"role": "tester", "ssh": "tester1", "bin_dir": "/usr/bin",
               "fingerprint": {"cpu_model": "Other CPU", "cores_online": 16, "kernel": "6.12.0",
                               "interfaces": {"eth1": {"driver": "mlx5_core",
                                                       "speed_mbps": 100000, "mtu": 1500}}}},
    }
    doc["headroom"] = {"checked": 4, "margin": 1.5, "rig_bound": [{"label": "x"}]}
    text = sizing.format_markdown(doc)
    assert "DUT `d1` (root@dut1): Big CPU, 32 cores, kernel `6.1.0`; links: ens1f0 ice 25 " \
           "Gbit/s, ens1f1 ice 25 Gbit/s." in text
    assert "Tester `t1` (tester1): Other CPU, 16 cores" in text
    assert "mlx5_core 100 Gbit/s" in text
    assert "1.5× the forwarder's rate; 1 of 4 saturation/NDR samples were rig-bound" in text
    assert "(the DUT)" in text.splitlines()[2]
    # The namespace rig says so instead.
    assert "Rig: namespaces on one machine" in sizing.format_markdown(sizing_document())


def test_cores_needed_is_rate_times_fanout_times_cost():
    # 1 Mpps in, fanout 16, 250 ns per copy: 16M copies/s x 250 ns = 4 cores.
    assert sizing.cores_needed(250.0, 1.0, 16) == pytest.approx(4.0)
    assert sizing.cores_needed(250.0, 0.1, 1) == pytest.approx(0.025)


def test_cost_table_takes_paced_cells_with_ns_per_copy():
    doc = document([
        sample(fanout=16, rate=5000, egress="gso", ns_per_copy=400.0, delivered_pps=80000.0),
        sample(fanout=16, rate=5000, egress="gso", rep=2, ns_per_copy=600.0),
        sample(forwarder="kernel-nft", fanout=16, rate=5000, ns_per_copy=300.0),
        sample(forwarder="direct", fanout=1, rate=5000, ns_per_copy=150.0),
        sample(forwarder="direct", fanout=16, rate=5000, ns_per_copy=170.0),  # same link again
        sample(fanout=16, rate=0, egress="gso", ns_per_copy=90.0),  # saturation: left out
        sample(fanout=16, rate=5000, egress="send"),  # no ns_per_copy: left out
    ])
    rows = {row.forwarder: row for row in sizing.cost_rows(doc)}
    assert set(rows) == {"mrelay (gso)", "kernel-nft", "direct"}
    assert rows["mrelay (gso)"].ns_per_copy == pytest.approx(500.0)  # median of 400, 600
    assert rows["direct"].ns_per_copy == 150.0  # its fanout-1 cell only
    assert len(sizing.cost_rows(doc)) == 3
    assert rows["mrelay (gso)"].cores(1.0) == pytest.approx(8.0)  # 1M x 16 x 500 ns
    text = sizing.format_markdown(doc)
    assert "### CPU per copy and cores needed" in text
    assert "| mrelay (gso) | 512 | 16 | 5.0k pps | 0 | 500 | 0.80 | 8.00 |" in text


def _gso(model, **figures):
    record = sample(egress="gso", **figures)
    record["params"]["egress_segmentation"] = model
    record["cell_id"] += "/" + model  # one cell per model
    return record


def test_sizing_takes_the_conservative_segmentation_model():
    # The device model (USO-like) is faster; the table sizes with the software one and says
    # which model a row is where only the device one was measured.
    doc = document([
        _gso("software", size=512, fanout=16, rate="ndr", ndr_pps=60000.0,
             delivered_pps=960000.0, ns_per_copy=None),
        _gso("device", size=512, fanout=16, rate="ndr", ndr_pps=134000.0,
             delivered_pps=2144000.0),
        _gso("device", size=64, fanout=1, rate="ndr", ndr_pps=500000.0, delivered_pps=500000.0),
        _gso("device", size=512, fanout=1, rate=20000, ns_per_copy=18000.0),
        _gso("software", size=512, fanout=1, rate=20000, ns_per_copy=12000.0),
    ])
    rows = {(r.size, r.fanout): r for r in sizing.sizing_rows(doc)}
    assert rows[(512, 16)].pps_per_core == 60000.0
    assert "USO-like" not in rows[(512, 16)].config
    assert "USO-like" in rows[(64, 1)].config
    labels = sorted(r.forwarder for r in sizing.cost_rows(doc))
    assert labels == ["mrelay (gso)", "mrelay (gso, USO-like)"]
