"""Load, merge, save and summarise ``mrelay-bench`` results files.

A results file (written by ``mrelay-bench sweep``, format ``mrelay-bench-results/1``) is one
JSON object::

    {"format": "mrelay-bench-results/1", "created": "...", "git_commit": "...",
     "machine": {...fingerprint...}, "placement": {...}, "spec": {...},
     "samples": [ {"cell_id": "...", "label": "...", "rep": 1, "status": "ok",
                   "params": {...}, "delivered_pps": ..., "loss_pct": ...,
                   "latency_ns": {"p99": ...}, "syscalls_per_pkt": ...,
                   "buffer_exhaustion_pct": ..., "relay_cpu_pct": ...,
                   "ratio_to_direct": ..., "ndr_pps": ...}, ...]}

One raw sample per cell run. A single cell record (``mrelay-bench cell --out``) is accepted too
and wrapped as a one-sample document. Unknown fields are kept untouched, so load + save
round-trips.

    docs = [results.load(p) for p in paths]
    merged = results.merge(docs)
    print(results.format_summary(merged))
    results.save(merged, "merged.json")
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from . import native

FORMAT = "mrelay-bench-results/1"
MERGED_FORMAT = FORMAT  # a merged file is a results file like any other

#: Fingerprint fields that decide whether two runs measured the same kind of machine.
#: Hostname, kernel build string and DMI names are left out: CI runners of one profile differ
#: in those without performing differently.
FINGERPRINT_KEYS = (
    "cpu_model",
    "cores_online",
    "arch",
    "kernel",
    "virtualization",
    "memory_kib",
    "pmu_present",
)


class ResultsError(ValueError):
    """A results file that cannot be read or is not a results file; the message names it."""


# --- metric extraction ------------------------------------------------------------------


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rate_of(sample: dict) -> Any:
    """The cell's offered rate: a number of pps (0 = saturation) or "ndr"."""
    return sample.get("params", {}).get("rate_pps")


def is_fixed_rate(sample: dict) -> bool:
    """True for cells paced at a fixed rate (> 0 pps): loss and latency are judged only there,
    because at saturation both measure the queues, not the forwarder."""
    rate = _number(rate_of(sample))
    return rate is not None and rate > 0


def _latency(key: str) -> Callable[[dict], Optional[float]]:
    def extract(sample: dict) -> Optional[float]:
        latency = sample.get("latency_ns")
        return _number(latency.get(key)) if isinstance(latency, dict) else None

    return extract


def _field(key: str) -> Callable[[dict], Optional[float]]:
    return lambda sample: _number(sample.get(key))


def cpu_ns_per_pkt(sample: dict) -> Optional[float]:
    """Forwarder CPU time per delivered packet, ns: relay_cpu_pct of one core over the window
    divided by the delivered rate (copies summed over outputs)."""
    cpu = _number(sample.get("relay_cpu_pct"))
    pps = _number(sample.get("delivered_pps"))
    if cpu is None or pps is None or pps <= 0:
        return None
    return cpu / 100.0 * 1e9 / pps


#: Metric name -> extractor(sample) -> float or None. The names are what tables and the gate
#: print; the fields they read are the bench's record contract (harness/src/rig/metrics.cc).
EXTRACTORS: dict[str, Callable[[dict], Optional[float]]] = {
    "delivered_pps": _field("delivered_pps"),
    "offered_pps": _field("offered_pps"),
    "ndr_pps": _field("ndr_pps"),
    "loss_pct": _field("loss_pct"),
    "latency_p50_ns": _latency("p50"),
    "latency_p99_ns": _latency("p99"),
    "latency_p999_ns": _latency("p999"),
    "syscalls_per_pkt": _field("syscalls_per_pkt"),
    "buffer_exhaustion_pct": _field("buffer_exhaustion_pct"),
    "relay_cpu_pct": _field("relay_cpu_pct"),
    "cpu_ns_per_pkt": cpu_ns_per_pkt,
    "ns_per_copy": _field("ns_per_copy"),
    "ratio_to_direct": _field("ratio_to_direct"),
    "ratio_to_kernel": _field("ratio_to_kernel"),
    # A several-worker mrelay cell over the 1-worker cell of the same settings (the bench's
    # results/aggregate.cc computes it; absent on 1-worker records and older files).
    "ratio_to_one_worker": _field("ratio_to_one_worker"),
}


def metric_value(sample: dict, metric: str) -> Optional[float]:
    """One metric of one sample, or None when absent, null or not a finite number."""
    extractor = EXTRACTORS.get(metric)
    if extractor is None:
        raise KeyError(f"unknown metric '{metric}' (known: {', '.join(EXTRACTORS)})")
    return extractor(sample)


# --- documents --------------------------------------------------------------------------


def is_ok(sample: dict) -> bool:
    return sample.get("status") == "ok"


def cell_id(sample: dict) -> str:
    """The cell a sample belongs to (the bench's stable id, or one built from the params)."""
    if isinstance(sample.get("cell_id"), str):
        return sample["cell_id"]
    params = sample.get("params", {})
    return "/".join(f"{key}={params[key]}" for key in sorted(params)) or "unknown"


def _validate(doc: Any, where: str) -> dict:
    if not isinstance(doc, dict):
        raise ResultsError(f"{where}: not a JSON object")
    if "samples" not in doc:
        if "params" in doc and "status" in doc:
            # One `mrelay-bench cell --out` record: wrap it.
            return {"format": FORMAT, "created": doc.get("started"), "git_commit": "unknown",
                    "machine": {}, "placement": doc.get("placement", {}), "spec": {},
                    "samples": [doc]}
        raise ResultsError(f"{where}: not a mrelay-bench results file (no 'samples')")
    samples = doc["samples"]
    if not isinstance(samples, list):
        raise ResultsError(f"{where}: 'samples' must be a list")
    for index, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise ResultsError(f"{where}: samples[{index}]: not an object")
        if not isinstance(sample.get("params", {}), dict):
            raise ResultsError(f"{where}: samples[{index}].params: not an object")
    fmt = doc.get("format", FORMAT)
    if not (isinstance(fmt, str) and fmt.startswith("mrelay-bench-results/")):
        raise ResultsError(f"{where}: format: unknown format '{fmt}'")
    return doc


def load(path: str | os.PathLike) -> dict:
    """Reads a results file (or one cell record). Raises ResultsError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"{path}: {error.strerror or error}") from error
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error
    return _validate(doc, str(path))


def loads(text: str, where: str = "<string>") -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{where}: invalid JSON at line {error.lineno}: {error.msg}") from error
    return _validate(doc, where)


def dumps(doc: dict) -> str:
    """The text save() writes (indent 1, like the bench, keys in their given order)."""
    return json.dumps(doc, indent=1) + "\n"


def save(doc: dict, path: str | os.PathLike) -> None:
    """Writes atomically (temporary file + rename): a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(dumps(doc))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def fingerprint(doc: dict) -> dict:
    """The comparable part of a document's machine fingerprint."""
    machine = doc.get("machine") or {}
    return {key: machine.get(key) for key in FINGERPRINT_KEYS if key in machine}


def fingerprint_differences(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two documents' fingerprints ("" when equal)."""
    fa, fb = fingerprint(a), fingerprint(b)
    differences = []
    for key in FINGERPRINT_KEYS:
        if fa.get(key) != fb.get(key):
            differences.append(f"{key}: {fa.get(key)!r} vs {fb.get(key)!r}")
    # Where the rig put generator, forwarder and sink (cores, real-time priorities, RPS) moves
    # absolute rates as much as another machine does: a baseline recorded with another
    # placement is judged on normalised and count metrics only, and should be re-recorded.
    pa, pb = a.get("placement") or {}, b.get("placement") or {}
    if pa and pb:
        for key in sorted(set(pa) | set(pb)):
            if pa.get(key) != pb.get(key):
                differences.append(f"placement.{key}: {pa.get(key)!r} vs {pb.get(key)!r}")
    return differences


def merge(docs: Iterable[dict], sources: Optional[Iterable[str]] = None) -> dict:
    """Concatenates the samples of several documents into one.

    Header fields come from the first document; ``merged_from`` lists every input's commit,
    date and machine; ``git_commit`` becomes "mixed" and ``machine_mismatch`` lists the
    differences when the inputs disagree. Samples are copied, not modified, except that a
    sample gets ``source`` (its input's index) when it has none, so a merged file still says
    where each sample came from.
    """
    docs = list(docs)
    if not docs:
        raise ResultsError("merge: no results to merge")
    names = list(sources) if sources is not None else [f"#{i}" for i in range(len(docs))]
    first = docs[0]
    merged: dict = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": first.get("git_commit", "unknown"),
        "machine": first.get("machine", {}),
        "placement": first.get("placement", {}),
        "spec": first.get("spec", {}),
        "merged_from": [],
        "samples": [],
    }
    mismatch: list[str] = []
    for index, doc in enumerate(docs):
        merged["merged_from"].append({"source": names[index] if index < len(names) else index,
                                      "git_commit": doc.get("git_commit", "unknown"),
                                      "created": doc.get("created"),
                                      "machine": doc.get("machine", {}),
                                      "samples": len(doc.get("samples", []))})
        if doc.get("git_commit", "unknown") != merged["git_commit"]:
            merged["git_commit"] = "mixed"
        if index > 0:
            mismatch += [f"input {index}: {d}" for d in fingerprint_differences(first, doc)]
        for sample in doc.get("samples", []):
            copy = dict(sample)
            copy.setdefault("source", index)
            merged["samples"].append(copy)
    if mismatch:
        merged["machine_mismatch"] = mismatch
    return merged


def match_key(sample: dict, ignore_params: Sequence[str] = ()) -> str:
    """The cell id, or with ``ignore_params`` the params minus those keys (so cells that
    differ only in them match)."""
    if not ignore_params:
        return cell_id(sample)
    params = {k: v for k, v in sample.get("params", {}).items() if k not in ignore_params}
    return json.dumps(params, sort_keys=True)


def group_by_cell(doc: dict, ignore_params: Sequence[str] = ()) -> dict[str, list[dict]]:
    """cell key (see match_key) -> its samples (every status), in file order."""
    groups: dict[str, list[dict]] = {}
    for sample in doc.get("samples", []):
        groups.setdefault(match_key(sample, ignore_params), []).append(sample)
    return groups


def values(samples: Iterable[dict], metric: str) -> list[float]:
    """The metric over the ok samples that have it."""
    out = []
    for sample in samples:
        if is_ok(sample):
            value = metric_value(sample, metric)
            if value is not None:
                out.append(value)
    return out


def median(found: Sequence[float]) -> Optional[float]:
    """The median of the values (the mean of the middle two for an even count); None when
    there are none. Every median of the package's tables and reports is this one."""
    return statistics.median(found) if found else None


def cells(doc: dict) -> list[tuple[dict, list[dict]]]:
    """(params, ok samples) per cell, cells with no ok sample left out."""
    out = []
    for samples in group_by_cell(doc).values():
        ok = [s for s in samples if is_ok(s)]
        if ok:
            out.append((ok[0].get("params", {}), ok))
    return out


def cell_median(samples: Sequence[dict], metric: str) -> Optional[float]:
    """The median of one metric over a cell's ok samples (None when none has it)."""
    return median(values(samples, metric))


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


def kernel_vif_limit() -> int:
    """The kernel's MAXVIFS, which bounds the `kernel` (ipmr) reference to that many
    interfaces -- the ingress and one fewer outputs -- as mrelay-bench knows it
    (harness/src/reference/kernel_forwarder.h, through the native module)."""
    return int(native().KERNEL_VIF_LIMIT)


# --- summary ----------------------------------------------------------------------------


@dataclass
class CellSummary:
    cell_id: str
    label: str
    forwarder: str
    samples: int
    ok: int
    statuses: dict[str, int] = field(default_factory=dict)
    #: The traffic's address family and the veths' MTU (records from before they were
    #: recorded: IPv4 at 1500).
    family: str = "ipv4"
    mtu: int = 1500
    medians: dict[str, Optional[float]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Each relay worker's median forwarded packets/s (relay_worker_rates), worker by worker.
    worker_pps: list[Optional[float]] = field(default_factory=list)


def worker_pps(samples: Iterable[dict]) -> list[Optional[float]]:
    """Each relay worker's median forwarded_pps over the ok samples (relay_worker_rates,
    worker i at index i); empty when none has them (the references, older files)."""
    by_worker: list[list[float]] = []
    for sample in samples:
        rates = sample.get("relay_worker_rates") if is_ok(sample) else None
        if not isinstance(rates, list):
            continue
        by_worker += [[] for _ in range(len(rates) - len(by_worker))]
        for index, rate in enumerate(rates):
            value = _number(rate.get("forwarded_pps")) if isinstance(rate, dict) else None
            if value is not None:
                by_worker[index].append(value)
    return [median(found) for found in by_worker]


#: Columns of the summary: (metric, header, scale, decimals). Scales turn ns into µs and pps
#: into kpps so the table stays narrow.
SUMMARY_COLUMNS = (
    ("delivered_pps", "kpps", 1e-3, 1),
    ("ndr_pps", "ndr kpps", 1e-3, 1),
    ("loss_pct", "loss %", 1.0, 3),
    ("latency_p99_ns", "p99 us", 1e-3, 1),
    ("syscalls_per_pkt", "sysc/pkt", 1.0, 4),
    ("buffer_exhaustion_pct", "exhaust %", 1.0, 2),
    ("relay_cpu_pct", "cpu %", 1.0, 1),
    ("ratio_to_kernel", "/kernel", 1.0, 3),  # the best kernel reference (kernel_reference)
    ("ratio_to_direct", "/direct", 1.0, 3),
    ("ratio_to_one_worker", "/1 worker", 1.0, 3),  # scale-out: shown when a cell has it
)


def summarize(doc: dict) -> list[CellSummary]:
    rows = []
    for key, samples in group_by_cell(doc).items():
        statuses: dict[str, int] = {}
        for sample in samples:
            status = str(sample.get("status", "?"))
            statuses[status] = statuses.get(status, 0) + 1
        params = samples[0].get("params") or {}
        row = CellSummary(cell_id=key, label=str(samples[0].get("label", key)),
                          forwarder=str(params.get("forwarder", "?")),
                          samples=len(samples), ok=statuses.get("ok", 0), statuses=statuses,
                          family=str(params.get("family", "ipv4")),
                          mtu=int(params.get("mtu", 1500)), worker_pps=worker_pps(samples))
        for metric, *_ in SUMMARY_COLUMNS:
            found = values(samples, metric)
            row.medians[metric] = median(found)
            if found:
                row.ranges[metric] = (min(found), max(found))
        rows.append(row)
    return rows


def format_summary(doc: dict) -> str:
    """A fixed-width table: one row per cell, medians over its ok samples; family and MTU
    columns when the cells differ in them, each worker's kpps when a relay ran several."""
    rows = summarize(doc)
    columns = [(m, h, s, d) for m, h, s, d in SUMMARY_COLUMNS
               if any(r.medians.get(m) is not None for r in rows)]
    show_family = len({r.family for r in rows}) > 1
    show_mtu = len({r.mtu for r in rows}) > 1
    show_workers = any(len(r.worker_pps) > 1 for r in rows)
    header = (["cell"] + (["family"] if show_family else []) + (["MTU"] if show_mtu else [])
              + ["n ok"] + [h for _, h, _, _ in columns]
              + (["worker kpps"] if show_workers else []))
    table = [header]
    for row in rows:
        line = ([row.label] + ([row.family] if show_family else [])
                + ([str(row.mtu)] if show_mtu else []) + [f"{row.ok}/{row.samples}"])
        for metric, _, scale, decimals in columns:
            value = row.medians.get(metric)
            line.append("-" if value is None else f"{value * scale:.{decimals}f}")
        if show_workers:
            line.append("/".join("-" if v is None else f"{v * 1e-3:.1f}" for v in row.worker_pps)
                        if len(row.worker_pps) > 1 else "-")
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for index, line in enumerate(table):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    machine = doc.get("machine") or {}
    intro = [
        f"commit {doc.get('git_commit', 'unknown')}, created {doc.get('created', '?')}, "
        f"{len(doc.get('samples', []))} samples in {len(rows)} cells",
        f"machine: {machine.get('cpu_model', '?')}, {machine.get('cores_online', '?')} cores, "
        f"kernel {machine.get('kernel', '?')}, virt {machine.get('virtualization', '?')}",
    ]
    for problem in doc.get("machine_mismatch", []):
        intro.append(f"warning: fingerprint differs between inputs: {problem}")
    return "\n".join(intro + [""] + lines) + "\n"
