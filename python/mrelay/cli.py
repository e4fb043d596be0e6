"""``python3 -m mrelay``: the command line of the mrelay laboratory.

    python3 -m mrelay --help
    python3 -m mrelay cell --rate 50000 --window 2          # = mrelay-bench cell ...
    python3 -m mrelay sweep ../reports/sweeps/quickstart.json --out run.json
    python3 -m mrelay results run1.json run2.json [--out merged.json]
    python3 -m mrelay gate --baseline ../reports/baselines/vm2.json run.json
    python3 -m mrelay baseline record --profile vm2 --suite ../reports/sweeps/quickstart.json

Exit codes: `gate` 0 pass, 1 regression, 3 inconclusive, 2 error; `cell`/`sweep` return the
bench's code; others 0 ok, 2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from . import REPO_ROOT, bench, gate, results

EXIT_OK = 0
EXIT_ERROR = 2

DESCRIPTION = """mrelay laboratory: run measurements, merge results, gate regressions.

subcommands:
  cell      one measurement: runs `mrelay-bench cell ARGS` and prints its JSON record
  sweep     a matrix of cells: runs `mrelay-bench sweep SPEC --out FILE ARGS`
  results   load one or more results files, merge them, print a per-cell summary
  gate      compare a candidate results file with a baseline: pass / regression / inconclusive
  baseline  `baseline record`: run a suite and write reports/baselines/<profile>.json

`cell` and `sweep` take exactly the flags of mrelay-bench (see `python3 -m mrelay cell --help`).
Programs are found in --bin-dir, else $MRELAY_BIN_DIR, else $MRELAY_BUILD_DIR/bin
(MRELAY_BUILD_DIR defaults to <repo>/build)."""


def _error(message: str) -> int:
    print(f"mrelay: {message}", file=sys.stderr)
    return EXIT_ERROR


def _bench_or_error(args: argparse.Namespace) -> Optional[Path]:
    try:
        return bench.find_bench(args.bin_dir)
    except bench.BenchError as error:
        _error(str(error))
        return None


def command_passthrough(args: argparse.Namespace) -> int:
    path = _bench_or_error(args)
    if path is None:
        return EXIT_ERROR
    return bench.run_passthrough(path, [args.command, *args.bench_args])


def _load_all(paths: Sequence[str]) -> dict:
    docs = [results.load(path) for path in paths]
    return docs[0] if len(docs) == 1 else results.merge(docs, sources=list(paths))


def command_results(args: argparse.Namespace) -> int:
    try:
        merged = _load_all(args.files)
    except results.ResultsError as error:
        return _error(str(error))
    if args.out:
        results.save(merged, args.out)
    if args.json:
        summary = [{"cell_id": row.cell_id, "label": row.label, "forwarder": row.forwarder,
                    "samples": row.samples, "ok": row.ok, "statuses": row.statuses,
                    "medians": row.medians} for row in results.summarize(merged)]
        print(json.dumps(summary, indent=1))
    else:
        sys.stdout.write(results.format_summary(merged))
        if args.out:
            print(f"merged: {args.out}")
    return EXIT_OK


def _baseline_path(args: argparse.Namespace) -> Path:
    if args.baseline:
        return Path(args.baseline)
    return Path(args.baselines_dir) / f"{args.profile}.json"


def command_gate(args: argparse.Namespace) -> int:
    if args.explain:
        sys.stdout.write(gate.explain_thresholds())
        return EXIT_OK
    if not args.candidate:
        return _error("gate: give at least one CANDIDATE results file")
    if not args.baseline and not args.profile:
        return _error("gate: --baseline FILE or --profile NAME is required")
    try:
        baseline = results.load(_baseline_path(args))
        candidate = _load_all(args.candidate)
    except results.ResultsError as error:
        return _error(f"gate: {error}")
    if args.alpha <= 0 or args.alpha >= 1:
        return _error(f"gate: --alpha: must be in (0, 1), got {args.alpha}")
    if args.min_samples < 2:
        return _error(f"gate: --min-samples: must be >= 2, got {args.min_samples}")
    if args.rerun_rounds < 0 or args.rerun_reps < 1:
        return _error("gate: --rerun-rounds must be >= 0 and --rerun-reps >= 1")
    rerun = None
    notes = []
    if args.rerun_rounds > 0:
        try:
            rerun = bench.BenchRerunner(bench.find_bench(args.bin_dir), reps=args.rerun_reps,
                                        ndr_options=(candidate.get("spec") or {}).get("ndr"))
            if os.geteuid() != 0:
                rerun = None
                notes.append("re-runs disabled: not root (network namespaces need root)")
        except bench.BenchError as error:
            notes.append(f"re-runs disabled: {error}")
    report = gate.run_gate(baseline, candidate, rerun=rerun, max_rounds=args.rerun_rounds,
                           alpha=args.alpha, min_samples=args.min_samples,
                           forwarders=None if args.all_forwarders else ("mrelay",),
                           ignore_params=tuple(args.ignore_param))
    report.rerun_notes = notes + report.rerun_notes
    sys.stdout.write(gate.format_report(report, show_all=args.show_all))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(gate.report_json(report), indent=1) + "\n")
    return report.exit_code


def command_baseline(args: argparse.Namespace) -> int:
    if args.baseline_command != "record":
        return _error("baseline: expected `baseline record`")
    suite = Path(args.suite)
    if not suite.is_file():
        return _error(f"baseline record: --suite: no such file {suite}")
    target = Path(args.baselines_dir) / f"{args.profile}.json"
    if target.exists() and not args.force:
        return _error(f"baseline record: {target} exists (baselines are reviewed; pass "
                      f"--force to replace it)")
    path = _bench_or_error(args)
    if path is None:
        return EXIT_ERROR
    try:
        spec = json.loads(suite.read_text())
    except (OSError, json.JSONDecodeError) as error:
        return _error(f"baseline record: --suite {suite}: {error}")
    if not isinstance(spec, dict):
        return _error(f"baseline record: --suite {suite}: not a JSON object")
    # A baseline thinner than the gate's minimum makes every cell inconclusive.
    repetitions = args.repetitions or max(int(spec.get("repetitions", 3)),
                                          gate.DEFAULT_MIN_SAMPLES)
    if args.repetitions is not None and args.repetitions < gate.DEFAULT_MIN_SAMPLES:
        print(f"mrelay: warning: {args.repetitions} repetitions < the gate's minimum of "
              f"{gate.DEFAULT_MIN_SAMPLES}: every cell will be inconclusive", file=sys.stderr)
    spec["repetitions"] = repetitions
    with tempfile.TemporaryDirectory(prefix="mrelay-baseline-") as work:
        out = Path(work) / "sweep.json"
        spec_path = Path(work) / suite.name
        spec_path.write_text(json.dumps(spec, indent=1) + "\n")
        code = bench.run_passthrough(path, ["sweep", str(spec_path), "--out", str(out),
                                            "--markdown", str(Path(work) / "sweep.md")])
        if code != 0 or not out.is_file():
            return _error(f"baseline record: mrelay-bench sweep failed (exit {code}); "
                          f"no baseline written")
        try:
            doc = results.load(out)
        except results.ResultsError as error:
            return _error(f"baseline record: {error}")
        ok = sum(1 for sample in doc["samples"] if results.is_ok(sample))
        if ok == 0:
            return _error("baseline record: the sweep produced no ok sample; no baseline "
                          "written")
        doc["baseline"] = {"profile": args.profile, "suite": str(suite),
                           "repetitions": repetitions, "recorded": doc.get("created")}
        results.save(doc, target)
    print(f"baseline: {target} ({ok} ok samples of {len(doc['samples'])}); review and commit it")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m mrelay", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default=None,
                        help="directory of mrelay-bench and friends [$MRELAY_BIN_DIR or "
                             "$MRELAY_BUILD_DIR/bin]")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    for name, text in (("cell", "one measurement via `mrelay-bench cell`"),
                       ("sweep", "a sweep via `mrelay-bench sweep SPEC --out FILE`")):
        passthrough = sub.add_parser(name, help=text, add_help=False,
                                     description=f"{text}; every argument goes to the bench")
        passthrough.add_argument("bench_args", nargs=argparse.REMAINDER,
                                 help="arguments for mrelay-bench (--help shows its flags)")
        passthrough.set_defaults(handler=command_passthrough)

    summary = sub.add_parser("results", help="load, merge and summarise results files")
    summary.add_argument("files", nargs="+", help="results files (mrelay-bench sweep --out)")
    summary.add_argument("--out", help="write the merged document here")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=command_results)

    judge = sub.add_parser(
        "gate", help="regression gate: baseline vs candidate",
        description="Per cell and metric: regression when Mann-Whitney U is significant AND "
                    "the median moved beyond the metric's threshold in its bad direction. "
                    "Exit 0 pass, 1 regression, 3 inconclusive, 2 error.")
    judge.add_argument("candidate", nargs="*", help="candidate results file(s), merged")
    judge.add_argument("--baseline", help="baseline results file")
    judge.add_argument("--profile", default=os.environ.get("MRELAY_PROFILE"),
                       help="machine profile: baseline is BASELINES_DIR/PROFILE.json "
                            "[$MRELAY_PROFILE]")
    judge.add_argument("--baselines-dir", default=str(REPO_ROOT / "reports" / "baselines"),
                       help="where profiles live [reports/baselines]")
    judge.add_argument("--alpha", type=float, default=gate.DEFAULT_ALPHA,
                       help=f"significance level of the two-sided Mann-Whitney U test "
                            f"[{gate.DEFAULT_ALPHA}]")
    judge.add_argument("--min-samples", type=int, default=gate.DEFAULT_MIN_SAMPLES,
                       help=f"samples per side before a verdict [{gate.DEFAULT_MIN_SAMPLES}]")
    judge.add_argument("--rerun-rounds", type=int, default=gate.DEFAULT_RERUN_ROUNDS,
                       help=f"re-run rounds for inconclusive cells, 0 = none "
                            f"[{gate.DEFAULT_RERUN_ROUNDS}]")
    judge.add_argument("--rerun-reps", type=int, default=gate.DEFAULT_RERUN_REPS,
                       help=f"samples added per cell per round [{gate.DEFAULT_RERUN_REPS}]")
    judge.add_argument("--all-forwarders", action="store_true",
                       help="gate the reference cells too (default: mrelay cells only)")
    judge.add_argument("--ignore-param", action="append", default=[], metavar="KEY",
                       help="match cells ignoring this param (repeatable), e.g. queue_depth "
                            "to judge a q128 candidate against the q1024 baseline (self-test)")
    judge.add_argument("--show-all", action="store_true",
                       help="list unchanged and skipped rows too")
    judge.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    judge.add_argument("--explain", action="store_true",
                       help="print each metric's direction, threshold and its reason")
    judge.set_defaults(handler=command_gate)

    base = sub.add_parser("baseline", help="`baseline record`: record a machine profile")
    base.add_argument("baseline_command", choices=["record"], help="record")
    base.add_argument("--profile", required=True, help="machine profile name, e.g. vm2")
    base.add_argument("--suite", default=str(REPO_ROOT / "reports" / "sweeps" / "quickstart.json"),
                      help="sweep spec to run [reports/sweeps/quickstart.json]")
    base.add_argument("--baselines-dir", default=str(REPO_ROOT / "reports" / "baselines"),
                      help="output directory [reports/baselines]")
    base.add_argument("--repetitions", type=int, default=None,
                      help=f"repetitions per cell [the suite's, at least the gate's minimum "
                           f"of {gate.DEFAULT_MIN_SAMPLES}]")
    base.add_argument("--force", action="store_true", help="replace an existing baseline")
    base.set_defaults(handler=command_baseline)
    return parser


PASSTHROUGH_COMMANDS = ("cell", "sweep")


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Splits `[--bin-dir D] cell ARGS...` into (our part, the bench's ARGS): argparse's
    REMAINDER would swallow neither a leading `--help` nor other flags reliably."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token in PASSTHROUGH_COMMANDS:
            return argv[: index + 1], argv[index + 1:]
        if token == "--bin-dir":
            index += 2
        elif token.startswith("--bin-dir="):
            index += 1
        else:
            break
    return argv, []


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    ours, theirs = _split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(ours)
    if args.command in PASSTHROUGH_COMMANDS:
        args.bench_args = theirs
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as error:
        return _error(str(error))


if __name__ == "__main__":
    sys.exit(main())
