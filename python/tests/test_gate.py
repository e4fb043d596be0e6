"""The regression gate's decision rule and file comparison (mrelay/gate.py).

Binding: synthetic samples with known shifts and known noise; detects a 10 % shift at the
stated sample count (gate.DEFAULT_MIN_SAMPLES = 5 per side, 2 % noise); does not flag a
pure-noise pair in at least 99 of 100 seeded trials.

    cd python && /usr/bin/python3 -m pytest -q tests/test_gate.py
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import gate  # noqa: E402

PPS = gate.METRICS_BY_NAME["delivered_pps"]
SYSCALLS = gate.METRICS_BY_NAME["syscalls_per_pkt"]
LOSS = gate.METRICS_BY_NAME["loss_pct"]

# Noise of the synthetic throughput samples: 2 % standard deviation, what repeated 2 s
# windows on the rig show for a healthy relay.
NOISE = 0.02
BASE_PPS = 400_000.0
TRIALS = 100


def noisy(rng, n, level, noise=NOISE):
    return list(level * (1.0 + noise * rng.standard_normal(n)))


def decide_pps(base, cand, **options):
    return gate.decide(base, cand, direction=PPS.direction, threshold=PPS.threshold, **options)


# --- the binding statistical properties ---------------------------------------------------


def test_detects_a_10_percent_drop_at_the_stated_sample_count():
    n = gate.DEFAULT_MIN_SAMPLES
    detected = 0
    for seed in range(TRIALS):
        rng = np.random.default_rng(seed)
        decision = decide_pps(noisy(rng, n, BASE_PPS), noisy(rng, n, BASE_PPS * 0.90))
        detected += decision.verdict == gate.REGRESSION
    assert detected >= 95, f"detected a 10 % drop in only {detected}/{TRIALS} trials"


def test_detects_a_10_percent_rise_as_improvement():
    n = gate.DEFAULT_MIN_SAMPLES
    improved = sum(
        decide_pps(noisy(rng, n, BASE_PPS), noisy(rng, n, BASE_PPS * 1.10)).verdict
        == gate.IMPROVEMENT
        for rng in (np.random.default_rng(1000 + s) for s in range(TRIALS)))
    assert improved >= 95


@pytest.mark.parametrize("n", [gate.DEFAULT_MIN_SAMPLES, 10])
def test_pure_noise_is_not_flagged_in_99_of_100_trials(n):
    flagged = 0
    for seed in range(TRIALS):
        rng = np.random.default_rng(10_000 + seed)
        decision = decide_pps(noisy(rng, n, BASE_PPS), noisy(rng, n, BASE_PPS))
        flagged += decision.verdict in (gate.REGRESSION, gate.IMPROVEMENT)
    assert flagged <= 1, f"pure noise flagged in {flagged}/{TRIALS} trials"


def test_pure_noise_on_a_down_metric_is_not_flagged():
    flagged = 0
    for seed in range(TRIALS):
        rng = np.random.default_rng(20_000 + seed)
        decision = gate.decide(noisy(rng, 5, 0.03, 0.03), noisy(rng, 5, 0.03, 0.03),
                               direction=SYSCALLS.direction, threshold=SYSCALLS.threshold)
        flagged += decision.verdict in (gate.REGRESSION, gate.IMPROVEMENT)
    assert flagged <= 1


def test_a_shift_below_the_threshold_is_not_a_regression_even_when_significant():
    # 2 % drop with 0.2 % noise: clearly significant, practically irrelevant (threshold 5 %).
    rng = np.random.default_rng(7)
    decision = decide_pps(noisy(rng, 8, BASE_PPS, 0.002), noisy(rng, 8, BASE_PPS * 0.98, 0.002))
    assert decision.p_value < gate.DEFAULT_ALPHA
    assert decision.verdict == gate.UNCHANGED


# --- direction, thresholds, inconclusive ----------------------------------------------------


def test_direction_down_metric_increase_is_regression_decrease_is_improvement():
    base = [0.030, 0.031, 0.029, 0.030, 0.0305]
    worse = [0.90, 0.91, 0.92, 0.93, 0.94]  # batch 1: ~30x the syscalls
    better = [0.010, 0.011, 0.012, 0.0105, 0.0115]
    kwargs = dict(direction=SYSCALLS.direction, threshold=SYSCALLS.threshold)
    assert gate.decide(base, worse, **kwargs).verdict == gate.REGRESSION
    assert gate.decide(base, better, **kwargs).verdict == gate.IMPROVEMENT
    # The same numbers on an UP metric mean the opposite.
    up = dict(direction=gate.UP, threshold=gate.Threshold(0.05))
    assert gate.decide(base, worse, **up).verdict == gate.IMPROVEMENT
    assert gate.decide(base, better, **up).verdict == gate.REGRESSION


def test_decision_reports_medians_iqr_change_p_value_and_threshold():
    base = [100.0, 101.0, 99.0, 100.5, 99.5]
    cand = [80.0, 81.0, 79.0, 80.5, 79.5]
    d = decide_pps(base, cand)
    assert d.verdict == gate.REGRESSION
    assert d.baseline.median == 100.0 and d.candidate.median == 80.0
    assert d.baseline.iqr == pytest.approx(1.0)
    assert d.change == pytest.approx(-20.0)
    assert d.relative_change == pytest.approx(-0.20)
    assert d.threshold == pytest.approx(5.0)
    assert d.p_value == pytest.approx(2 / 252)  # complete separation, exact test


def test_too_few_samples_is_inconclusive_and_rerunnable():
    d = decide_pps([1.0, 1.1, 0.9, 1.05, 0.95], [0.5, 0.6, 0.55])
    assert d.verdict == gate.INCONCLUSIVE and d.rerunnable
    assert "too few samples" in d.reason


def test_thin_baseline_is_inconclusive_but_not_rerunnable():
    d = decide_pps([1.0, 1.1, 0.9], [1.0] * 8)
    assert d.verdict == gate.INCONCLUSIVE and not d.rerunnable
    assert "baseline" in d.reason and d.change == pytest.approx(0.0)


def test_sample_counts_that_cannot_reach_alpha_are_inconclusive():
    base = [100.0, 101.0, 99.0, 100.5, 99.5]
    d = decide_pps(base, [50.0, 51.0, 49.0, 50.5, 49.5], alpha=0.005)  # min p is 0.0079
    assert d.verdict == gate.INCONCLUSIVE
    assert gate.smallest_attainable_p(5, 5) == pytest.approx(2 / 252)


def test_wide_spread_without_significance_is_inconclusive_not_a_pass():
    rng = np.random.default_rng(3)
    d = decide_pps(noisy(rng, 5, BASE_PPS, 0.002), noisy(rng, 5, BASE_PPS, 0.25))
    assert d.verdict == gate.INCONCLUSIVE and d.rerunnable
    assert "spread" in d.reason
    # A noisy baseline cannot be fixed by re-running the candidate.
    d = decide_pps(noisy(rng, 5, BASE_PPS, 0.25), noisy(rng, 5, BASE_PPS, 0.002))
    assert d.verdict == gate.INCONCLUSIVE and not d.rerunnable
    assert "baseline" in d.reason


def test_change_beyond_threshold_but_not_significant_is_inconclusive():
    base = [100.0, 101.0, 99.0, 100.5, 99.5]
    cand = [94.0, 101.5, 93.0, 93.5, 92.0]  # median -6.5 %, one overlap: p = 0.016 > 0.01
    d = decide_pps(base, cand)
    assert d.p_value > gate.DEFAULT_ALPHA
    assert d.verdict == gate.INCONCLUSIVE


def test_absolute_floor_keeps_tiny_loss_changes_unchanged():
    base = [0.0] * 6
    cand = [0.02, 0.03, 0.02, 0.04, 0.03, 0.02]  # significant, but 0.03 points < 0.1
    d = gate.decide(base, cand, direction=LOSS.direction, threshold=LOSS.threshold)
    assert d.p_value < gate.DEFAULT_ALPHA
    assert d.verdict == gate.UNCHANGED
    lossy = [1.0, 1.2, 0.9, 1.1, 1.3, 1.0]
    assert gate.decide(base, lossy, direction=LOSS.direction,
                       threshold=LOSS.threshold).verdict == gate.REGRESSION


def test_identical_constant_samples_are_unchanged():
    d = gate.decide([0.0] * 5, [0.0] * 5, direction=gate.DOWN, threshold=LOSS.threshold)
    assert d.verdict == gate.UNCHANGED and d.p_value == 1.0


def test_none_and_nan_samples_are_ignored():
    d = decide_pps([100.0, None, 101.0, float("nan"), 99.0], [100.0] * 5)
    assert d.baseline.n == 3 and d.verdict == gate.INCONCLUSIVE


def test_bad_direction_is_an_error():
    with pytest.raises(ValueError, match="direction"):
        gate.decide([1.0] * 5, [1.0] * 5, direction=0, threshold=gate.Threshold(0.05))


def test_every_metric_has_a_direction_category_and_reason():
    for metric in gate.METRICS:
        assert metric.direction in (gate.UP, gate.DOWN)
        assert metric.category in ("absolute", "normalised", "count")
        assert metric.threshold.relative > 0 or metric.threshold.absolute > 0
        assert len(metric.reason) > 20
    assert gate.METRICS_BY_NAME["delivered_pps"].direction == gate.UP
    for name in ("loss_pct", "latency_p99_ns", "syscalls_per_pkt", "buffer_exhaustion_pct",
                 "cpu_ns_per_pkt"):
        assert gate.METRICS_BY_NAME[name].direction == gate.DOWN
    assert gate.METRICS_BY_NAME["ratio_to_direct"].category == "normalised"
    for name in ("syscalls_per_pkt", "buffer_exhaustion_pct", "loss_pct"):
        assert gate.METRICS_BY_NAME[name].category == "count"


def test_exact_p_value_matches_scipy_without_ties_and_handles_ties():
    from scipy import stats

    rng = np.random.default_rng(11)
    for _ in range(5):
        a, b = rng.normal(size=6), rng.normal(size=7) + 0.5
        assert gate.mann_whitney_p(a, b) == pytest.approx(
            stats.mannwhitneyu(a, b, method="exact").pvalue)
    # Complete separation with ties still reaches the exact minimum 2 / C(10, 5).
    assert gate.mann_whitney_p([0.03, 0.03, 0.029, 0.031, 0.03],
                               [0.9, 0.9, 0.91, 0.92, 0.9]) == pytest.approx(2 / 252)


# --- comparing results documents ------------------------------------------------------------

MACHINE = {"cpu_model": "Test CPU", "cores_online": 2, "arch": "x86_64", "kernel": "6.1.0",
           "virtualization": "kvm", "memory_kib": 4_000_000, "pmu_present": False}


def sample(cell, rep, *, forwarder="mrelay", rate=0.0, status="ok", **metrics):
    record = {"cell_id": cell, "label": f"{cell} label", "rep": rep, "status": status,
              "params": {"forwarder": forwarder, "size": 512, "batch": 32, "fanout": 1,
                         "rate_pps": rate, "window_s": 2.0, "warmup_s": 0.5}}
    for key, value in metrics.items():
        if key == "p99":
            record["latency_ns"] = {"p99": value}
        else:
            record[key] = value
    return record


def document(samples, machine=MACHINE, commit="abc"):
    return {"format": "mrelay-bench-results/1", "created": "2026-11-22T00:00:00Z",
            "git_commit": commit, "machine": dict(machine), "spec": {}, "samples": samples}


def cell_samples(rng, cell, n, *, pps=BASE_PPS, syscalls=0.03, ratio=0.8, exhaustion=0.0,
                 forwarder="mrelay", rate=0.0, loss=None):
    out = []
    for rep in range(1, n + 1):
        metrics = dict(delivered_pps=pps * (1 + NOISE * rng.standard_normal()),
                       syscalls_per_pkt=syscalls * (1 + NOISE * rng.standard_normal()),
                       ratio_to_direct=ratio * (1 + NOISE * rng.standard_normal()),
                       buffer_exhaustion_pct=exhaustion)
        if loss is not None:
            metrics["loss_pct"] = loss
        out.append(sample(cell, rep, forwarder=forwarder, rate=rate, **metrics))
    return out


def verdicts(report):
    return {(row.cell_id, row.metric): row.decision.verdict for row in report.rows}


def test_unchanged_build_passes_with_exit_0():
    rng = np.random.default_rng(1)
    base = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6))
    cand = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6))
    report = gate.compare(base, cand)
    assert report.exit_code == gate.EXIT_PASS, gate.format_report(report)
    assert report.count(gate.UNCHANGED) == 8  # 2 cells x 4 metrics present


def test_regression_names_cell_and_metric_and_exits_1():
    rng = np.random.default_rng(2)
    base = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6))
    # Cell b: queue depth 128 style collapse; cell a unchanged.
    cand = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6, pps=BASE_PPS * 0.25,
                                                             ratio=0.2, exhaustion=86.0))
    report = gate.compare(base, cand)
    v = verdicts(report)
    assert v[("b", "delivered_pps")] == gate.REGRESSION
    assert v[("b", "ratio_to_direct")] == gate.REGRESSION
    assert v[("b", "buffer_exhaustion_pct")] == gate.REGRESSION
    assert v[("a", "delivered_pps")] == gate.UNCHANGED
    assert report.exit_code == gate.EXIT_REGRESSION
    text = gate.format_report(report)
    assert "REGRESSION" in text and "b label" in text and "delivered_pps" in text
    assert "IQR" in text and "p" in text


def test_batch_1_regression_is_caught_by_syscalls_per_packet():
    rng = np.random.default_rng(3)
    base = document(cell_samples(rng, "a", 6))
    cand = document(cell_samples(rng, "a", 6, syscalls=0.9))
    assert verdicts(gate.compare(base, cand))[("a", "syscalls_per_pkt")] == gate.REGRESSION


def test_too_few_samples_gives_exit_3_and_regression_wins_over_inconclusive():
    rng = np.random.default_rng(4)
    base = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6))
    few = document(cell_samples(rng, "a", 3) + cell_samples(rng, "b", 6))
    report = gate.compare(base, few)
    assert report.exit_code == gate.EXIT_INCONCLUSIVE
    assert report.inconclusive_cells() == ["a"]
    worse = document(cell_samples(rng, "a", 3) + cell_samples(rng, "b", 6, pps=BASE_PPS / 2))
    assert gate.compare(base, worse).exit_code == gate.EXIT_REGRESSION


def test_missing_or_failed_cell_is_inconclusive_never_a_silent_pass():
    rng = np.random.default_rng(5)
    base = document(cell_samples(rng, "a", 6) + cell_samples(rng, "b", 6))
    failed = [sample("b", r, status="error") for r in range(1, 7)]
    report = gate.compare(base, document(cell_samples(rng, "a", 6) + failed))
    assert report.missing_cells == ["b"]
    assert report.exit_code == gate.EXIT_INCONCLUSIVE


def test_empty_comparison_is_not_a_pass():
    assert gate.compare(document([]), document([])).exit_code == gate.EXIT_INCONCLUSIVE


def test_fingerprint_mismatch_gates_only_normalised_and_count_metrics():
    rng = np.random.default_rng(6)
    base = document(cell_samples(rng, "a", 6))
    other = dict(MACHINE, cpu_model="Faster CPU")
    # Absolute pps doubled on the faster machine (would be an "improvement"); syscalls/pkt
    # regressed (batching lost): that must still be caught.
    cand = document(cell_samples(rng, "a", 6, pps=BASE_PPS * 2, syscalls=0.9), machine=other)
    report = gate.compare(base, cand)
    v = verdicts(report)
    assert report.fingerprint_differences and "cpu_model" in report.fingerprint_differences[0]
    assert v[("a", "delivered_pps")] == gate.SKIPPED
    assert v[("a", "ratio_to_direct")] == gate.UNCHANGED
    assert v[("a", "syscalls_per_pkt")] == gate.REGRESSION
    assert v[("a", "buffer_exhaustion_pct")] == gate.UNCHANGED
    assert "FINGERPRINT MISMATCH" in gate.format_report(report)
    # Absolute throughput halved on another machine: not judged, so no false regression.
    slower = document(cell_samples(rng, "a", 6, pps=BASE_PPS / 2), machine=other)
    assert gate.compare(base, slower).exit_code == gate.EXIT_PASS


def test_loss_is_gated_only_at_a_fixed_rate():
    rng = np.random.default_rng(7)
    base = document(cell_samples(rng, "sat", 6, loss=5.0) +
                    cell_samples(rng, "paced", 6, rate=50_000.0, loss=0.0))
    cand = document(cell_samples(rng, "sat", 6, loss=40.0) +
                    cell_samples(rng, "paced", 6, rate=50_000.0, loss=2.0))
    v = verdicts(gate.compare(base, cand))
    assert ("sat", "loss_pct") not in v
    assert v[("paced", "loss_pct")] == gate.REGRESSION


def test_reference_cells_are_not_gated_by_default():
    rng = np.random.default_rng(8)
    base = document(cell_samples(rng, "k", 6, forwarder="kernel"))
    cand = document(cell_samples(rng, "k", 6, forwarder="kernel", pps=BASE_PPS / 2))
    assert gate.compare(base, cand).rows == []
    assert gate.compare(base, cand, forwarders=None).exit_code == gate.EXIT_REGRESSION


def test_cells_this_machine_cannot_run_are_listed_not_missing():
    # The baseline machine had multicast routing; this one skips the kernel (ipmr) cell with
    # the probe's reason: printed, not judged, and not an inconclusive "missing" cell.
    rng = np.random.default_rng(9)
    base = document(cell_samples(rng, "a", 6) + cell_samples(rng, "k", 6, forwarder="kernel"))
    reason = "kernel multicast forwarding (ipmr): not in this kernel (CONFIG_IP_MROUTE)"
    cand = document(cell_samples(rng, "a", 6) +
                    [sample("k", rep, forwarder="kernel", status="skipped", reason=reason)
                     for rep in range(1, 7)])
    report = gate.compare(base, cand, forwarders=None)
    assert report.missing_cells == []
    assert report.unavailable_cells == [("k", reason)]
    assert report.exit_code == gate.EXIT_PASS, gate.format_report(report)
    assert f"skipped on this machine (not judged): k: {reason}" in gate.format_report(report)
    # A cell that failed instead of being skipped is still missing (inconclusive).
    cand_failed = document(cell_samples(rng, "a", 6) +
                           [sample("k", 1, forwarder="kernel", status="error", reason="x")])
    failed = gate.compare(base, cand_failed, forwarders=None)
    assert failed.missing_cells == ["k"]
    assert failed.exit_code == gate.EXIT_INCONCLUSIVE


# --- the re-run hook ----------------------------------------------------------------------


class FakeRerun:
    """Returns `reps` fresh samples per requested cell at the given level."""

    def __init__(self, pps, reps=3, seed=0):
        self.pps, self.reps, self.calls = pps, reps, []
        self.rng = np.random.default_rng(seed)

    def __call__(self, cells):
        self.calls.append([c["cell_id"] for c in cells])
        fresh = []
        for cell in cells:
            fresh += cell_samples(self.rng, cell["cell_id"], self.reps, pps=self.pps)
        return fresh


def test_rerun_tops_up_inconclusive_cells_then_decides():
    rng = np.random.default_rng(9)
    base = document(cell_samples(rng, "a", 6))
    cand = document(cell_samples(rng, "a", 3))
    rerun = FakeRerun(BASE_PPS)
    report = gate.run_gate(base, cand, rerun=rerun, max_rounds=2)
    assert rerun.calls == [["a"]]
    assert report.rerun_rounds == 1
    assert report.exit_code == gate.EXIT_PASS
    assert len(cand["samples"]) == 3  # the caller's document is not modified

    slow = FakeRerun(BASE_PPS * 0.8)
    report = gate.run_gate(base, document(cell_samples(rng, "a", 3, pps=BASE_PPS * 0.8)),
                           rerun=slow)
    assert report.exit_code == gate.EXIT_REGRESSION


def test_rerun_is_bounded_and_stays_inconclusive_when_noise_persists():
    rng = np.random.default_rng(10)
    base = document(cell_samples(rng, "a", 6))

    class Noisy(FakeRerun):
        def __call__(self, cells):
            self.calls.append(cells)
            return [sample("a", 0, delivered_pps=BASE_PPS * (1 + 0.5 * self.rng.standard_normal()),
                           syscalls_per_pkt=0.03, ratio_to_direct=0.8,
                           buffer_exhaustion_pct=0.0) for _ in range(3)]

    rerun = Noisy(BASE_PPS)
    report = gate.run_gate(base, document(cell_samples(rng, "a", 2)), rerun=rerun, max_rounds=3)
    assert len(rerun.calls) == 3
    assert report.exit_code == gate.EXIT_INCONCLUSIVE


def test_failing_rerun_is_reported_and_leaves_inconclusive():
    rng = np.random.default_rng(11)

    def broken(cells):
        raise RuntimeError("no root")

    report = gate.run_gate(document(cell_samples(rng, "a", 6)),
                           document(cell_samples(rng, "a", 2)), rerun=broken)
    assert report.exit_code == gate.EXIT_INCONCLUSIVE
    assert any("no root" in note for note in report.rerun_notes)


def test_report_json_has_the_verdict_fields():
    rng = np.random.default_rng(12)
    base = document(cell_samples(rng, "a", 6))
    data = gate.report_json(gate.compare(base, document(cell_samples(rng, "a", 6))))
    assert data["outcome"] == "pass" and data["exit_code"] == 0
    row = data["rows"][0]
    for key in ("cell_id", "metric", "verdict", "p_value", "threshold", "baseline",
                "candidate", "relative_change"):
        assert key in row


def test_ignore_params_matches_an_injected_knob_against_the_normal_cell():
    rng = np.random.default_rng(13)
    base = cell_samples(rng, "mrelay/q1024", 6)
    cand = cell_samples(rng, "mrelay/q128", 6, pps=BASE_PPS * 0.25)
    for record in base:
        record["params"]["queue_depth"] = 1024
    for record in cand:
        record["params"]["queue_depth"] = 128
    # Different cells by id: nothing to compare, so not a pass.
    plain = gate.compare(document(base), document(cand))
    assert plain.missing_cells == ["mrelay/q1024"]
    assert plain.exit_code == gate.EXIT_INCONCLUSIVE
    matched = gate.compare(document(base), document(cand), ignore_params=["queue_depth"])
    assert verdicts(matched)
    assert matched.exit_code == gate.EXIT_REGRESSION


def test_placement_mismatch_is_treated_like_another_machine():
    # The rig's placement (cores, real-time priorities, RPS) moves absolute rates like another
    # machine does: a baseline recorded with another placement gates only normalised and count
    # metrics, and the report names the placement keys that differ.
    rng = np.random.default_rng(16)
    base = document(cell_samples(rng, "a", 6))
    base["placement"] = {"forwarder_cpu": 1, "forwarder_rt_priority": 0}
    cand = document(cell_samples(rng, "a", 6, pps=BASE_PPS * 2))
    cand["placement"] = {"forwarder_cpu": 1, "forwarder_rt_priority": 10}
    report = gate.compare(base, cand)
    assert report.fingerprint_differences == ["placement.forwarder_rt_priority: 0 vs 10"]
    assert verdicts(report)[("a", "delivered_pps")] == gate.SKIPPED
    # The same placement on both sides is no mismatch.
    cand["placement"] = dict(base["placement"])
    assert gate.compare(base, cand).fingerprint_differences == []


def test_rig_bound_cells_are_named_in_the_report():
    rng = np.random.default_rng(13)
    base = cell_samples(rng, "a", 6)
    cand = cell_samples(rng, "a", 6)
    for index, sample_ in enumerate(cand):
        sample_["rig_bound"] = index < 4  # the headroom check marked 4 of 6 runs
    report = gate.compare(document(base), document(cand))
    assert report.rig_bound_cells == [("a label", "candidate", 4, 6)]
    assert "rig-bound (candidate, 4/6 runs): a label" in gate.format_report(report)
    assert gate.report_json(report)["rig_bound_cells"][0]["rig_bound_runs"] == 4


def test_ns_per_copy_is_gated_lower_is_better_at_a_fixed_rate_only():
    metric = gate.METRICS_BY_NAME["ns_per_copy"]
    assert metric.direction == gate.DOWN and metric.fixed_rate_only
    rng = np.random.default_rng(14)

    def with_cost(samples, ns):
        for sample_ in samples:
            sample_["ns_per_copy"] = ns * (1 + 0.01 * rng.standard_normal())
        return samples

    base = with_cost(cell_samples(rng, "a", 6, rate=10000.0), 800.0)
    worse = with_cost(cell_samples(rng, "a", 6, rate=10000.0), 1100.0)
    assert verdicts(gate.compare(document(base), document(worse)))[("a", "ns_per_copy")] == \
        gate.REGRESSION
    saturation = with_cost(cell_samples(rng, "b", 6), 800.0)
    assert ("b", "ns_per_copy") not in verdicts(
        gate.compare(document(saturation), document(with_cost(cell_samples(rng, "b", 6), 2000.0))))
