"""Lasting shifts in a nightly history: E-divisive means change-point detection.

The method is Matteson and James's E-divisive ("A Nonparametric Approach for Multiple Change
Point Analysis of Multivariate Data", JASA 2014), the one Apache Otava (formerly hunter) runs
over performance histories, here with alpha = 1 on one series at a time:

1. In a segment, the split tau maximising the divergence of the two sides,
   ``Q(tau) = tau (n - tau) / n * (2/(tau (n-tau)) sum|x_i - x_j| (i < tau <= j)
   - 1/C(tau,2) sum|x_i - x_k| (i < k < tau) - 1/C(n-tau,2) sum|x_j - x_k| (tau <= j < k))``,
   each side at least ``min_size`` nights (a shift that lasts, not one odd night).
2. Significance by permutation: the same maximum over ``permutations`` shuffles of the
   segment (a fixed seed, so a history always gives the same answer); significant when
   ``p = (1 + #{shuffled >= observed}) / (1 + permutations) < alpha``.
3. A practical floor as the gate has (:mod:`mrelay.gate`): the medians of the two sides must
   differ by more than ``min_change`` (relative). Nightly medians on a shared VM wander by a
   few percent; a significant 1 % step is real but not news.
4. Accepted splits divide the segment; both halves are searched again (binary segmentation).

    points = changepoint.detect([100.0] * 20 + [110.0] * 20)   # [ChangePoint(index=20, ...)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: Significance of the permutation test. 0.01 as the gate's alpha: a nightly history has
#: dozens of series, and a false shift costs an engineer's morning.
DEFAULT_ALPHA = 0.01
#: Shuffles per test: 199 resolves p down to 0.005, below alpha.
DEFAULT_PERMUTATIONS = 199
#: Nights on each side of a shift: fewer is an outlier, not a lasting change.
DEFAULT_MIN_SIZE = 4
#: Relative change of the median below which a significant shift is not reported: 5 %, the
#: gate's threshold for pps (repeated windows agree within ~2 %, nights within ~3-5 %).
DEFAULT_MIN_CHANGE = 0.05
SEED = 20251106


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first night of the new level
    before: float  # median of the nights before (back to the previous change point)
    after: float  # median of the nights after (up to the next change point)
    p_value: float

    @property
    def change(self) -> float:
        """Relative change of the median, (after - before) / |before|."""
        return (self.after - self.before) / abs(self.before) if self.before else float("inf")


def _block_sums(distances: np.ndarray) -> np.ndarray:
    """2-D prefix sums: S[a, b] = sum of distances[:a, :b]."""
    sums = np.zeros((distances.shape[0] + 1, distances.shape[1] + 1))
    sums[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    return sums


def divergence(x: np.ndarray, min_size: int) -> np.ndarray:
    """Q(tau) for tau = min_size .. n - min_size (index 0 = tau min_size); empty if none."""
    n = len(x)
    taus = np.arange(min_size, n - min_size + 1)
    if len(taus) == 0:
        return np.empty(0)
    sums = _block_sums(np.abs(x[:, None] - x[None, :]))
    total = sums[n, n]
    left = sums[taus, taus]  # both indices < tau: each pair twice
    between = sums[taus, n] - left  # i < tau <= j
    right = total - left - 2 * between  # both >= tau: each pair twice
    t, u = taus.astype(float), (n - taus).astype(float)
    mean_between = between / (t * u)
    # Each unordered pair is in the block sum twice, so twice its sum over t (t - 1) is the
    # pair sum over C(t, 2): the mean distance within the side.
    mean_left = left / (t * (t - 1))
    mean_right = right / (u * (u - 1))
    return t * u / n * (2 * mean_between - mean_left - mean_right)


def _best_split(x: np.ndarray, min_size: int) -> tuple[Optional[int], float]:
    q = divergence(x, min_size)
    if len(q) == 0:
        return None, 0.0
    best = int(np.argmax(q))
    return best + min_size, float(q[best])


def _p_value(x: np.ndarray, observed: float, min_size: int, permutations: int,
             rng: np.random.Generator) -> float:
    exceed = 0
    for _ in range(permutations):
        _, shuffled = _best_split(rng.permutation(x), min_size)
        exceed += shuffled >= observed
    return (1 + exceed) / (1 + permutations)


def detect(series: Sequence[Optional[float]], *, alpha: float = DEFAULT_ALPHA,
           permutations: int = DEFAULT_PERMUTATIONS, min_size: int = DEFAULT_MIN_SIZE,
           min_change: float = DEFAULT_MIN_CHANGE, seed: int = SEED) -> list[ChangePoint]:
    """Lasting shifts in one series (None / NaN nights are left out, indexes stay those of
    ``series``), earliest first."""
    index = np.array([i for i, v in enumerate(series) if v is not None and np.isfinite(v)])
    if len(index) < 2 * min_size:
        return []
    x = np.array([float(series[i]) for i in index])
    rng = np.random.default_rng(seed)
    splits: list[tuple[int, float]] = []
    pending = [(0, len(x))]
    while pending:
        start, end = pending.pop()
        tau, observed = _best_split(x[start:end], min_size)
        if tau is None:
            continue
        segment = x[start:end]
        before, after = float(np.median(segment[:tau])), float(np.median(segment[tau:]))
        if before == 0 or abs(after - before) / abs(before) <= min_change:
            continue
        p = _p_value(segment, observed, min_size, permutations, rng)
        if p >= alpha:
            continue
        splits.append((start + tau, p))
        pending += [(start, start + tau), (start + tau, end)]
    return _with_levels(x, index, sorted(splits))


def _with_levels(x: np.ndarray, index: np.ndarray,
                 splits: list[tuple[int, float]]) -> list[ChangePoint]:
    """Each split with the medians of its neighbouring segments (between the other splits)."""
    bounds = [0, *(split for split, _ in splits), len(x)]
    return [ChangePoint(int(index[split]), float(np.median(x[bounds[k]:split])),
                        float(np.median(x[split:bounds[k + 2]])), p)
            for k, (split, p) in enumerate(splits)]
