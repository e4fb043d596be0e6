"""The arithmetic of a burst meeting a send buffer in front of a slow link: how many copies of
a burst an output takes, and so the egress and the buffer exhaustion of each November 2025
setting. One page, no I/O; ``reproduce.py`` measures its inputs and draws it over the runs.

    nic = Nic(line_rate_bps=100e6, ring_frames=2048, burst_frames=16)
    traffic = Traffic(size=1400, burst=1024, rate_pps=6000, fanout=4)
    host = Host(truesize=2304, wmem_default=212992, relay_pps=120e3)
    predict(Setting("before", 128, 0), traffic, nic, host).egress_pps   # copies/s, all outputs

The model, per output (every output gets a copy of every packet, so all behave alike):

- A copy is charged to its output's socket at its *truesize* (the kernel's size of the
  buffer holding it, larger than the datagram) from the send until the link has sent it. The
  socket accepts copies while the charge is below its send buffer: ``ceil(sndbuf / truesize)``
  copies wait at most (the default buffer, or twice what ``SO_SNDBUFFORCE`` asked for).
- The NIC holds at most ``ring_frames`` of them; ``burst_frames`` leave at once after an idle
  spell (the token bucket of the emulated NIC), and while the burst is still arriving the link
  sends ``line_pps`` per second of it. A burst arrives as fast as the relay forwards it
  (``relay_pps``), so ``line_pps * burst / relay_pps`` leave during its arrival.
- So an output takes ``accepted = min(burst, held + burst_frames + drained)`` copies of each
  burst and refuses the rest at once (EAGAIN: the relay's sends carry MSG_DONTWAIT), as long
  as the link sends a burst before the next one comes (average rate below the line rate).
- Delivered copies/s = fanout x rate x accepted / burst (capped by the line rate); a packet
  that lost its copy on an output counts in the exhaustion: 1 - accepted / burst.
- The queue depth bounds the copies in flight: depth / slot_hold_s copies/s at most, where a
  copy holds its slot from submission to completion (Little's law). A send that fails or
  succeeds at once completes at the next reap, one submit batch later; a send that waits for
  room (no MSG_DONTWAIT, the configuration of the original report) holds its slot until the
  link has sent what is ahead of it: 128 slots held 3.3 ms each allow ~39k copies/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

#: Bytes a UDP/IPv4 datagram adds on the wire before its payload: Ethernet 14, IPv4 20, UDP 8.
WIRE_OVERHEAD = 14 + 20 + 8


@dataclass(frozen=True)
class Setting:
    name: str
    queue_depth: int
    sndbuf: int  # bytes asked for; 0 = the kernel's default (net.core.wmem_default)


@dataclass(frozen=True)
class Nic:
    """A NIC's transmit path, in the terms the emulation (a tbf qdisc) is given."""
    line_rate_bps: float  # bits per second on the wire
    ring_frames: int  # frames the transmit queue holds; a copy beyond it is dropped (ENOBUFS)
    burst_frames: int  # frames sent back to back after an idle spell

    def line_pps(self, size: int) -> float:
        return self.line_rate_bps / (8.0 * frame_bytes(size))

    def qdisc(self, size: int) -> str:
        """The tbf that emulates this NIC for datagrams of `size` bytes: tbf charges each
        frame at its length on the wire and keeps the sender's charge while it waits."""
        frame = frame_bytes(size)
        return (f"tbf rate {self.line_rate_bps / 1e6:g}mbit burst {self.burst_frames * frame} "
                f"limit {self.ring_frames * frame}")


@dataclass(frozen=True)
class Traffic:
    size: int  # UDP payload, bytes
    burst: int  # packets back to back per burst
    rate_pps: float  # average offered packets/s
    fanout: int  # outputs: copies per packet


@dataclass(frozen=True)
class Host:
    """What the model takes from the machine, measured by the reproduction before its runs."""
    truesize: float  # bytes a queued copy is charged to its socket
    wmem_default: int  # the default send buffer, bytes
    relay_pps: float  # packets/s the relay forwards to every output when nothing limits it
    batch: int = 64  # relay submit batch: a completed copy is reaped at most one batch later


@dataclass(frozen=True)
class Prediction:
    socket_frames: int  # copies an output's send buffer holds
    held_frames: int  # of those, what the NIC ring lets wait
    drained_frames: float  # copies the link sends while the burst is arriving
    accepted: float  # copies of each burst an output takes
    egress_pps: float  # copies/s delivered, all outputs
    exhaustion_pct: float  # packets that lost a copy, % of received
    depth_limit_pps: float  # copies/s the queue depth allows (Little's law)
    parked_hold_s: float  # how long a send that waits for room would hold its slot
    parked_limit_pps: float  # copies/s the queue depth would allow then


def frame_bytes(size: int) -> int:
    return size + WIRE_OVERHEAD


def effective_sndbuf(sndbuf: int, host: Host) -> int:
    """The send buffer a socket ends up with: the kernel doubles what SO_SNDBUF(FORCE) asks
    for (room for its own bookkeeping) and uses wmem_default when nothing is asked."""
    return 2 * sndbuf if sndbuf > 0 else host.wmem_default


def socket_frames(sndbuf: int, host: Host) -> int:
    """Copies accepted before the charge reaches the buffer: the check is "charge < sndbuf"
    before each send, so the last one may go over."""
    return math.ceil(effective_sndbuf(sndbuf, host) / host.truesize)


def depth_limit_pps(queue_depth: int, slot_hold_s: float) -> float:
    """Little's law: copies/s at most when each of `queue_depth` slots is held `slot_hold_s`."""
    return math.inf if slot_hold_s <= 0 else queue_depth / slot_hold_s


def nonblocking_slot_hold_s(host: Host, fanout: int) -> float:
    """How long a MSG_DONTWAIT copy holds its slot: until the next reap, at most one submit
    batch of copies later at the relay's copy rate."""
    return host.batch / (host.relay_pps * fanout)


def parked_slot_hold_s(setting: Setting, traffic: Traffic, nic: Nic, host: Host) -> float:
    """How long a copy that waits for room holds its slot (sends without MSG_DONTWAIT): until
    the line has sent the full buffer ahead of it."""
    ahead = min(socket_frames(setting.sndbuf, host), nic.ring_frames)
    return ahead / nic.line_pps(traffic.size)


def predict(setting: Setting, traffic: Traffic, nic: Nic, host: Host) -> Prediction:
    line = nic.line_pps(traffic.size)
    in_buffer = socket_frames(setting.sndbuf, host)
    held = min(in_buffer, nic.ring_frames)
    drained = line * traffic.burst / host.relay_pps if host.relay_pps > 0 else 0.0
    accepted = min(float(traffic.burst), held + nic.burst_frames + drained)
    per_output = min(traffic.rate_pps * accepted / traffic.burst, line)
    depth_limit = depth_limit_pps(setting.queue_depth,
                                  nonblocking_slot_hold_s(host, traffic.fanout))
    egress = min(traffic.fanout * per_output, depth_limit)
    parked = parked_slot_hold_s(setting, traffic, nic, host)
    exhaustion = 100.0 * max(0.0, 1.0 - egress / (traffic.fanout * traffic.rate_pps))
    return Prediction(socket_frames=in_buffer, held_frames=held, drained_frames=drained,
                      accepted=accepted, egress_pps=egress, exhaustion_pct=exhaustion,
                      depth_limit_pps=depth_limit, parked_hold_s=parked,
                      parked_limit_pps=depth_limit_pps(setting.queue_depth, parked))


def ratio(after: Setting, before: Setting, traffic: Traffic, nic: Nic, host: Host) -> float:
    """Egress of `after` over `before` at the same traffic."""
    low = predict(before, traffic, nic, host).egress_pps
    return predict(after, traffic, nic, host).egress_pps / low if low > 0 else math.inf


def burst_for_ratio(target: float, after: Setting, before: Setting, traffic: Traffic,
                    nic: Nic, host: Host, largest: int = 1 << 16) -> Optional[int]:
    """The smallest burst at which `after` delivers `target` times `before`, or None."""
    for burst in range(1, largest + 1):
        shaped = Traffic(traffic.size, burst, traffic.rate_pps, traffic.fanout)
        if ratio(after, before, shaped, nic, host) >= target:
            return burst
    return None
