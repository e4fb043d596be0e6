"""``python3 -m mrelay reproduce nov2025 --out reports/nov2025``: the November 2025 investigation
re-run on the namespace rig. It found egress at 97k pps with an io_uring queue depth of 128 and
the default ~208 KB SO_SNDBUF (86 % buffer exhaustion), and 439k pps with depth 1024 and a
4 MiB send buffer.

    python3 -m mrelay reproduce nov2025 --out reports/nov2025                 # runs, ~4.5 min, root
    python3 -m mrelay reproduce nov2025 --out /tmp/n --repetitions 1 --sweep-bursts 256
    python3 -m mrelay reproduce nov2025 --out reports/nov2025 --from reports/nov2025/results.json

What runs: the relay's ``uring`` backend, fanout 4, batch 64, in the four settings (before,
queue depth only, send buffer only, after); queue depth and send buffer are the only knobs
that change. Every output sits behind an emulated NIC (``burst_model.Nic``, a tbf qdisc that
keeps the sender's charge while a frame waits, drains at the line rate and holds a ring of
frames). The source sends bursts of ``--burst`` datagrams back to back at an average rate
below the line rate, so the link carries the average and only a buffer can carry the burst.

1. The send buffer's truesize per datagram and the default buffer are measured in a scratch
   namespace (``probe_buffers``): the model's inputs from this kernel.
2. The operating point: the four settings, ``--repetitions`` interleaved runs each, all at the
   same offered rate (a row whose generator missed the rate is marked failed, not reported).
3. The sweeps: the four settings at each of ``--sweep-bursts`` on the same line, and at each
   of ``--sweep-line-rates`` with the same burst (the average rate scaled with the line).
4. The page: the table with the counters that explain each row (SQ-full, EAGAIN,
   SndbufErrors, exhaustion), the model's prediction and error beside each measured figure,
   the after/before ratio against burst size (measured points over the model's curve, the
   investigation's 4.5x marked). Figures are this machine's, never adjusted toward the
   report's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from . import page, results
from .burst_model import (Host, Nic, Prediction, Setting, Traffic, burst_for_ratio, predict,
                          ratio)

MIB = 1 << 20

#: The four settings of the investigation, "before" first (the reference of every ratio).
SETTINGS = (
    Setting("before (q128, default sndbuf)", 128, 0),
    Setting("queue depth only (q1024)", 1024, 0),
    Setting("send buffer only (4 MiB)", 128, 4 * MIB),
    Setting("after (q1024, 4 MiB)", 1024, 4 * MIB),
)
BEFORE, AFTER = SETTINGS[0], SETTINGS[-1]

#: The investigation's gain: 439k / 97k pps.
REPORT_RATIO = 439.0 / 97.0

# The operating point (docs/reports.md, "The November 2025 investigation"). A 20 Mbit/s line
# (1,734 frames/s of 1,442 bytes) carries 4 x 1,200 copies/s of the average with 31 % to spare;
# a burst of 1,024 datagrams is 11x what the default buffer holds (93 copies of 2,304 bytes
# truesize) and a quarter of what 4 MiB holds (the kernel doubles it: 3,641 copies). The line
# is slow next to how fast a burst arrives (~0.5M datagrams/s), so little of a burst leaves
# while it is still arriving; the ring (2,048 frames) is larger than a burst.
DEFAULT_NIC = Nic(line_rate_bps=20e6, ring_frames=2048, burst_frames=16)
DEFAULT_SIZE = 1400  # bytes of UDP payload
DEFAULT_FANOUT = 4  # outputs: every ingress burst becomes a burst on each
DEFAULT_BATCH = 64  # relay batch, as in the investigation's fixed configuration
DEFAULT_RATE = 1200.0  # average offered packets/s
DEFAULT_BURST = 1024  # datagrams per burst (mrelay-gen's largest sendmmsg)
DEFAULT_SWEEP_BURSTS = (128, 256, 512, 768)  # plus the operating point's
# Lines of the line sweep (plus the operating point's), Mbit/s: slower and faster lines at the
# operating point's burst and load, to show how the part of a burst that leaves while it
# arrives grows with the line.
DEFAULT_SWEEP_LINE_RATES = (10.0, 50.0)
DEFAULT_REPETITIONS = 2  # interleaved runs of the operating point
DEFAULT_WINDOW_S = 10.0  # at least this, rounded up to whole bursts: 12 bursts of 1,024
DEFAULT_SWEEP_WINDOW_S = 4.0
DEFAULT_WARMUP_S = 0.5

# A row's offered rate may differ from the rate asked by this share (2 %). The generator counts
# n paced bursts over n burst intervals and the windows hold whole bursts, so a run that kept
# its pace offers the rate asked within a fraction of a percent.
OFFERED_TOLERANCE = 0.02

#: Relay counters shown as per-second rates (deltas over the window).
DROP_COUNTERS = ("drop_eagain", "drop_enobufs", "drop_queue_full", "uring_sq_full",
                 "drop_buffer_exhausted", "kernel_drops")
#: The relay namespace's UDP SndbufErrors (/proc/net/snmp delta): sends the kernel refused for
#: a full send buffer (EAGAIN) or a full queue (ENOBUFS).
SNMP_SNDBUF = "snmp_sndbuf_errors"


# ---------------------------------------------------------------------------------------------
# The runs

def whole_bursts_window(burst: int, rate: float, minimum_s: float) -> float:
    """The shortest window of at least `minimum_s` that holds a whole number of bursts."""
    interval = burst / rate
    return math.ceil(minimum_s / interval - 1e-9) * interval


@dataclass(frozen=True)
class Run:
    """One `mrelay-bench sweep` of the four settings: a burst size on one line."""
    name: str
    burst: int
    line_mbit: float
    rate: float  # average offered packets/s
    minimum_s: float  # window, rounded up to whole bursts
    repetitions: int

    @property
    def window_s(self) -> float:
        return whole_bursts_window(self.burst, self.rate, self.minimum_s)


def plan_runs(args: argparse.Namespace) -> list[Run]:
    """The operating point first, then the burst sweep on its line, then the line sweep at its
    burst (the average rate scaled with the line, so the line is as loaded on every one)."""
    runs = [Run("operating-point", args.burst, args.line_rate, args.rate, args.window,
                args.repetitions)]
    runs += [Run(f"burst-{b}", b, args.line_rate, args.rate, args.sweep_window, 1)
             for b in args.sweep_bursts if b != args.burst]
    runs += [Run(f"line-{m:g}mbit", args.burst, m, args.rate * m / args.line_rate,
                 args.sweep_window, 1)
             for m in args.sweep_line_rates if m != args.line_rate]
    return runs


def build_spec(args: argparse.Namespace, run_: Run) -> dict:
    """One `mrelay-bench sweep` spec: the four settings (queue depths x send buffers) at one
    burst size and line rate."""
    return {
        "name": f"nov2025-{run_.name}",
        "description": "November 2025 reproduction: uring queue depth 128 vs 1024 x default vs "
                       "4 MiB SO_SNDBUF behind an emulated NIC, bursty source "
                       "(python3 -m mrelay reproduce nov2025)",
        "forwarders": ["mrelay"],
        "sizes": [args.size],
        "batches": [args.batch],
        "fanouts": [args.fanout],
        "backends": ["uring"],
        "queue_depths": sorted({s.queue_depth for s in SETTINGS}),
        "sndbufs": sorted({s.sndbuf for s in SETTINGS}),
        "rates": [run_.rate],
        "gen_batch": run_.burst,
        "gen_bursts": True,
        "repetitions": run_.repetitions,
        "warmup_s": args.warmup,
        "window_s": round(run_.window_s, 6),
        "egress_qdisc": nic_of(args, run_.line_mbit).qdisc(args.size),
    }


def nic_of(args: argparse.Namespace, line_mbit: Optional[float] = None) -> Nic:
    line = args.line_rate if line_mbit is None else line_mbit
    return Nic(line_rate_bps=line * 1e6, ring_frames=args.ring_frames,
               burst_frames=args.nic_burst_frames)


def _nic_record(nic: Nic) -> dict:
    return {"line_rate_bps": nic.line_rate_bps, "ring_frames": nic.ring_frames,
            "burst_frames": nic.burst_frames}


# The probe run inside the scratch namespace: non-blocking sends into a NIC that does not
# drain (tbf at 8 kbit/s) until EAGAIN, then the socket's charge (SIOCOUTQ) and its buffer.
_PROBE_SCRIPT = r"""
import fcntl, json, socket, struct, sys
size, asked = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if asked:
    s.setsockopt(socket.SOL_SOCKET, 32, asked)  # SO_SNDBUFFORCE, as the relay sets it
s.setblocking(False)
s.connect(("10.255.0.2", 9))
sent = 0
while sent < 100000:
    try:
        s.send(b"x" * size)
    except BlockingIOError:
        break
    sent += 1
charge = struct.unpack("i", fcntl.ioctl(s.fileno(), 0x5411, b"\0" * 4))[0]  # SIOCOUTQ
print(json.dumps({"sent": sent, "charge": charge,
                  "sndbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)}))
"""


def _run(command: list[str]) -> str:
    """stdout of `command`; a RuntimeError naming the command and its stderr if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise RuntimeError(f"buffer probe: {' '.join(command[:4])}...: {why[0]}")
    return done.stdout


def probe_buffers(size: int) -> dict:
    """Truesize of one `size`-byte datagram in a send buffer, and the default buffer, measured
    in a scratch namespace (mrl-t<pid>, a veth pair inside it, removed on every path).
    Raises RuntimeError naming the step when it cannot run (no tbf, no veth)."""
    ns = f"mrl-t{os.getpid()}"
    _run(["ip", "netns", "add", ns])
    try:
        _run(["ip", "-n", ns, "link", "add", "mrlt0", "type", "veth", "peer", "name", "mrlt1"])
        _run(["ip", "-n", ns, "addr", "add", "10.255.0.1/30", "dev", "mrlt0"])
        for link in ("mrlt0", "mrlt1"):
            _run(["ip", "-n", ns, "link", "set", link, "up"])
        # A fixed neighbour: datagrams go straight to the qdisc instead of waiting for ARP.
        _run(["ip", "-n", ns, "neigh", "add", "10.255.0.2", "lladdr", "02:00:00:00:00:02",
              "dev", "mrlt0", "nud", "permanent"])
        _run(["tc", "-n", ns, "qdisc", "add", "dev", "mrlt0", "root", "tbf", "rate", "8kbit",
              "burst", "2kb", "limit", "64mb"])
        found = json.loads(_run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                                 _PROBE_SCRIPT, str(size), "0"]))
        qdisc = json.loads(_run(["tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", "mrlt0"]))
        waiting = int(qdisc[0].get("qlen", 0)) or found["sent"]
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    return {"size": size, "truesize": found["charge"] / waiting,
            "wmem_default": found["sndbuf"], "default_buffer_datagrams": found["sent"]}


def run(args: argparse.Namespace, bench_path: Path, out_dir: Path) -> dict:
    """Probes the buffers, runs the operating point and the burst sweep (one `mrelay-bench
    sweep` each, progress on the terminal) and returns their samples as one results document,
    saved as out_dir/results.json. Raises RuntimeError naming the sweep that failed."""
    buffers = probe_buffers(args.size)
    print(f"nov2025: truesize {buffers['truesize']:,.0f} B per {args.size}-byte datagram; the "
          f"default send buffer ({buffers['wmem_default']:,} B) holds "
          f"{buffers['default_buffer_datagrams']} of them", flush=True)
    runs = plan_runs(args)
    docs, specs = [], []
    with tempfile.TemporaryDirectory(prefix="mrelay-nov2025-") as scratch:
        for index, run_ in enumerate(runs, 1):
            print(f"nov2025: run {index}/{len(runs)}: {run_.name}: bursts of {run_.burst} at "
                  f"{run_.rate:g} pps on a {run_.line_mbit:g} Mbit/s line, "
                  f"{run_.repetitions} x 4 settings, {run_.window_s:.2f} s windows", flush=True)
            specs.append(build_spec(args, run_))
            docs.append(_run_sweep(bench_path, Path(scratch), run_.name, specs[-1]))
    doc = results.merge(docs, sources=[run_.name for run_ in runs])
    doc["spec"] = {"name": "november2025", "sweeps": specs, "reproduce": {
        "size": args.size, "fanout": args.fanout, "batch": args.batch, "rate": args.rate,
        "burst": args.burst, "buffers": buffers, "nic": _nic_record(nic_of(args)),
        "nics": {spec["egress_qdisc"]: _nic_record(nic_of(args, run_.line_mbit))
                 for spec, run_ in zip(specs, runs)}}}
    results.save(doc, out_dir / "results.json")
    return doc


def _run_sweep(bench_path: Path, scratch: Path, name: str, spec: dict) -> dict:
    from . import bench

    spec_path, raw = scratch / f"{name}.spec.json", scratch / f"{name}.json"
    spec_path.write_text(json.dumps(spec, indent=1) + "\n")
    code = bench.run_passthrough(bench_path, ["sweep", str(spec_path), "--out", str(raw)])
    if code != 0 or not raw.is_file():
        raise RuntimeError(f"mrelay-bench sweep {name} failed (exit {code})")
    return results.load(raw)


# ---------------------------------------------------------------------------------------------
# The analysis

@dataclass
class Row:
    setting: Setting
    burst: int
    samples: int
    asked_pps: float
    window_s: float
    offered_pps: Optional[float]
    egress_pps: Optional[float]
    loss_pct: Optional[float]
    exhaustion_pct: Optional[float]
    counters: dict  # counter name -> median per second
    prediction: Optional[Prediction] = None
    failed: Optional[str] = None  # why the row is not comparable (the generator missed)
    vs_before: Optional[float] = None  # egress / before's at the same line and burst
    nic: Optional[Nic] = None  # the NIC its outputs sat behind

    @property
    def line_rate_bps(self) -> float:
        return _line_of(self.nic)
    fanout: int = 1

    def model_error_pct(self, which: str) -> Optional[float]:
        measured = getattr(self, which)
        if self.prediction is None or not measured:
            return None
        predicted = getattr(self.prediction, which)
        return 100.0 * (predicted / measured - 1.0)


def _window(sample: dict) -> float:
    value = sample.get("sample_window_s") or sample.get("window_s") or 1.0
    return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0


def _counter_rates(samples: list[dict]) -> dict:
    counters = {}
    for name in DROP_COUNTERS:
        found = [float(s["relay_counters"][name]) / _window(s) for s in samples
                 if isinstance(s.get("relay_counters"), dict)
                 and isinstance(s["relay_counters"].get(name), (int, float))]
        counters[name] = results.median(found)
    snmp = [float(s["snmp_udp_delta"]["relay"].get("SndbufErrors", 0)) / _window(s)
            for s in samples if isinstance(s.get("snmp_udp_delta"), dict)
            and isinstance(s["snmp_udp_delta"].get("relay"), dict)]
    counters[SNMP_SNDBUF] = results.median(snmp)
    return counters


def host_of(doc: dict) -> Optional[Host]:
    """The model's machine inputs: the probe's buffers and how fast a burst arrives (the
    generator's send rate inside its bursts, median over the run)."""
    probe = ((doc.get("spec") or {}).get("reproduce") or {}).get("buffers")
    if not isinstance(probe, dict) or not probe.get("truesize"):
        return None
    arrival = results.median([float(s["generator"]["send_pps"]) for s in doc.get("samples", [])
                              if isinstance(s.get("generator"), dict)
                              and isinstance(s["generator"].get("send_pps"), (int, float))
                              and s["generator"]["send_pps"] > 0])
    return Host(truesize=float(probe["truesize"]), wmem_default=int(probe["wmem_default"]),
                relay_pps=arrival or math.inf,
                batch=int((doc.get("spec") or {}).get("reproduce", {}).get("batch", 64)))


def nic_from_doc(doc: dict, qdisc: Optional[str] = None) -> Optional[Nic]:
    """The NIC of the operating point, or the one that `qdisc` emulated."""
    spec = (doc.get("spec") or {}).get("reproduce") or {}
    nic = (spec.get("nics") or {}).get(qdisc) if qdisc else None
    nic = nic or spec.get("nic")
    if not isinstance(nic, dict):
        return None
    return Nic(float(nic["line_rate_bps"]), int(nic["ring_frames"]), int(nic["burst_frames"]))


def check_offered(row: Row) -> Optional[str]:
    """Why a row's offered rate is not the one asked, or None."""
    if row.offered_pps is None:
        return "no offered rate measured"
    if abs(row.offered_pps / row.asked_pps - 1.0) > OFFERED_TOLERANCE:
        return (f"the generator offered {row.offered_pps:,.0f} pps, not the {row.asked_pps:,.0f} "
                f"asked (more than {100 * OFFERED_TOLERANCE:g} % off)")
    return None


def analyse(doc: dict) -> list[Row]:
    """One row per line, burst size and setting (medians over ok samples), with the model's
    prediction, the offered-rate check and the egress against "before" on the same line and
    burst. Rows come line by line (slowest first), burst by burst."""
    grouped: dict[tuple[str, int, int, int], list[dict]] = {}
    for params, samples in results.cells(doc):
        if params.get("forwarder") != "mrelay" or not params.get("generator_bursts"):
            continue
        key = (params.get("egress_qdisc") or "", int(params.get("generator_batch") or
                                                     params.get("batch")),
               params.get("queue_depth"), params.get("sndbuf"))
        grouped.setdefault(key, []).extend(samples)
    host = host_of(doc)
    nics = {qdisc: nic_from_doc(doc, qdisc) for qdisc in {key[0] for key in grouped}}
    rows = []
    for qdisc, burst in sorted({key[:2] for key in grouped},
                               key=lambda k: (_line_of(nics[k[0]]), k[1])):
        group = []
        for setting in SETTINGS:
            samples = grouped.get((qdisc, burst, setting.queue_depth, setting.sndbuf))
            if samples:
                group.append(_row(setting, burst, samples, host, nics[qdisc]))
        _compare_with_before(group)
        rows += group
    return rows


def _line_of(nic: Optional[Nic]) -> float:
    return nic.line_rate_bps if nic is not None else 0.0


def _row(setting: Setting, burst: int, samples: list[dict], host: Optional[Host],
         nic: Optional[Nic]) -> Row:
    params = samples[0].get("params", {})
    row = Row(setting=setting, burst=burst, samples=len(samples), nic=nic,
              asked_pps=float(params.get("rate_pps") or 0),
              window_s=results.median([_window(s) for s in samples]) or 1.0,
              offered_pps=results.cell_median(samples, "offered_pps"),
              egress_pps=results.cell_median(samples, "delivered_pps"),
              loss_pct=results.cell_median(samples, "loss_pct"),
              exhaustion_pct=results.cell_median(samples, "buffer_exhaustion_pct"),
              counters=_counter_rates(samples), fanout=int(params.get("fanout", 1)))
    row.failed = check_offered(row) if row.asked_pps > 0 else "not a paced run"
    if host is not None and nic is not None and row.offered_pps:
        traffic = Traffic(size=int(params.get("size", DEFAULT_SIZE)), burst=burst,
                          rate_pps=row.offered_pps, fanout=int(params.get("fanout", 1)))
        row.prediction = predict(setting, traffic, nic, host)
    return row


def _compare_with_before(rows: list[Row]) -> None:
    before = next((r for r in rows if r.setting is BEFORE and not r.failed), None)
    offered = [r.offered_pps for r in rows if r.offered_pps and not r.failed]
    for row in rows:
        if row.failed is None and offered and abs(row.offered_pps / offered[0] - 1.0) > 0.02:
            row.failed = (f"offered {row.offered_pps:,.0f} pps, not within 2 % of the first "
                          f"row's {offered[0]:,.0f}")
        if before is not None and before.egress_pps and row.egress_pps and not row.failed:
            row.vs_before = row.egress_pps / before.egress_pps


# ---------------------------------------------------------------------------------------------
# The page

def _num(value: Optional[float], digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _signed(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def _send_drops(counters: dict) -> Optional[float]:
    found = [counters.get(n) for n in ("drop_eagain", "drop_enobufs")
             if counters.get(n) is not None]
    return sum(found) if found else None


def table(rows: Sequence[Row]) -> list[list[str]]:
    header = ["setting", "line Mbit/s", "burst", "offered pps", "egress copies/s", "model",
              "model error", "exhaustion %", "model", "× before", "SQ-full/s",
              "EAGAIN+ENOBUFS/s", "SndbufErrors/s", "ingress drops/s", "row"]
    out = [header]
    for row in rows:
        c, p = row.counters, row.prediction
        out.append([row.setting.name, f"{row.line_rate_bps / 1e6:g}", str(row.burst),
                    _num(row.offered_pps), _num(row.egress_pps),
                    _num(p.egress_pps if p else None),
                    _signed(row.model_error_pct("egress_pps")),
                    _num(row.exhaustion_pct, 1), _num(p.exhaustion_pct if p else None, 1),
                    "(reference)" if row.setting is BEFORE and not row.failed
                    else _num(row.vs_before, 2, "×"),
                    _num(c.get("uring_sq_full")), _num(_send_drops(c)),
                    _num(c.get(SNMP_SNDBUF)), _num(c.get("kernel_drops")),
                    f"FAILED: {row.failed}" if row.failed else "ok"])
    return out


def format_table(rows: Sequence[Row]) -> str:
    """Fixed-width text of table(rows) for the terminal."""
    cells = table(rows)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join([line[0].ljust(widths[0])] +
                               [c.rjust(w) for c, w in zip(line[1:-1], widths[1:-1])] +
                               [line[-1]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def operating_point(rows: Sequence[Row]) -> Optional[tuple[float, int]]:
    """(line rate, burst) of the rows measured with the most repetitions: the operating
    point; the sweeps run each of their points once."""
    if not rows:
        return None
    best = max(rows, key=lambda r: (r.samples, r.burst))
    return best.line_rate_bps, best.burst


def _at(rows: Sequence[Row], line_rate_bps: float, burst: int) -> dict[str, Row]:
    return {r.setting.name: r for r in rows
            if r.line_rate_bps == line_rate_bps and r.burst == burst}


def verdicts(rows: Sequence[Row]) -> list[str]:
    """What the operating point shows, computed from the counters and the model."""
    point = operating_point(rows)
    at = _at(rows, *point) if point else {}
    before, after = at.get(BEFORE.name), at.get(AFTER.name)
    if before is None or after is None:
        return ["The operating point lacks the before or the after row."]
    if before.failed or after.failed:
        return [f"**Not comparable**: {before.failed or after.failed}."]
    lines = [
        f"**Operating point** (bursts of {before.burst}, {before.line_rate_bps / 1e6:g} Mbit/s "
        f"line): after delivers {_num(after.vs_before, 2, '×')} the egress of before "
        f"({_num(after.egress_pps)} vs {_num(before.egress_pps)} copies/s); before loses the "
        f"tail of every burst ({_num(before.exhaustion_pct, 1)} % exhaustion, "
        f"{_num(_send_drops(before.counters))} EAGAIN/s, SQ-full "
        f"{_num(before.counters.get('uring_sq_full'))}/s), after "
        f"{_num(after.exhaustion_pct, 1)} %."]
    for setting in SETTINGS[1:-1]:
        row = at.get(setting.name)
        if row is None or row.failed:
            continue
        gained, total = (row.vs_before or 1.0) - 1.0, (after.vs_before or 1.0) - 1.0
        effect = ("nothing: " if gained < 0.2 else
                  "all of the gain: " if total > 0 and gained >= 0.95 * total else
                  "part of the gain: ")
        lines.append(f"{setting.name}: {effect}{_num(row.egress_pps)} copies/s "
                     f"({_num(row.vs_before, 2, '×')} before), {_num(row.exhaustion_pct, 1)} % "
                     f"exhaustion, SQ-full {_num(row.counters.get('uring_sq_full'))}/s.")
    lines.append(_depth_paragraph(before))
    lines.append(_model_paragraph(rows, point))
    return lines


def _model_paragraph(rows: Sequence[Row], point: tuple[float, int]) -> str:
    errors = [(abs(e), r) for r in rows if not r.failed
              for e in [r.model_error_pct("egress_pps")] if e is not None]
    if not errors:
        return "The model had no inputs recorded."
    on_line = [e for e, r in errors if r.line_rate_bps == point[0]]
    text = (f"The model's egress is within {max(on_line):.1f} % of every measured row on the "
            f"operating point's line ({len(on_line)} rows)" if on_line else "")
    worst, row = max(errors, key=lambda item: item[0])
    if row.line_rate_bps != point[0]:
        text += (f"; its largest error is {worst:.1f} % ({row.setting.name}, "
                 f"{row.line_rate_bps / 1e6:g} Mbit/s, bursts of {row.burst}): on a faster "
                 "line more of a burst leaves while it arrives, and the model takes the "
                 "generator's send rate for the speed the relay hands a burst on, which is "
                 "an upper bound")
    return text + "."


def _depth_paragraph(before: Row) -> str:
    """The queue depth's ceiling (Little's law) for the relay's sends and for sends that wait."""
    p = before.prediction
    if p is None or before.offered_pps is None:
        return "Queue depth: no model inputs recorded."
    return (f"Queue depth {BEFORE.queue_depth}: a copy that completes at once holds its slot "
            f"one submit batch, so the depth allows {_num(p.depth_limit_pps)} copies/s, far "
            f"above the {_num(before.offered_pps * before.fanout)} offered "
            f"(SQ-full {_num(before.counters.get('uring_sq_full'))}/s). Had the sends waited "
            f"for room, each would hold its slot {1e3 * p.parked_hold_s:.1f} ms (the "
            f"{p.held_frames} copies ahead at the line rate): {_num(p.parked_limit_pps)} "
            "copies/s, the investigation's kind of ceiling (128 slots ÷ 3.3 ms ≈ 39k).")


def _model_inputs(doc: dict, rows: Sequence[Row]) -> Optional[tuple[Traffic, Nic, Host]]:
    """The operating point's traffic, NIC and host, for the model's curves."""
    host, point = host_of(doc), operating_point(rows)
    if host is None or point is None:
        return None
    reference = _at(rows, *point).get(BEFORE.name)
    if reference is None or not reference.offered_pps or reference.nic is None:
        return None
    spec = (doc.get("spec") or {}).get("reproduce") or {}
    size, fanout = int(spec.get("size", DEFAULT_SIZE)), int(spec.get("fanout", DEFAULT_FANOUT))
    return Traffic(size, point[1], reference.offered_pps, fanout), reference.nic, host


def _ratio_vs_burst(doc: dict, rows: Sequence[Row], out_dir: Path) -> Optional[page.Section]:
    from . import plots

    inputs, point = _model_inputs(doc, rows), operating_point(rows)
    measured = [(float(r.burst), r.vs_before) for r in rows if r.setting is AFTER
                and r.vs_before is not None and point and r.line_rate_bps == point[0]]
    if not measured or inputs is None:
        return None
    traffic, nic, host = inputs
    bursts = sorted({2 ** k for k in range(4, 12)} | set(range(64, 2049, 64)))
    curve = [(float(b), ratio(AFTER, BEFORE, Traffic(traffic.size, b, traffic.rate_pps,
                                                     traffic.fanout), nic, host))
             for b in bursts]
    reference = f"the investigation's {REPORT_RATIO:.2f}×"
    plots.line_plot({"after ÷ before, measured": measured, "after ÷ before, model": curve,
                     reference: [(16.0, REPORT_RATIO), (2048.0, REPORT_RATIO)]},
                    out_dir / "ratio_vs_burst.png",
                    title="Egress gain of the fixes against burst size",
                    xlabel="burst (datagrams back to back)", ylabel="after ÷ before egress",
                    si_y=False, styles={
                        "after ÷ before, measured": {"linestyle": "none", "markersize": 8},
                        "after ÷ before, model": {"marker": "", "linestyle": "--"},
                        reference: {"marker": "", "linestyle": ":", "color": "grey"}},
                    vline=(float(point[1]), f"operating point: {point[1]}"))
    text = f"Measured points over the model's curve, {nic.line_rate_bps / 1e6:g} Mbit/s line."
    crossing = burst_for_ratio(REPORT_RATIO, AFTER, BEFORE, traffic, nic, host)
    if crossing is not None:
        text += f" The model passes {REPORT_RATIO:.2f}× at bursts of {crossing} datagrams."
    return page.Section("Gain against burst size", paragraphs=[text], image="ratio_vs_burst.png")


def _ratio_vs_line(doc: dict, rows: Sequence[Row], out_dir: Path) -> Optional[page.Section]:
    from . import plots

    inputs, point = _model_inputs(doc, rows), operating_point(rows)
    measured = [(r.line_rate_bps / 1e6, r.vs_before) for r in rows if r.setting is AFTER
                and r.vs_before is not None and point and r.burst == point[1]]
    if len(measured) < 2 or inputs is None:
        return None
    traffic, nic, host = inputs
    curve = []
    # The curve spans the measured lines only: beyond them nothing checks the model.
    top = max(m for m, _ in measured)
    for mbit in sorted({m for m, _ in measured} | {x / 4 for x in range(2, int(4 * top) + 1)}):
        line = Nic(mbit * 1e6, nic.ring_frames, nic.burst_frames)
        scaled = Traffic(traffic.size, traffic.burst,
                         traffic.rate_pps * line.line_rate_bps / nic.line_rate_bps, traffic.fanout)
        curve.append((mbit, ratio(AFTER, BEFORE, scaled, line, host)))
    plots.line_plot({"after ÷ before, measured": measured, "after ÷ before, model": curve},
                    out_dir / "ratio_vs_line.png",
                    title=f"Egress gain against line rate, bursts of {traffic.burst}",
                    xlabel="line rate per output (Mbit/s), average load scaled with it",
                    ylabel="after ÷ before egress", si_y=False, styles={
                        "after ÷ before, measured": {"linestyle": "none", "markersize": 8},
                        "after ÷ before, model": {"marker": "", "linestyle": "--"}},
                    vline=(nic.line_rate_bps / 1e6, "operating point"))
    return page.Section("Gain against line rate", image="ratio_vs_line.png", paragraphs=[
        "The same burst on faster lines, the average rate scaled so each line is as loaded: "
        "more of the burst leaves while it is still arriving, so before keeps more of it."])


def _egress_vs_burst(rows: Sequence[Row], out_dir: Path) -> Optional[page.Section]:
    from . import plots

    point = operating_point(rows)
    egress = {}
    for setting in SETTINGS:
        mine = [r for r in rows if r.setting is setting and not r.failed and point
                and r.line_rate_bps == point[0]]
        if mine:
            egress[f"{setting.name}, measured"] = [(float(r.burst), r.egress_pps) for r in mine]
            egress[f"{setting.name}, model"] = [(float(r.burst), r.prediction.egress_pps)
                                                for r in mine if r.prediction is not None]
    if not egress:
        return None
    plots.line_plot(egress, out_dir / "egress_vs_burst.png",
                    title="Egress against burst size, same average rate",
                    xlabel="burst (datagrams back to back)",
                    ylabel="egress (copies/s, all outputs)",
                    styles={label: {"marker": "", "linestyle": "--"} for label in egress
                            if label.endswith("model")})
    return page.Section("Egress against burst size", image="egress_vs_burst.png")


def _drop_counters(rows: Sequence[Row], out_dir: Path) -> Optional[page.Section]:
    from . import plots

    point = operating_point(rows)
    at = list(_at(rows, *point).values()) if point else []
    if not at:
        return None
    bars = {"SQ-full/s (relay)": [r.counters.get("uring_sq_full") for r in at],
            "EAGAIN+ENOBUFS/s (relay)": [_send_drops(r.counters) for r in at],
            "SndbufErrors/s (kernel SNMP)": [r.counters.get(SNMP_SNDBUF) for r in at]}
    plots.grouped_bars([r.setting.name.replace(" (", "\n(") for r in at], bars,
                       out_dir / "drop_counters.png",
                       title=f"Drop counters at the operating point (bursts of {point[1]})",
                       ylabel="events per second")
    return page.Section("Drop counters at the operating point", image="drop_counters.png")


def plot_sections(doc: dict, rows: Sequence[Row], out_dir: Path) -> list[page.Section]:
    found = [_ratio_vs_burst(doc, rows, out_dir), _ratio_vs_line(doc, rows, out_dir),
             _egress_vs_burst(rows, out_dir), _drop_counters(rows, out_dir)]
    return [section for section in found if section is not None]


def _intro(doc: dict) -> page.Section:
    spec = (doc.get("spec") or {}).get("reproduce") or {}
    nic, host = nic_from_doc(doc), host_of(doc)
    machine = results.machine_lines(doc)[0]
    intro = page.Section("What was run")
    intro.paragraphs += [
        "The November 2025 investigation: egress fell to 97k pps with an io_uring queue depth "
        "of 128 and the default ~208 KB SO_SNDBUF (86 % buffer exhaustion) and rose to 439k pps "
        "with depth 1024 and a 4 MiB send buffer. This page re-runs the four settings on the "
        "namespace rig; the figures are this machine's, never adjusted toward the report's.",
        f"Relay `uring` backend, batch {spec.get('batch', '?')}, UDP payload "
        f"{spec.get('size', '?')} B, fanout {spec.get('fanout', '?')}; the source sends bursts "
        f"back to back at {_num(spec.get('rate'))} packets/s on average. Every output sits "
        "behind an emulated NIC: " +
        (f"line {nic.line_rate_bps / 1e6:g} Mbit/s ({_num(nic.line_pps(spec.get('size', 0)))} "
         f"frames/s), ring {nic.ring_frames} frames, {nic.burst_frames} frames back to back "
         f"after idle (`{nic.qdisc(spec.get('size', 0))}`)." if nic else "?"),
        "Model inputs measured on this machine: " +
        (f"truesize {host.truesize:,.0f} B per datagram, default send buffer "
         f"{host.wmem_default:,} B (holds {_num((spec.get('buffers') or {}).get('default_buffer_datagrams'))} "
         f"datagrams), a burst arrives at {_num(host.relay_pps)} datagrams/s (the generator's "
         "send rate inside its bursts)." if host else "none recorded."),
        f"Machine: {machine}. Commit `{doc.get('git_commit', 'unknown')}`, created "
        f"{doc.get('created', '?')}.",
        "Regenerate: `python3 -m mrelay reproduce nov2025 --out reports/nov2025` (root, ~4.5 min) "
        "or `--from reports/nov2025/results.json` (re-renders). The model and the NIC "
        "emulation: docs/reports.md.",
    ]
    return intro


def write_outputs(doc: dict, out_dir: Path) -> tuple[str, list[Row]]:
    rows = analyse(doc)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = page.Section("Results", table=table(rows))
    result.paragraphs.append(
        "egress = copies the sinks received per second (all outputs); model = burst_model's "
        "prediction from this row's offered rate; exhaustion = packets received but not handed "
        "to every output ÷ received; × before = egress ÷ before's at the same burst size; "
        "counters are relay deltas per second over the window (SQ-full: no io_uring slot; "
        "EAGAIN+ENOBUFS: a send refused for a full buffer or ring) and the relay namespace's "
        "UDP SndbufErrors; ingress drops = the relay's AF_PACKET ring overflowing. A row whose "
        "generator missed the rate is FAILED and left out of every ratio.")
    verdict = page.Section("What the counters say", paragraphs=verdicts(rows))
    verdict.paragraphs.append(
        "Why: an output's socket takes a copy while its charge (truesize per waiting copy) is "
        "below its send buffer, and the NIC releases the charge only as the line sends. A "
        "burst far larger than the default buffer loses its tail on every output (EAGAIN at "
        "once: the relay's sends carry MSG_DONTWAIT); 4 MiB holds the whole burst and the "
        "line drains it before the next. The queue depth never binds here: a copy that "
        "completes at once frees its slot at the next reap (SQ-full stays 0). In the "
        "investigation's relay, sends waited for room and held their slot meanwhile, which is "
        "where a depth of 128 capped egress (128 slots ÷ 3.3 ms ≈ 39k copies/s).")
    sections = [_intro(doc), result, verdict] + plot_sections(doc, rows, out_dir)
    page.write_report(out_dir, "November 2025 investigation, reproduced", sections)
    return format_table(rows), rows
