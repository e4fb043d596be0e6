"""A/B mode of the gate: candidate vs a git ref, interleaved on the same machine.

For machines without a baseline. The ref is checked out in a temporary git worktree
(``git worktree add --detach``), its relay (`mrelay`) is built there with CMake + Ninja, and
every cell of the sweep spec is measured alternately with the ref's relay and the
candidate's, repetition by repetition (the order flips every repetition so a drifting machine
load hits both sides alike). Generator, sink and bench are the candidate's for both sides:
the instrument stays fixed and only the relay under test changes. The worktree is removed on
every path (normal end, error, Ctrl-C).

    with ab.ref_build("HEAD~1") as ref_bin:
        ref_doc, cand_doc = ab.interleave(bench, spec, ref_bin_dir=ref_bin,
                                          cand_bin_dir=bench.parent, reps=5)
    report = gate.run_gate(ref_doc, cand_doc)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from . import REPO_ROOT, bench, native, results

# Seconds allowed for configuring + building the ref's relay. A cold Release build of the
# relay alone takes ~2-4 min on this 2-core VM while other jobs run; 30 min bounds a stuck
# compiler without killing a slow but healthy build.
BUILD_TIMEOUT_S = 1800.0
# Parallel compile jobs for the ref build: the machine has 2 cores shared by everyone.
BUILD_JOBS = 2
#: Programs taken from the candidate for both sides (the instrument).
INSTRUMENT_PROGRAMS = ("mrelay-bench", "mrelay-gen", "mrelay-sink", "mrelay-kfwd",
                       "mrelay-perfstat")

class ABError(RuntimeError):
    """The ref could not be checked out or built; the message says which step."""


def _log(text: str) -> None:
    print(f"[gate A/B] {text}", file=sys.stderr, flush=True)


def _run(command: list[str], what: str, *, cwd: Optional[Path] = None,
         timeout: float = BUILD_TIMEOUT_S, log: Optional[Path] = None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise ABError(f"{what}: timed out after {timeout:.0f} s") from error
    except OSError as error:
        raise ABError(f"{what}: {error}") from error
    if log is not None:
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ABError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def resolve_ref(ref: str, repo: Path = REPO_ROOT) -> str:
    """The commit id of `ref`; ABError naming the ref when git does not know it."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                           f"{ref}^{{commit}}"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise ABError(f"unknown git ref '{ref}'")
    return done.stdout.strip()


@contextlib.contextmanager
def ref_build(ref: str, *, repo: Path = REPO_ROOT, candidate_bin_dir: Path,
              work_parent: Optional[Path] = None) -> Iterator[Path]:
    """Checks `ref` out in a temporary worktree, builds its relay, and yields a bin dir with
    the ref's `mrelay` plus the candidate's instrument programs. Removes everything after."""
    commit = resolve_ref(ref, repo)
    parent = work_parent or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mrelay-ab-", dir=parent))
    tree = work / "src"
    build = work / "build"
    bin_dir = work / "bin"
    added = False
    try:
        _log(f"worktree {tree} at {ref} ({commit[:12]})")
        _run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), commit],
             "git worktree add", timeout=300)
        added = True
        _log("configuring the ref (cmake)")
        _run(["cmake", "-S", str(tree), "-B", str(build), "-G", "Ninja",
              "-DCMAKE_BUILD_TYPE=Release", "-DPython3_EXECUTABLE=/usr/bin/python3"],
             "cmake configure of the ref", log=work / "configure.log")
        _log("building the ref's relay (cmake --build --target mrelay)")
        _run(["cmake", "--build", str(build), "-j", str(BUILD_JOBS), "--target", "mrelay"],
             "cmake build of the ref", log=work / "build.log")
        relay = build / "bin" / "mrelay"
        if not relay.is_file():
            raise ABError(f"the ref's build produced no {relay}")
        bin_dir.mkdir()
        os.symlink(relay, bin_dir / "mrelay")
        for program in INSTRUMENT_PROGRAMS:
            source = candidate_bin_dir / program
            if source.exists():
                os.symlink(source.resolve(), bin_dir / program)
        yield bin_dir
    finally:
        if added:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                           capture_output=True, check=False)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True,
                       check=False)
        shutil.rmtree(work, ignore_errors=True)
        _log(f"removed {work}")


def expand_spec(spec: dict) -> list[dict]:
    """The cells of a sweep spec as bench params, in the bench's order (rig/spec.cc's
    expand_cells, through the native module); ValueError naming the key for a bad spec."""
    return native().expand_sweep_spec(spec)


def measure_with_bin_dir(bench_path: Path, params: dict, bin_dir: Path,
                         ndr_options: dict) -> dict:
    """One `mrelay-bench cell|ndr ... --bin-dir DIR` record (status "error" on failure)."""
    return bench.measure(bench_path, params, ndr_options, bin_dir=bin_dir)


def _document(samples: list[dict], spec: dict, commit: str) -> dict:
    return {"format": results.FORMAT,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": commit, "machine": {}, "placement": {}, "spec": spec,
            "samples": samples}


def interleave(bench_path: Path, spec: dict, *, ref_bin_dir: Path, cand_bin_dir: Path,
               reps: int, ref_commit: str = "ref", cand_commit: str = "candidate",
               measure=measure_with_bin_dir) -> tuple[dict, dict]:
    """Measures every cell `reps` times per side, alternating sides cell by cell (order
    flipped every repetition). Each repetition measures the `direct` reference of every
    (size, batch, fanout, rate) once, shared by both sides, so ratio_to_direct is comparable.
    Returns (ref document, candidate document)."""
    cells = expand_spec(spec)
    ndr_options = spec.get("ndr") or {}
    sides = {"ref": (ref_bin_dir, []), "candidate": (cand_bin_dir, [])}
    for rep in range(1, reps + 1):
        references: dict[str, dict] = {}
        order = ("ref", "candidate") if rep % 2 == 1 else ("candidate", "ref")
        for params in cells:
            key = bench.reference_key(params)
            if params["forwarder"] == "direct" or key in references:
                continue
            _log(f"rep {rep}/{reps}: direct reference {key}")
            references[key] = measure(bench_path, bench.direct_params(params), cand_bin_dir,
                                      ndr_options)
        measured = []
        for params in cells:
            if params["forwarder"] == "direct":
                continue  # the yardstick, measured above
            for side in order:
                bin_dir, samples = sides[side]
                record = measure(bench_path, params, bin_dir, ndr_options)
                record.setdefault("params", params)
                record["rep"] = rep
                record["ab_side"] = side
                _log(f"rep {rep}/{reps} {side}: {record.get('label', params)} "
                     f"{record.get('status')}")
                samples.append(record)
                measured.append(record)
        for record, ratio in zip(measured, bench.ratios_to_direct(list(references.values()),
                                                                   measured)):
            record["ratio_to_direct"] = ratio
    return (_document(sides["ref"][1], spec, ref_commit),
            _document(sides["candidate"][1], spec, cand_commit))
