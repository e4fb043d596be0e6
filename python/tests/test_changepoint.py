"""Change-point detection over a nightly history (mrelay/changepoint.py, `results
changepoints`).

Binding: a 10 % step at a known night is found at that night; a flat history and a noisy but
flat one (3-5 % noise, what nightly medians on a shared VM show) report nothing; the CLI names
the commit range where a shift began.

    cd python && /usr/bin/python3 -m pytest -q tests/test_changepoint.py
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mrelay import changepoint, cli  # noqa: E402

NIGHTS = 40
STEP_NIGHT = 23


def history(noise, seed, step=0.0, at=STEP_NIGHT, nights=NIGHTS, level=200_000.0):
    rng = np.random.default_rng(seed)
    values = level * (1 + noise * rng.standard_normal(nights))
    values[at:] *= 1 + step
    return list(values)


def test_divergence_matches_its_definition():
    x = np.random.default_rng(3).normal(size=14)

    def direct(tau):
        a, b = x[:tau], x[tau:]
        within_a = np.abs(a[:, None] - a[None, :]).sum() / (len(a) * (len(a) - 1))
        within_b = np.abs(b[:, None] - b[None, :]).sum() / (len(b) * (len(b) - 1))
        between = np.abs(a[:, None] - b[None, :]).mean()
        return len(a) * len(b) / len(x) * (2 * between - within_a - within_b)

    assert np.allclose(changepoint.divergence(x, 3), [direct(t) for t in range(3, 12)])


@pytest.mark.parametrize("step", [0.10, -0.10])
def test_a_ten_percent_step_is_found_at_its_night(step):
    points = changepoint.detect(history(0.02, seed=11, step=step))
    assert [p.index for p in points] == [STEP_NIGHT]
    assert points[0].change == pytest.approx(step, abs=0.03)
    assert points[0].p_value < changepoint.DEFAULT_ALPHA


def test_a_step_under_realistic_noise_lands_within_two_nights():
    # 3 % noise, 20 seeded histories: always one shift, at the night or within two of it.
    for seed in range(20):
        points = changepoint.detect(history(0.03, seed=100 + seed, step=0.10))
        assert len(points) == 1, (seed, points)
        assert abs(points[0].index - STEP_NIGHT) <= 2, (seed, points)


def test_flat_history_reports_nothing():
    assert changepoint.detect([150_000.0] * NIGHTS) == []
    assert changepoint.detect(history(0.0, seed=1)) == []


@pytest.mark.parametrize("noise", [0.03, 0.05])
def test_noisy_but_flat_histories_report_nothing(noise):
    found = {seed: changepoint.detect(history(noise, seed=seed)) for seed in range(25)}
    assert all(not points for points in found.values()), found


def test_a_small_real_shift_is_below_the_floor():
    # 2 % is a real step, but within nightly wander: not reported with the default floor.
    assert changepoint.detect(history(0.005, seed=5, step=0.02)) == []
    assert changepoint.detect(history(0.005, seed=5, step=0.02), min_change=0.01) != []


def test_gaps_keep_night_indexes():
    series = history(0.02, seed=11, step=0.10)
    series[5] = None
    assert [p.index for p in changepoint.detect(series)] == [STEP_NIGHT]


def test_cli_names_the_commit_range(tmp_path, capsys):
    values = history(0.02, seed=11, step=-0.10)
    lines = ["time,commit,mrelay_gso_packet_512B_b32_f1_max.delivered_pps"]
    lines += [f"2026-11-{1 + i:02d} 02:00:00 +0000,c{i:03d},{v:.1f}" for i, v in
              enumerate(values[:30])]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n")
    assert cli.main(["results", "changepoints", str(path)]) == 1  # pps fell: worse
    out = capsys.readouterr().out
    assert "WORSE" in out and f"c{STEP_NIGHT - 1:03d}..c{STEP_NIGHT:03d}" in out
    flat = tmp_path / "flat.csv"
    flat.write_text("\n".join(lines[:1] + [f"2026-11-{1 + i:02d} 02:00:00 +0000,c{i:03d},"
                                          f"{v:.1f}" for i, v in
                                          enumerate(history(0.04, seed=2, nights=30))]) + "\n")
    assert cli.main(["results", "changepoints", str(flat)]) == 0
    assert "no lasting shift" in capsys.readouterr().out
