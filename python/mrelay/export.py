"""Results in the formats continuous-benchmarking tools read (``results export``).

One value per cell and metric: the median over the cell's ok samples, with the smallest and
largest sample as its spread. The benchmark is the cell's label ("mrelay(gso,packet) 512B b32
f1 50kpps"); the metrics and their good direction are the gate's (:mod:`mrelay.gate`), loss
and latency only in cells paced at a fixed rate (at saturation they measure the queues).

* ``bencher``: Bencher Metric Format JSON, ``{benchmark: {measure: {"value", "lower_value",
  "upper_value"}}}``.
* ``github-action-benchmark``: the custom tools' JSON array of ``{"name", "unit", "value",
  "range", "extra"}``; the tool is ``customBiggerIsBetter`` or ``customSmallerIsBetter``, so
  one file holds one direction (``--direction bigger|smaller``).
* ``otava-csv``: Apache Otava's CSV data source: one row per results file (a night), a
  ``time`` column, a ``commit`` attribute and one column per cell and metric
  (:func:`otava_column`); :func:`append_history` adds a night to a history file.
* ``csv``: one row per cell and metric, every field spelled out.

    doc = results.load("reports/nightly/2026-12-06/results.json")
    print(json.dumps(export.bencher(doc), indent=1))
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional, Sequence

from . import gate, results

FORMATS = ("bencher", "github-action-benchmark", "otava-csv", "csv")
DIRECTIONS = ("bigger", "smaller")
#: Otava's time column, and the commit attribute every row carries.
TIME_COLUMN = "time"
COMMIT_COLUMN = "commit"
#: Exported besides the gate's metrics: the other ratio and percentiles, same directions as
#: their relatives there.
_EXTRA_METRICS = (
    gate.Metric("ratio_to_kernel", gate.UP, "normalised", gate.Threshold(0.05), "ratio", ""),
    gate.Metric("latency_p50_ns", gate.DOWN, "absolute", gate.Threshold(0.2), "ns", "",
                fixed_rate_only=True),
)
METRICS: tuple[gate.Metric, ...] = gate.METRICS + _EXTRA_METRICS


@dataclass(frozen=True)
class Row:
    """One cell × metric of one results document."""

    benchmark: str
    metric: str
    unit: str
    bigger_is_better: bool
    value: float  # median over the cell's ok samples
    lower: float  # smallest sample
    upper: float  # largest sample
    samples: int
    time: str  # the document's creation time, ISO 8601 UTC
    commit: str


def document_time(doc: dict) -> str:
    """The document's creation time as ISO 8601 UTC ("" when it has none)."""
    created = doc.get("created")
    if not isinstance(created, str) or not created:
        return ""
    try:
        parsed = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(doc: dict) -> list[Row]:
    """Every cell × metric with at least one value, cells in document order."""
    out = []
    time, commit = document_time(doc), str(doc.get("git_commit") or "")
    for _params, samples in results.cells(doc):
        label = str(samples[0].get("label") or results.cell_id(samples[0]))
        fixed = results.is_fixed_rate(samples[0])
        for metric in METRICS:
            if metric.fixed_rate_only and not fixed:
                continue
            found = results.values(samples, metric.name)
            if not found:
                continue
            out.append(Row(label, metric.name, metric.unit, metric.direction == gate.UP,
                           float(results.median(found)), float(min(found)), float(max(found)),
                           len(found), time, commit))
    return out


def bencher(doc: dict) -> dict:
    """Bencher Metric Format: benchmark -> measure -> value, lower_value, upper_value."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows(doc):
        out.setdefault(row.benchmark, {})[row.metric] = {
            "value": row.value, "lower_value": row.lower, "upper_value": row.upper}
    return out


def github_action_benchmark(doc: dict, direction: str) -> list[dict]:
    """The custom tool's array for one direction: "bigger" (customBiggerIsBetter) or
    "smaller" (customSmallerIsBetter)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction: '{direction}' is not one of {', '.join(DIRECTIONS)}")
    wanted = direction == "bigger"
    return [{"name": f"{row.benchmark} {row.metric}", "unit": row.unit, "value": row.value,
             "range": f"{row.lower:g} .. {row.upper:g}",
             "extra": f"median of {row.samples} samples; commit {row.commit or 'unknown'}"}
            for row in rows(doc) if row.bigger_is_better == wanted]


def otava_column(benchmark: str, metric: str) -> str:
    """A CSV-safe column name for one cell's metric: the label with every run of characters
    other than letters, digits and dots made one underscore, then '.' and the metric."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", benchmark).strip("_")
    return f"{slug}.{metric}"


def otava_time(iso: str) -> str:
    """Otava's time format, "2026-12-06 02:00:00 +0000", from ISO 8601 UTC."""
    if not iso:
        return ""
    parsed = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S %z")


def otava_row(doc: dict) -> dict[str, str]:
    """One night: time, commit and every cell × metric median."""
    row = {TIME_COLUMN: otava_time(document_time(doc)), COMMIT_COLUMN: str(doc.get("git_commit") or "")}
    for found in rows(doc):
        row[otava_column(found.benchmark, found.metric)] = f"{found.value:.6g}"
    return row


def write_table(records: Sequence[dict[str, str]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n", restval="")
    writer.writeheader()
    for record in records:
        writer.writerow(record)
    return out.getvalue()


def otava_csv(docs: Iterable[dict]) -> str:
    """One row per document, oldest first; columns: time, commit, then every metric column any
    document has, sorted (a night without a cell leaves its cells empty)."""
    records = sorted((otava_row(doc) for doc in docs), key=lambda record: record[TIME_COLUMN])
    return write_table(records, _columns(records))


def _columns(records: Sequence[dict[str, str]], first: Sequence[str] = ()) -> list[str]:
    head = [TIME_COLUMN, COMMIT_COLUMN]
    seen = list(dict.fromkeys([*head, *first]))
    rest = sorted({key for record in records for key in record} - set(seen))
    return seen + rest


def read_history(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of an Otava CSV history; ([], []) when the file does not exist."""
    if not path.exists():
        return [], []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        if columns[:2] != [TIME_COLUMN, COMMIT_COLUMN]:
            raise ValueError(f"{path}: not an mrelay history (header must start with "
                             f"'{TIME_COLUMN},{COMMIT_COLUMN}', got {columns[:2]})")
        return columns, list(reader)


def append_history(path: Path, doc: dict) -> dict[str, str]:
    """Adds the document's night to the history CSV at ``path`` (created when absent) and
    returns the row. A night already there (same time and commit) is replaced, not doubled.
    New cells add columns; earlier nights leave them empty."""
    columns, records = read_history(path)
    row = otava_row(doc)
    records = [r for r in records
               if (r[TIME_COLUMN], r[COMMIT_COLUMN]) != (row[TIME_COLUMN], row[COMMIT_COLUMN])]
    records.append(row)
    records.sort(key=lambda record: record[TIME_COLUMN])
    text = write_table(records, _columns(records, columns))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return row


def long_csv(docs: Iterable[dict]) -> str:
    """Every cell × metric of every document, one row each."""
    columns = ["time", "commit", "benchmark", "metric", "unit", "direction", "value", "lower",
               "upper", "samples"]
    records = [{"time": row.time, "commit": row.commit, "benchmark": row.benchmark,
                "metric": row.metric, "unit": row.unit,
                "direction": "bigger" if row.bigger_is_better else "smaller",
                "value": f"{row.value:.6g}", "lower": f"{row.lower:.6g}",
                "upper": f"{row.upper:.6g}", "samples": str(row.samples)}
               for doc in docs for row in rows(doc)]
    return write_table(records, columns)


def metric_of_column(column: str) -> Optional[gate.Metric]:
    """The metric of an Otava column ("<cell>.<metric>"), for its direction; None if unknown."""
    name = column.rsplit(".", 1)[-1]
    return next((metric for metric in METRICS if metric.name == name), None)
