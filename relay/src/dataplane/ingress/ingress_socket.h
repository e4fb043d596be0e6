// Ingress sockets: AF_PACKET (raw frames, no reverse-path check; packet_socket.cc) or UDP
// (kernel stack; udp_socket.cc), and the membership sockets that make the ingress interface
// accept the group in both modes. The readers that use them are in ingress.h; make_ingress()
// (ingress_selector.cc) opens them.
//
//   auto raw = mrelay::open_packet_socket("veth0", ifindex, {.rcvbuf = 4 << 20, .fanout_id = 7});
//   auto udp = mrelay::open_udp_ingress_socket("veth0", ifindex, group, 5000, {.rcvbuf = 0});
//   auto join = mrelay::open_membership_socket("veth0", ifindex, group);  // shows in ip maddr
#pragma once

#include <linux/if_packet.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/mapped_region.h"
#include "common/unique_fd.h"
#include "mrelay/config.h"
#include "mrelay/error.h"
#include "mrelay/packet.h"

namespace mrelay {

struct IngressSocketOptions {
  uint32_t rcvbuf = 0;  // bytes, 0 = kernel default; SO_RCVBUFFORCE tried first
  // PACKET_FANOUT group id shared by every worker's socket on one interface; -1 = no fanout
  // (one worker). Ignored for UDP sockets, which share a port with SO_REUSEPORT instead.
  int fanout_id = -1;
};

/// Bytes of the struct virtio_net_hdr the kernel puts in front of every frame of a packet
/// ingress socket (PACKET_VNET_HDR): GSO type and segment size, checksum state.
inline constexpr size_t kVnetHeaderSize = 10;
/// Largest frame a packet socket can hand over whole: Ethernet, two VLAN tags and the largest
/// IPv4 datagram (a 64 KiB UDP GSO super-frame is the big one in practice).
inline constexpr size_t kMaxIngressFrame = 14 + 8 + 65535;

/// A TPACKET_V2 receive ring mapped from a packet socket: the kernel copies each frame into
/// the next free slot in softirq context and the loop reads it in place, with no syscall per
/// batch (recvmmsg) and no per-packet skb queueing. Per-frame status (V2, not V3's blocks) so a
/// lone packet is never held back waiting for a block to fill or time out.
///
/// Frames longer than a slot (a UDP GSO super-frame crossing a veth unsegmented, up to 64 KiB;
/// a jumbo frame) are rare but must not be cut: with PACKET_COPY_THRESH the kernel also queues
/// such a frame whole on the socket's ordinary receive queue (bounded by SO_RCVBUF) and marks
/// its truncated slot TP_STATUS_COPY; read_ring_copy() fetches it with one recv(). Memory:
/// slots sized for 64 KiB frames would need 32x the ring for the same slot count (or give 32x
/// fewer slots, a ring that overflows on a burst of small packets), and TPACKET_V3's variable
/// frames in blocks hold a partly filled block back until its timeout (milliseconds), which
/// adds that latency to every lone packet.
///
///   PacketRing ring;
///   auto fd = open_packet_socket("veth0", ifindex, options, &notes, &ring);
///   while (tpacket2_hdr* frame = ring.next()) { ...; ring.release(frame); }
class PacketRing {
 public:
  // Frame slot size in bytes: an MTU 1500 frame (1518 with a VLAN tag) plus the tpacket2
  // header, sockaddr_ll and virtio_net_hdr (76 bytes before the frame) fits with room.
  static constexpr uint32_t kFrameSize = 2048;
  // Bytes per ring block (a multiple of the page size holding whole frames).
  static constexpr uint32_t kBlockSize = 1u << 16;

  PacketRing() = default;
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;
  PacketRing(PacketRing&& other) noexcept;
  PacketRing& operator=(PacketRing&& other) noexcept;

  /// Sets PACKET_VERSION and PACKET_RX_RING on `fd` (before bind) and maps `bytes` of ring
  /// (rounded to whole blocks, at least 4 blocks).
  [[nodiscard]] Result<void> map(int fd, uint32_t bytes);
  [[nodiscard]] bool mapped() const noexcept { return static_cast<bool>(region_); }
  [[nodiscard]] uint32_t frames() const noexcept { return frame_count_; }

  /// The next frame the kernel has handed to us, or nullptr when the ring is empty.
  [[nodiscard]] tpacket2_hdr* next() noexcept {
    auto* frame =
        reinterpret_cast<tpacket2_hdr*>(region_.bytes() + static_cast<size_t>(cursor_) * kFrameSize);
    return (__atomic_load_n(&frame->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0 ? frame
                                                                                        : nullptr;
  }
  /// Gives the frame returned by next() back to the kernel and moves on.
  void release(tpacket2_hdr* frame) noexcept {
    __atomic_store_n(&frame->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    cursor_ = cursor_ + 1 == frame_count_ ? 0 : cursor_ + 1;
  }

 private:
  MappedRegion region_;
  uint32_t frame_count_ = 0;
  uint32_t cursor_ = 0;
};

/// Raw packet socket bound to `ifindex`, receiving IPv4 frames with their Ethernet header,
/// non-blocking, each behind a struct virtio_net_hdr (PACKET_VNET_HDR, kVnetHeaderSize
/// bytes: GSO and checksum state) and with PACKET_AUXDATA (VLAN tag and status for recvmsg).
/// Bound to ETH_P_ALL, not ETH_P_IP: the kernel hands an ETH_P_IP socket a tagged frame only
/// after removing the tag for good (and marking it PACKET_OTHERHOST when no VLAN device takes
/// it), so the relay could not tell the VLANs of a trunk apart; an ETH_P_ALL socket sees the
/// tag in the frame's metadata. A classic BPF filter keeps everything else out in the kernel:
/// the host's own outgoing frames (pkttype PACKET_OUTGOING; PACKET_IGNORE_OUTGOING as well
/// where the kernel has it), and any ethertype other than IPv4 or a VLAN tag; of an IPv4
/// packet that is not UDP only the headers are taken (enough to count it as not UDP, never a
/// 64 KiB TCP frame to copy). `notes` receives what was used ("PACKET_IGNORE_OUTGOING
/// unavailable"). EPERM from socket() becomes an error telling the user CAP_NET_RAW is needed.
/// With `ring`, a TPACKET_V2 ring of options.rcvbuf bytes (1 MiB when 0) is mapped before
/// bind, with PACKET_COPY_THRESH for frames longer than a slot (see PacketRing); if the kernel
/// refuses, `ring` stays unmapped, `notes` says so and the socket is used with recvmmsg.
[[nodiscard]] Result<UniqueFd> open_packet_socket(const std::string& interface, unsigned ifindex,
                                                  const IngressSocketOptions& options,
                                                  std::string* notes = nullptr,
                                                  PacketRing* ring = nullptr);

/// Kernel drops of a packet socket since the last call (PACKET_STATISTICS tp_drops; the kernel
/// resets the counter on every read). 0 on error.
[[nodiscard]] uint64_t read_packet_drops(int fd) noexcept;

/// What the kernel says about a ring frame beside its bytes: packet type (the slot's
/// sockaddr_ll), the VLAN tag it moved into the slot header, and the virtio_net_hdr in front
/// of the frame (GSO, checksum state).
[[nodiscard]] FrameMeta ring_frame_meta(const tpacket2_hdr* frame) noexcept;

/// The same for a frame read with recvmsg: its source address, its PACKET_AUXDATA (nullptr
/// when the control message is missing) and the virtio_net_hdr in front of its bytes.
[[nodiscard]] FrameMeta received_frame_meta(const sockaddr_ll& address,
                                            const tpacket_auxdata* auxdata,
                                            const uint8_t* vnet_header) noexcept;

/// For a ring frame longer than its slot (tp_len > tp_snaplen) that the kernel also queued
/// whole (TP_STATUS_COPY): reads that copy into `buffer` (virtio_net_hdr included) with one
/// non-blocking recv() and returns the frame's length, its bytes at buffer + kVnetHeaderSize.
/// 0 when the slot has no copy, the recv fails, the copy does not fit `size`, or its length
/// is not the slot's tp_len (then the frame cannot be had whole).
[[nodiscard]] size_t read_ring_copy(int fd, const tpacket2_hdr* frame, uint8_t* buffer,
                                    size_t size) noexcept;

/// UDP socket bound to group:port (SO_REUSEADDR + SO_REUSEPORT so several workers share it),
/// SO_BINDTODEVICE to the ingress interface, joined to the group there, IP_MULTICAST_ALL 0
/// (only this group), SO_RXQ_OVFL and IP_RECVTTL on, non-blocking. With `sources` empty the
/// join is (*,G) (MCAST_JOIN_GROUP); otherwise one MCAST_JOIN_SOURCE_GROUP per source (IGMPv3
/// include mode), so the kernel delivers only datagrams from those sources to the socket.
[[nodiscard]] Result<UniqueFd> open_udp_ingress_socket(const std::string& interface,
                                                       unsigned ifindex, in_addr group,
                                                       uint16_t port, const SourceList& sources,
                                                       const IngressSocketOptions& options);

/// The same for an IPv6 group: an AF_INET6 socket bound to [group]:port (scope id = the
/// interface for an interface- or link-local group), IPV6_MULTICAST_ALL 0, IPV6_RECVHOPLIMIT,
/// joined with MCAST_JOIN_GROUP (an MLD report on the interface): any source; or, with
/// `sources`, MCAST_JOIN_SOURCE_GROUP for each (MLDv2 include mode): the kernel delivers only
/// their datagrams.
[[nodiscard]] Result<UniqueFd> open_udp_ingress_socket6(const std::string& interface,
                                                        unsigned ifindex, const in6_addr& group,
                                                        uint16_t port,
                                                        const std::vector<in6_addr>& sources,
                                                        const IngressSocketOptions& options);

/// A UDP socket that joins `group` on the interface and is bound to no port, so it receives
/// nothing: it only makes the membership visible (ip maddr, IGMP reports, NIC filters).
/// `source` 0.0.0.0: a (*,G) join; otherwise the (S,G) join of that one source.
[[nodiscard]] Result<UniqueFd> open_membership_socket(const std::string& interface,
                                                      unsigned ifindex, in_addr group,
                                                      in_addr source = {});

/// The same for an IPv6 group: an AF_INET6 socket with an MLD (*,G) join (MCAST_JOIN_GROUP),
/// or, `source` not ::, the MLDv2 (S,G) join of that source.
[[nodiscard]] Result<UniqueFd> open_membership_socket6(const std::string& interface,
                                                       unsigned ifindex, const in6_addr& group,
                                                       const in6_addr& source = {});

/// Sets SO_RCVBUFFORCE (not capped by net.core.rmem_max; needs CAP_NET_ADMIN), falling back
/// to SO_RCVBUF. `where` names the socket in errors.
[[nodiscard]] Result<void> set_receive_buffer(int fd, uint32_t bytes, const std::string& where);

}  // namespace mrelay
