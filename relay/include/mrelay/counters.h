// Per-worker counters, declared once: the same list yields the struct, JSON names and
// Prometheus names. The owning worker increments plain uint64_t fields (no atomics); readers
// take snapshots (a torn read of one 64-bit aligned field cannot happen on x86-64/arm64).
//
//   mrelay::WorkerCounters c{};  ++c.rx_packets;
//   mrelay::for_each_counter(c, [](std::string_view name, uint64_t v) { ... });
#pragma once

#include <cstdint>
#include <string_view>

namespace mrelay {

// X(name, help). Definitions are binding (docs/metrics.md, "Drop accounting").
#define MRELAY_WORKER_COUNTERS(X)                                                              \
  X(rx_packets, "frames/datagrams read from ingress (before parsing)")                         \
  X(rx_bytes, "bytes of rx_packets (UDP payload)")                                             \
  X(fwd_packets, "received packets handed to egress for at least one output")                  \
  X(tx_packets, "copies sent, one per output per packet")                                      \
  X(tx_bytes, "UDP payload bytes of tx_packets")                                               \
  X(malformed_truncated, "frames cut inside a header")                                         \
  X(malformed_bad_ip_header, "IPv4 version/IHL invalid; IPv6 version or extension headers")   \
  X(malformed_bad_length, "IP total/payload length or UDP length disagrees with the frame")     \
  X(malformed_bad_checksum, "IPv4 header checksum wrong")                                      \
  X(malformed_fragment, "IPv4 fragments and IPv6 Fragment headers (not reassembled)")          \
  X(unmatched_not_ipv4, "frames that are neither IPv4 nor IPv6")                               \
  X(unmatched_not_udp, "IPv4/IPv6 packets that are not UDP (after IPv6 extension headers)")    \
  X(unmatched_no_rule, "UDP packets matching no rule (interface, VLAN, group, port, source)")   \
  X(exhausted_packets,                                                                         \
    "packets that lost at least one copy to a full queue or buffer (drop_queue_full, "         \
    "drop_enobufs, drop_eagain); a summary per packet, not a drop count (docs/metrics.md)")     \
  X(drop_buffer_exhausted, "packets dropped: buffer pool empty (no copy made)")                \
  X(drop_queue_full, "copies dropped: per-output send queue full")                             \
  X(drop_enobufs, "copies dropped: send returned ENOBUFS (socket memory, or a qdisc drop)")     \
  X(drop_eagain, "copies dropped: send returned EAGAIN (socket send buffer full)")             \
  X(drop_other_errno, "copies dropped: send failed with another errno")                        \
  X(syscalls, "system calls made by the data plane loop")                                      \
  X(batches, "egress batches submitted (sendmmsg calls or io_uring submits)")                  \
  X(uring_sq_full, "io_uring submission queue full events")                                    \
  X(kernel_drops,                                                                              \
    "drops reported by the kernel: PACKET_STATISTICS tp_drops / SO_RXQ_OVFL / XDP_STATISTICS")  \
  X(ingress_errors, "socket errors read off ingress sockets (ENETDOWN while the link is down)")   \
  X(output_rebinds, "outputs re-attached to a re-created interface (new ifindex)")               \
  X(output_rebind_failures, "re-attach attempts that failed (EPERM without CAP_NET_RAW...)")    \
  X(gso_fallbacks, "outputs switched from UDP GSO to one datagram per message (EIO, EINVAL)")   \
  /* TTL and loops */                                                                           \
  X(drop_ttl_expired,                                                                           \
    "received packets matching a rule dropped: TTL <= 1 (a copy would leave with TTL 0)")       \
  X(drop_ttl_threshold, "copies not sent: the received TTL is not above the output's "          \
                        "ttl_threshold")                                                           \
  /* packet ingress acceptance: what the kernel's own receive path would refuse */              \
  X(rejected_other_host,                                                                        \
    "frames for another host: packet type not host, multicast or broadcast (PACKET_OTHERHOST)") \
  X(rejected_martian_source, "source in 0/8, 127/8, 224/4, 240/4; ::1, ff00::/8, ::ffff:0:0/96")  \
  X(malformed_udp_checksum, "UDP checksum present, final and wrong; zero on IPv6 (mandatory)")   \
  X(malformed_gso, "GSO frames the relay cannot split (not UDP_L4, segment size 0, > 128 segs)") \
  X(gso_frames, "UDP GSO super-frames received (a sender's run crossing a veth unsegmented)")   \
  X(gso_segments, "datagrams split out of gso_frames, each forwarded on its own")               \
  X(rx_truncated,                                                                               \
    "frames longer than the receive slot whose whole copy could not be read: dropped")          \
  X(rx_oversize, "datagrams with a UDP payload larger than a packet buffer (buffer_size)")      \
  X(drop_too_big, "copies dropped: larger than the output's MTU (packet egress never fragments)") \
  X(tx_fragmented, "copies larger than the output's MTU, sent as IPv4 fragments by the kernel")  \
  /* control plane, drops and lifecycle */                                                     \
  X(drop_cancelled,                                                                            \
    "copies still in flight when the egress was torn down (rule change, shutdown) and cancelled")

struct alignas(64) WorkerCounters {
#define MRELAY_COUNTER_FIELD(name, help) uint64_t name = 0;
  MRELAY_WORKER_COUNTERS(MRELAY_COUNTER_FIELD)
#undef MRELAY_COUNTER_FIELD

  WorkerCounters& operator+=(const WorkerCounters& other) {
#define MRELAY_COUNTER_ADD(name, help) name += other.name;
    MRELAY_WORKER_COUNTERS(MRELAY_COUNTER_ADD)
#undef MRELAY_COUNTER_ADD
    return *this;
  }
};

/// Calls fn(name, value, help) for every counter in declaration order.
template <typename Fn>
void for_each_counter(const WorkerCounters& c, Fn&& fn) {
#define MRELAY_COUNTER_VISIT(name, help) fn(std::string_view(#name), c.name, std::string_view(help));
  MRELAY_WORKER_COUNTERS(MRELAY_COUNTER_VISIT)
#undef MRELAY_COUNTER_VISIT
}

// control plane, drops and lifecycle: counters of the process itself, one set per process,
// written by the main thread only (the control plane and interface tracking) and read by it
// (stats, Prometheus). The stats line carries them as "process":{...}; Prometheus as
// mrelay_<name>_total without a worker label. X(name, help) as above.
#define MRELAY_PROCESS_COUNTERS(X)                                                             \
  X(control_peer_refused,                                                                      \
    "control connections refused: peer not root, not the relay's uid, not in a control group") \
  X(control_request_refused, "control requests refused: command needs full access, read-only") \
  X(control_busy_refused, "control connections refused: every control client slot taken")     \
  X(metrics_busy_refused, "metrics connections refused (503): every metrics client slot taken") \
  X(client_deadline_closes, "control/metrics clients closed for missing their deadline")      \
  X(metrics_bind_retries, "binds of the metrics port that failed (busy) and were retried")     \
  X(ingress_reopens, "ingress interfaces re-opened after being deleted and re-created")        \
  X(ingress_reopen_failures, "ingress re-opens that failed (logged; retried at the next event)") \
  X(state_save_failures, "state file saves that failed (e.g. a symlink at the path: refused)")

struct ProcessCounters {
#define MRELAY_COUNTER_FIELD(name, help) uint64_t name = 0;
  MRELAY_PROCESS_COUNTERS(MRELAY_COUNTER_FIELD)
#undef MRELAY_COUNTER_FIELD
};

/// Calls fn(name, value, help) for every process counter in declaration order.
template <typename Fn>
void for_each_process_counter(const ProcessCounters& c, Fn&& fn) {
#define MRELAY_COUNTER_VISIT(name, help) fn(std::string_view(#name), c.name, std::string_view(help));
  MRELAY_PROCESS_COUNTERS(MRELAY_COUNTER_VISIT)
#undef MRELAY_COUNTER_VISIT
}

}  // namespace mrelay
