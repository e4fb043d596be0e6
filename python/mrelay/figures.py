"""The data of each plot of a report: pure functions over results documents (and Google
Benchmark files), one series per forwarder or setting, medians over each cell's ok samples.

    series = figures.pps_vs_size(results.load("run.json"))   # {"mrelay uring, batch 32": [(x, y)]}
    bars = figures.forwarder_bars(doc)   # {"mrelay gso": {"delivered_pps": Spread(...), ...}}
    matrix = figures.gbench_matrix(json.load(open("udp.json")))

mrelay/report.py draws them; tests call them directly.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from . import results
from .results import cell_median, cells

#: Forwarders in the order legends list them.
FORWARDER_ORDER = ("mrelay", "kernel", "kernel-nft", "socat", "direct")


def forwarder_label(params: dict) -> str:
    """``mrelay uring`` / ``mrelay sendmmsg`` for the relay, the forwarder name otherwise."""
    forwarder = str(params.get("forwarder", "?"))
    if forwarder == "mrelay":
        return f"mrelay {params.get('egress', '?')}"
    return forwarder


def _rate(params: dict) -> Any:
    return params.get("rate_pps")


def _is_saturation(params: dict) -> bool:
    rate = _rate(params)
    return isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate == 0


def _is_fixed(params: dict) -> bool:
    rate = _rate(params)
    return isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0


def pps_vs_size(doc: dict) -> dict[str, list[tuple[float, float]]]:
    """Saturation cells of fanout 1: delivered pps per packet size, one series per
    forwarder/backend and batch."""
    series: dict[str, list[tuple[float, float]]] = {}
    for params, samples in cells(doc):
        if not _is_saturation(params) or params.get("fanout", 1) != 1:
            continue
        pps = cell_median(samples, "delivered_pps")
        if pps is None or params.get("size") is None:
            continue
        label = f"{forwarder_label(params)}, batch {params.get('batch', '?')}"
        series.setdefault(label, []).append((float(params["size"]), pps))
    return _ordered(series)


def latency_vs_load(doc: dict) -> dict[str, list[tuple[float, float]]]:
    """Fixed-rate cells of fanout 1 at the smallest packet size measured: p99 latency (µs)
    against the measured offered pps, one series per forwarder (and batch, when several were
    measured). One size only: two sizes of four forwarders and two batches are 16 lines, too
    many to read."""
    chosen = [(p, s) for p, s in cells(doc) if _is_fixed(p) and p.get("fanout", 1) == 1
              and isinstance(p.get("size"), int)]
    if not chosen:
        return {}
    size = min(p["size"] for p, _ in chosen)
    batches = {p.get("batch") for p, _ in chosen if p["size"] == size}
    series: dict[str, list[tuple[float, float]]] = {}
    for params, samples in chosen:
        if params["size"] != size:
            continue
        offered = cell_median(samples, "offered_pps")
        p99 = cell_median(samples, "latency_p99_ns")
        if offered is None or p99 is None:
            continue
        label = f"{forwarder_label(params)}, {size} B"
        if len(batches) > 1:
            label += f", batch {params.get('batch')}"
        series.setdefault(label, []).append((offered, p99 / 1e3))
    return _ordered(series)


@dataclass(frozen=True)
class Spread:
    """A median with the smallest and largest sample around it."""

    median: float
    low: float
    high: float


def _spread(samples: Sequence[dict], metric: str, scale: float = 1.0) -> Optional[Spread]:
    found = results.values(samples, metric)
    if not found:
        return None
    return Spread(results.median(found) * scale, min(found) * scale, max(found) * scale)


def one_load_per_forwarder(doc: dict) -> bool:
    """True when the run measured each forwarder at no more than one paced load (and one size
    and fanout): then there is no trend against load or size to draw as lines, only a
    comparison of forwarders, which bars show (forwarder_bars)."""
    chosen = [p for p, _ in cells(doc) if p.get("rate_pps") != "ndr"]
    if not chosen:
        return False
    paced: dict[str, set] = {}
    for params in chosen:
        if _is_fixed(params):
            paced.setdefault(forwarder_label(params), set()).add(params["rate_pps"])
    shapes = {(p.get("size"), p.get("fanout", 1), p.get("batch")) for p in chosen}
    return len(shapes) == 1 and all(len(rates) <= 1 for rates in paced.values())


def forwarder_bars(doc: dict) -> dict[str, dict[str, Optional[Spread]]]:
    """Per forwarder (the relay per backend): delivered pps at saturation, p99 latency (µs) at
    the paced load, and the ratio to the kernel reference at saturation, each a median with
    its min and max over the repetitions; None where the run has no such cell."""
    out: dict[str, dict[str, Optional[Spread]]] = {}
    for params, samples in cells(doc):
        row = out.setdefault(forwarder_label(params), {"delivered_pps": None,
                                                       "latency_p99_us": None,
                                                       "ratio_to_kernel": None})
        if _is_saturation(params):
            row["delivered_pps"] = _spread(samples, "delivered_pps")
            row["ratio_to_kernel"] = _spread(samples, "ratio_to_kernel")
        elif _is_fixed(params):
            row["latency_p99_us"] = _spread(samples, "latency_p99_ns", 1e-3)
    return _ordered(out)


def _scaling_rate(params: dict, samples: Sequence[dict]) -> Optional[float]:
    """Total copies/s a cell carries: the delivered pps at the no-drop rate for NDR cells,
    at saturation otherwise (fixed-rate cells measure the generator, not the forwarder)."""
    if params.get("rate_pps") == "ndr":
        # A search that found no rate keeps the record of some trial: not a no-drop figure.
        found = [s for s in samples if results.metric_value(s, "ndr_pps") is not None]
        return cell_median(found, "delivered_pps") if found else None
    if _is_saturation(params):
        return cell_median(samples, "delivered_pps")
    return None


def fanout_scaling(doc: dict) -> tuple[dict, dict, str]:
    """(total copies/s per fanout, per-output pps per fanout, what the rate is): NDR cells
    when RESULTS has any, else saturation cells."""
    have_ndr = any(p.get("rate_pps") == "ndr" for p, _ in cells(doc))
    total: dict[str, list[tuple[float, float]]] = {}
    per_output: dict[str, list[tuple[float, float]]] = {}
    for params, samples in cells(doc):
        if have_ndr != (params.get("rate_pps") == "ndr"):
            continue
        rate = _scaling_rate(params, samples)
        fanout = params.get("fanout")
        if rate is None or not isinstance(fanout, int):
            continue
        label = f"{forwarder_label(params)}, {params.get('size', '?')} B"
        total.setdefault(label, []).append((float(fanout), rate))
        per_output.setdefault(label, []).append((float(fanout), rate / max(1, fanout)))
    kind = "at the no-drop rate (loss <= 0.1 %)" if have_ndr else "at saturation"
    return _ordered(total), _ordered(per_output), kind


def syscalls_vs_batch(doc: dict) -> dict[str, list[tuple[float, float]]]:
    """Relay cells: syscalls per forwarded packet against the batch size, per backend and
    packet size (saturation cells, where batches fill)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for params, samples in cells(doc):
        if params.get("forwarder") != "mrelay" or not _is_saturation(params):
            continue
        value = cell_median(samples, "syscalls_per_pkt")
        if value is None or params.get("batch") is None:
            continue
        label = f"{forwarder_label(params)}, {params.get('size', '?')} B, fanout " \
                f"{params.get('fanout', 1)}"
        series.setdefault(label, []).append((float(params["batch"]), value))
    return _ordered(series)


def relay_setting(params: dict) -> str:
    """The relay knobs that decide buffer exhaustion, as a legend label."""
    sndbuf = params.get("sndbuf")
    sndbuf_text = "default sndbuf" if sndbuf == 0 else (
        f"sndbuf {sndbuf / 1048576:g} MiB" if isinstance(sndbuf, (int, float)) else "sndbuf ?")
    text = f"{params.get('egress', '?')} q{params.get('queue_depth', '?')}, {sndbuf_text}"
    if params.get("fanout", 1) != 1:
        text += f", fanout {params['fanout']}"
    return text


def exhaustion_vs_load(doc: dict) -> dict[str, list[tuple[float, float]]]:
    """Relay cells at fixed rates and saturation: buffer exhaustion % against the measured
    offered pps, one series per relay setting (plus size and batch when those vary)."""
    chosen = [(p, s) for p, s in cells(doc)
              if p.get("forwarder") == "mrelay" and p.get("rate_pps") != "ndr"]
    sizes = {p.get("size") for p, _ in chosen}
    batches = {p.get("batch") for p, _ in chosen}
    series: dict[str, list[tuple[float, float]]] = {}
    for params, samples in chosen:
        offered = cell_median(samples, "offered_pps")
        value = cell_median(samples, "buffer_exhaustion_pct")
        if offered is None or value is None:
            continue
        label = relay_setting(params)
        if len(sizes) > 1:
            label += f", {params.get('size')} B"
        if len(batches) > 1:
            label += f", batch {params.get('batch')}"
        series.setdefault(label, []).append((offered, value))
    return _ordered(series)


def _ordered(series: dict) -> dict:
    def key(label: str) -> tuple:
        head = label.split(",")[0].split(" ")[0]
        rank = FORWARDER_ORDER.index(head) if head in FORWARDER_ORDER else len(FORWARDER_ORDER)
        return (rank, label)

    return {label: series[label] if isinstance(series[label], dict) else sorted(series[label])
            for label in sorted(series, key=key)}


# --- Google Benchmark matrix (size x batch) ----------------------------------------------

_UDP_NAME = re.compile(r"^BM_UdpSend_(?P<mechanism>\w+?)/bytes:(?P<bytes>\d+)/batch:(?P<batch>\d+)")


def is_gbench(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)


def gbench_matrix(doc: dict) -> dict[str, dict[tuple[int, int], dict[str, float]]]:
    """mechanism -> (bytes, batch) -> {"bytes_per_second", "items_per_second"}: the median
    aggregate when the file has repetitions, else the mean of the iteration runs."""
    runs: dict[str, dict[tuple[int, int], dict[str, list[float]]]] = {}
    medians: dict[str, dict[tuple[int, int], dict[str, float]]] = {}
    for bench in doc.get("benchmarks", []):
        match = _UDP_NAME.match(str(bench.get("run_name") or bench.get("name", "")))
        if not match:
            continue
        key = (int(match["bytes"]), int(match["batch"]))
        mechanism = match["mechanism"]
        figures = {k: float(bench[k]) for k in ("bytes_per_second", "items_per_second",
                                                "syscalls_per_pkt")
                   if isinstance(bench.get(k), (int, float))}
        if bench.get("run_type") == "aggregate":
            if bench.get("aggregate_name") == "median":
                medians.setdefault(mechanism, {})[key] = figures
            continue
        slot = runs.setdefault(mechanism, {}).setdefault(key, {})
        for name, value in figures.items():
            slot.setdefault(name, []).append(value)
    matrix: dict[str, dict[tuple[int, int], dict[str, float]]] = {}
    for mechanism, by_key in runs.items():
        for key, figures in by_key.items():
            matrix.setdefault(mechanism, {})[key] = {k: statistics.fmean(v)
                                                     for k, v in figures.items()}
    for mechanism, by_key in medians.items():
        matrix.setdefault(mechanism, {}).update(by_key)
    return matrix
