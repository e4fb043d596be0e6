"""``python3 -m mrelay``: the command line of the mrelay laboratory.

    python3 -m mrelay --help
    python3 -m mrelay cell --rate 50000 --window 2          # = mrelay-bench cell ...
    python3 -m mrelay sweep ../reports/sweeps/quickstart.json --out run.json
    python3 -m mrelay results run1.json run2.json [--out merged.json]
    python3 -m mrelay gate --baseline ../reports/baselines/vm2.json run.json
    python3 -m mrelay gate --profile vm2 --suite smoke          # run the suite now, gate it
    python3 -m mrelay gate --against HEAD~1 --suite smoke       # A/B: build the ref, interleave
    python3 -m mrelay gate --benchmark base.json cand.json      # Google Benchmark JSON files
    python3 -m mrelay baseline record --profile vm2 --suite smoke

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

from . import REPO_ROOT, __version__, ab, baseline, bench, cli_report, cli_results, gate, results

EXIT_OK = 0
EXIT_ERROR = 2

DESCRIPTION = """mrelay laboratory: run measurements, merge results, gate regressions.

subcommands:
  cell      one measurement: runs `mrelay-bench cell ARGS` and prints its JSON record
  sweep     a matrix of cells: runs `mrelay-bench sweep SPEC --out FILE ARGS`
  results   load one or more results files, merge them, print a per-cell summary;
            `results export --format ...` and `results changepoints HISTORY` (see their --help)
  gate      compare a candidate results file with a baseline: pass / regression / inconclusive
  baseline  `baseline record`: run a suite and write reports/baselines/<profile>.json
  report    Markdown + HTML + PNG plots of a results file or a Google Benchmark JSON file
  sizing    the hardware-sizing table of a results file, as Markdown
  reproduce `reproduce nov2025`: re-run the November 2025 investigation

`cell` and `sweep` take exactly the flags of mrelay-bench (see `python3 -m mrelay cell --help`).
Programs are found in --bin-dir, else $MRELAY_BIN_DIR, else $MRELAY_BUILD_DIR/bin, else
(installed package) the installation's bin directory, else <repo>/build/bin."""


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


# Machine part of the default profile name (profiles are `<machine>-<suite>`, e.g. vm2-smoke:
# one baseline file per machine and suite). vm2 = the project's 2-core KVM development VM.
DEFAULT_MACHINE = "vm2"


def _default_profile(suite: str) -> str:
    """`<$MRELAY_MACHINE or vm2>-<suite name>`, the profile when --profile is not given."""
    return f"{os.environ.get('MRELAY_MACHINE') or DEFAULT_MACHINE}-{_suite_name(suite)}"


def _suite_name(suite: Optional[str]) -> Optional[str]:
    """`smoke` or `reports/sweeps/smoke.json` -> `smoke` (the key of gate.SUITE_GATING)."""
    return Path(suite).stem if suite else None


def _load_spec(suite: str, what: str) -> dict:
    """The sweep spec of --suite NAME|FILE; ValueError naming the flag and the file."""
    path = baseline.suite_path(suite)
    if not path.is_file():
        raise ValueError(f"{what}: --suite: no such suite {path}")
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{what}: --suite {path}: {error}") from error
    if not isinstance(spec, dict):
        raise ValueError(f"{what}: --suite {path}: not a JSON object")
    return spec


def _run_sweep(bench_path: Path, spec: dict, name: str, out: Path) -> dict:
    """Runs `mrelay-bench sweep` on `spec` (written to a temporary file) into `out`."""
    with tempfile.TemporaryDirectory(prefix="mrelay-suite-") as work:
        spec_path = Path(work) / f"{name}.json"
        spec_path.write_text(json.dumps(spec, indent=1) + "\n")
        code = bench.run_passthrough(bench_path, ["sweep", str(spec_path), "--out", str(out),
                                                  "--markdown", str(Path(work) / "sweep.md")])
    if code != 0 or not out.is_file():
        raise ValueError(f"mrelay-bench sweep {name} failed (exit {code})")
    return results.load(out)


def _gate_options_error(args: argparse.Namespace) -> Optional[str]:
    if args.alpha <= 0 or args.alpha >= 1:
        return f"gate: --alpha: must be in (0, 1), got {args.alpha}"
    if args.min_samples < 2:
        return f"gate: --min-samples: must be >= 2, got {args.min_samples}"
    if args.rerun_rounds < 0 or args.rerun_reps < 1:
        return "gate: --rerun-rounds must be >= 0 and --rerun-reps >= 1"
    if args.reps is not None and args.reps < 1:
        return f"gate: --reps: must be >= 1, got {args.reps}"
    if args.aa is not None and not 0 <= args.aa <= 100:
        return f"gate: --aa: a percentage in [0, 100], got {args.aa}"
    return None


def _finish(args: argparse.Namespace, report: gate.GateReport, notes: Sequence[str] = ()) -> int:
    report.rerun_notes = list(notes) + report.rerun_notes
    text = gate.format_report(report, show_all=args.show_all)
    sys.stdout.write(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(gate.report_json(report), indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(f"# Gate verdict: {report.outcome}\n\n```\n{text}```\n")
    if getattr(args, "aa", None) is not None:
        decides, summary = report.aa_verdict(args.aa)
        print(summary)
        return EXIT_OK if decides else gate.EXIT_REGRESSION
    return report.exit_code


def _gate_benchmark(args: argparse.Namespace) -> int:
    files = ([args.baseline] if args.baseline else []) + list(args.candidate)
    if len(files) != 2:
        return _error("gate --benchmark: give BASE.json CAND.json (Google Benchmark JSON)")
    docs = []
    for name in files:
        try:
            docs.append(json.loads(Path(name).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            return _error(f"gate --benchmark: {name}: {error}")
    try:
        report = gate.compare_benchmarks(docs[0], docs[1], alpha=args.alpha,
                                         min_samples=args.min_samples)
    except ValueError as error:
        return _error(f"gate --benchmark: {error}")
    return _finish(args, report)


def _gate_ab(args: argparse.Namespace) -> int:
    """--against REF: build the ref's relay in a worktree, interleave, gate cand vs ref."""
    if args.candidate:
        return _error("gate --against: takes no CANDIDATE files (it measures both sides)")
    suite = args.suite or "smoke"
    spec = _load_spec(suite, "gate --against")
    name = _suite_name(suite) or "suite"
    if os.geteuid() != 0:
        return _error("gate --against: needs root (network namespaces)")
    bench_path = _bench_or_error(args)
    if bench_path is None:
        return EXIT_ERROR
    reps = args.reps or max(int(spec.get("repetitions", 3)), gate.DEFAULT_MIN_SAMPLES)
    try:
        with ab.ref_build(args.against, candidate_bin_dir=bench_path.parent,
                          work_parent=REPO_ROOT / "build-ab") as ref_bin:
            ref_doc, cand_doc = ab.interleave(bench_path, spec, ref_bin_dir=ref_bin,
                                              cand_bin_dir=bench_path.parent, reps=reps,
                                              ref_commit=ab.resolve_ref(args.against),
                                              cand_commit="working tree")
    except ab.ABError as error:
        return _error(f"gate --against: {error}")
    if args.out_results:
        out = Path(args.out_results)
        results.save(ref_doc, out.with_name(out.stem + ".ref.json"))
        results.save(cand_doc, out)
    report = gate.run_gate(ref_doc, cand_doc, rerun=None, alpha=args.alpha,
                           min_samples=args.min_samples,
                           forwarders=None if args.all_forwarders else ("mrelay",),
                           gated=gate.suite_filter(name), metrics=gate.suite_metrics(name))
    return _finish(args, report, [f"A/B: candidate (working tree) vs {args.against}, "
                                  f"{reps} interleaved repetitions of suite {name}"])


def command_gate(args: argparse.Namespace) -> int:
    if args.explain:
        sys.stdout.write(gate.explain_thresholds())
        return EXIT_OK
    problem = _gate_options_error(args)
    if problem:
        return _error(problem)
    if args.benchmark:
        return _gate_benchmark(args)
    if args.against:
        return _gate_ab(args)
    if not args.baseline and not args.profile and args.suite:
        args.profile = _default_profile(args.suite)
    if not args.baseline and not args.profile:
        return _error("gate: --baseline FILE, --profile NAME or --suite NAME is required")
    if not args.candidate and not args.suite:
        return _error("gate: give CANDIDATE results file(s), or --suite NAME to run it now")
    try:
        base_doc = baseline.load_for_gate(_baseline_path(args))
    except results.ResultsError as error:
        return _error(f"gate: {error}")
    # What is gated follows the suite the baseline was recorded with (it decided which
    # figures are stable enough); --suite only says what to run when no files are given.
    suite = (base_doc.get("baseline") or {}).get("suite") or _suite_name(args.suite)
    try:
        if args.candidate:
            candidate = _load_all(args.candidate)
        else:
            bench_path = _bench_or_error(args)
            if bench_path is None:
                return EXIT_ERROR
            spec = _load_spec(args.suite, "gate")
            if args.reps:
                spec["repetitions"] = args.reps
            out = Path(args.out_results) if args.out_results else Path(
                tempfile.mkdtemp(prefix="mrelay-gate-")) / "candidate.json"
            candidate = _run_sweep(bench_path, spec, _suite_name(args.suite) or "suite", out)
            print(f"gate: candidate results in {out}")
    except results.ResultsError as error:
        return _error(f"gate: {error}")
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
    if suite:
        notes.append(f"suite {_suite_name(suite)}: "
                     + ("metrics per gate.SUITE_GATING" if gate.suite_filter(_suite_name(suite))
                        else "every metric gated"))
    report = gate.run_gate(base_doc, candidate, rerun=rerun, max_rounds=args.rerun_rounds,
                           alpha=args.alpha, min_samples=args.min_samples,
                           forwarders=None if args.all_forwarders else ("mrelay",),
                           ignore_params=tuple(args.ignore_param),
                           gated=gate.suite_filter(_suite_name(suite)),
                           metrics=gate.suite_metrics(_suite_name(suite)))
    return _finish(args, report, notes)


def command_baseline(args: argparse.Namespace) -> int:
    if args.baseline_command != "record":
        return _error("baseline: expected `baseline record`")
    if not args.profile:
        args.profile = _default_profile(args.suite)
    try:
        spec = _load_spec(args.suite, "baseline record")
    except ValueError as error:
        return _error(str(error))
    name = _suite_name(args.suite) or "suite"
    target = Path(args.baselines_dir) / f"{args.profile}.json"
    if target.exists() and not args.force:
        return _error(f"baseline record: {target} exists (baselines are reviewed; pass "
                      f"--force to replace it)")
    path = _bench_or_error(args)
    if path is None:
        return EXIT_ERROR
    # A baseline thinner than the gate's minimum makes every cell inconclusive.
    repetitions = args.repetitions or max(int(spec.get("repetitions", 3)),
                                          gate.DEFAULT_MIN_SAMPLES)
    if args.repetitions is not None and args.repetitions < gate.DEFAULT_MIN_SAMPLES:
        print(f"mrelay: warning: {args.repetitions} repetitions < the gate's minimum of "
              f"{gate.DEFAULT_MIN_SAMPLES}: every cell will be inconclusive", file=sys.stderr)
    spec["repetitions"] = repetitions
    with tempfile.TemporaryDirectory(prefix="mrelay-baseline-") as work:
        out = Path(work) / "sweep.json"
        try:
            doc = _run_sweep(path, spec, name, out)
        except (ValueError, results.ResultsError) as error:
            return _error(f"baseline record: {error}; no baseline written")
        ok = sum(1 for sample in doc["samples"] if results.is_ok(sample))
        if ok == 0:
            return _error("baseline record: the sweep produced no ok sample; no baseline "
                          "written")
        if args.keep_results:
            results.save(doc, args.keep_results)
        base = baseline.from_results(doc, profile=args.profile, suite=name, spec=spec)
        baseline.save(base, target)
    print(f"baseline: {target} ({ok} ok samples of {len(doc['samples'])}, suite {name}); "
          f"review and commit it")
    return EXIT_OK


def _add_passthrough_parsers(sub) -> None:
    for name, text in (("cell", "one measurement via `mrelay-bench cell`"),
                       ("sweep", "a sweep via `mrelay-bench sweep SPEC --out FILE`")):
        passthrough = sub.add_parser(name, help=text, add_help=False,
                                     description=f"{text}; every argument goes to the bench")
        passthrough.add_argument("bench_args", nargs=argparse.REMAINDER,
                                 help="arguments for mrelay-bench (--help shows its flags)")
        passthrough.set_defaults(handler=command_passthrough)


def _add_results_parser(sub) -> None:
    summary = sub.add_parser(
        "results", help="load, merge and summarise results files",
        description="Load, merge and summarise results files. Also: `results export --format "
                    "bencher|github-action-benchmark|otava-csv|csv FILES` (for "
                    "continuous-benchmarking tools) and `results changepoints HISTORY` "
                    "(lasting shifts in a nightly history); each has --help.")
    summary.add_argument("files", nargs="+", help="results files (mrelay-bench sweep --out)")
    summary.add_argument("--out", help="write the merged document here")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=command_results)


def _add_gate_parser(sub) -> None:
    judge = sub.add_parser(
        "gate", help="regression gate: baseline vs candidate",
        description="Per cell and metric: regression when Mann-Whitney U is significant AND "
                    "the median moved beyond the metric's threshold in its bad direction. "
                    "Exit 0 pass, 1 regression, 3 inconclusive, 2 error.")
    judge.add_argument("candidate", nargs="*",
                       help="candidate results file(s), merged (with --benchmark: BASE.json "
                            "CAND.json)")
    judge.add_argument("--baseline", help="baseline results file")
    judge.add_argument("--profile", default=os.environ.get("MRELAY_PROFILE"),
                       help="profile: baseline is BASELINES_DIR/PROFILE.json "
                            "[$MRELAY_PROFILE; with --suite: <$MRELAY_MACHINE or vm2>-<suite>]")
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
    judge.add_argument("--aa", type=float, default=None, metavar="MAX_PCT",
                       help="A/A mode (the candidate is the baseline's own build): exit 0 when "
                            "nothing regressed and at most MAX_PCT %% of the comparisons are "
                            "inconclusive, else 1 (ci/nightly_aa.sh uses 15)")
    judge.add_argument("--suite", default=None, metavar="NAME",
                       help="suite reports/sweeps/NAME.json (or a spec file): without CANDIDATE "
                            "files it is run now and gated (what is gated follows the "
                            "baseline's suite, see gate.SUITE_GATING)")
    judge.add_argument("--reps", type=int, default=None,
                       help="repetitions per cell when the gate runs a suite or an A/B "
                            "[the suite's, A/B at least the gate's minimum of "
                            f"{gate.DEFAULT_MIN_SAMPLES}]")
    judge.add_argument("--out-results", metavar="FILE", default=None,
                       help="keep the candidate results the gate measured here (A/B also "
                            "writes FILE with .ref.json) [temporary]")
    judge.add_argument("--against", metavar="GIT_REF", default=None,
                       help="A/B mode for machines without a baseline: build GIT_REF's relay in "
                            "a git worktree under build-ab/ (removed afterwards) and run each "
                            "cell of --suite [smoke] alternately with its relay and the "
                            "candidate's, then gate candidate vs ref")
    judge.add_argument("--benchmark", action="store_true",
                       help="gate two Google Benchmark JSON files (mrelay-microbench "
                            "--benchmark_format=json --benchmark_repetitions=N): samples are "
                            "the repetitions' items_per_second, else real_time")
    judge.add_argument("--markdown", metavar="FILE", help="also write the verdict as Markdown")
    judge.add_argument("--explain", action="store_true",
                       help="print each metric's direction, threshold and its reason")
    judge.set_defaults(handler=command_gate)


def _add_baseline_parser(sub) -> None:
    base = sub.add_parser("baseline", help="`baseline record`: record a machine profile")
    base.add_argument("baseline_command", choices=["record"], help="record")
    base.add_argument("--profile", default=os.environ.get("MRELAY_PROFILE"),
                      help="profile name: the baseline is BASELINES_DIR/PROFILE.json "
                           "[$MRELAY_PROFILE, else <$MRELAY_MACHINE or vm2>-<suite>, "
                           "e.g. vm2-smoke]")
    base.add_argument("--suite", default="smoke",
                      help="suite NAME (reports/sweeps/NAME.json) or a sweep spec file [smoke]")
    base.add_argument("--keep-results", metavar="FILE", default=None,
                      help="also keep the sweep's full results file here")
    base.add_argument("--baselines-dir", default=str(REPO_ROOT / "reports" / "baselines"),
                      help="output directory [reports/baselines]")
    base.add_argument("--repetitions", type=int, default=None,
                      help=f"repetitions per cell [the suite's, at least the gate's minimum "
                           f"of {gate.DEFAULT_MIN_SAMPLES}]")
    base.add_argument("--force", action="store_true", help="replace an existing baseline")
    base.set_defaults(handler=command_baseline)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m mrelay", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--bin-dir", default=None,
                        help="directory of mrelay-bench and friends [$MRELAY_BIN_DIR or "
                             "$MRELAY_BUILD_DIR/bin]")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    _add_passthrough_parsers(sub)
    _add_results_parser(sub)
    _add_gate_parser(sub)
    _add_baseline_parser(sub)
    cli_report.register_commands(sub)  # report, sizing, reproduce
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


#: `results VERB ...`: verbs with their own parser (cli_results.py), ahead of `results FILES`.
RESULTS_VERBS = {"export": cli_results.export_main, "changepoints": cli_results.changepoints_main}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "results" and argv[1] in RESULTS_VERBS:
        return RESULTS_VERBS[argv[1]](argv[2:])
    parser = build_parser()
    ours, theirs = _split_passthrough(argv)
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
