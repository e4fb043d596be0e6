"""Baselines: reviewable per-machine-profile reference samples for the regression gate.

A baseline (``reports/baselines/<profile>.json``) is a results file (format
``mrelay-bench-results/1``, so every tool that reads results reads it) holding the raw
samples of every cell, the machine fingerprint, the commit and the sweep spec that produced
it, plus a ``baseline`` block (profile, suite, repetitions). It is written to be reviewed in
a diff: keys sorted, one header field per line, and one line per sample (sorted by cell and
repetition) carrying only what the gate and the reports read (status, params, the docs/metrics.md
metrics); commands, per-errno maps and perf event dumps of the bench records are left out::

    {
     "baseline": {"format": "mrelay-baseline/1", "profile": "vm2", "repetitions": 7, ...},
     "format": "mrelay-bench-results/1",
     "git_commit": "...",
     "machine": {"cores_online": 2, "cpu_model": "AMD EPYC", ...},
     "spec": {"name": "smoke", ...},
     "samples": [
      {"buffer_exhaustion_pct": 0.0, "cell_id": "mrelay/...", "delivered_pps": 67665.47, ...},
      ...
     ]
    }

    base = baseline.from_results(sweep_doc, profile="vm2", suite="smoke", spec=spec)
    baseline.save(base, "reports/baselines/vm2.json")
    report = gate.run_gate(results.load("reports/baselines/vm2.json"), candidate)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from . import REPO_ROOT, results

FORMAT = "mrelay-baseline/1"

#: Where `--suite NAME` looks for NAME.json.
SWEEPS_DIR = REPO_ROOT / "reports" / "sweeps"

#: Sample fields kept in a baseline: identity, status, params, and the docs/metrics.md metrics the
#: gate and the reports read (results.EXTRACTORS reads exactly these).
KEPT_FIELDS = ("cell_id", "label", "rep", "status", "reason", "params", "outputs",
               "delivered_pps", "offered_pps", "ndr_pps", "loss_pct", "latency_ns",
               "syscalls_per_pkt", "buffer_exhaustion_pct", "relay_cpu_pct",
               "ratio_to_direct", "ratio_to_kernel", "limited_by", "ns_per_copy",
               "rig_bound")
#: Latency percentiles kept (the histogram's count/min/mean are left out).
KEPT_LATENCY = ("p50", "p90", "p99", "p999", "max")
# Significant digits kept for floats: 7 is below every metric's noise by orders of magnitude
# and keeps sample lines short.
DIGITS = 7


def suite_path(name_or_path: str) -> Path:
    """`smoke` -> reports/sweeps/smoke.json; a path (with .json or a slash) is kept."""
    if name_or_path.endswith(".json") or os.sep in name_or_path:
        return Path(name_or_path)
    return SWEEPS_DIR / f"{name_or_path}.json"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def slim_sample(sample: dict) -> dict:
    """The part of a bench record a baseline keeps."""
    out = {key: sample[key] for key in KEPT_FIELDS if key in sample}
    if isinstance(out.get("latency_ns"), dict):
        out["latency_ns"] = {k: v for k, v in out["latency_ns"].items() if k in KEPT_LATENCY}
    return _rounded(out)


def from_results(doc: dict, *, profile: str, suite: str, spec: Optional[dict] = None) -> dict:
    """A baseline document from a sweep's results document (every sample, every status)."""
    samples = sorted((slim_sample(s) for s in doc.get("samples", [])),
                     key=lambda s: (results.cell_id(s), s.get("rep") or 0))
    spec = spec if spec is not None else doc.get("spec", {})
    return {
        "format": results.FORMAT,
        "baseline": {"format": FORMAT, "profile": profile, "suite": suite,
                     "repetitions": spec.get("repetitions"), "recorded": doc.get("created")},
        "created": doc.get("created"),
        "git_commit": doc.get("git_commit", "unknown"),
        "machine": doc.get("machine", {}),
        "placement": doc.get("placement", {}),
        "spec": spec,
        "samples": samples,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def dumps(base: dict) -> str:
    """Diff-friendly text: sorted keys, one line per header field and per sample."""
    lines = ["{"]
    header = [key for key in sorted(base) if key != "samples"]
    for key in header:
        lines.append(f" {json.dumps(key)}: {_compact(base[key])},")
    samples = base.get("samples", [])
    lines.append(' "samples": [')
    for index, sample in enumerate(samples):
        lines.append("  " + _compact(sample) + ("," if index + 1 < len(samples) else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save(base: dict, path: str | os.PathLike) -> None:
    """Writes atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(base)
    json.loads(text)  # the hand-built layout must stay valid JSON
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load_for_gate(path: str | os.PathLike) -> dict:
    """A baseline or any results file, as a results document (ResultsError naming it)."""
    return results.load(path)
