"""The regression gate: baseline vs candidate results, per cell and metric (docs/gate.md).

Decision rule, per cell and metric, knowing the metric's good direction:

* **regression** when a two-sample Mann-Whitney U test (two-sided) is significant
  (p < alpha) AND the median moved by more than the metric's threshold in the bad direction;
* **improvement** likewise in the good direction;
* **inconclusive** when the data cannot tell: too few samples (fewer than ``min_samples`` on
  a side, or so few that no outcome could reach p < alpha), spread too wide (the IQR of a side
  is larger than ``spread_factor`` × the threshold, so a threshold-sized change could hide in
  it), or a change beyond the threshold that is not significant. The gate re-runs such cells
  (bounded rounds) and then reports them as inconclusive: never a silent pass;
* **unchanged** otherwise;
* **skipped** when the metric is not gated for this comparison (machine fingerprints differ
  and the metric is an absolute one, or the metric is only judged at a fixed offered rate).

When the machine fingerprints differ, only normalised metrics (throughput ÷ the same run's
``direct`` ceiling) and count metrics (syscalls/pkt, buffer exhaustion, loss at a fixed
rate) are gated: absolute pps, latency and CPU depend on the machine.

Exit codes: 0 pass, 1 regression, 3 inconclusive, 2 error (regression wins over
inconclusive: a definite regression must not be hidden behind a noisy neighbour).

    report = gate.run_gate(results.load("reports/baselines/vm2.json"),
                           results.load("reports/runs/nightly.json"),
                           rerun=None)
    print(gate.format_report(report)); sys.exit(report.exit_code)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
from scipy import stats

from . import results

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_ERROR = 2
EXIT_INCONCLUSIVE = 3

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
INCONCLUSIVE = "inconclusive"
SKIPPED = "skipped"

UP = +1  # bigger is better (pps)
DOWN = -1  # smaller is better (loss, latency, syscalls/pkt, exhaustion, CPU per packet)

# Significance level of the two-sided Mann-Whitney U test. 0.01 rather than 0.05: a nightly
# gate compares dozens of cell × metric pairs, and a false "regressed" costs an engineer's
# morning; the threshold already demands a practically relevant change. With 5 samples per
# side the exact test can still reach p = 0.0079 < 0.01.
DEFAULT_ALPHA = 0.01
# Fewest samples per side before a verdict. 5 is the smallest n (equal sides) at which the
# exact two-sided test can reach p < 0.01 (2 / C(10, 5) = 0.0079); sweeps record 3 repetitions
# by default, so the gate re-runs cells to top them up.
DEFAULT_MIN_SAMPLES = 5
# A side whose IQR exceeds this many thresholds is too noisy to call "unchanged": a change of
# the threshold's size could sit inside the spread undetected at these sample counts.
DEFAULT_SPREAD_FACTOR = 1.0
# Re-run rounds for inconclusive cells, and samples added per cell per round. 2 × 3 brings a
# 3-repetition sweep cell to 9 samples; each cell run is a few seconds, so the bound keeps a
# nightly gate within minutes even when many cells are noisy.
DEFAULT_RERUN_ROUNDS = 2
DEFAULT_RERUN_REPS = 3


@dataclass(frozen=True)
class Threshold:
    """How big a median change must be to matter: more than
    ``max(relative × |baseline median|, absolute)``, in the metric's unit."""

    relative: float
    absolute: float = 0.0

    def value(self, baseline_median: float) -> float:
        return max(self.relative * abs(baseline_median), self.absolute)


@dataclass(frozen=True)
class Metric:
    name: str
    direction: int  # UP or DOWN: the good direction
    category: str  # "absolute" (machine-bound), "normalised" or "count"
    threshold: Threshold
    unit: str
    reason: str  # why this threshold (printed by `gate --explain`)
    fixed_rate_only: bool = False  # judged only in cells paced at a fixed rate


#: The gated metrics, their good direction and threshold. Every threshold says why.
METRICS: tuple[Metric, ...] = (
    Metric("delivered_pps", UP, "absolute", Threshold(0.05), "pps",
           "5 %: repeated 2 s windows on the rig agree within ~2 %; the November 2025 "
           "regression was -78 %. 5 % flags real losses without chasing scheduler noise."),
    Metric("ndr_pps", UP, "absolute", Threshold(0.05), "pps",
           "5 %: the NDR search resolves to 2 %; two resolution steps plus noise."),
    Metric("ratio_to_direct", UP, "normalised", Threshold(0.05), "ratio",
           "5 %: same as delivered pps, but divided by the same run's direct ceiling, so it "
           "stays comparable across machines."),
    Metric("loss_pct", DOWN, "count", Threshold(0.0, 0.1), "%",
           "0.1 percentage points: the no-drop definition of docs/metrics.md; only at a fixed "
           "offered rate (at saturation loss measures the offered excess, not the relay).",
           fixed_rate_only=True),
    Metric("latency_p99_ns", DOWN, "absolute", Threshold(0.20, 5000.0), "ns",
           "20 % and at least 5 us: tail latency on a shared 2-core VM moves by ~10 % run to "
           "run and by a few us of scheduler jitter; only at a fixed rate (at saturation p99 "
           "is the time to drain a full receive buffer).", fixed_rate_only=True),
    Metric("syscalls_per_pkt", DOWN, "count", Threshold(0.25, 0.002), "syscalls/pkt",
           "25 % and at least 0.002: at saturation on the shared 2-core VM it spread +-13 % "
           "over 5 repetitions (0.033-0.042 at batch 32); batch 1 multiplies it ~27x and "
           "halving the batch roughly doubles it, both far beyond 25 %. The floor ignores "
           "noise when it is near zero."),
    Metric("buffer_exhaustion_pct", DOWN, "count", Threshold(0.10, 0.1), "%",
           "10 % of the baseline and at least 0.1 points: the November 2025 default send "
           "buffer gave 86 %; a healthy relay stays at ~0."),
    Metric("cpu_ns_per_pkt", DOWN, "absolute", Threshold(0.10), "ns/pkt",
           "10 %: CPU time per delivered packet from /proc ticks (10 ms granularity over a "
           "2 s window) is noisier than pps."),
    Metric("ns_per_copy", DOWN, "absolute", Threshold(0.15), "ns/copy",
           "15 %: the forwarder core's work per delivered copy (docs/metrics.md) from "
           "/proc/stat ticks (10 ms over a 2 s window) and it includes whatever else ran on "
           "that core (other tenants' softirqs and user time on a shared VM), so it spreads "
           "more than the process's own CPU; only at a fixed rate (at saturation the core is "
           "full and it is 1 / throughput, which delivered_pps already gates).",
           fixed_rate_only=True),
)
METRICS_BY_NAME = {metric.name: metric for metric in METRICS}

#: Which metrics a suite gates, by cell kind (cell_kinds: "fixed_rate" cells vs "saturation"
#: and NDR cells, and "saturation_fanout" for saturation cells with at least
#: SATURATING_FANOUT copies per packet); suites not listed gate every metric. A metric is gated
#: in a cell when any of the cell's kinds lists it.
#:
#: smoke runs in every CI build on a shared, noisy 2-core VM and must never call an unchanged
#: build a regression, so it gates only figures that stay put there. Measured (2026-12-06,
#: reports/sweeps/smoke.json: gso egress, 1400 B, fanout 8, 7 x 1 s windows, with two builds
#: running on the same 2 cores): at 10 kpps loss 0 and buffer exhaustion 0; at saturation
#: syscalls/pkt 0.24-0.42 (median ~0.25; batch 1 and the send backend give ~9: one send per
#: copy) and buffer exhaustion 0. Not gated there: saturation pps (the cores are shared), pps
#: at 10 kpps (the generator's own pacing) and p99.
#:
#: nightly must decide on the same kind of machine: the earlier suite, which gated every
#: metric, left 79 of 192 comparisons of an A/A run (the same build twice) inconclusive. From
#: that run's baseline (5 x 1 s windows per cell), the spread (IQR) of each metric measured in
#: thresholds: in paced cells loss, buffer exhaustion and syscalls/pkt stay within 1.2
#: thresholds, while p99 (up to 30: one descheduled window moves it) and CPU per packet (up to
#: 8.6) do not; at saturation only buffer exhaustion stays put everywhere, and syscalls/pkt
#: only where fanout keeps the relay saturated (0.3-0.7 at fanout 4, 1.5-5.1 at the hop).
#: Delivered pps and the ratio to direct are not gated in paced cells, as in smoke: there they
#: follow the generator's pacing (an A/A run with another rig's real-time processes on the
#: same cores moved them by 8-30 % on both sides while loss, counted against what was sent,
#: stayed put), and loss already says whether the relay carried the load. So nightly gates
#: throughput through loss at paced rates that a much slower relay would no longer carry
#: (20 kpps x 8 copies), and keeps saturation pps and p99 in its table and in the nightly
#: history, where change-point detection over many nights judges them.
SATURATING_FANOUT = 4
SUITE_GATING: dict[str, dict[str, tuple[str, ...]]] = {
    "smoke": {"fixed_rate": ("loss_pct", "buffer_exhaustion_pct"),
              "saturation": ("syscalls_per_pkt", "buffer_exhaustion_pct")},
    "nightly": {"fixed_rate": ("loss_pct", "buffer_exhaustion_pct", "syscalls_per_pkt",
                               "ns_per_copy"),
                "saturation": ("buffer_exhaustion_pct",),
                "saturation_fanout": ("syscalls_per_pkt",)},
}

_SYSCALLS_DOUBLING_REASON = (
    "100 %: on the shared 2-core VM the same build spread 0.24-0.42 syscalls/pkt at "
    "saturation at fanout 8 (1.75x); batch 1 and unbatched sends multiply it ~35x, an extra "
    "syscall per packet at a paced rate (1-2 per packet there) about doubles it. A doubling "
    "keeps the noise out and them in.")

#: Thresholds a suite sets instead of METRICS' own, each with its reason.
SUITE_THRESHOLDS: dict[str, dict[str, tuple[Threshold, str]]] = {
    "smoke": {"syscalls_per_pkt": (Threshold(1.0, 0.002), _SYSCALLS_DOUBLING_REASON)},
    "nightly": {
        "syscalls_per_pkt": (Threshold(1.0, 0.002), _SYSCALLS_DOUBLING_REASON),
        "ns_per_copy": (
            Threshold(0.5),
            "50 %: at a paced 20 kpps the forwarder's core is mostly idle, and what it does "
            "between packets (wake-ups, other tenants' softirqs on a shared VM) spreads CPU "
            "per copy by 20-60 % of the median over three windows (reports/perf/runs/"
            "cpu-per-copy.json); a change that adds a copy or a syscall per packet costs more "
            "than half again."),
    },
}


def cell_kinds(sample: dict) -> tuple[str, ...]:
    """The kinds SUITE_GATING is keyed by that describe this sample's cell."""
    if results.is_fixed_rate(sample):
        return ("fixed_rate",)
    fanout = sample.get("params", {}).get("fanout") or 1
    return ("saturation", "saturation_fanout") if fanout >= SATURATING_FANOUT else ("saturation",)


def suite_metrics(suite: Optional[str]) -> tuple[Metric, ...]:
    """METRICS with a suite's own thresholds (SUITE_THRESHOLDS) in place."""
    overrides = SUITE_THRESHOLDS.get(suite or "", {})
    return tuple(dataclasses.replace(metric, threshold=overrides[metric.name][0],
                                     reason=overrides[metric.name][1])
                 if metric.name in overrides else metric for metric in METRICS)


def suite_filter(suite: Optional[str]) -> Optional[Callable[[dict, Metric], bool]]:
    """gated(sample, metric) for a suite: False when that metric is not gated for that
    cell (None: the suite gates everything)."""
    gating = SUITE_GATING.get(suite or "")
    if gating is None:
        return None

    def gated(sample: dict, metric: Metric) -> bool:
        return any(metric.name in gating.get(kind, ()) for kind in cell_kinds(sample))

    return gated


@dataclass(frozen=True)
class SampleSummary:
    n: int
    median: Optional[float]
    q1: Optional[float]
    q3: Optional[float]

    @property
    def iqr(self) -> Optional[float]:
        return None if self.q1 is None or self.q3 is None else self.q3 - self.q1

    @staticmethod
    def of(values: Sequence[float]) -> "SampleSummary":
        if not values:
            return SampleSummary(0, None, None, None)
        q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
        return SampleSummary(len(values), float(median), float(q1), float(q3))


@dataclass(frozen=True)
class Decision:
    """The verdict on one metric of one cell."""

    verdict: str
    reason: str
    baseline: SampleSummary
    candidate: SampleSummary
    p_value: Optional[float] = None
    change: Optional[float] = None  # candidate median - baseline median, metric unit
    relative_change: Optional[float] = None  # change / |baseline median|; None if that is 0
    threshold: Optional[float] = None  # effective threshold, metric unit
    rerunnable: bool = False  # more samples could settle it (too few / too noisy / unsure)


def _clean(values: Iterable[Optional[float]]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def smallest_attainable_p(n1: int, n2: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value possible with these sample sizes
    (complete separation): 2 / C(n1 + n2, n1)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


# Largest number of rank arrangements enumerated for an exact p-value: C(16, 8) = 12870 (8
# samples a side) takes milliseconds; beyond ~50 000 the normal approximation is accurate.
EXACT_ARRANGEMENTS_LIMIT = 50_000


def mann_whitney_p(baseline: Sequence[float], candidate: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value.

    Exact for small samples even with ties: the permutation distribution of the baseline's
    rank sum (mid-ranks) over every way to split the pooled samples. Ties are common here
    (loss 0.0, integer-ish counts), and the normal approximation scipy falls back to with ties
    cannot reach p < 0.01 at 5 samples a side even for complete separation. Large samples use
    scipy's normal approximation with tie correction. Both sides one identical constant: 1.0.
    """
    if len(set(baseline) | set(candidate)) == 1:
        return 1.0
    n1, n2 = len(baseline), len(candidate)
    if math.comb(n1 + n2, n1) > EXACT_ARRANGEMENTS_LIMIT:
        return float(stats.mannwhitneyu(baseline, candidate, alternative="two-sided",
                                        method="asymptotic").pvalue)
    ranks = stats.rankdata(np.concatenate([np.asarray(baseline, float),
                                           np.asarray(candidate, float)]))
    observed = ranks[:n1].sum()
    expected = n1 * (n1 + n2 + 1) / 2.0
    chosen = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n1 + n2),
                                                                              n1)),
                         dtype=np.intp).reshape(-1, n1)
    sums = ranks[chosen].sum(axis=1)
    # A small tolerance so that equal rank sums computed in a different order still count.
    extreme = np.abs(sums - expected) >= abs(observed - expected) - 1e-9
    return float(extreme.mean())


def decide(baseline: Iterable[Optional[float]], candidate: Iterable[Optional[float]], *,
           direction: int, threshold: Threshold, alpha: float = DEFAULT_ALPHA,
           min_samples: int = DEFAULT_MIN_SAMPLES,
           spread_factor: float = DEFAULT_SPREAD_FACTOR) -> Decision:
    """The pure decision function: raw samples in, verdict out (see the module docstring).

    ``direction`` is the good direction (UP or DOWN). None/NaN samples are ignored.
    """
    if direction not in (UP, DOWN):
        raise ValueError(f"direction: must be UP (+1) or DOWN (-1), got {direction!r}")
    base = _clean(baseline)
    cand = _clean(candidate)
    sb, sc = SampleSummary.of(base), SampleSummary.of(cand)
    # Medians and threshold are shown even when there are too few samples to judge them.
    informative = {}
    if sb.median is not None and sc.median is not None:
        informative = dict(change=sc.median - sb.median,
                           relative_change=((sc.median - sb.median) / abs(sb.median)
                                            if sb.median != 0 else None),
                           threshold=threshold.value(sb.median))
    if len(base) < min_samples:
        # Re-running the candidate cannot fix a thin baseline: it must be re-recorded.
        return Decision(INCONCLUSIVE,
                        f"baseline has too few samples ({len(base)}, need {min_samples}): "
                        f"re-record it with more repetitions", sb, sc, **informative)
    if len(cand) < min_samples:
        return Decision(INCONCLUSIVE,
                        f"too few samples (baseline {len(base)}, candidate {len(cand)}, "
                        f"need {min_samples} each)", sb, sc, rerunnable=True, **informative)
    if smallest_attainable_p(len(base), len(cand)) >= alpha:
        return Decision(INCONCLUSIVE,
                        f"too few samples to reach p < {alpha} (baseline {len(base)}, "
                        f"candidate {len(cand)})", sb, sc, rerunnable=True, **informative)
    assert sb.median is not None and sc.median is not None
    p_value = mann_whitney_p(base, cand)
    change = sc.median - sb.median
    relative = change / abs(sb.median) if sb.median != 0 else None
    limit = threshold.value(sb.median)
    significant = p_value < alpha
    exceeds = abs(change) > limit
    common = dict(baseline=sb, candidate=sc, p_value=p_value, change=change,
                  relative_change=relative, threshold=limit)
    if significant and exceeds:
        bad = change * direction < 0
        return Decision(REGRESSION if bad else IMPROVEMENT,
                        f"significant (p={p_value:.3g} < {alpha}) and |change| "
                        f"{abs(change):.4g} > threshold {limit:.4g}", **common)
    spread = max(sb.iqr or 0.0, sc.iqr or 0.0)
    if spread > spread_factor * limit and not (significant and not exceeds):
        # A significant change smaller than the threshold is a real, harmless change even
        # in noisy data; anything else in noisy data could hide a threshold-sized change.
        # More candidate samples cannot narrow the baseline's spread: re-run only when the
        # candidate is the noisy side.
        baseline_noisy = (sb.iqr or 0.0) > spread_factor * limit
        return Decision(INCONCLUSIVE,
                        f"spread too wide: IQR {spread:.4g} > {spread_factor:g} x threshold "
                        f"{limit:.4g}" + (" in the baseline (re-record it on a quiet machine)"
                                          if baseline_noisy else ""),
                        rerunnable=not baseline_noisy, **common)
    if exceeds:
        return Decision(INCONCLUSIVE,
                        f"change {change:+.4g} beyond threshold {limit:.4g} but not "
                        f"significant (p={p_value:.3g})", rerunnable=True, **common)
    return Decision(UNCHANGED,
                    f"|change| {abs(change):.4g} <= threshold {limit:.4g} (p={p_value:.3g})",
                    **common)


# --- comparing two results files --------------------------------------------------------


@dataclass
class Row:
    cell_id: str
    label: str
    metric: str
    decision: Decision


@dataclass
class GateReport:
    rows: list[Row] = field(default_factory=list)
    fingerprint_differences: list[str] = field(default_factory=list)
    missing_cells: list[str] = field(default_factory=list)  # in baseline, absent/failed now
    # In the baseline, skipped now because this machine lacks a capability the cell needs
    # (mrelay-bench probe: a kernel without multicast routing, netem...): (cell, reason).
    # Not judged and not a failure -- the machine cannot run them -- but always printed.
    unavailable_cells: list[tuple[str, str]] = field(default_factory=list)
    new_cells: list[str] = field(default_factory=list)  # in candidate only (informative)
    # Gated cells where the tester, not the forwarder, set the figure in some run (rig_bound:
    # direct below kHeadroomMargin x the forwarder's rate; docs/metrics.md): (label, side,
    # rig-bound runs, checked runs). Informative: their throughput verdicts compare testers.
    rig_bound_cells: list[tuple[str, str, int, int]] = field(default_factory=list)
    rerun_rounds: int = 0
    rerun_notes: list[str] = field(default_factory=list)
    alpha: float = DEFAULT_ALPHA
    min_samples: int = DEFAULT_MIN_SAMPLES

    def count(self, verdict: str) -> int:
        return sum(1 for row in self.rows if row.decision.verdict == verdict)

    @property
    def exit_code(self) -> int:
        if self.count(REGRESSION) > 0:
            return EXIT_REGRESSION
        if self.count(INCONCLUSIVE) > 0 or self.missing_cells:
            return EXIT_INCONCLUSIVE
        if not any(row.decision.verdict in (UNCHANGED, IMPROVEMENT) for row in self.rows):
            return EXIT_INCONCLUSIVE  # nothing was judged at all: not a pass
        return EXIT_PASS

    def aa_verdict(self, max_inconclusive_pct: float) -> tuple[bool, str]:
        """For an A/A run (the candidate is the baseline's own build): does the suite decide?
        Yes when nothing is called a regression (every one would be a false alarm) and at
        most max_inconclusive_pct % of the judged comparisons are inconclusive."""
        judged = [row for row in self.rows if row.decision.verdict != SKIPPED]
        regressions, inconclusive = self.count(REGRESSION), self.count(INCONCLUSIVE)
        share = 100.0 * inconclusive / len(judged) if judged else 100.0
        decides = bool(judged) and regressions == 0 and share <= max_inconclusive_pct
        text = (f"A/A: {len(judged)} comparisons: {regressions} regressions, "
                f"{self.count(IMPROVEMENT)} improvements, {self.count(UNCHANGED)} unchanged, "
                f"{inconclusive} inconclusive ({share:.1f} %, at most {max_inconclusive_pct:g} % "
                f"allowed): {'PASS: the suite decides' if decides else 'FAIL: the suite does not decide'}")
        return decides, text

    @property
    def outcome(self) -> str:
        return {EXIT_PASS: "pass", EXIT_REGRESSION: "regression",
                EXIT_INCONCLUSIVE: "inconclusive"}[self.exit_code]

    def inconclusive_cells(self, rerunnable_only: bool = True) -> list[str]:
        cells = []
        for row in self.rows:
            if row.decision.verdict == INCONCLUSIVE and (row.decision.rerunnable
                                                         or not rerunnable_only):
                if row.cell_id not in cells:
                    cells.append(row.cell_id)
        return cells


def compare(baseline: dict, candidate: dict, *, metrics: Sequence[Metric] = METRICS,
            alpha: float = DEFAULT_ALPHA, min_samples: int = DEFAULT_MIN_SAMPLES,
            spread_factor: float = DEFAULT_SPREAD_FACTOR,
            forwarders: Optional[Sequence[str]] = ("mrelay",),
            ignore_params: Sequence[str] = (),
            gated: Optional[Callable[[dict, Metric], bool]] = None) -> GateReport:
    """Judges every cell of the baseline against the candidate's samples of the same cell.

    ``forwarders``: which forwarders' cells are gated (default: mrelay only; the references
    are the yardstick, not the product). None gates every cell.
    ``ignore_params``: cell parameters left out when matching cells, so a candidate measured
    with a deliberately different knob (the gate's self-test: queue depth 128, default send
    buffer, batch 1) is judged against the baseline's normal cell.
    ``gated``: a suite's metric filter (suite_filter); metrics it rejects are ``skipped``.
    """
    report = GateReport(alpha=alpha, min_samples=min_samples)
    report.fingerprint_differences = results.fingerprint_differences(baseline, candidate)
    mismatch = bool(report.fingerprint_differences)
    base_cells = results.group_by_cell(baseline, ignore_params)
    cand_cells = results.group_by_cell(candidate, ignore_params)

    def gated_cell(samples: list[dict]) -> bool:
        forwarder = samples[0].get("params", {}).get("forwarder")
        return forwarders is None or forwarder in forwarders

    for key, base_samples in base_cells.items():
        if not gated_cell(base_samples):
            continue
        if not any(results.is_ok(s) for s in base_samples):
            continue  # unsupported or failed in the baseline: nothing to compare against
        cand_samples = cand_cells.get(key, [])
        label = str(base_samples[0].get("label", key))
        if not any(results.is_ok(s) for s in cand_samples):
            skipped = [s for s in cand_samples if s.get("status") == SKIPPED]
            if skipped and len(skipped) == len(cand_samples):
                report.unavailable_cells.append((key, str(skipped[0].get("reason", ""))))
                continue
            report.missing_cells.append(key)
        _note_rig_bound(report, label, base_samples, cand_samples)
        fixed_rate = results.is_fixed_rate(base_samples[0])
        for metric in metrics:
            base_values = results.values(base_samples, metric.name)
            if not base_values:
                continue  # the metric does not exist for this cell (e.g. ndr_pps)
            cand_values = results.values(cand_samples, metric.name)
            if metric.fixed_rate_only and not fixed_rate:
                continue
            if gated is not None and not gated(base_samples[0], metric):
                decision = Decision(SKIPPED, "not gated in this suite",
                                    SampleSummary.of(base_values),
                                    SampleSummary.of(cand_values))
            elif mismatch and metric.category == "absolute":
                summary = SampleSummary.of
                decision = Decision(SKIPPED, "machine fingerprint differs: only normalised "
                                    "and count metrics are gated",
                                    summary(base_values), summary(cand_values))
            else:
                decision = decide(base_values, cand_values, direction=metric.direction,
                                  threshold=metric.threshold, alpha=alpha,
                                  min_samples=min_samples, spread_factor=spread_factor)
            report.rows.append(Row(key, label, metric.name, decision))
    report.new_cells = [key for key, samples in cand_cells.items()
                        if key not in base_cells and gated_cell(samples)]
    return report


def _note_rig_bound(report: GateReport, label: str, base_samples: list[dict],
                    cand_samples: list[dict]) -> None:
    """Records the sides of a cell whose runs the headroom check marked rig_bound."""
    for side, samples in (("baseline", base_samples), ("candidate", cand_samples)):
        checked = [s for s in samples if isinstance(s.get("rig_bound"), bool)]
        bound = sum(1 for s in checked if s["rig_bound"])
        if bound:
            report.rig_bound_cells.append((label, side, bound, len(checked)))


#: rerun(cells) -> new samples. `cells` are representative sample records (cell_id, label,
#: params) of the cells to measure again; the result is a list of fresh sample records.
Rerun = Callable[[list[dict]], list[dict]]


def run_gate(baseline: dict, candidate: dict, *, rerun: Optional[Rerun] = None,
             max_rounds: int = DEFAULT_RERUN_ROUNDS, **options) -> GateReport:
    """compare(), then re-run the inconclusive cells through ``rerun`` (at most
    ``max_rounds`` rounds), adding the new samples to the candidate, and compare again.

    The candidate document is not modified; the returned report counts the rounds done.
    """
    working = dict(candidate)
    working["samples"] = list(candidate.get("samples", []))
    report = compare(baseline, working, **options)
    rounds = 0
    notes: list[str] = []
    while rerun is not None and rounds < max_rounds:
        cells = report.inconclusive_cells() + [c for c in report.missing_cells]
        cells = list(dict.fromkeys(cells))
        if not cells:
            break
        representatives = []
        ignored = options.get("ignore_params", ())
        for key in cells:
            samples = results.group_by_cell(working, ignored).get(key) or \
                results.group_by_cell(baseline, ignored).get(key)
            if samples:
                representatives.append(samples[0])
        rounds += 1
        try:
            fresh = rerun(representatives)
        except Exception as error:  # noqa: BLE001 - a failing re-run leaves it inconclusive
            notes.append(f"re-run round {rounds} failed: {error}")
            break
        notes.append(f"re-run round {rounds}: {len(cells)} cells, {len(fresh)} new samples")
        if not fresh:
            break
        working["samples"].extend(fresh)
        report = compare(baseline, working, **options)
    report.rerun_rounds = rounds
    report.rerun_notes = notes
    return report


# --- the verdict table ------------------------------------------------------------------


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1e5:
        return f"{value:.4g}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _side(summary: SampleSummary) -> str:
    if summary.median is None:
        return f"n={summary.n}"
    return f"{_fmt(summary.median)} [IQR {_fmt(summary.iqr)}] n={summary.n}"


def format_report(report: GateReport, *, show_all: bool = False) -> str:
    """The verdict table: every regression, improvement, inconclusive (and skipped) row with
    baseline vs candidate (median, IQR, n), change, p-value and threshold."""
    lines = []
    if report.fingerprint_differences:
        lines.append("FINGERPRINT MISMATCH: only normalised and count metrics are gated")
        lines += [f"  {difference}" for difference in report.fingerprint_differences]
    header = ("verdict", "cell", "metric", "baseline", "candidate", "change", "p", "threshold")
    table = [header]
    order = {REGRESSION: 0, INCONCLUSIVE: 1, IMPROVEMENT: 2, SKIPPED: 3, UNCHANGED: 4}
    for row in sorted(report.rows, key=lambda r: (order[r.decision.verdict], r.label)):
        d = row.decision
        if d.verdict in (UNCHANGED, SKIPPED) and not show_all:
            continue
        change = "-"
        if d.change is not None:
            change = (f"{d.relative_change * 100:+.1f}%" if d.relative_change is not None
                      else f"{d.change:+.4g}")
        table.append((d.verdict.upper() if d.verdict == REGRESSION else d.verdict, row.label,
                      row.metric, _side(d.baseline), _side(d.candidate), change,
                      "-" if d.p_value is None else f"{d.p_value:.3g}", _fmt(d.threshold)))
    if len(table) > 1:
        widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
        for index, line in enumerate(table):
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        reasons = [(row, row.decision) for row in report.rows
                   if row.decision.verdict in (REGRESSION, INCONCLUSIVE)]
        if reasons:
            lines.append("")
            lines += [f"  {row.label} {row.metric}: {d.verdict}: {d.reason}"
                      for row, d in reasons]
    for key in report.missing_cells:
        lines.append(f"missing: {key} has no ok sample in the candidate (inconclusive)")
    for key, reason in report.unavailable_cells:
        lines.append(f"skipped on this machine (not judged): {key}: {reason}")
    if report.new_cells:
        lines.append(f"new cells (not in the baseline, not gated): {len(report.new_cells)}")
    for label, side, bound, checked in report.rig_bound_cells:
        lines.append(f"rig-bound ({side}, {bound}/{checked} runs): {label}: direct did not "
                     "outrun the forwarder by the headroom margin, so the tester set its rate")
    lines += report.rerun_notes
    counts = ", ".join(f"{report.count(v)} {v}" for v in
                       (REGRESSION, IMPROVEMENT, INCONCLUSIVE, UNCHANGED, SKIPPED))
    lines.append(f"gate: {report.outcome.upper()} (exit {report.exit_code}): {counts}; "
                 f"alpha {report.alpha}, min {report.min_samples} samples per side")
    return "\n".join(lines) + "\n"


def report_json(report: GateReport) -> dict:
    """The report as plain JSON data (for CI artefacts)."""

    def side(summary: SampleSummary) -> dict:
        return {"n": summary.n, "median": summary.median, "q1": summary.q1, "q3": summary.q3,
                "iqr": summary.iqr}

    return {
        "outcome": report.outcome,
        "exit_code": report.exit_code,
        "alpha": report.alpha,
        "min_samples": report.min_samples,
        "fingerprint_differences": report.fingerprint_differences,
        "missing_cells": report.missing_cells,
        "unavailable_cells": [{"cell_id": key, "reason": reason}
                              for key, reason in report.unavailable_cells],
        "new_cells": report.new_cells,
        "rig_bound_cells": [{"label": label, "side": side, "rig_bound_runs": bound,
                             "checked_runs": checked}
                            for label, side, bound, checked in report.rig_bound_cells],
        "rerun_rounds": report.rerun_rounds,
        "rerun_notes": report.rerun_notes,
        "rows": [{"cell_id": r.cell_id, "label": r.label, "metric": r.metric,
                  "verdict": r.decision.verdict, "reason": r.decision.reason,
                  "p_value": r.decision.p_value, "change": r.decision.change,
                  "relative_change": r.decision.relative_change,
                  "threshold": r.decision.threshold,
                  "baseline": side(r.decision.baseline),
                  "candidate": side(r.decision.candidate)} for r in report.rows],
    }


def explain_thresholds() -> str:
    lines = []
    for m in METRICS:
        good = "up" if m.direction == UP else "down"
        parts = []
        if m.threshold.relative:
            parts.append(f"{m.threshold.relative * 100:g} %")
        if m.threshold.absolute:
            parts.append(f"{m.threshold.absolute:g} {m.unit}")
        lines.append(f"{m.name} ({m.category}, good {good}, threshold "
                     f"{' and at least '.join(parts)}): {m.reason}")
    for suite, overrides in SUITE_THRESHOLDS.items():
        for name, (threshold, reason) in overrides.items():
            lines.append(f"suite {suite}: {name} threshold {threshold.relative * 100:g} % "
                         f"instead: {reason}")
    return "\n".join(lines) + "\n"


# --- Google Benchmark JSON (micro-benchmarks) ---------------------------------------------

#: Threshold for micro-benchmark throughput / time. 10 %: repetitions of a ~0.5 s benchmark
#: on the shared 2-core VM spread by ~3-6 % (scheduler, cache neighbours), and a hot-path
#: change worth blocking a merge (an extra syscall or copy per packet) moves them by far more.
BENCHMARK_THRESHOLD = Threshold(0.10)
#: Context fields of a Google Benchmark file that decide whether two files measured the same
#: kind of machine and build (host name and load average are left out on purpose).
BENCHMARK_FINGERPRINT_KEYS = ("num_cpus", "mhz_per_cpu", "library_build_type")
_TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def benchmark_samples(doc: dict, where: str = "<benchmark>") -> dict[str, tuple[str, list[float]]]:
    """Per benchmark (run_name): (metric, the repetitions' samples). The metric is
    items_per_second (good up) when every repetition reports it, else real_time in ns (good
    down). Aggregate rows (mean/median/stddev/cv) are ignored: the gate wants raw samples.
    Raises ValueError naming the file when it holds no per-repetition rows."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise ValueError(f"{where}: not a Google Benchmark JSON file (no 'benchmarks' list)")
    rows: dict[str, list[dict]] = {}
    aggregates = 0
    for entry in doc["benchmarks"]:
        if not isinstance(entry, dict):
            continue
        if entry.get("run_type") == "aggregate":
            aggregates += 1
            continue
        if entry.get("error_occurred"):
            continue
        rows.setdefault(str(entry.get("run_name") or entry.get("name")), []).append(entry)
    if not rows:
        hint = (" (only aggregates: run without --benchmark_report_aggregates_only)"
                if aggregates else "")
        raise ValueError(f"{where}: no per-repetition benchmark rows{hint}")
    out = {}
    for name, entries in rows.items():
        if all(isinstance(e.get("items_per_second"), (int, float)) for e in entries):
            out[name] = ("items_per_second", [float(e["items_per_second"]) for e in entries])
        else:
            samples = [float(e["real_time"]) * _TIME_UNIT_NS.get(str(e.get("time_unit", "ns")),
                                                                 1.0)
                       for e in entries if isinstance(e.get("real_time"), (int, float))]
            out[name] = ("real_time_ns", samples)
    return out


def compare_benchmarks(baseline: dict, candidate: dict, *, alpha: float = DEFAULT_ALPHA,
                       min_samples: int = DEFAULT_MIN_SAMPLES,
                       spread_factor: float = DEFAULT_SPREAD_FACTOR,
                       threshold: Threshold = BENCHMARK_THRESHOLD) -> GateReport:
    """The decision rule over two Google Benchmark JSON files (--benchmark_repetitions=N):
    one row per benchmark. Every micro-benchmark figure is machine-bound, so a context
    mismatch (CPU count, MHz, library build type) skips them all: inconclusive, not a pass."""
    report = GateReport(alpha=alpha, min_samples=min_samples)
    base_context = baseline.get("context") or {}
    cand_context = candidate.get("context") or {}
    report.fingerprint_differences = [
        f"{key}: {base_context.get(key)!r} vs {cand_context.get(key)!r}"
        for key in BENCHMARK_FINGERPRINT_KEYS if base_context.get(key) != cand_context.get(key)]
    base_rows = benchmark_samples(baseline, "baseline")
    cand_rows = benchmark_samples(candidate, "candidate")
    for name, (metric, base_values) in base_rows.items():
        if name not in cand_rows:
            report.missing_cells.append(name)
            continue
        cand_metric, cand_values = cand_rows[name]
        if cand_metric != metric:
            report.missing_cells.append(name)
            continue
        if report.fingerprint_differences:
            decision = Decision(SKIPPED, "benchmark context differs: micro-benchmark figures "
                                "are machine-bound", SampleSummary.of(base_values),
                                SampleSummary.of(cand_values))
        else:
            decision = decide(base_values, cand_values,
                              direction=UP if metric == "items_per_second" else DOWN,
                              threshold=threshold, alpha=alpha, min_samples=min_samples,
                              spread_factor=spread_factor)
        report.rows.append(Row(name, name, metric, decision))
    report.new_cells = [name for name in cand_rows if name not in base_rows]
    return report
