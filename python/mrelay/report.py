"""``python3 -m mrelay report RESULTS --out DIR``: Markdown + HTML + PNG report of a results file.

RESULTS is either an ``mrelay-bench`` results file (sweep output, several may be merged) or a
Google Benchmark JSON file (``build/bin/mrelay-microbench --benchmark_out=F
--benchmark_out_format=json``, detected by its ``benchmarks`` key), for which the report is the
packet-size x batch-size matrix of UDP send costs.

    python3 -m mrelay report run.json --out /tmp/report        # DIR/index.md, index.html, *.png
    python3 -m mrelay report udp.json --out /tmp/matrix         # Google Benchmark matrix

From Python::

    doc = results.load("run.json")
    sections = report.results_sections(doc, Path("/tmp/report"))   # draws the PNGs
    page.write_report(Path("/tmp/report"), "mrelay report", sections)

The data of each plot comes from mrelay/figures.py; this module arranges it into the page's
sections (mrelay/page.py renders them); the command line is mrelay/cli_report.py's.

Figures are medians over each cell's ok samples. A plot whose data RESULTS lacks is skipped
with a line saying what is missing, never drawn empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import figures, results
from .page import Section, write_report

MIB = 1024.0 * 1024.0


class ReportError(ValueError):
    """RESULTS unreadable or of no known kind; the message names the file."""


# --- the results-file report -------------------------------------------------------------


def _distinct_x(series: dict[str, list[tuple[float, float]]]) -> int:
    return max((len({x for x, _ in points}) for points in series.values()), default=0)


def _reference_style(label: str) -> dict:
    if label.startswith(("kernel", "direct", "socat")):
        return {"linestyle": "--", "linewidth": 1.3}
    return {}


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

    # The plot follows the shape of the data: a run with one load, size and fanout per
    # forwarder (the quickstart) compares forwarders, which bars with their spread show; lines
    # against load or size would join points that differ only by the generator's wobble.
    if figures.one_load_per_forwarder(doc):
        return [_run_section(doc), _forwarders_section(doc, out_dir, plots),
                _exhaustion_section(doc, out_dir, plots)]
    return [_run_section(doc), _size_section(doc, out_dir, plots),
            _latency_section(doc, out_dir, plots), *_fanout_sections(doc, out_dir, plots),
            _syscalls_section(doc, out_dir, plots), _exhaustion_section(doc, out_dir, plots)]


def _forwarders_section(doc: dict, out_dir: Path, plots) -> Section:
    bars = figures.forwarder_bars(doc)
    section = Section("Forwarders compared")
    if not bars:
        section.paragraphs.append("Skipped: RESULTS has no measured cells.")
        return section
    names = list(bars)

    def column(metric: str) -> list:
        return [None if bars[n][metric] is None else
                (bars[n][metric].median, bars[n][metric].low, bars[n][metric].high)
                for n in names]

    params = results.cells(doc)[0][0]
    paced = sorted({p["rate_pps"] for p, _ in results.cells(doc)
                    if isinstance(p.get("rate_pps"), (int, float)) and p["rate_pps"] > 0})
    paced_text = f"{paced[0] / 1e3:g}k pps" if paced else "a paced load"
    panels = [
        {"title": "delivered at saturation", "xlabel": "packets/s",
         "values": column("delivered_pps")},
        {"title": f"p99 latency at {paced_text}", "xlabel": "µs",
         "values": column("latency_p99_us"), "log": True, "si": False},
        {"title": "× kernel at saturation", "xlabel": "ratio to the kernel reference",
         "values": column("ratio_to_kernel"), "reference": 1.0, "si": False},
    ]
    # A figure the run has no cell for (e.g. no saturation cells) is left out, not drawn empty.
    panels = [panel for panel in panels if any(v is not None for v in panel["values"])]
    if not panels:
        section.paragraphs.append("Skipped: no cell of RESULTS has delivered pps, p99 or a "
                                  "kernel ratio.")
        return section
    title = (f"Forwarders, {params.get('size', '?')} B, fanout {params.get('fanout', 1)}, "
             f"batch {params.get('batch', '?')}: medians, whiskers min–max over repetitions")
    plots.forwarder_panels(names, panels, out_dir / "forwarders.png", title=title)
    section.image = "forwarders.png"
    section.paragraphs.append(
        "One paced load, size and fanout per forwarder: the run compares forwarders, so each "
        "gets a bar per figure (median of its repetitions, whiskers from the smallest to the "
        "largest). Saturation: the generator at full speed; p99 only at the paced load (at "
        "saturation it measures a full receive buffer); × kernel against the best kernel "
        "reference that ran (dashed line at 1). Line plots against size, load, fanout or "
        "batch need two or more values of that parameter; this run has one.")
    return section


def _run_section(doc: dict) -> Section:
    head = Section("Run")
    head.paragraphs.append(
        f"Commit `{doc.get('git_commit', 'unknown')}`, created {doc.get('created', '?')}, "
        f"{len(doc.get('samples', []))} samples. Machine: {results.machine_lines(doc)[0]}.")
    head.paragraphs.append(
        "Figures are medians over each cell's ok samples. This machine is a shared 2-core VM: "
        "expect run-to-run noise of several percent on throughput and more on tail latency.")
    head.preformatted = results.format_summary(doc)
    return head


def _size_section(doc: dict, out_dir: Path, plots) -> Section:
    series = figures.pps_vs_size(doc)
    return _plot_section(
        "Delivered pps vs packet size, per batch size", series, "pps_vs_size.png", out_dir,
        absent="RESULTS has no saturation cells (rate 0) of fanout 1.", need_x=2,
        plot=lambda path: plots.line_plot(
            series, path, title="Delivered packets/s at saturation vs UDP payload size",
            xlabel="UDP payload size (bytes, log scale)", ylabel="delivered (packets/s)",
            logx=True, xticks=sorted({x for pts in series.values() for x, _ in pts}),
            styles={label: _reference_style(label) for label in series}),
        explain="Saturation (generator at full speed), one output. Dashed lines are the "
                "references on the same rig: `direct` is the rig's ceiling without any "
                "forwarder.")


def _latency_section(doc: dict, out_dir: Path, plots) -> Section:
    series = figures.latency_vs_load(doc)
    return _plot_section(
        "p99 latency vs offered load", series, "latency_vs_load.png", out_dir,
        absent="RESULTS has no fixed-rate cells (rates > 0) with latency.", need_x=1,
        plot=lambda path: plots.line_plot(
            series, path, title="p99 one-way latency vs offered load (fanout 1, log scale)",
            xlabel="offered load (packets/s)", ylabel="p99 latency (µs, log scale)", si_x=True,
            si_y=False, logy=True, styles={label: _reference_style(label) for label in series}),
        explain="Latency = sink receive time − generator send time on the same host "
                "(CLOCK_MONOTONIC). Saturation cells are left out: there p99 measures a full "
                "receive buffer, not the forwarder.")


def _fanout_sections(doc: dict, out_dir: Path, plots) -> list[Section]:
    total, per_output, kind = figures.fanout_scaling(doc)
    limit = results.kernel_vif_limit()
    vline = (limit, f"ipmr limit: {limit} VIFs")
    fanouts = sorted({x for pts in total.values() for x, _ in pts})
    total_section = _plot_section(
        "Fanout scaling: total copies/s", total, "fanout_total.png", out_dir,
        absent="RESULTS has no NDR or saturation cells.", need_x=2,
        plot=lambda path: plots.line_plot(
            total, path, title=f"Total copies/s vs fanout, {kind}",
            xlabel="outputs (fanout, log scale)",
            ylabel="copies delivered (packets/s, all outputs)",
            logx=True, xticks=fanouts, vline=vline,
            styles={label: _reference_style(label) for label in total}),
        explain=f"Delivered copies per second summed over all outputs, {kind}. Kernel "
                f"forwarding cannot go past {limit} interfaces (its cells there are "
                "unsupported and absent).")
    per_output_section = _plot_section(
        "Fanout scaling: per output", per_output, "fanout_per_output.png", out_dir,
        absent="RESULTS has no NDR or saturation cells.", need_x=2,
        plot=lambda path: plots.line_plot(
            per_output, path, title=f"Packets/s per output vs fanout, {kind}",
            xlabel="outputs (fanout, log scale)", ylabel="per output (packets/s)", logx=True,
            xticks=fanouts, vline=vline,
            styles={label: _reference_style(label) for label in per_output}),
        explain="The same cells divided by the fanout: the rate each receiver sees.")
    return [total_section, per_output_section]


def _syscalls_section(doc: dict, out_dir: Path, plots) -> Section:
    series = figures.syscalls_vs_batch(doc)
    return _plot_section(
        "Syscalls per packet vs batch size", series, "syscalls_vs_batch.png", out_dir,
        absent="RESULTS has no relay saturation cells with syscalls_per_pkt (perf counters "
               "unavailable?).", need_x=2,
        plot=lambda path: plots.line_plot(
            series, path, title="Relay syscalls per forwarded packet vs batch size",
            xlabel="batch size (packets, log scale)", ylabel="syscalls per packet (log scale)",
            logx=True, logy=True, xticks=sorted({x for pts in series.values() for x, _ in pts}),
            si_y=False),
        explain="Syscalls entered by the relay process (perf tracepoint raw_syscalls:sys_enter) "
                "÷ packets it forwarded, at saturation.")


def _exhaustion_section(doc: dict, out_dir: Path, plots) -> Section:
    series = figures.exhaustion_vs_load(doc)
    if series and all(y == 0 for points in series.values() for _, y in points):
        # A flat line at zero says nothing a sentence does not.
        section = Section("Buffer exhaustion vs offered load")
        section.paragraphs.append(
            f"Every relay cell in RESULTS measured 0 % buffer exhaustion ({', '.join(series)}): "
            "no plot.")
        return section
    section = _plot_section(
        "Buffer exhaustion vs offered load", series, "exhaustion_vs_load.png", out_dir,
        absent="RESULTS has no relay cells with buffer_exhaustion_pct.", need_x=1,
        plot=lambda path: plots.line_plot(
            series, path, title="Relay buffer exhaustion vs offered load",
            xlabel="offered load (packets/s)", ylabel="buffer exhaustion (% of received)",
            si_x=True, si_y=False),
        explain="Packets the relay received but could not hand to every output (no buffer, no "
                "queue slot, or ENOBUFS/EAGAIN) ÷ packets received.")
    return section


# --- Google Benchmark matrix (size x batch) ----------------------------------------------


def format_rate(bytes_per_second: Optional[float]) -> str:
    """Bytes per second as a table cell: MiB/s below 1 GiB/s, GiB/s above."""
    if bytes_per_second is None:
        return "-"
    if bytes_per_second >= 1024 * MIB:
        return f"{bytes_per_second / (1024 * MIB):.2f} GiB/s"
    return f"{bytes_per_second / MIB:.0f} MiB/s"


def gbench_sections(doc: dict, out_dir: Path) -> list[Section]:
    """The report of a Google Benchmark file: its UDP send matrix as tables per mechanism, a
    heat map of the speed-up of batching, and that speed-up as a table."""
    from . import plots  # matplotlib is imported only when a report is drawn

    matrix = figures.gbench_matrix(doc)
    head = _gbench_head(doc)
    if not matrix:
        head.paragraphs.append("Skipped: no BM_UdpSend_<mechanism>/bytes:N/batch:N cases in "
                               "the file (run with --benchmark_filter=BM_UdpSend).")
        return [head]
    sizes = sorted({size for by_key in matrix.values() for size, _ in by_key})
    batches = sorted({batch for by_key in matrix.values() for _, batch in by_key})
    # The speed-ups are over one sendto() per packet of the same size, when it was measured.
    reference = "sendto" if "sendto" in matrix else sorted(matrix)[0]
    return [head, *_gbench_tables(matrix, sizes, batches),
            _gbench_heat_map(matrix, sizes, batches, reference, out_dir, plots),
            _gbench_speedup(matrix, sizes, batches, reference)]


def _gbench_head(doc: dict) -> Section:
    context = doc.get("context", {})
    head = Section("Run")
    head.paragraphs.append(
        f"Google Benchmark file from {context.get('date', '?')} on {context.get('host_name', '?')}"
        f" ({context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
        f"benchmark library built {context.get('library_build_type', '?')}). Rates are per second of process CPU "
        f"time unless the names end in /real_time (bench/README.md); 127.0.0.1 only. Figures "
        f"on this shared 2-core VM are noisy.")
    return head


def _gbench_tables(matrix: dict, sizes: list[int], batches: list[int]) -> list[Section]:
    sections = []
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
    return sections


def _gbench_heat_map(matrix: dict, sizes: list[int], batches: list[int], reference: str,
                     out_dir: Path, plots) -> Section:
    # Colour = speed-up over one sendto() per packet of the same size, text = MiB/s and the
    # speed-up: a shared MiB/s scale would be dominated by the size (16x) and hide batching.
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
    return heat


# Speed-up of batching: each mechanism at each batch against one send() per packet of the
# same size (one syscall per packet against one per batch).
def _gbench_speedup(matrix: dict, sizes: list[int], batches: list[int],
                    reference: str) -> Section:
    baseline_name = reference
    speedup = Section("Speed-up of batching per packet size")
    speedup.paragraphs.append(
        f"Throughput ÷ `{baseline_name}` at batch 1 of the same size (one syscall per packet).")
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
    return speedup


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
    if any(figures.is_gbench(doc) for doc in raw):
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
