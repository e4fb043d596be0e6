"""``results export`` and ``results changepoints``: results for continuous-benchmarking tools,
and lasting shifts in a nightly history (:mod:`mrelay.export`, :mod:`mrelay.changepoint`).

    python3 -m mrelay results export --format bencher RESULTS.json...
    python3 -m mrelay results export --format github-action-benchmark --direction bigger R.json
    python3 -m mrelay results export --format otava-csv RESULTS.json... > history.csv
    python3 -m mrelay results export --format otava-csv --append history.csv RESULTS.json
    python3 -m mrelay results changepoints history.csv [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import changepoint, export, results

EXIT_OK = 0
EXIT_ERROR = 2
#: ``results changepoints``: 0 nothing lasting changed, 1 a shift for the worse, 0 when
#: every shift is for the better (reported, not a failure).
EXIT_REGRESSION = 1


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m mrelay results export",
        description="Writes the medians of results files (min and max as their spread) in a "
                    "format continuous-benchmarking tools read.")
    parser.add_argument("--format", required=True, choices=export.FORMATS,
                        help="bencher: Bencher Metric Format JSON; github-action-benchmark: "
                             "the custom tools' JSON array (one direction per file, see "
                             "--direction); otava-csv: Apache Otava's CSV (time, commit, one "
                             "column per cell and metric, one row per file); csv: one row per "
                             "cell and metric")
    parser.add_argument("--direction", choices=export.DIRECTIONS,
                        help="github-action-benchmark: the metrics of customBiggerIsBetter "
                             "(bigger) or customSmallerIsBetter (smaller)")
    parser.add_argument("--append", metavar="HISTORY",
                        help="otava-csv: add each file's night to this history CSV (created "
                             "when absent) instead of printing")
    parser.add_argument("--out", help="write here instead of stdout")
    parser.add_argument("files", nargs="+", help="results files (mrelay-bench sweep --out)")
    return parser


def _emit(text: str, out: Optional[str]) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def export_main(argv: Sequence[str]) -> int:
    args = _export_parser().parse_args(argv)
    if args.format == "github-action-benchmark" and not args.direction:
        print("results export: --direction bigger|smaller is required with --format "
              "github-action-benchmark (its tools take one direction per file)", file=sys.stderr)
        return EXIT_ERROR
    if args.append and args.format != "otava-csv":
        print("results export: --append needs --format otava-csv", file=sys.stderr)
        return EXIT_ERROR
    try:
        docs = [results.load(path) for path in args.files]
    except results.ResultsError as error:
        print(f"results export: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "bencher":
        merged = {}
        for doc in docs:
            merged.update(export.bencher(doc))
        _emit(json.dumps(merged, indent=1) + "\n", args.out)
    elif args.format == "github-action-benchmark":
        entries = [e for doc in docs for e in export.github_action_benchmark(doc, args.direction)]
        _emit(json.dumps(entries, indent=1) + "\n", args.out)
    elif args.append:
        for path, doc in zip(args.files, docs):
            row = export.append_history(Path(args.append), doc)
            print(f"{args.append}: night {row[export.TIME_COLUMN]} commit "
                  f"{row[export.COMMIT_COLUMN][:12] or 'unknown'} ({len(row) - 2} values) "
                  f"from {path}")
    elif args.format == "otava-csv":
        _emit(export.otava_csv(docs), args.out)
    else:
        _emit(export.long_csv(docs), args.out)
    return EXIT_OK


def _changepoints_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m mrelay results changepoints",
        description="Lasting shifts in a nightly history (the Otava CSV of `results export "
                    "--append`): E-divisive means per column with a permutation test, and "
                    "the commit range where each began. Exit 0 none for the worse, 1 a shift "
                    "for the worse, 2 error.")
    parser.add_argument("history", help="history CSV (time, commit, one column per metric)")
    parser.add_argument("--alpha", type=float, default=changepoint.DEFAULT_ALPHA,
                        help="permutation test significance [%(default)s]")
    parser.add_argument("--min-change", type=float, default=changepoint.DEFAULT_MIN_CHANGE,
                        help="smallest relative change of the median reported [%(default)s]")
    parser.add_argument("--min-nights", type=int, default=changepoint.DEFAULT_MIN_SIZE,
                        help="nights on each side of a shift [%(default)s]")
    parser.add_argument("--json", action="store_true", help="print the shifts as JSON")
    return parser


def history_shifts(history: Path, **options) -> list[dict]:
    """Every lasting shift of every column of a history CSV, with its commit range."""
    _columns, rows = export.read_history(history)
    shifts = []
    for column in _columns[2:]:
        series = [float(row[column]) if row.get(column) else None for row in rows]
        metric = export.metric_of_column(column)
        for point in changepoint.detect(series, **options):
            worse = point.after < point.before if metric is None or metric.direction > 0 \
                else point.after > point.before
            last_before = next((rows[i] for i in range(point.index - 1, -1, -1)
                                if series[i] is not None), rows[point.index - 1])
            shifts.append({
                "column": column, "night": rows[point.index][export.TIME_COLUMN],
                "index": point.index,
                "commits": [last_before[export.COMMIT_COLUMN],
                            rows[point.index][export.COMMIT_COLUMN]],
                "before": point.before, "after": point.after,
                "change_pct": round(100 * point.change, 2), "p_value": point.p_value,
                "worse": worse})
    return shifts


def changepoints_main(argv: Sequence[str]) -> int:
    args = _changepoints_parser().parse_args(argv)
    try:
        shifts = history_shifts(Path(args.history), alpha=args.alpha,
                                min_change=args.min_change, min_size=args.min_nights)
    except (OSError, ValueError) as error:
        print(f"results changepoints: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(shifts, indent=1))
    elif not shifts:
        print(f"{args.history}: no lasting shift")
    for shift in [] if args.json else shifts:
        old, new = shift["commits"]
        print(f"{'WORSE' if shift['worse'] else 'better'}: {shift['column']}: "
              f"{shift['before']:.6g} -> {shift['after']:.6g} ({shift['change_pct']:+.1f} %) "
              f"from night {shift['night']}; began after {old[:12] or '?'}, by "
              f"{new[:12] or '?'} (git log {old[:12]}..{new[:12]}; p = {shift['p_value']:.3f})")
    return EXIT_REGRESSION if any(shift["worse"] for shift in shifts) else EXIT_OK
