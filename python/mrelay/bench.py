"""Running ``mrelay-bench`` from Python: locate it, pass commands through, re-run cells.

The bench (harness/src/rig/rig_main.cc) owns measuring; this module only builds its command
lines. ``BenchRerunner`` is the gate's re-run hook: it measures given cells again with
``mrelay-bench cell`` (or ``ndr``), together with the matching ``direct`` reference of the
same round so the fresh samples carry ``ratio_to_direct`` like a sweep's do -- computed by
the bench's own code (harness/src/results/aggregate.cc, through the native module).

    bench = find_bench()                       # $MRELAY_BIN_DIR or $MRELAY_BUILD_DIR/bin
    code = run_passthrough(bench, ["cell", "--rate", "50000", "--window", "2"])
    record = measure(bench, params, ndr_options={})
    rerun = BenchRerunner(bench, reps=3)
    fresh_samples = rerun([sample_of_the_cell])
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from . import native, programs_dir

# Seconds a single cell may take beyond its own warm-up + window: namespace set-up and
# teardown take ~2-5 s on this rig; 60 s leaves room for a loaded machine before the
# re-run is abandoned (the bench kills its children itself on SIGTERM).
CELL_SLACK_S = 60.0
# An NDR search runs up to ~20 trials plus confirmation; 15 min bounds the worst case.
NDR_TIMEOUT_S = 900.0


class BenchError(RuntimeError):
    """mrelay-bench missing or failing; the message says what and where."""


def bin_dir(explicit: Optional[str] = None) -> Path:
    """Where the programs are: explicit, $MRELAY_BIN_DIR, else $MRELAY_BUILD_DIR/bin, else
    (an installed package) the install's bin directory, else <repo>/build/bin."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("MRELAY_BIN_DIR")
    return Path(from_env) if from_env else programs_dir()


def find_bench(explicit_bin_dir: Optional[str] = None) -> Path:
    """The mrelay-bench executable; BenchError naming the directory when it is absent."""
    path = bin_dir(explicit_bin_dir) / "mrelay-bench"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BenchError(f"mrelay-bench not found at {path} (build it, or set MRELAY_BIN_DIR "
                         f"/ MRELAY_BUILD_DIR / --bin-dir)")
    return path


def run_passthrough(bench: Path, args: Sequence[str]) -> int:
    """Runs the bench with stdin/stdout/stderr inherited; returns its exit code."""
    try:
        return subprocess.call([str(bench), *args])
    except KeyboardInterrupt:
        return 130


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_args(params: dict) -> list[str]:
    """The `mrelay-bench cell` flags that reproduce a record's params (rig/spec.cc
    to_json)."""
    args = ["--forwarder", str(params.get("forwarder", "mrelay"))]
    if params.get("forwarder", "mrelay") == "mrelay":
        for key, flag in (("ingress", "--ingress"), ("egress", "--egress"),
                          ("queue_depth", "--queue-depth"), ("sndbuf", "--sndbuf"),
                          ("workers", "--workers")):
            if params.get(key) is not None:
                args += [flag, _number_text(params[key])]
    for key, flag in (("size", "--size"), ("batch", "--batch"), ("fanout", "--fanout"),
                      ("streams", "--streams"), ("warmup_s", "--warmup"),
                      ("window_s", "--window"), ("relay_rcvbuf", "--rcvbuf"),
                      ("sink_rcvbuf", "--sink-rcvbuf")):
        if params.get(key) is not None:
            args += [flag, _number_text(params[key])]
    if params.get("generator_batch") not in (None, params.get("batch")):
        args += ["--gen-batch", _number_text(params["generator_batch"])]
    if params.get("generator_bursts"):
        args.append("--gen-bursts")
    rate = params.get("rate_pps")
    if isinstance(rate, (int, float)):
        args += ["--rate", _number_text(rate)]
    if params.get("egress_qdisc"):
        args += ["--egress-qdisc", str(params["egress_qdisc"])]
    if params.get("tester", "full") != "full":
        args += ["--tester", str(params["tester"])]
    if params.get("family", "ipv4") != "ipv4":
        args += ["--family", str(params["family"])]
    if params.get("mtu", 1500) != 1500:
        args += ["--mtu", _number_text(params["mtu"])]
    # Files from before the rig set the model measured the device one.
    segmentation = params.get("egress_segmentation", "device")
    if segmentation != "software":
        args += ["--egress-segmentation", str(segmentation)]
    return args


def ndr_args(ndr_options: dict) -> list[str]:
    """NDR flags from a sweep spec's "ndr" object."""
    args = []
    for key, flag in (("loss_pct", "--loss"), ("resolution", "--resolution"),
                      ("min_rate", "--min-rate"), ("max_rate", "--max-rate")):
        if ndr_options.get(key) is not None:
            args += [flag, _number_text(ndr_options[key])]
    return args


def measure(bench: Path, params: dict, ndr_options: Optional[dict] = None,
            bin_dir: Optional[Path] = None) -> dict:
    """One `mrelay-bench cell|ndr` record for these params (with ``--bin-dir`` when given);
    a record with status "error" and the reason when the bench fails or times out."""
    ndr = params.get("rate_pps") == "ndr"
    command = [str(bench), "ndr" if ndr else "cell", *cell_args(params)]
    if bin_dir is not None:
        command += ["--bin-dir", str(bin_dir)]
    if ndr:
        command += ndr_args(ndr_options or {})
        timeout = NDR_TIMEOUT_S
    else:
        span = float(params.get("warmup_s", 0.5) or 0) + float(params.get("window_s", 2) or 0)
        timeout = CELL_SLACK_S + 3 * span
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s", "params": params}
    try:
        record = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"status": "error", "reason": f"mrelay-bench: {tail[0]}", "params": params}
    if not isinstance(record, dict):
        return {"status": "error", "reason": "mrelay-bench printed no record", "params": params}
    return record


def reference_key(params: dict) -> str:
    """The key that matches a cell with its references ("s512/b32/f1/r50000"), the bench's."""
    return native().reference_key({"params": params})


def direct_params(params: dict) -> dict:
    """The params of the `direct` reference of a cell: the same traffic, no forwarder."""
    direct = {k: v for k, v in params.items()
              if k not in ("ingress", "egress", "queue_depth", "sndbuf", "workers")}
    direct["forwarder"] = "direct"
    return direct


def ratios_to_direct(references: list[dict], records: list[dict]) -> list[Optional[float]]:
    """Each record's ratio_to_direct against the direct references measured with it, by the
    bench's own rule (results/aggregate.cc): per-output delivered pps (or the NDR) over the
    reference's of the same size, batch, fanout and rate; None without one."""
    ratios = native().reference_ratios([*references, *records])[len(references):]
    return [ratio["ratio_to_direct"] if ratio else None for ratio in ratios]


class BenchRerunner:
    """The gate's re-run hook: ``rerunner(cells) -> new samples``.

    Each call runs ``reps`` rounds; in each round the direct reference of every distinct
    (size, batch, fanout, rate) first, then every cell, so ratio_to_direct compares
    measurements taken minutes apart, as in a sweep.
    """

    def __init__(self, bench: Path, *, reps: int = 3, ndr_options: Optional[dict] = None,
                 verbose: bool = True, require_root: bool = True) -> None:
        self.bench = bench
        self.require_root = require_root
        self.reps = reps
        self.ndr_options = ndr_options or {}
        self.verbose = verbose

    def _log(self, text: str) -> None:
        if self.verbose:
            print(f"[gate re-run] {text}", file=sys.stderr, flush=True)

    def measure(self, params: dict) -> dict:
        """One record for these params (status "error" with a reason on failure)."""
        return measure(self.bench, params, self.ndr_options)

    def __call__(self, cells: list[dict]) -> list[dict]:
        if self.require_root and os.geteuid() != 0:
            raise BenchError("re-running cells needs root (network namespaces)")
        fresh: list[dict] = []
        for rep in range(1, self.reps + 1):
            references: dict[str, dict] = {}
            for cell in cells:
                params = cell.get("params", {})
                key = reference_key(params)
                if params.get("forwarder") == "direct" or key in references:
                    continue
                self._log(f"rep {rep}: direct reference {key}")
                references[key] = self.measure(direct_params(params))
            round_records = []
            for cell in cells:
                params = cell.get("params", {})
                self._log(f"rep {rep}: {cell.get('label', cell.get('cell_id'))}")
                record = self.measure(params)
                # Group with the cell being judged even if the bench spells its id
                # differently (same params, so the same cell).
                if record.get("cell_id") != cell.get("cell_id"):
                    record["bench_cell_id"] = record.get("cell_id")
                    record["cell_id"] = cell.get("cell_id")
                record.setdefault("label", cell.get("label"))
                record["rerun_rep"] = rep
                round_records.append(record)
            ratios = ratios_to_direct(list(references.values()), round_records)
            for cell, record, ratio in zip(cells, round_records, ratios):
                if cell.get("params", {}).get("forwarder") != "direct":
                    record["ratio_to_direct"] = ratio
            fresh += round_records
        return fresh


def bench_available(explicit_bin_dir: Optional[str] = None) -> bool:
    try:
        find_bench(explicit_bin_dir)
    except BenchError:
        return False
    return shutil.which("ip") is not None
