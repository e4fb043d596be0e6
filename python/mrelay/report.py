"""``python3 -m mrelay report RESULTS --out DIR``: Markdown + HTML + PNG report of a results file.

RESULTS is either an ``mrelay-bench`` results file (sweep output, several may be merged) or a
Google Benchmark JSON file (``build/bin/mrelay-microbench --benchmark_out=F
--benchmark_out_format=json``, detected by its ``benchmarks`` key), for which the report is the
packet-size x batch-size matrix of UDP send costs.

    python3 -m mrelay report run.json --out /tmp/report        # DIR/index.md, index.html, *.png
    python3 -m mrelay report udp.json --out /tmp/matrix         # Google Benchmark matrix

From Python::

    doc = results.load("run.json")
    sections = report.results_sections(doc, Path("/tmp/report"))
    report.write_report(Path("/tmp/report"), "mrelay report", sections)

Figures are medians over each cell's ok samples. A plot whose data RESULTS lacks is skipped
with a line saying what is missing, never drawn empty.
"""

from __future__ import annotations

import html
import json
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import results

#: Forwarders in the order legends list them.
FORWARDER_ORDER = ("mrelay", "kernel", "kernel-nft", "socat", "direct")
#: The kernel's multicast routing table holds at most 32 virtual interfaces (MAXVIFS), so
#: kernel forwarding cannot fan out wider; the fanout plot marks it.
KERNEL_VIF_LIMIT = 32


class ReportError(ValueError):
    """RESULTS unreadable or of no known kind; the message names the file."""


@dataclass
class Section:
    """One part of a report: a heading, paragraphs, optional table and optional image."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Optional[list[list[str]]] = None  # first row is the header
    image: Optional[str] = None  # file name relative to the report directory
    preformatted: Optional[str] = None


# --- helpers over results documents ------------------------------------------------------


def _median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


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


def cells(doc: dict) -> list[tuple[dict, list[dict]]]:
    """(params, ok samples) per cell, cells with no ok sample left out."""
    out = []
    for samples in results.group_by_cell(doc).values():
        ok = [s for s in samples if results.is_ok(s)]
        if ok:
            out.append((ok[0].get("params", {}), ok))
    return out


def cell_median(samples: Sequence[dict], metric: str) -> Optional[float]:
    return _median(results.values(samples, metric))


def counter_median(samples: Sequence[dict], name: str) -> Optional[float]:
    """Median over samples of one relay counter's delta over the window (None if absent)."""
    found = []
    for sample in samples:
        counters = sample.get("relay_counters")
        if isinstance(counters, dict) and isinstance(counters.get(name), (int, float)):
            found.append(float(counters[name]))
    return _median(found)


def _distinct_x(series: dict[str, list[tuple[float, float]]]) -> int:
    return max((len({x for x, _ in points}) for points in series.values()), default=0)


# --- data for each plot (pure functions; tests call them directly) ------------------------


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

    return {label: sorted(series[label]) for label in sorted(series, key=key)}


# --- the results-file report -------------------------------------------------------------


def _reference_style(label: str) -> dict:
    if label.startswith(("kernel", "direct", "socat")):
        return {"linestyle": "--", "linewidth": 1.3}
    return {}


def machine_lines(doc: dict) -> list[str]:
    """The machine fingerprint of a document as one readable line."""
    machine = doc.get("machine") or {}
    memory = machine.get("memory_kib")
    memory_text = f"{memory // 1024} MiB" if isinstance(memory, int) else "? MiB"
    return [
        f"CPU {machine.get('cpu_model', '?')}, {machine.get('cores_online', '?')} cores "
        f"({machine.get('arch', '?')}), {memory_text}, kernel {machine.get('kernel', '?')}, "
        f"virtualisation {machine.get('virtualization', '?')}, "
        f"PMU {'yes' if machine.get('pmu_present') else 'no'}",
    ]


def _plot_section(title: str, series: dict, image: str, out_dir: Path, *, absent: str,
                  need_x: int, plot: Callable[[Path], None], explain: str) -> Section:
    section = Section(title)
    if not series:
        section.paragraphs.append(f"Skipped: {absent}")
        return section
    if _distinct_x(series) < need_x:
        section.paragraphs.append(
            f"Skipped: every series has fewer than {need_x} distinct x values in RESULTS, "
            f"so there is no trend to draw ({', '.join(series)}).")
        return section
    plot(out_dir / image)
    section.image = image
    section.paragraphs.append(explain)
    return section


def results_sections(doc: dict, out_dir: Path) -> list[Section]:
    """Every section of the report of one results document; writes the PNGs into out_dir."""
    from . import plots  # matplotlib is imported only when a report is drawn

    sections = []
    head = Section("Run")
    head.paragraphs.append(
        f"Commit `{doc.get('git_commit', 'unknown')}`, created {doc.get('created', '?')}, "
        f"{len(doc.get('samples', []))} samples. Machine: {machine_lines(doc)[0]}.")
    head.paragraphs.append(
        "Figures are medians over each cell's ok samples. This machine is a shared 2-core VM: "
        "expect run-to-run noise of several percent on throughput and more on tail latency.")
    head.preformatted = results.format_summary(doc)
    sections.append(head)

    series = pps_vs_size(doc)
    sections.append(_plot_section(
        "Delivered pps vs packet size, per batch size", series, "pps_vs_size.png", out_dir,
        absent="RESULTS has no saturation cells (rate 0) of fanout 1.", need_x=2,
        plot=lambda path: plots.line_plot(
            series, path, title="Delivered packets/s at saturation vs UDP payload size",
            xlabel="UDP payload size (bytes, log scale)", ylabel="delivered (packets/s)",
            logx=True, xticks=sorted({x for pts in series.values() for x, _ in pts}),
            styles={label: _reference_style(label) for label in series}),
        explain="Saturation (generator at full speed), one output. Dashed lines are the "
                "references on the same rig: `direct` is the rig's ceiling without any "
                "forwarder."))

    series = latency_vs_load(doc)
    sections.append(_plot_section(
        "p99 latency vs offered load", series, "latency_vs_load.png", out_dir,
        absent="RESULTS has no fixed-rate cells (rates > 0) with latency.", need_x=1,
        plot=lambda path: plots.line_plot(
            series, path, title="p99 one-way latency vs offered load (fanout 1, log scale)",
            xlabel="offered load (packets/s)", ylabel="p99 latency (µs, log scale)", si_x=True,
            si_y=False, logy=True, styles={label: _reference_style(label) for label in series}),
        explain="Latency = sink receive time − generator send time on the same host "
                "(CLOCK_MONOTONIC). Saturation cells are left out: there p99 measures a full "
                "receive buffer, not the forwarder."))

    total, per_output, kind = fanout_scaling(doc)
    vline = (KERNEL_VIF_LIMIT, f"ipmr limit: {KERNEL_VIF_LIMIT} VIFs")
    fanouts = sorted({x for pts in total.values() for x, _ in pts})
    sections.append(_plot_section(
        "Fanout scaling: total copies/s", total, "fanout_total.png", out_dir,
        absent="RESULTS has no NDR or saturation cells.", need_x=2,
        plot=lambda path: plots.line_plot(
            total, path, title=f"Total copies/s vs fanout, {kind}",
            xlabel="outputs (fanout, log scale)",
            ylabel="copies delivered (packets/s, all outputs)",
            logx=True, xticks=fanouts, vline=vline,
            styles={label: _reference_style(label) for label in total}),
        explain=f"Delivered copies per second summed over all outputs, {kind}. Kernel "
                f"forwarding cannot go past {KERNEL_VIF_LIMIT} interfaces (its cells there are "
                "unsupported and absent)."))
    sections.append(_plot_section(
        "Fanout scaling: per output", per_output, "fanout_per_output.png", out_dir,
        absent="RESULTS has no NDR or saturation cells.", need_x=2,
        plot=lambda path: plots.line_plot(
            per_output, path, title=f"Packets/s per output vs fanout, {kind}",
            xlabel="outputs (fanout, log scale)", ylabel="per output (packets/s)", logx=True,
            xticks=fanouts, vline=vline,
            styles={label: _reference_style(label) for label in per_output}),
        explain="The same cells divided by the fanout: the rate each receiver sees."))

    series = syscalls_vs_batch(doc)
    sections.append(_plot_section(
        "Syscalls per packet vs batch size", series, "syscalls_vs_batch.png", out_dir,
        absent="RESULTS has no relay saturation cells with syscalls_per_pkt (perf counters "
               "unavailable?).", need_x=2,
        plot=lambda path: plots.line_plot(
            series, path, title="Relay syscalls per forwarded packet vs batch size",
            xlabel="batch size (packets, log scale)", ylabel="syscalls per packet (log scale)",
            logx=True, logy=True, xticks=sorted({x for pts in series.values() for x, _ in pts}),
            si_y=False),
        explain="Syscalls entered by the relay process (perf tracepoint raw_syscalls:sys_enter) "
                "÷ packets it forwarded, at saturation."))

    series = exhaustion_vs_load(doc)
    sections.append(_plot_section(
        "Buffer exhaustion vs offered load", series, "exhaustion_vs_load.png", out_dir,
        absent="RESULTS has no relay cells with buffer_exhaustion_pct.", need_x=1,
        plot=lambda path: plots.line_plot(
            series, path, title="Relay buffer exhaustion vs offered load",
            xlabel="offered load (packets/s)", ylabel="buffer exhaustion (% of received)",
            si_x=True, si_y=False),
        explain="Packets the relay received but could not hand to every output (no buffer, no "
                "queue slot, or ENOBUFS/EAGAIN) ÷ packets received."))
    if series and all(y == 0 for points in series.values() for _, y in points):
        sections[-1].paragraphs.append("Every relay cell in RESULTS measured 0 % exhaustion.")
    return sections


# --- Google Benchmark matrix (size x batch) ----------------------------------------------

_UDP_NAME = re.compile(r"^BM_UdpSend_(?P<mechanism>\w+?)/bytes:(?P<bytes>\d+)/batch:(?P<batch>\d+)")
MIB = 1024.0 * 1024.0


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


def format_rate(bytes_per_second: Optional[float]) -> str:
    """Like the seed's tables: MiB/s below 1 GiB/s, GiB/s above."""
    if bytes_per_second is None:
        return "-"
    if bytes_per_second >= 1024 * MIB:
        return f"{bytes_per_second / (1024 * MIB):.2f} GiB/s"
    return f"{bytes_per_second / MIB:.0f} MiB/s"


def gbench_sections(doc: dict, out_dir: Path) -> list[Section]:
    from . import plots

    matrix = gbench_matrix(doc)
    context = doc.get("context", {})
    head = Section("Run")
    head.paragraphs.append(
        f"Google Benchmark file from {context.get('date', '?')} on {context.get('host_name', '?')}"
        f" ({context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
        f"benchmark library built {context.get('library_build_type', '?')}). Rates are per second of process CPU "
        f"time unless the names end in /real_time (bench/README.md); 127.0.0.1 only. Figures "
        f"on this shared 2-core VM are noisy.")
    if not matrix:
        head.paragraphs.append("Skipped: no BM_UdpSend_<mechanism>/bytes:N/batch:N cases in "
                               "the file (run with --benchmark_filter=BM_UdpSend).")
        return [head]
    sections = [head]
    sizes = sorted({size for by_key in matrix.values() for size, _ in by_key})
    batches = sorted({batch for by_key in matrix.values() for _, batch in by_key})
    for mechanism in sorted(matrix):
        by_key = matrix[mechanism]
        table = [["Packet size"] + [f"Batch {b}" for b in batches]]
        for size in sizes:
            table.append([f"{size} bytes"] + [
                format_rate(by_key.get((size, b), {}).get("bytes_per_second")) for b in batches])
        sections.append(Section(f"Throughput by packet size and batch size: {mechanism}",
                                paragraphs=["UDP payload bytes per second (headers not "
                                            "counted), as a UDP transport analysis would."],
                                table=table))
    # Colour = speed-up over one sendto() per packet of the same size, text = MiB/s and the
    # speed-up: a shared MiB/s scale would be dominated by the size (16x) and hide batching.
    reference = "sendto" if "sendto" in matrix else sorted(matrix)[0]
    speedups, labels = {}, {}
    for mechanism in sorted(matrix):
        speedups[mechanism], labels[mechanism] = [], []
        for size in sizes:
            base = matrix[reference].get((size, 1), {}).get("bytes_per_second")
            row_values, row_labels = [], []
            for batch in batches:
                value = matrix[mechanism].get((size, batch), {}).get("bytes_per_second")
                ratio = value / base if value and base else None
                row_values.append(ratio)
                row_labels.append("" if value is None else
                                  f"{value / MIB:.0f}" + (f"\n{ratio:.2f}x" if ratio else ""))
            speedups[mechanism].append(row_values)
            labels[mechanism].append(row_labels)
    heat = Section("Heat map")
    heat.paragraphs.append(
        f"Each cell: UDP payload MiB/s and its speed-up over `{reference}` at batch 1 of the "
        "same size; the colour is the speed-up (green faster, red slower).")
    plots.heat_map([f"{s} B" for s in sizes], [str(b) for b in batches], speedups,
                   out_dir / "size_batch_heatmap.png",
                   title=f"UDP send: MiB/s and speed-up over {reference} batch 1, by size "
                         "and batch", xlabel="batch size (packets per call)",
                   ylabel="UDP payload size", unit=f"speed-up over {reference}, batch 1",
                   labels=labels, centre=1.0)
    heat.image = "size_batch_heatmap.png"
    sections.append(heat)

    # Speed-up of batching: each mechanism at each batch against one send() per packet of
    # the same size (the seed's §12.3 compares send()x100 with sendmmsg(100)).
    baseline_name = reference
    speedup = Section("Speed-up of batching per packet size")
    speedup.paragraphs.append(
        f"Throughput ÷ `{baseline_name}` at batch 1 of the same size (one syscall per packet)."
        f" Seed 002 §12.3 measured ~1.75× for sendmmsg(100) at every size.")
    header = ["Packet size"]
    # Batched mechanisms at batch > 1 only: `sendto` makes one call per packet whatever its
    # batch, and batch 1 is the same syscall count as the baseline.
    columns = [(m, b) for m in sorted(matrix) if m != baseline_name for b in batches if b > 1]
    header += [f"{m} b{b}" for m, b in columns]
    table = [header]
    for size in sizes:
        base = matrix[baseline_name].get((size, 1), {}).get("bytes_per_second")
        row = [f"{size} bytes"]
        for mechanism, batch in columns:
            value = matrix[mechanism].get((size, batch), {}).get("bytes_per_second")
            row.append(f"{value / base:.2f}x" if value and base else "-")
        table.append(row)
    speedup.table = table
    sections.append(speedup)
    return sections


# --- rendering ---------------------------------------------------------------------------


def _markdown_table(table: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(table[0]) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table[0]))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return lines


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.preformatted:
            lines += ["```", section.preformatted.rstrip("\n"), "```", ""]
        if section.table:
            lines += _markdown_table(section.table) + [""]
        if section.image:
            lines += [f"![{section.title}]({section.image})", ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    """Markdown's `code` spans become <code>; everything else is escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(title: str, sections: Sequence[Section]) -> str:
    out = ["<!doctype html>", "<html><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;"
           "text-align:right}td:first-child,th:first-child{text-align:left}"
           "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}img{max-width:100%}</style>",
           "</head><body>", f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        out += [f"<p>{_inline_html(p)}</p>" for p in section.paragraphs]
        if section.preformatted:
            out.append(f"<pre>{html.escape(section.preformatted)}</pre>")
        if section.table:
            out.append("<table><tr>" + "".join(f"<th>{_inline_html(c)}</th>"
                                               for c in section.table[0]) + "</tr>")
            for row in section.table[1:]:
                out.append("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        if section.image:
            out.append(f"<p><img src='{html.escape(section.image)}' "
                       f"alt='{html.escape(section.title)}'></p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(out_dir: Path, title: str, sections: Sequence[Section]) -> Path:
    """Writes out_dir/index.md and out_dir/index.html; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.html").write_text(render_html(title, sections), encoding="utf-8")
    index = out_dir / "index.md"
    index.write_text(render_markdown(title, sections), encoding="utf-8")
    return index


def load_any(paths: Sequence[str]) -> tuple[str, dict]:
    """("gbench", doc) for a Google Benchmark file, ("results", merged doc) otherwise."""
    if not paths:
        raise ReportError("report: give at least one RESULTS file")
    raw = []
    for path in paths:
        try:
            raw.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as error:
            raise ReportError(f"{path}: {error.strerror or error}") from error
        except json.JSONDecodeError as error:
            raise ReportError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") \
                from error
    if any(is_gbench(doc) for doc in raw):
        if len(raw) != 1:
            raise ReportError("report: a Google Benchmark file is reported on its own")
        return "gbench", raw[0]
    docs = [results.loads(json.dumps(doc), str(path)) for doc, path in zip(raw, paths)]
    return "results", docs[0] if len(docs) == 1 else results.merge(docs, sources=list(paths))


def build_report(paths: Sequence[str], out_dir: Path, title: Optional[str] = None) -> Path:
    """Loads RESULTS, draws, writes index.md/index.html; returns index.md's path."""
    kind, doc = load_any(paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "gbench":
        sections = gbench_sections(doc, out_dir)
        title = title or "UDP send matrix: packet size × batch size (Google Benchmark)"
    else:
        sections = results_sections(doc, out_dir)
        name = (doc.get("spec") or {}).get("name")
        title = title or f"mrelay report{f': {name}' if name else ''}"
    return write_report(out_dir, title, sections)


# --- command line (registered by cli.build_parser) ----------------------------------------


def command_report(args) -> int:
    try:
        index = build_report(args.results, Path(args.out), title=args.title)
    except (ReportError, results.ResultsError) as error:
        print(f"mrelay: report: {error}", file=sys.stderr)
        return 2
    print(f"report: {index} (+ {index.with_suffix('.html').name} and PNGs in {index.parent})")
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.startswith("Skipped:"):
            print(f"  {line}")
    return 0


def command_sizing(args) -> int:
    from . import sizing

    try:
        kind, doc = load_any(args.results)
    except (ReportError, results.ResultsError) as error:
        print(f"mrelay: sizing: {error}", file=sys.stderr)
        return 2
    if kind != "results":
        print("mrelay: sizing: needs mrelay-bench results, not a Google Benchmark file",
              file=sys.stderr)
        return 2
    text = sizing.format_markdown(doc)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


def command_reproduce(args) -> int:
    from . import reproduce

    return reproduce.run(args)


def register_commands(sub) -> None:
    """Adds `report`, `sizing` and `reproduce` to the `python3 -m mrelay` subparsers."""
    from . import reproduce

    page = sub.add_parser(
        "report", help="Markdown + HTML + PNG report of results (or Google Benchmark JSON)",
        description="Writes OUT/index.md and OUT/index.html with PNG plots: delivered pps vs "
                    "packet size per batch, p99 latency vs offered load, fanout scaling vs "
                    "kernel forwarding, syscalls/pkt vs batch, buffer exhaustion vs load. Plots "
                    "whose data RESULTS lacks are skipped with a line saying so. A Google "
                    "Benchmark JSON file (key 'benchmarks') gives the size x batch matrix of "
                    "the size x batch matrix instead: tables, heat map, batching speed-up.")
    page.add_argument("results", nargs="+", help="results file(s) (merged) or one Google "
                                                 "Benchmark JSON file")
    page.add_argument("--out", required=True, help="output directory (created)")
    page.add_argument("--title", default=None, help="page title [from the sweep's name]")
    page.set_defaults(handler=command_report)

    size = sub.add_parser(
        "sizing", help="hardware-sizing table (Markdown) from sweep results",
        description="Per packet size and fanout: no-drop pps per relay core, Gbit/s out, relay "
                    "CPU per 100k pps, ratio to kernel forwarding; machine fingerprint above.")
    size.add_argument("results", nargs="+", help="results file(s), merged")
    size.add_argument("--out", default=None, help="also write the Markdown to this file")
    size.set_defaults(handler=command_sizing)

    again = sub.add_parser(
        "reproduce", help="`reproduce nov2025`: the November 2025 regression, re-run",
        description="Runs the relay (uring) before / each fix alone / both fixes at offered "
                    "loads up to saturation behind a tbf egress, prints the table, writes "
                    "OUT/index.md, index.html, PNGs and results.json. Needs root.")
    reproduce.add_arguments(again)
    again.set_defaults(handler=command_reproduce)
