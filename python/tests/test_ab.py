"""A/B mode (mrelay/ab.py): spec expansion, interleaving, worktree clean-up on every path.

    cd python && /usr/bin/python3 -m pytest -q tests/test_ab.py
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import REPO_ROOT, ab, bench, gate  # noqa: E402

SWEEPS = REPO_ROOT / "reports" / "sweeps"


def test_expand_spec_matches_the_bench_cell_count():
    spec = json.loads((SWEEPS / "quickstart.json").read_text())
    cells = ab.expand_spec(spec)
    # rates x (kernel, socat, direct + mrelay x each backend): the spec's own lists
    references = len([f for f in spec["forwarders"] if f != "mrelay"])
    assert len(cells) == len(spec["rates"]) * (references + len(spec["backends"]))
    assert {c["egress"] for c in cells if c["forwarder"] == "mrelay"} == set(spec["backends"])
    november = ab.expand_spec(json.loads((SWEEPS / "november2025.json").read_text()))
    # mrelay uring x 2 depths x 2 sndbufs + direct; the tbf spec reaches every cell
    assert len(november) == 5
    assert all(c["egress_qdisc"].startswith("tbf") for c in november)
    relay = [c for c in november if c["forwarder"] == "mrelay"]
    assert {(c["queue_depth"], c["sndbuf"]) for c in relay} == {(128, 0), (128, 4194304),
                                                                 (1024, 0), (1024, 4194304)}


def test_expand_spec_agrees_with_the_bench_dry_run():
    try:
        program = bench.find_bench()
    except bench.BenchError as error:
        pytest.skip(str(error))
    for name in ("quickstart", "smoke", "nightly", "size_batch"):
        done = subprocess.run([str(program), "sweep", str(SWEEPS / f"{name}.json"),
                               "--dry-run"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"this mrelay-bench has no --dry-run: {done.stderr.strip()}")
        listed = [line for line in done.stdout.splitlines() if line and "repetitions" not in line]
        assert len(listed) == len(ab.expand_spec(json.loads((SWEEPS / f"{name}.json")
                                                            .read_text()))), name


def fake_measure(log, relay_pps):
    def measure(bench_path, params, bin_dir, ndr_options):
        side = "direct" if params["forwarder"] == "direct" else str(bin_dir)
        log.append(side)
        pps = 100000.0 if side == "direct" else relay_pps[side]
        return {"status": "ok", "cell_id": f"{params['forwarder']}/{params.get('egress')}",
                "label": params["forwarder"], "params": params, "delivered_pps": pps,
                "outputs": 1, "syscalls_per_pkt": 0.03, "loss_pct": 0.0,
                "buffer_exhaustion_pct": 0.0}

    return measure


SPEC = {"name": "t", "forwarders": ["mrelay", "direct"], "rates": [0], "repetitions": 5}


def test_interleave_alternates_sides_and_shares_the_direct_reference():
    log = []
    ref, cand = ab.interleave(Path("bench"), SPEC, ref_bin_dir=Path("R"),
                              cand_bin_dir=Path("C"), reps=4,
                              measure=fake_measure(log, {"R": 80000.0, "C": 80000.0}))
    # Per repetition: direct once, then both sides, the order flipping every repetition.
    assert log == ["direct", "R", "C", "direct", "C", "R", "direct", "R", "C",
                   "direct", "C", "R"]
    assert len(ref["samples"]) == len(cand["samples"]) == 4
    assert all(s["ratio_to_direct"] == pytest.approx(0.8) for s in cand["samples"])
    assert {s["ab_side"] for s in ref["samples"]} == {"ref"}


def test_ab_documents_gate_a_slower_candidate_as_regression():
    log = []
    ref, cand = ab.interleave(Path("bench"), SPEC, ref_bin_dir=Path("R"),
                              cand_bin_dir=Path("C"), reps=5,
                              measure=fake_measure(log, {"R": 80000.0, "C": 60000.0}))
    # Constant fake figures: a little jitter so the rank test has distinct values.
    for index, sample in enumerate(ref["samples"] + cand["samples"]):
        sample["delivered_pps"] += index
    report = gate.run_gate(ref, cand)
    regressed = {r.metric for r in report.rows if r.decision.verdict == gate.REGRESSION}
    assert "delivered_pps" in regressed and report.exit_code == gate.EXIT_REGRESSION


def _worktrees():
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "list", "--porcelain"],
                          capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if line.startswith("worktree ")]


def test_ref_build_removes_the_worktree_when_the_build_fails(tmp_path, monkeypatch):
    if subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("not a git checkout")
    real_run = ab._run

    def failing_build(command, what, **kwargs):
        if command[0] == "cmake":
            raise ab.ABError(f"{what} failed (exit 1): simulated")
        return real_run(command, what, **kwargs)

    monkeypatch.setattr(ab, "_run", failing_build)
    before = _worktrees()
    with pytest.raises(ab.ABError, match="simulated"):
        with ab.ref_build("HEAD", candidate_bin_dir=tmp_path, work_parent=tmp_path / "ab"):
            pass
    assert _worktrees() == before
    assert list((tmp_path / "ab").iterdir()) == []


def test_unknown_ref_is_an_error_naming_it():
    with pytest.raises(ab.ABError, match="no-such-ref-xyz"):
        ab.resolve_ref("no-such-ref-xyz")
