"""`mrelay-bench cell` flags rebuilt from a record's params (bench.cell_args): the gate's
re-runs must measure the same cell, tester included.

    cd python && /usr/bin/python3 -m pytest -q tests/test_bench_args.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import bench  # noqa: E402


def test_the_fast_tester_is_passed_on_and_full_is_the_default():
    params = {"forwarder": "direct", "size": 512, "batch": 32, "fanout": 1, "rate_pps": 0,
              "tester": "fast"}
    args = bench.cell_args(params)
    assert args[args.index("--tester") + 1] == "fast"
    params["tester"] = "full"
    assert "--tester" not in bench.cell_args(params)
    del params["tester"]  # results from before the option
    assert "--tester" not in bench.cell_args(params)


def test_family_and_mtu_are_passed_on_only_when_not_the_defaults():
    params = {"forwarder": "mrelay", "size": 8952, "batch": 32, "fanout": 1, "rate_pps": 0,
              "family": "ipv6", "mtu": 9000}
    args = bench.cell_args(params)
    assert args[args.index("--family") + 1] == "ipv6"
    assert args[args.index("--mtu") + 1] == "9000"
    params.update(family="ipv4", mtu=1500)
    args = bench.cell_args(params)
    assert "--family" not in args and "--mtu" not in args
    del params["family"], params["mtu"]  # results from before the options
    args = bench.cell_args(params)
    assert "--family" not in args and "--mtu" not in args


def test_workers_are_passed_on_for_mrelay_and_dropped_for_direct():
    params = {"forwarder": "mrelay", "size": 512, "batch": 32, "fanout": 1, "rate_pps": 0,
              "streams": 4, "workers": 2, "egress": "gso", "ingress": "packet"}
    args = bench.cell_args(params)
    assert args[args.index("--workers") + 1] == "2"
    assert args[args.index("--streams") + 1] == "4"
    assert "workers" not in bench.direct_params(params)
    del params["workers"]  # absent: 1 worker, the relay's default
    assert "--workers" not in bench.cell_args(params)


def test_the_scale_out_ratio_is_the_benchs_own_rule():
    """Records from Python reach results/aggregate.cc through the native module (signed
    integers there): a 2-worker record gets its ratio to the 1-worker one, and only it."""
    from mrelay import native

    def record(workers: int, delivered: float) -> dict:
        params = {"forwarder": "mrelay", "size": 512, "batch": 32, "fanout": 1, "rate_pps": 0,
                  "ingress": "packet", "egress": "gso", "queue_depth": 1024,
                  "sndbuf": 4194304, "streams": 4}
        if workers > 1:
            params["workers"] = workers
        return {"params": params, "status": "ok", "rep": 1, "outputs": 1,
                "delivered_pps": delivered}

    ratios = native().reference_ratios([record(1, 200e3), record(2, 300e3)])
    assert "ratio_to_one_worker" not in ratios[0]
    assert abs(ratios[1]["ratio_to_one_worker"] - 1.5) < 1e-12
