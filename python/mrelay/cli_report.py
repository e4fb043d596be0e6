"""The report commands of ``python3 -m mrelay``: ``report``, ``sizing`` and ``reproduce``.

Each command reads its arguments, calls the module that does the work (mrelay/report.py,
sizing.py, reproduce.py) and prints; cli.build_parser registers them with the others.

    python3 -m mrelay report run.json --out /tmp/report
    python3 -m mrelay sizing fanout.json > sizing.md
    python3 -m mrelay reproduce nov2025 --out reports/nov2025 --from reports/nov2025/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
        "reproduce", help="`reproduce nov2025`: the November 2025 regression, re-run",
        description="Runs the relay (uring) before / each fix alone / both fixes at offered "
                    "loads up to saturation behind a tbf egress, prints the table, writes "
                    "OUT/index.md, index.html, PNGs and results.json. Needs root.")
    add_reproduce_arguments(again)
    again.set_defaults(handler=command_reproduce)


def parse_rates(text: str) -> list[float]:
    rates = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--rates: '{part}' is not a number of pps")
        if value < 0:
            raise argparse.ArgumentTypeError(f"--rates: {part} is negative")
        rates.append(value)
    return rates


def add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("investigation", choices=["nov2025"],
                        help="which investigation: nov2025 (io_uring queue depth and SO_SNDBUF)")
    parser.add_argument("--out", required=True, help="output directory (index.md, PNGs, "
                                                     "results.json), e.g. reports/nov2025")
    parser.add_argument("--from", dest="from_results", metavar="RESULTS",
                        help="re-render from an existing results file instead of running")
    parser.add_argument("--qdisc", default=reproduce.DEFAULT_QDISC,
                        help=f"egress qdisc on every relay output [{reproduce.DEFAULT_QDISC}]")
    parser.add_argument("--fanout", type=int, default=reproduce.DEFAULT_FANOUT,
                        help=f"relay outputs [{reproduce.DEFAULT_FANOUT}]")
    parser.add_argument("--size", type=int, default=reproduce.DEFAULT_SIZE,
                        help=f"UDP payload, bytes [{reproduce.DEFAULT_SIZE}]")
    parser.add_argument("--batch", type=int, default=reproduce.DEFAULT_BATCH,
                        help=f"relay batch, packets [{reproduce.DEFAULT_BATCH}]")
    parser.add_argument("--gen-batch", type=int, default=None,
                        help="generator sendmmsg batch, datagrams [= --batch]")
    parser.add_argument("--rates", type=parse_rates, default=list(reproduce.DEFAULT_RATES),
                        help="offered loads, pps, comma-separated; 0 = saturation "
                             f"[{','.join(f'{r:g}' for r in reproduce.DEFAULT_RATES)}]")
    parser.add_argument("--repetitions", type=int, default=reproduce.DEFAULT_REPETITIONS,
                        help="interleaved repetitions per cell "
                             f"[{reproduce.DEFAULT_REPETITIONS}]")
    parser.add_argument("--window", type=float, default=reproduce.DEFAULT_WINDOW_S,
                        help=f"measuring window, seconds [{reproduce.DEFAULT_WINDOW_S:g}]")
    parser.add_argument("--warmup", type=float, default=reproduce.DEFAULT_WARMUP_S,
                        help=f"warm-up before each window, seconds [{reproduce.DEFAULT_WARMUP_S:g}]")


def command_reproduce(args: argparse.Namespace) -> int:
    """The `reproduce` subcommand: 0 ok, 2 error (message on stderr)."""
    out_dir = Path(args.out)
    if args.from_results:
        doc = results.load(args.from_results)
        spec = doc.get("spec") or {}
    else:
        for flag, value, low in (("--fanout", args.fanout, 1), ("--size", args.size, 32),
                                 ("--batch", args.batch, 1),
                                 ("--gen-batch", args.gen_batch or 1, 1),
                                 ("--repetitions", args.repetitions, 1)):
            if value < low:
                print(f"mrelay: reproduce: {flag}: must be >= {low}, got {value}",
                      file=sys.stderr)
                return 2
        if args.window <= 0 or args.warmup < 0:
            print("mrelay: reproduce: --window must be > 0 and --warmup >= 0", file=sys.stderr)
            return 2
        try:
            path = bench.find_bench(args.bin_dir)
        except bench.BenchError as error:
            print(f"mrelay: reproduce: {error}", file=sys.stderr)
            return 2
        spec = reproduce.build_spec(args)
        out_dir.mkdir(parents=True, exist_ok=True)
        raw = out_dir / "results.json"
        with tempfile.TemporaryDirectory(prefix="mrelay-nov2025-") as work:
            spec_path = Path(work) / "november2025.json"
            spec_path.write_text(json.dumps(spec, indent=1) + "\n")
            code = bench.run_passthrough(path, ["sweep", str(spec_path), "--out", str(raw)])
        if code != 0 or not raw.is_file():
            print(f"mrelay: reproduce: mrelay-bench sweep failed (exit {code})",
                  file=sys.stderr)
            return 2
        doc = results.load(raw)
    text, rows = reproduce.write_outputs(doc, out_dir, spec)
    if not rows:
        print("mrelay: reproduce: no ok relay samples in the results", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    for line in reproduce.verdicts(rows):
        print("\n" + line)
    print(f"\nwritten: {out_dir / 'index.md'} (+ index.html, PNGs)")
    return 0
