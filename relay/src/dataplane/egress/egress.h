// The egress contract: hand copies of a received packet to output sockets. One file per
// backend (egress_send.cc, egress_sendmmsg.cc for sendmmsg and gso, egress_uring.cc,
// egress_packet.cc); which one runs, and every fallback, is decided in egress_selector.h.
//
//   std::vector<UniqueFd> sockets;  // one per output, from open_output_socket()
//   auto egress = mrelay::make_egress({.backend = EgressBackend::uring, .queue_depth = 256,
//                                      .batch = 32}, fds, pool, counters);  // egress_selector.h
//   for (each packet) { for (each output o) { egress->send(o, buf, payload, len, ttl); } }
//   egress->flush();   // end of the loop turn: everything queued goes to the kernel
//   egress->reap();    // completions (io_uring): release buffers, count errors
//
// Buffers: every backend takes a reference on the packet's buffer for each copy it accepts
// (BufferPool::retain) and releases it when that copy is done (sent, failed or cancelled), so
// one buffer serves every output and the caller may release its own reference as soon as
// send() returns. A backend that sends at once (send) takes no reference. Nothing here
// allocates, throws or logs after construction: failures are counted in WorkerCounters, each
// lost copy once.
//
// Every copy carries its own IPv4 TTL (the worker decrements the received one). The UDP-socket
// backends send it as an IP_TTL control message with the copy, which Linux applies to
// multicast too (the per-call TTL overrides IP_MULTICAST_TTL), unless it equals the TTL the
// socket sends anyway: then the copy goes without one. The packet backend writes it into the
// IPv4 header it builds.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/buffer_pool.h"
#include "mrelay/config.h"
#include "mrelay/counters.h"
#include "mrelay/error.h"

namespace mrelay {

/// Per-output counters, one array per worker (the worker is the only writer; readers load
/// relaxed). queued = the egress backend accepted the copy (sent at once, or queued for the
/// batch / io_uring); dropped = it refused the copy at hand-over (no queue slot, or a
/// synchronous send error); failed = an accepted copy that was not sent after all (a later
/// sendmmsg or an io_uring completion failed, or it was cancelled at a teardown). So
/// queued = sent + failed + in flight, per output (docs/metrics.md).
struct OutputCounters {
  uint64_t queued_packets = 0;
  uint64_t dropped_packets = 0;
  uint64_t failed_packets = 0;
};

/// How the gso backend gathers its sendmmsg() calls. all: the copies of every IPv4 multicast
/// output go through one unconnected socket shared by those outputs, one sendmmsg() per flush
/// for all of them (each message names its group, its interface by IP_PKTINFO and its TTL);
/// the other outputs (unicast, IPv6) keep their own sockets. per_output: one sendmmsg() per
/// output and flush through the output's own socket, as the sendmmsg backend does.
enum class GsoBatch : uint8_t { all, per_output };

/// MRELAY_GSO_BATCH=per-output selects GsoBatch::per_output for A/B runs (any other value, or
/// none, selects all); EgressOptions::gso_batch, when set, wins.
inline constexpr const char* kGsoBatchEnv = "MRELAY_GSO_BATCH";

struct EgressOptions {
  EgressBackend backend = kDefaultEgressBackend;
  uint32_t queue_depth = kDefaultQueueDepth;  // io_uring SQ entries = copies in flight (uring)
  uint32_t batch = kDefaultEgressBatch;  // copies per sendmmsg (per output) or io_uring submit
  // Where accepted copies that fail later are counted per output (index = output number);
  // empty = only in the worker's drop_* counters. Must outlive the Egress.
  std::span<OutputCounters> output_counters{};
  // gso only; unset = kGsoBatchEnv, else GsoBatch::all.
  std::optional<GsoBatch> gso_batch{};
};

/// Options of the UDP socket for one output.
struct OutputSocketOptions {
  uint32_t sndbuf = 0;  // bytes, 0 = kernel default; SO_SNDBUFFORCE tried first
  // Non-blocking sockets: a full send buffer is counted (drop_eagain) instead of stalling the
  // single-threaded loop (send/sendmmsg). io_uring ignores O_NONBLOCK for sends (it would park
  // the copy and retry when space frees, reordering the stream): the uring backend passes
  // MSG_DONTWAIT on every send for the same effect.
  bool non_blocking = true;
};

/// Opens the UDP socket for one output: SO_BINDTODEVICE, IP_MULTICAST_IF (ip_mreqn ifindex),
/// TTL, IP_MULTICAST_LOOP 0, SO_SNDBUF(FORCE), IP_RECVERR (a copy the qdisc drops fails with
/// ENOBUFS instead of being reported sent), connect()ed so the route is cached. An IPv6 output
/// (Output::address6) gets the same as an AF_INET6 socket: IPV6_MULTICAST_IF, _HOPS, _LOOP 0,
/// IPV6_UNICAST_HOPS, IPV6_RECVERR. The IPv4 socket: SO_BINDTODEVICE, IP_MULTICAST_IF,
/// TTL, IP_MULTICAST_LOOP 0, SO_SNDBUF(FORCE), IP_RECVERR (a copy the qdisc drops fails with
/// ENOBUFS instead of being reported sent), connect()ed so the route is cached. `ifindex`
/// is the output interface's index. Errors name `where` (e.g. "rules[0].outputs[2]") and the
/// failing setsockopt.
[[nodiscard]] Result<UniqueFd> open_output_socket(const Output& output, unsigned ifindex,
                                                  const OutputSocketOptions& options,
                                                  const std::string& where);

/// The interface index an output socket is bound to (SO_BINDTODEVICE), 0 when unbound or
/// unknown.
[[nodiscard]] unsigned output_socket_ifindex(int fd) noexcept;

/// The peer of a connected IPv4 output socket, or nullopt (unconnected, IPv6, not a socket).
[[nodiscard]] std::optional<sockaddr_in> output_socket_peer(int fd) noexcept;

/// The peer of a connected IPv6 output socket (its scope id included), or nullopt.
[[nodiscard]] std::optional<sockaddr_in6> output_socket_peer6(int fd) noexcept;

/// Opens the gso backend's shared socket for the multicast outputs of one family
/// (GsoBatch::all): an unconnected, unbound, non-blocking UDP socket with multicast loop-back
/// off, TTL / hop limit 1 (that of a copy without a control message, as on the output
/// sockets), IP(V6)_RECVERR (so a qdisc drop fails its message with ENOBUFS) and a send buffer
/// of `sndbuf` bytes (0 = kernel default). Each message names its group (msg_name), its
/// interface (IP_PKTINFO ipi_ifindex / IPV6_PKTINFO ipi6_ifindex, which the kernel uses over
/// the multicast interface option for a multicast destination) and, when not 1, its TTL.
[[nodiscard]] Result<UniqueFd> open_shared_multicast_socket(uint32_t sndbuf, bool ipv6 = false);

/// Per output: the largest UDP payload one IPv4 packet carries on the output socket's path
/// (IP_MTU - 28: the interface MTU for a multicast output); UINT32_MAX when the socket does
/// not say. A larger copy is fragmented by the kernel on the socket backends (counted in
/// tx_fragmented) and dropped by the packet backend, which builds whole frames (drop_too_big).
[[nodiscard]] std::vector<uint32_t> output_payload_limits(std::span<const int> fds);

/// Effective send buffer of a socket in bytes as the kernel reports it (doubled value).
[[nodiscard]] int socket_sndbuf(int fd);

/// Whether a connected UDP output socket sends to a multicast group (false for a unicast peer
/// or a socket that is not connected).
[[nodiscard]] bool output_socket_multicast(int fd) noexcept;

/// The TTL a connected UDP output socket puts on a datagram sent without an IP_TTL control
/// message (IP_MULTICAST_TTL for a multicast peer, IP_TTL otherwise); 0 when it cannot tell
/// (not a connected IPv4 socket), so every copy then carries its TTL explicitly.
[[nodiscard]] uint8_t output_socket_ttl(int fd) noexcept;

/// Room for one IP_TTL control message (an int), aligned as cmsghdr requires.
struct TtlControl {
  alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(int))];
};

/// Whether an output socket is IPv6 (AF_INET6): its copies carry IPV6_HOPLIMIT, not IP_TTL.
[[nodiscard]] bool output_socket_ipv6(int fd) noexcept;

/// Writes an IP_TTL control message for `ttl` at `at` (CMSG_SPACE(sizeof(int)) bytes, aligned),
/// or IPV6_HOPLIMIT for an IPv6 socket (each family's kernel path skips the other's), and
/// returns the bytes used. The caller points msg_control/msg_controllen at it.
inline size_t write_ttl_control(unsigned char* at, uint8_t ttl, bool ipv6 = false) noexcept {
  auto* cmsg = reinterpret_cast<cmsghdr*>(at);
  cmsg->cmsg_level = ipv6 ? IPPROTO_IPV6 : IPPROTO_IP;
  cmsg->cmsg_type = ipv6 ? IPV6_HOPLIMIT : IP_TTL;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  const int value = ttl;
  std::memcpy(CMSG_DATA(cmsg), &value, sizeof value);
  return CMSG_SPACE(sizeof(int));
}

class Egress {
 public:
  virtual ~Egress() = default;

  /// Hands one copy of `len` bytes at `data` (inside `buffer`) to output `output`, to leave
  /// with IPv4 TTL `ttl` (1..255). Returns true when the copy was accepted (sent, or queued for
  /// sending); false when it was dropped and counted. The caller keeps its own reference on
  /// `buffer`.
  virtual bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
                    uint8_t ttl) noexcept = 0;
  /// End of a loop turn: pushes every queued copy to the kernel.
  virtual void flush() noexcept = 0;
  /// Processes completions that are ready (io_uring); no-op for synchronous backends.
  virtual void reap() noexcept {}
  /// Copies handed to the kernel whose completion has not been reaped yet.
  [[nodiscard]] virtual uint32_t in_flight() const noexcept { return 0; }
  /// Flushes, then waits up to `timeout_ms` for in-flight copies to complete (shutdown).
  virtual void drain(int timeout_ms) noexcept {
    (void)timeout_ms;
    flush();
  }
  /// Whether the egress keeps the output sockets' interface indexes (the gso backend's shared
  /// socket names each output's interface per message): after an output socket is re-bound to
  /// a re-created interface, the worker rebuilds such an egress, as it does the packet one.
  [[nodiscard]] virtual bool caches_output_interfaces() const noexcept { return false; }
  [[nodiscard]] virtual EgressBackend backend() const noexcept = 0;
  /// One line for the startup log: backend, knobs and io_uring features in use.
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// Counts one lost copy by errno and marks the packet exhausted when the cause is a full
/// queue/buffer (ENOBUFS, EAGAIN), so exhausted_packets counts each packet once.
inline void count_send_error(int err, PacketBuffer* buffer, WorkerCounters& counters) noexcept {
  bool exhausted = true;
  if (err == ENOBUFS) {
    ++counters.drop_enobufs;
  } else if (err == EAGAIN || err == EWOULDBLOCK) {
    ++counters.drop_eagain;
  } else {
    ++counters.drop_other_errno;
    exhausted = false;
  }
  if (exhausted && !buffer->exhausted) {
    buffer->exhausted = true;
    ++counters.exhausted_packets;
  }
}

/// Counts one accepted copy that failed after hand-over (by errno, as count_send_error) and
/// charges it to its output, when the caller gave per-output counters.
inline void count_failed_copy(int err, uint32_t output, PacketBuffer* buffer,
                              WorkerCounters& counters,
                              std::span<OutputCounters> output_counters) noexcept {
  count_send_error(err, buffer, counters);
  if (output < output_counters.size()) {
    ++output_counters[output].failed_packets;
  }
}

/// Counts a copy dropped for lack of a queue slot.
inline void count_queue_full(PacketBuffer* buffer, WorkerCounters& counters) noexcept {
  ++counters.drop_queue_full;
  if (!buffer->exhausted) {
    buffer->exhausted = true;
    ++counters.exhausted_packets;
  }
}

}  // namespace mrelay
