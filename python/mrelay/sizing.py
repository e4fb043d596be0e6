"""``python3 -m mrelay sizing RESULTS...``: the hardware-sizing table, as Markdown.

For each packet size and fanout measured in RESULTS (``mrelay-bench sweep`` output, e.g. of
``reports/sweeps/fanout.json`` or ``size_batch.json``): the relay's no-drop rate per relay core,
the Gbit/s that rate carries out of the relay, the relay CPU per 100k pps, and the ratio to
the best kernel reference measured on the same rig in the same run (multicast routing,
``kernel``, or nftables replication, ``kernel-nft``: whichever delivered more; the table says
which), under the machine fingerprint.

    python3 -m mrelay sizing fanout.json size_batch.json > reports/sizing/vm2.md

Rates come from NDR cells (``"rates": ["ndr"]``: highest rate with loss <= 0.1 %). A size and
fanout with no NDR cell falls back to its saturation cell and says so in the "rate" column:
a saturation figure includes loss, so it is an upper bound, not a sizing figure.

A second table, from the paced cells that carry ``ns_per_copy`` (docs/metrics.md; e.g. of
``reports/sweeps/cpu-per-copy.json``), gives every forwarder's CPU cost per delivered copy and
the cores it would need for an ingress rate N at fanout F: cores = N × F × ns_per_copy / 1e9
(copies per second times CPU seconds per copy), at the fanout it was measured at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import results

#: Bytes a UDP datagram adds on Ethernet beyond its payload: Ethernet header 14 + IPv4 20 +
#: UDP 8. Preamble, FCS and inter-frame gap (24 more) are left out: veth carries none.
HEADER_BYTES = 42


#: The kernel references of the specs and their short labels ("× kernel (nft)").
KERNEL_REFERENCES = {"kernel": "ipmr", "kernel-nft": "nft"}


@dataclass
class SizingRow:
    size: int
    fanout: int
    source: str  # "ndr" or "saturation"
    config: str  # the relay setting that gave the best rate
    ingress_pps: float  # packets/s into the relay at that rate
    workers: int
    relay_cpu_pct: Optional[float]
    kernel_pps: Optional[float]
    kernel_note: str = ""
    kernel_reference: str = ""  # "ipmr" or "nft": which kernel reference kernel_pps is

    @property
    def pps_per_core(self) -> float:
        return self.ingress_pps / max(1, self.workers)

    @property
    def copies_pps(self) -> float:
        return self.ingress_pps * self.fanout

    def gbits(self, with_headers: bool = False) -> float:
        """Egress Gbit/s (all outputs): payload only, or with Ethernet/IP/UDP headers."""
        size = self.size + (HEADER_BYTES if with_headers else 0)
        return self.copies_pps * size * 8 / 1e9

    @property
    def cpu_per_100k(self) -> Optional[float]:
        """Percent of one core per 100k delivered pps (copies summed over outputs, docs/metrics.md's
        delivered pps): comparable across fanouts, since each copy is one send."""
        if self.relay_cpu_pct is None or self.copies_pps <= 0:
            return None
        return self.relay_cpu_pct * 1e5 / self.copies_pps

    @property
    def kernel_ratio(self) -> Optional[float]:
        if not self.kernel_pps:
            return None
        return self.ingress_pps / self.kernel_pps


def _ingress_rate(params: dict, samples: list[dict]) -> Optional[float]:
    """Packets/s into the forwarder: the NDR, or the delivered copies ÷ fanout at saturation."""
    if params.get("rate_pps") == "ndr":
        return results.cell_median(samples, "ndr_pps")
    delivered = results.cell_median(samples, "delivered_pps")
    return None if delivered is None else delivered / max(1, int(params.get("fanout", 1)))


def _device_segmentation(params: dict) -> bool:
    """A gso cell of the device segmentation model (the veth carried each UDP GSO run whole,
    as a NIC with USO would): not the conservative figure (docs/metrics.md, "Where
    segmentation is paid"). Records without the key are not marked."""
    return params.get("egress") == "gso" and params.get("egress_segmentation") == "device"


def sizing_rows(doc: dict) -> list[SizingRow]:
    """One row per (size, fanout) the relay was measured at, best relay setting first. A
    cell of the device segmentation model makes the row only where no other cell has a
    figure: sizing takes the conservative model."""
    best: dict[tuple[int, int], tuple[str, float, dict, list[dict]]] = {}
    kernel: dict[tuple[int, int], tuple[str, float, str]] = {}
    unfound: dict[tuple[int, int], str] = {}  # relay NDR searches that found no rate
    for params, samples in results.cells(doc):
        source = "ndr" if params.get("rate_pps") == "ndr" else (
            "saturation" if params.get("rate_pps") == 0 else None)
        if source is None:
            continue
        rate = _ingress_rate(params, samples)
        key = (int(params.get("size", 0)), int(params.get("fanout", 1)))
        if rate is None:
            if source == "ndr" and params.get("forwarder") == "mrelay":
                notes = {str((x.get("ndr") or {}).get("note")) for x in samples}
                unfound[key] = "; ".join(sorted(notes))
            continue
        rank = (source == "ndr", not _device_segmentation(params), rate)
        if params.get("forwarder") == "mrelay":
            current = best.get(key)
            if current is None or rank > (current[0] == "ndr",
                                          not _device_segmentation(current[2]), current[1]):
                best[key] = (source, rate, params, samples)
        elif params.get("forwarder") in KERNEL_REFERENCES:
            # The best kernel reference that ran: multicast routing or nftables.
            current_k = kernel.get(key)
            if current_k is None or rank > (current_k[0] == "ndr", True, current_k[1]):
                kernel[key] = (source, rate, KERNEL_REFERENCES[params["forwarder"]])
    rows = []
    for key in sorted(unfound):
        if key not in best:
            rows.append(SizingRow(size=key[0], fanout=key[1], source="no NDR found",
                                  config=unfound[key], ingress_pps=0.0, workers=1,
                                  relay_cpu_pct=None, kernel_pps=None))
    for (size, fanout), (source, rate, params, samples) in sorted(best.items()):
        kernel_rate = kernel.get((size, fanout))
        note = ""
        if kernel_rate is None:
            limit = results.kernel_vif_limit()
            note = (f"beyond ipmr's {limit}-VIF limit, no kernel-nft cell"
                    if fanout > limit else "not measured or skipped")
        elif kernel_rate[0] != source:
            note = f"kernel figure from {kernel_rate[0]}, relay from {source}"
        config = (f"{params.get('egress', '?')} b{params.get('batch', '?')} "
                  f"q{params.get('queue_depth', '?')}"
                  + (" (USO-like)" if _device_segmentation(params) else ""))
        workers = samples[0].get("placement", {}).get("relay_workers", 1)
        rows.append(SizingRow(size=size, fanout=fanout, source=source, config=config,
                              ingress_pps=rate,
                              workers=workers if isinstance(workers, int) else 1,
                              relay_cpu_pct=results.cell_median(samples, "relay_cpu_pct"),
                              kernel_pps=kernel_rate[1] if kernel_rate else None,
                              kernel_note=note,
                              kernel_reference=kernel_rate[2] if kernel_rate else ""))
    return rows


def _nics(fingerprint: dict) -> str:
    nics = fingerprint.get("interfaces") or {}
    return ", ".join(
        f"{name} {nic.get('driver') or '?'}"
        + (f" {nic['speed_mbps'] / 1000:g} Gbit/s" if nic.get("speed_mbps") else "")
        for name, nic in sorted(nics.items()))


def rig_lines(doc: dict) -> list[str]:
    """Who measured: the DUT and tester of an inventory rig (each host's fingerprint, NICs
    included), or the one machine of the namespace rig; and the headroom the tester had."""
    hosts = doc.get("hosts") or {}
    lines = []
    if hosts:
        for role in ("dut", "tester", "sink"):
            for name, host in sorted(hosts.items()):
                if host.get("role") != role:
                    continue
                fp = host.get("fingerprint") or {}
                lines.append(
                    f"{role.upper() if role == 'dut' else role.capitalize()} `{name}` "
                    f"({host.get('ssh')}): {fp.get('cpu_model') or '?'}, "
                    f"{fp.get('cores_online') or '?'} cores, kernel `{fp.get('kernel') or '?'}`"
                    + (f"; links: {_nics(fp)}" if fp.get("interfaces") else "") + ".")
    else:
        machine = doc.get("machine") or {}
        lines.append(f"Rig: namespaces on one machine ({machine.get('cores_online', '?')} "
                     "cores shared by generator, sink and relay).")
    headroom = doc.get("headroom") or {}
    if headroom.get("checked"):
        bound = headroom.get("rig_bound") or []
        lines.append(
            f"Tester headroom: `direct` must reach {headroom.get('margin')}× the forwarder's "
            f"rate; {len(bound)} of {headroom['checked']} saturation/NDR samples were "
            "rig-bound" + (" (their rates are the tester's, not the relay's)." if bound
                           else "."))
    return lines


#: Ingress rates (Mpps) of the "cores needed" columns.
CORES_FOR_MPPS = (0.1, 1.0)


def cores_needed(ns_per_copy: float, mpps: float, fanout: int) -> float:
    """Cores for `mpps` million packets/s in, each copied to `fanout` outputs, at
    `ns_per_copy` ns of CPU per copy: N × F copies/s × ns / 1e9."""
    return mpps * 1e6 * fanout * ns_per_copy / 1e9


@dataclass
class CostRow:
    forwarder: str  # "mrelay (gso)", "kernel-nft", "direct" ...
    size: int
    fanout: int  # outputs the cost was measured at (1 for direct)
    rate_pps: float  # the paced ingress rate
    ns_per_copy: float  # median over the cell's runs
    loss_pct: Optional[float]  # the worst run's: a lossy run's cost per copy is suspect

    def cores(self, mpps: float) -> float:
        return cores_needed(self.ns_per_copy, mpps, self.fanout)


def _forwarder_label(params: dict) -> str:
    forwarder = str(params.get("forwarder", "?"))
    if forwarder != "mrelay":
        return forwarder
    uso = ", USO-like" if _device_segmentation(params) else ""
    return f"mrelay ({params.get('egress', '?')}{uso})"


def cost_rows(doc: dict) -> list[CostRow]:
    """One row per paced cell with ns_per_copy, by size, fanout, rate, then forwarder.
    `direct` has one output whatever the cell's fanout: only its fanout-1 cells make rows."""
    rows = []
    for params, samples in results.cells(doc):
        rate = params.get("rate_pps")
        if not isinstance(rate, (int, float)) or rate <= 0:
            continue  # saturation and NDR cells: the core is full, ns/copy is 1 / rate
        ns = results.cell_median(samples, "ns_per_copy")
        fanout = int(params.get("fanout", 1))
        if ns is None or (params.get("forwarder") == "direct" and fanout != 1):
            continue
        losses = results.values(samples, "loss_pct")
        rows.append(CostRow(forwarder=_forwarder_label(params), size=int(params.get("size", 0)),
                            fanout=fanout, rate_pps=float(rate), ns_per_copy=ns,
                            loss_pct=max(losses) if losses else None))
    return sorted(rows, key=lambda r: (r.size, r.fanout, r.rate_pps, r.forwarder))


def format_cost_markdown(doc: dict) -> list[str]:
    """The CPU-per-copy table as Markdown lines (none without such cells)."""
    rows = cost_rows(doc)
    if not rows:
        return []
    columns = " | ".join(f"cores for {mpps:g} Mpps in" for mpps in CORES_FOR_MPPS)
    lines = [
        "",
        "### CPU per copy and cores needed",
        "",
        f"| forwarder | size (B) | fanout F | paced at | worst loss % | ns per copy | {columns} |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(CORES_FOR_MPPS),
    ]
    for row in rows:
        loss = "-" if row.loss_pct is None else f"{row.loss_pct:.2g}"
        cores = " | ".join(f"{row.cores(mpps):.2f}" for mpps in CORES_FOR_MPPS)
        lines.append(f"| {row.forwarder} | {row.size} | {row.fanout} | {_k(row.rate_pps)} pps | "
                     f"{loss} | {row.ns_per_copy:.0f} | {cores} |")
    lines += [
        "",
        "- *ns per copy*: the forwarding work on the forwarder's core over the window (all its "
        "kernel time plus the forwarder's own user time) ÷ copies delivered (docs/metrics.md). "
        "It includes the outputs' receive softirq on veth (for `direct`, that receive work "
        "alone: the rig's share in every other row) and other processes' kernel time on that "
        "core: measure on a quiet machine.",
        "- *cores for N Mpps in*: N × F × ns per copy / 1e9 (copies per second × CPU seconds "
        "per copy), at the row's fanout F. A linear extrapolation: it assumes the cost per copy "
        "stays what it was at the paced rate (batching usually lowers it under load) and that "
        "the work spreads over cores.",
    ]
    return lines


def _k(value: float) -> str:
    return f"{value / 1e3:,.1f}k"


def format_markdown(doc: dict) -> str:
    """The sizing table with the machine fingerprint above it, as Markdown."""
    rows = sizing_rows(doc)
    machine = doc.get("machine") or {}
    fingerprint = ", ".join(f"{key} `{machine.get(key)}`" for key in results.FINGERPRINT_KEYS
                            if key in machine) or "not recorded"
    lines = [
        "### Hardware sizing: mrelay per relay core",
        "",
        f"Machine: {fingerprint}" + (" (the DUT)." if doc.get("hosts") else "."),
        *rig_lines(doc),
        f"Results: commit `{doc.get('git_commit', 'unknown')}`, created "
        f"{doc.get('created', '?')}, {len(doc.get('samples', []))} samples.",
        "",
    ]
    if not rows:
        lines.append("No relay NDR or saturation cells in RESULTS: nothing to size. Run a "
                      "sweep with `\"rates\": [\"ndr\"]` (e.g. reports/sweeps/fanout.json).")
        return "\n".join(lines + format_cost_markdown(doc)) + "\n"
    lines += [
        "| size (B) | fanout | rate | no-drop pps per core (in) | copies/s out | Gbit/s out "
        "(payload / on wire) | relay CPU per 100k pps out | × kernel (reference) | relay setting |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    missing = [row for row in rows if row.source == "no NDR found"]
    rows = [row for row in rows if row.source != "no NDR found"]
    for row in rows:
        cpu = "-" if row.cpu_per_100k is None else f"{row.cpu_per_100k:.1f} % of a core"
        ratio = (f"{row.kernel_ratio:.2f}x ({row.kernel_reference})"
                 if row.kernel_ratio is not None else "n/a") + (
            f" ({row.kernel_note})" if row.kernel_note else "")
        lines.append(
            f"| {row.size} | {row.fanout} | {row.source} | {_k(row.pps_per_core)} | "
            f"{_k(row.copies_pps)} | {row.gbits():.2f} / {row.gbits(True):.2f} | {cpu} | "
            f"{ratio} | {row.config} |")
    medians = [r.cpu_per_100k for r in rows if r.cpu_per_100k is not None]
    if missing:
        lines.append("")
        for row in missing:
            lines.append(f"No no-drop rate found for {row.size} B, fanout {row.fanout} (the "
                         f"search said: {row.config}): no row, re-run that cell.")
    lines += [
        "",
        "- *no-drop pps per core*: packets/s into the relay at which loss stays <= 0.1 % "
        "(RFC 2544-style binary search, resolution 2 %), divided by the relay's worker count "
        "(one pinned worker here). `saturation` rows have no NDR cell: the figure is what got "
        "through at full offered load, with loss, so it is an upper bound.",
        f"- *Gbit/s out*: copies/s × UDP payload, and with {HEADER_BYTES} B of "
        "Ethernet+IPv4+UDP headers per copy.",
        "- *relay CPU per 100k pps*: the relay process's user+sys time during the window, "
        "scaled to 100k delivered pps (copies, summed over outputs); CPU time is sampled in "
        "10 ms ticks, so low-rate rows are coarse"
        + (f" (median over rows: {results.median(medians):.1f} %)." if medians else "."),
        "- *vs kernel forwarding*: the relay's rate ÷ the best kernel reference's in the same "
        "run and rig: `ipmr` = multicast routing (MRT_* socket options; cannot fan out past "
        f"{results.kernel_vif_limit()} interfaces; absent from kernels without "
        "CONFIG_IP_MROUTE), "
        "`nft` = an nftables netdev ingress chain that rewrites and `dup`s to every output.",
        "- Rates are only the relay's where the tester had headroom (see above): compare ratios "
        "taken in one run more than absolute rates.",
    ]
    return "\n".join(lines + format_cost_markdown(doc)) + "\n"
