"""PNG plots for the mrelay reports (matplotlib, Agg backend: no display needed).

Plotting lives only here; report.py, sizing.py and reproduce.py prepare plain series
(``{label: [(x, y), ...]}``) and call one function per figure. Every figure has a title, axes
with units, a legend, and a grid, and is written at a fixed size that stays readable in a
Markdown page.

    from mrelay import plots
    plots.line_plot({"uring batch 32": [(512, 2.1e5), (1400, 1.9e5)]}, "pps.png",
                    title="Delivered pps vs packet size", xlabel="UDP payload (bytes)",
                    ylabel="delivered (packets/s)")
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on CI runners or in the namespace rig

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import EngFormatter, FuncFormatter  # noqa: E402

# Figure size in inches and resolution: 9x5.2 in at 110 dpi is ~1000x570 px, wide enough for a
# legend beside the axes and small enough for a page of several plots.
FIGURE_SIZE_IN = (9.0, 5.2)
DPI = 110

Series = dict[str, list[tuple[float, float]]]

# Series beyond this many get a repeated colour; 10 is matplotlib's tab10 palette.
_COLOURS = plt.get_cmap("tab10").colors
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _finish(figure, axes, path: str | Path, title: str, legend: bool = True) -> Path:
    axes.set_title(title, fontsize=12)
    axes.grid(True, which="major", alpha=0.35)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _si_axis(axis) -> None:
    """Tick labels like 200k, 1.5M: packets/s spans decades and raw digits are unreadable."""
    axis.set_major_formatter(EngFormatter(sep=""))


def line_plot(series: Series, path: str | Path, *, title: str, xlabel: str, ylabel: str,
              logx: bool = False, logy: bool = False, si_x: bool = False, si_y: bool = True,
              xticks: Optional[Sequence[float]] = None, styles: Optional[dict] = None,
              vline: Optional[tuple[float, str]] = None) -> Path:
    """One line per series, points sorted by x.

    ``styles`` maps a label to matplotlib keyword arguments (e.g. a dashed reference line);
    ``vline`` = (x, text) draws a labelled vertical marker (the kernel's 32-VIF limit).
    """
    figure, axes = plt.subplots(figsize=FIGURE_SIZE_IN)
    for index, (label, points) in enumerate(series.items()):
        points = sorted(p for p in points if p[1] is not None and math.isfinite(p[1]))
        if not points:
            continue
        style = {"color": _COLOURS[index % len(_COLOURS)],
                 "marker": _MARKERS[index % len(_MARKERS)], "linewidth": 1.6, "markersize": 5}
        style.update((styles or {}).get(label, {}))
        axes.plot([p[0] for p in points], [p[1] for p in points], label=label, **style)
    if logx:
        axes.set_xscale("log", base=2)
    if logy:
        axes.set_yscale("log")
    if xticks:
        axes.set_xticks(list(xticks))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    elif si_x:
        _si_axis(axes.xaxis)
    if si_y and not logy:
        _si_axis(axes.yaxis)
    if logy:
        # Plain numbers (0.4, 1, 3000) instead of 4x10^-1: readable at a glance.
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        axes.yaxis.set_major_formatter(plain)
        # Minor ticks labelled at 2x and 5x each decade only: every one would overlap.
        axes.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if v > 0 and f"{v:.0e}"[0] in "25" else ""))
    if not logy:
        axes.set_ylim(bottom=0)
    if vline is not None:
        axes.axvline(vline[0], color="grey", linestyle=":", linewidth=1.2)
        axes.annotate(vline[1], xy=(vline[0], 0.97), xycoords=("data", "axes fraction"),
                      ha="right", va="top", fontsize=8, color="dimgrey", rotation=90)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return _finish(figure, axes, path, title)


def grouped_bars(groups: Sequence[str], bars: dict[str, Sequence[Optional[float]]],
                 path: str | Path, *, title: str, ylabel: str, si_y: bool = True,
                 annotate: bool = True) -> Path:
    """Groups on the x axis (e.g. offered loads), one bar per key of ``bars`` in each group.
    A None value leaves a gap (not measured), distinct from a zero bar."""
    figure, axes = plt.subplots(figsize=FIGURE_SIZE_IN)
    count = max(1, len(bars))
    width = 0.8 / count
    for index, (label, heights) in enumerate(bars.items()):
        xs = [g + (index - (count - 1) / 2) * width for g in range(len(groups))]
        shown = [(x, h) for x, h in zip(xs, heights) if h is not None]
        rects = axes.bar([x for x, _ in shown], [h for _, h in shown], width=width * 0.95,
                         label=label, color=_COLOURS[index % len(_COLOURS)])
        if annotate:
            for rect, (_, height) in zip(rects, shown):
                text = _short(height)
                axes.annotate(text, (rect.get_x() + rect.get_width() / 2, height),
                              ha="center", va="bottom", fontsize=7, xytext=(0, 1),
                              textcoords="offset points")
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels(groups, fontsize=9)
    if si_y:
        _si_axis(axes.yaxis)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.margins(y=0.12)
    return _finish(figure, axes, path, title)


def forwarder_panels(forwarders: Sequence[str], panels: Sequence[dict], path: str | Path, *,
                     title: str) -> Path:
    """One horizontal bar per forwarder in each panel, side by side, sharing the forwarder
    axis: a panel is {"title", "xlabel", "values": [(median, low, high) or None per
    forwarder], "log": bool (used when the values span > 30x), "si": bool (200k-style ticks,
    default True), "reference": x or None (a dashed line, e.g. 1 for a ratio)}.
    The whisker spans low..high (the repetitions' min and max); the median is written at the
    bar's end. None: "not measured", written where the bar would be."""
    size = (max(6.5, 4.5 * len(panels) + 1.5), 0.45 * len(forwarders) + 1.8)
    figure, axes_row = plt.subplots(1, len(panels), sharey=True, figsize=size)
    axes_row = list(axes_row) if len(panels) > 1 else [axes_row]
    ys = list(range(len(forwarders)))
    for axes, panel in zip(axes_row, panels):
        for y, value in zip(ys, panel["values"]):
            colour = _COLOURS[0] if forwarders[y].startswith("mrelay") else _COLOURS[1]
            if value is None:
                axes.annotate("not measured", (0, y), xycoords=("axes fraction", "data"),
                              xytext=(4, 0), textcoords="offset points", va="center",
                              fontsize=7, color="grey")
                continue
            median, low, high = value
            axes.barh(y, median, height=0.6, color=colour, alpha=0.85,
                      xerr=[[median - low], [high - median]], capsize=3, ecolor="black")
            axes.annotate(_short(median), (high, y), xytext=(4, 0), textcoords="offset points",
                          va="center", fontsize=7)
        if panel.get("reference") is not None:
            axes.axvline(panel["reference"], color="grey", linestyle="--", linewidth=1)
        shown = [v[0] for v in panel["values"] if v is not None and v[0] > 0]
        # Log only when the bars span more than a decade and a half; below that a linear
        # axis reads better (and a log axis of a narrow range shows one tick).
        if panel.get("log") and shown and max(shown) / min(shown) > 30:
            axes.set_xscale("log")
            axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: _short(value)))
        else:
            axes.set_xlim(left=0)
            if panel.get("si", True):
                _si_axis(axes.xaxis)
        axes.margins(x=0.25)
        axes.set_title(panel["title"], fontsize=9)
        axes.set_xlabel(panel["xlabel"], fontsize=8)
        axes.grid(True, axis="x", alpha=0.3)
    axes_row[0].set_yticks(ys)
    axes_row[0].set_yticklabels(forwarders, fontsize=8)
    axes_row[0].invert_yaxis()
    # Wrapped to the figure's width (about 11 characters per inch at this size).
    figure.suptitle("\n".join(textwrap.wrap(title, width=int(size[0] * 11))), fontsize=11)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _short(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.0f}k"
    if magnitude >= 1e3:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 10:
        return f"{value:.0f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def heat_map(rows: Sequence[str], columns: Sequence[str],
             panels: dict[str, list[list[Optional[float]]]], path: str | Path, *, title: str,
             xlabel: str, ylabel: str, unit: str,
             labels: Optional[dict[str, list[list[str]]]] = None,
             centre: Optional[float] = None) -> Path:
    """One heat-map panel per key of ``panels`` (a rows x columns matrix each, None = not
    measured), sharing one colour scale so panels compare. ``labels`` gives each cell's text
    (default: its value); ``centre`` makes the scale diverge around that value (e.g. 1.0 for
    a speed-up: red slower, green faster)."""
    from matplotlib.colors import TwoSlopeNorm

    names = list(panels)
    figure, axes_list = plt.subplots(1, max(1, len(names)), sharey=True,
                                     figsize=(max(FIGURE_SIZE_IN[0], 4.0 * len(names) + 1.5),
                                              FIGURE_SIZE_IN[1] * 0.9),
                                     squeeze=False)
    finite = [v for matrix in panels.values() for row in matrix for v in row if v is not None]
    vmin, vmax = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if centre is not None:
        spread = max(abs(vmax - centre), abs(centre - vmin), 1e-9)
        norm, cmap = TwoSlopeNorm(vcenter=centre, vmin=centre - spread,
                                  vmax=centre + spread), "RdYlGn"
    else:
        norm, cmap = matplotlib.colors.Normalize(vmin=vmin, vmax=vmax), "viridis"
    image = None
    for index, (axes, name) in enumerate(zip(axes_list[0], names)):
        matrix = [[math.nan if v is None else v for v in row] for row in panels[name]]
        image = axes.imshow(matrix, cmap=cmap, norm=norm, aspect="auto", origin="lower")
        axes.set_xticks(range(len(columns)))
        axes.set_xticklabels(columns)
        axes.set_yticks(range(len(rows)))
        axes.set_yticklabels(rows)
        axes.set_xlabel(xlabel)
        if index == 0:
            axes.set_ylabel(ylabel)
        axes.set_title(name, fontsize=11)
        for r, row in enumerate(panels[name]):
            for c, value in enumerate(row):
                if value is None:
                    continue
                text = labels[name][r][c] if labels else _short(value)
                dark = centre is None and value < vmin + 0.6 * (vmax - vmin)
                axes.text(c, r, text, ha="center", va="center", fontsize=7.5,
                          color="white" if dark else "black")
    if image is not None:
        bar = figure.colorbar(image, ax=list(axes_list[0]), shrink=0.9)
        bar.set_label(unit)
    figure.suptitle(title, fontsize=12)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path
