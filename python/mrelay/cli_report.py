"""The report commands of ``python3 -m mrelay``: ``report``, ``sizing`` and ``reproduce``.

Each command reads its arguments, calls the module that does the work (mrelay/report.py,
sizing.py, reproduce.py) and prints; cli.build_parser registers them with the others.

    python3 -m mrelay report run.json --out /tmp/report
    python3 -m mrelay sizing fanout.json > sizing.md
    python3 -m mrelay reproduce nov2025 --out reports/nov2025 --from reports/nov2025/results.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import bench, report, reproduce, results, sizing


def command_report(args) -> int:
    try:
        index = report.build_report(args.results, Path(args.out), title=args.title)
    except (report.ReportError, results.ResultsError) as error:
        print(f"mrelay: report: {error}", file=sys.stderr)
        return 2
    print(f"report: {index} (+ {index.with_suffix('.html').name} and PNGs in {index.parent})")
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.startswith("Skipped:"):
            print(f"  {line}")
    return 0


def command_sizing(args) -> int:
    try:
        kind, doc = report.load_any(args.results)
    except (report.ReportError, results.ResultsError) as error:
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


def register_commands(sub) -> None:
    """Adds `report`, `sizing` and `reproduce` to the `python3 -m mrelay` subparsers."""
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
        "reproduce", help="`reproduce nov2025`: the November 2025 investigation, re-run",
        description="Runs the relay (uring) before / queue depth only / send buffer only / "
                    "after, with a bursty source behind an emulated NIC, at one operating "
                    "point and over burst sizes; prints the table with the model's prediction "
                    "of each row and writes OUT/index.md, index.html, PNGs and results.json. "
                    "Needs root (network namespaces). Exit 1 when a row's generator missed "
                    "the rate asked.")
    add_reproduce_arguments(again)
    again.set_defaults(handler=command_reproduce)


def _list_of(flag: str, convert, valid, what: str):
    """An argparse type: comma-separated values, each converted and checked, naming `flag`."""
    def parse(text: str) -> list:
        values = []
        for part in text.split(","):
            try:
                value = convert(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{flag}: '{part}' is not {what}")
            if not valid(value):
                raise argparse.ArgumentTypeError(f"{flag}: {part} is not {what}")
            values.append(value)
        return values
    return parse


_burst_list = _list_of("--sweep-bursts", int, lambda v: 1 <= v <= 1024, "a burst in 1..1024")
_line_rates = _list_of("--sweep-line-rates", float, lambda v: v > 0, "a rate > 0 Mbit/s")


def add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    r = reproduce
    nic = r.DEFAULT_NIC
    parser.add_argument("investigation", choices=["nov2025"],
                        help="which investigation: nov2025 (io_uring queue depth and SO_SNDBUF)")
    parser.add_argument("--out", required=True, help="output directory (index.md, PNGs, "
                                                     "results.json), e.g. reports/nov2025")
    parser.add_argument("--from", dest="from_results", metavar="RESULTS",
                        help="re-render from an existing results file instead of running")
    parser.add_argument("--line-rate", type=float, default=nic.line_rate_bps / 1e6,
                        metavar="MBIT", help="emulated NIC line rate per output, Mbit/s "
                                             f"[{nic.line_rate_bps / 1e6:g}]")
    parser.add_argument("--ring-frames", type=int, default=nic.ring_frames,
                        help=f"emulated NIC transmit ring, frames [{nic.ring_frames}]")
    parser.add_argument("--nic-burst-frames", type=int, default=nic.burst_frames,
                        help="frames the emulated NIC sends back to back after idle "
                             f"[{nic.burst_frames}]")
    parser.add_argument("--fanout", type=int, default=r.DEFAULT_FANOUT,
                        help=f"relay outputs [{r.DEFAULT_FANOUT}]")
    parser.add_argument("--size", type=int, default=r.DEFAULT_SIZE,
                        help=f"UDP payload, bytes [{r.DEFAULT_SIZE}]")
    parser.add_argument("--batch", type=int, default=r.DEFAULT_BATCH,
                        help=f"relay batch, packets [{r.DEFAULT_BATCH}]")
    parser.add_argument("--rate", type=float, default=r.DEFAULT_RATE,
                        help=f"average offered rate, packets/s [{r.DEFAULT_RATE:g}]")
    parser.add_argument("--burst", type=int, default=r.DEFAULT_BURST,
                        help="datagrams per burst at the operating point, 1..1024 "
                             f"[{r.DEFAULT_BURST}]")
    parser.add_argument("--sweep-bursts", type=_burst_list,
                        default=list(r.DEFAULT_SWEEP_BURSTS),
                        help="burst sizes of the sweep, comma-separated "
                             f"[{','.join(map(str, r.DEFAULT_SWEEP_BURSTS))}]")
    parser.add_argument("--sweep-line-rates", type=_line_rates,
                        default=list(r.DEFAULT_SWEEP_LINE_RATES), metavar="MBIT,...",
                        help="line rates of the line sweep at --burst, the average rate scaled "
                             "with the line; empty = none "
                             f"[{','.join(f'{m:g}' for m in r.DEFAULT_SWEEP_LINE_RATES)}]")
    parser.add_argument("--repetitions", type=int, default=r.DEFAULT_REPETITIONS,
                        help=f"interleaved runs of the operating point [{r.DEFAULT_REPETITIONS}]")
    parser.add_argument("--window", type=float, default=r.DEFAULT_WINDOW_S,
                        help="operating point window, seconds, rounded up to whole bursts "
                             f"[{r.DEFAULT_WINDOW_S:g}]")
    parser.add_argument("--sweep-window", type=float, default=r.DEFAULT_SWEEP_WINDOW_S,
                        help=f"sweep window, seconds [{r.DEFAULT_SWEEP_WINDOW_S:g}]")
    parser.add_argument("--warmup", type=float, default=r.DEFAULT_WARMUP_S,
                        help=f"warm-up before each window, seconds [{r.DEFAULT_WARMUP_S:g}]")


def _reproduce_usage_error(args: argparse.Namespace) -> str | None:
    """The first bad flag of a run, named, or None."""
    for flag, value, low in (("--fanout", args.fanout, 1), ("--size", args.size, 32),
                             ("--batch", args.batch, 1), ("--burst", args.burst, 1),
                             ("--ring-frames", args.ring_frames, 1),
                             ("--nic-burst-frames", args.nic_burst_frames, 1),
                             ("--repetitions", args.repetitions, 1)):
        if value < low:
            return f"{flag}: must be >= {low}, got {value}"
    if args.burst > 1024:
        return f"--burst: at most 1024 (one sendmmsg), got {args.burst}"
    for flag, value in (("--line-rate", args.line_rate), ("--rate", args.rate),
                        ("--window", args.window), ("--sweep-window", args.sweep_window)):
        if not value > 0:
            return f"{flag}: must be > 0, got {value:g}"
    if args.warmup < 0:
        return f"--warmup: must be >= 0, got {args.warmup:g}"
    line_pps = reproduce.nic_of(args).line_pps(args.size)
    if args.rate >= line_pps:
        return (f"--rate: {args.rate:g} packets/s does not fit the line ({line_pps:,.0f} frames/s "
                f"of {args.size} B at {args.line_rate:g} Mbit/s): the link, not a buffer, "
                "would limit every setting")
    return None


def command_reproduce(args: argparse.Namespace) -> int:
    """The `reproduce` subcommand: 0 ok, 1 a row's generator missed its rate, 2 error."""
    out_dir = Path(args.out)
    if args.from_results:
        doc = results.load(args.from_results)
    else:
        problem = _reproduce_usage_error(args)
        if problem is None and os.geteuid() != 0:
            problem = ("needs root: it creates network namespaces (run it with sudo, or "
                       "re-render a results file with --from)")
        if problem:
            print(f"mrelay: reproduce: {problem}", file=sys.stderr)
            return 2
        try:
            path = bench.find_bench(args.bin_dir)
            doc = reproduce.run(args, path, out_dir)
        except (bench.BenchError, RuntimeError, OSError,
                subprocess.SubprocessError) as error:
            print(f"mrelay: reproduce: {error}", file=sys.stderr)
            return 2
    text, rows = reproduce.write_outputs(doc, out_dir)
    if not rows:
        print("mrelay: reproduce: no bursty relay samples in the results", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    for line in reproduce.verdicts(rows):
        print("\n" + line)
    print(f"\nwritten: {out_dir / 'index.md'} (+ index.html, PNGs)")
    return 1 if any(r.failed for r in rows) else 0
