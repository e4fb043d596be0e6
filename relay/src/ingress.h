// Ingress sockets: AF_PACKET (raw frames, no reverse-path check) or UDP (kernel stack), and
// the membership sockets that make the ingress interface accept the group in both modes.
//
//   auto raw = mrelay::open_packet_socket("veth0", ifindex, {.rcvbuf = 4 << 20, .fanout_id = 7});
//   auto udp = mrelay::open_udp_ingress_socket("veth0", ifindex, group, 5000, {.rcvbuf = 0});
//   auto join = mrelay::open_membership_socket("veth0", ifindex, group);  // shows in ip maddr
#pragma once

#include <linux/if_packet.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "mrelay/error.h"
#include "unique_fd.h"

namespace mrelay {

struct IngressSocketOptions {
  uint32_t rcvbuf = 0;  // bytes, 0 = kernel default; SO_RCVBUFFORCE tried first
  // PACKET_FANOUT group id shared by every worker's socket on one interface; -1 = no fanout
  // (one worker). Ignored for UDP sockets, which share a port with SO_REUSEPORT instead.
  int fanout_id = -1;
};

/// A TPACKET_V2 receive ring mapped from a packet socket: the kernel copies each frame into
/// the next free slot in softirq context and the loop reads it in place, with no syscall per
/// batch (recvmmsg) and no per-packet skb queueing. Per-frame status (V2, not V3's blocks) so a
/// lone packet is never held back waiting for a block to fill or time out.
///
///   PacketRing ring;
///   auto fd = open_packet_socket("veth0", ifindex, options, &notes, &ring);
///   while (tpacket2_hdr* frame = ring.next()) { ...; ring.release(frame); }
class PacketRing {
 public:
  // Frame slot size in bytes: an MTU 1500 frame plus the tpacket2 header fits with room.
  static constexpr uint32_t kFrameSize = 2048;
  // Bytes per ring block (a multiple of the page size holding whole frames).
  static constexpr uint32_t kBlockSize = 1u << 16;

  PacketRing() = default;
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;
  PacketRing(PacketRing&& other) noexcept;
  PacketRing& operator=(PacketRing&& other) noexcept;
  ~PacketRing();

  /// Sets PACKET_VERSION and PACKET_RX_RING on `fd` (before bind) and maps `bytes` of ring
  /// (rounded to whole blocks, at least 4 blocks).
  [[nodiscard]] Result<void> map(int fd, uint32_t bytes);
  [[nodiscard]] bool mapped() const noexcept { return base_ != nullptr; }
  [[nodiscard]] uint32_t frames() const noexcept { return frame_count_; }

  /// The next frame the kernel has handed to us, or nullptr when the ring is empty.
  [[nodiscard]] tpacket2_hdr* next() noexcept {
    auto* frame =
        reinterpret_cast<tpacket2_hdr*>(base_ + static_cast<size_t>(cursor_) * kFrameSize);
    return (__atomic_load_n(&frame->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0 ? frame
                                                                                        : nullptr;
  }
  /// Gives the frame returned by next() back to the kernel and moves on.
  void release(tpacket2_hdr* frame) noexcept {
    __atomic_store_n(&frame->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    cursor_ = cursor_ + 1 == frame_count_ ? 0 : cursor_ + 1;
  }

 private:
  void unmap() noexcept;

  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t frame_count_ = 0;
  uint32_t cursor_ = 0;
};

/// Raw packet socket bound to `ifindex`, receiving IPv4 frames (ETH_P_IP) with their Ethernet
/// header, non-blocking. The host's own outgoing frames are kept out in the kernel (an ETH_P_IP
/// socket is not fed them; as guards should that change or ETH_P_ALL be used): a classic
/// BPF filter on pkttype != PACKET_OUTGOING always, plus PACKET_IGNORE_OUTGOING where the
/// kernel has it. `notes` receives what was used ("PACKET_IGNORE_OUTGOING unavailable").
/// EPERM from socket() becomes an error telling the user CAP_NET_RAW is needed.
/// With `ring`, a TPACKET_V2 ring of options.rcvbuf bytes (1 MiB when 0) is mapped before
/// bind; if the kernel refuses, `ring` stays unmapped, `notes` says so and the socket is used
/// with recvmmsg.
[[nodiscard]] Result<UniqueFd> open_packet_socket(const std::string& interface, unsigned ifindex,
                                                  const IngressSocketOptions& options,
                                                  std::string* notes = nullptr,
                                                  PacketRing* ring = nullptr);

/// Kernel drops of a packet socket since the last call (PACKET_STATISTICS tp_drops; the kernel
/// resets the counter on every read). 0 on error.
[[nodiscard]] uint64_t read_packet_drops(int fd) noexcept;

/// UDP socket bound to group:port (SO_REUSEADDR + SO_REUSEPORT so several workers share it),
/// SO_BINDTODEVICE to the ingress interface, joined to the group there (ip_mreqn ifindex),
/// IP_MULTICAST_ALL 0 (only this group), SO_RXQ_OVFL and IP_RECVTTL on, non-blocking.
[[nodiscard]] Result<UniqueFd> open_udp_ingress_socket(const std::string& interface,
                                                       unsigned ifindex, in_addr group,
                                                       uint16_t port,
                                                       const IngressSocketOptions& options);

/// A UDP socket that joins `group` on the interface and is bound to no port, so it receives
/// nothing: it only makes the membership visible (ip maddr, IGMP reports, NIC filters).
[[nodiscard]] Result<UniqueFd> open_membership_socket(const std::string& interface,
                                                      unsigned ifindex, in_addr group);

/// Sets SO_RCVBUFFORCE (not capped by net.core.rmem_max; needs CAP_NET_ADMIN), falling back
/// to SO_RCVBUF. `where` names the socket in errors.
[[nodiscard]] Result<void> set_receive_buffer(int fd, uint32_t bytes, const std::string& where);

}  // namespace mrelay
