// Ingress: where a worker's packets come in. One Ingress per socket a worker reads, three
// implementations, and ONE place that chooses among them (make_ingress, ingress_selector.cc):
//
//   packet mode, ring      packet_ingress.cc: an AF_PACKET socket with a TPACKET_V2 receive
//                         ring mapped into the process. No syscall per batch; each datagram
//                         is copied once into a pool buffer shared by all its copies. Default.
//   packet mode, recvmmsg packet_ingress.cc: the same socket read with recvmmsg into pool
//                         buffers (zero-copy for one datagram). Chosen when the kernel refuses
//                         the ring, or by MRELAY_PACKET_RX=recvmmsg (kPacketRxEnv, for A/B runs).
//   udp mode              udp_ingress.cc: a UDP socket joined to the group (the kernel's IP
//                         stack and its reverse-path filter), read with recvmmsg likewise.
//
//   auto ingress = mrelay::make_ingress(endpoint, {.mode = IngressMode::packet,
//                                                  .rcvbuf = 4 << 20}, &notes);
//   uint32_t read = (*ingress)->receive(forwarder, slots);   // once per loop turn
//
// Per packet an implementation parses what the kernel told it (control messages, ring
// status, the virtio_net_hdr) and calls the Forwarder, a concrete class: the only virtual call
// is receive(), once per batch of up to kRecvBatch packets, never one per packet.
//
// Ownership of frames and buffers:
//   - A ring frame belongs to the process only between PacketRing::next() and release(),
//     both inside receive(): every datagram in it is copied into its own pool buffer
//     (Forwarder::copy_and_send) before the frame goes back, so nothing outlives the call.
//   - The recvmmsg readers read into ReceiveSlots (receive_slots.h), which the worker owns and
//     shares among its sockets (one reads at a time): kRecvBatch slots per worker, each holding
//     a pool buffer, or scratch room when the pool is empty (the packet is still read, parsed
//     and counted). A forwarded packet's buffer goes on with its egress copies (each holds a
//     reference) and its slot takes a fresh buffer at the next read; a buffer no copy took
//     stays in its slot for reuse.
//   - The socket belongs to the Ingress: destroying it closes the socket (and unmaps a ring).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mrelay/config.h"
#include "mrelay/counters.h"
#include "mrelay/error.h"

namespace mrelay {

class Forwarder;
class ReceiveSlots;

/// Datagrams read per recvmmsg call, and at most per ingress socket per loop turn: caps the
/// work of one turn so egress is flushed and completions reaped at least every 256 packets.
inline constexpr uint32_t kRecvBatch = 256;

/// The environment variable that picks the packet-mode read path: "recvmmsg" reads the packet
/// socket with recvmmsg into pool buffers instead of mapping a TPACKET_V2 ring (A/B runs and
/// tests of the path the relay also takes when the kernel refuses a ring). Unset or anything
/// else: the ring. Read by make_ingress() only.
inline constexpr const char* kPacketRxEnv = "MRELAY_PACKET_RX";

/// The environment variable that picks how the xdp ingress attaches its program: "generic"
/// (skb mode: it runs after RPS, where the stack's receive work runs; on a veth that is the
/// steered core rather than the sender's), "native" (driver mode or an error), unset or
/// anything else native with generic as the fallback. For A/B runs; read by make_ingress() only.
inline constexpr const char* kXdpModeEnv = "MRELAY_XDP_MODE";

/// Where packets come in: one per ingress interface (packet mode) or per distinct
/// (interface, group, port) (udp mode).
struct IngressEndpoint {
  std::string interface;
  unsigned ifindex = 0;
  in_addr group{};    // udp mode only
  uint16_t port = 0;  // udp mode only
  std::optional<in6_addr> group6;  // udp mode: an IPv6 group instead (an AF_INET6 socket)
  // udp mode: the sources the socket joins source-specifically (MCAST_JOIN_SOURCE_GROUP),
  // sorted, the union of its rules' sources; empty = a (*,G) join, as when any one of its
  // rules takes any source. The kernel then delivers only these sources to the socket.
  SourceList sources;
  std::vector<in6_addr> sources6;  // the same for an IPv6 group (MLDv2 (S,G) joins)
  // udp mode: the one worker that reads this endpoint (a multicast datagram reaches every
  // socket on its port). Kept across live rule changes so an endpoint never moves worker.
  uint32_t worker = 0;
  // packet mode with several workers: offset added to IngressSettings::fanout_id for this
  // interface's PACKET_FANOUT group (a group is bound to one device). Kept across changes.
  int fanout_offset = 0;
};

/// How every ingress socket of a relay is opened.
struct IngressSettings {
  IngressMode mode = IngressMode::packet;
  uint32_t rcvbuf = 0;  // bytes (ring size in packet mode), 0 = kernel default (ring: 1 MiB)
  int fanout_id = -1;   // PACKET_FANOUT base id when several workers share an interface
};

class Ingress {
 public:
  virtual ~Ingress() = default;

  /// Reads what is waiting, at most kRecvBatch packets, and hands each to `forwarder`.
  /// Returns how many it read: kRecvBatch means more may be waiting. Never blocks, allocates
  /// or throws; every packet read is counted (rx_packets) and, when not forwarded, counted
  /// once more by the one counter that says why.
  virtual uint32_t receive(Forwarder& forwarder, ReceiveSlots& slots) noexcept = 0;
  /// Adds the packets the kernel dropped on this socket since the last call to
  /// counters.kernel_drops (one syscall, counted; the worker calls it periodically).
  virtual void read_kernel_drops(WorkerCounters& counters) noexcept = 0;
  /// The socket, for poll().
  [[nodiscard]] virtual int fd() const noexcept = 0;
  /// The read path for the start-up line: "rx TPACKET_V2 ring 512 frames", "rx recvmmsg".
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// Opens the socket for `endpoint` and returns the reader for it: udp mode a UDP socket
/// joined to the group; packet mode an AF_PACKET socket read through a TPACKET_V2 ring, or
/// with recvmmsg when kPacketRxEnv says so or the kernel refuses the ring (said in `notes`).
/// Errors name the interface and the failing call.
[[nodiscard]] Result<std::unique_ptr<Ingress>> make_ingress(const IngressEndpoint& endpoint,
                                                            const IngressSettings& settings,
                                                            std::string* notes);

/// The start-up check of an ingress mode, before any socket is opened: packet mode needs
/// AF_PACKET sockets (CAP_NET_RAW); the error names --ingress and says what to do. Returns
/// the line for the start-up log (packet mode: what the kernel offers), empty for udp.
[[nodiscard]] Result<std::string> check_ingress_mode(IngressMode mode);

}  // namespace mrelay
