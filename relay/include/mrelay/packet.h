// Frame parsing for AF_PACKET ingress: Ethernet, optional 802.1Q tag, IPv4 or IPv6 (with its
// extension headers), UDP, plus what the
// kernel says about the frame beside its bytes (FrameMeta: packet type, a VLAN tag it took
// out of the frame, checksum state and GSO from the virtio_net_hdr).
// Pure function of its inputs: no allocation, no exceptions, safe on any input.
//
//   mrelay::UdpView view;
//   auto verdict = mrelay::parse_frame(frame, frame_len, meta, view);
//   if (verdict != mrelay::ParseVerdict::ok) { ... }   // the worker counts it: one counter
//                                                      // per verdict (Forwarder::count_verdict)
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mrelay {

/// Why a frame was not forwarded, or ok. Each non-ok value maps to one counter.
enum class ParseVerdict : uint8_t {
  ok,
  truncated,      // frame ends inside the Ethernet, VLAN, IPv4 or UDP header
  not_ipv4,       // ethertype is neither IPv4 nor IPv6 (after optional tags): unmatched
  bad_ip_header,  // version != 4 or IHL < 5 or IHL beyond the frame; IPv6: version != 6, a
                  // hop-by-hop header not first, or more than kMaxIpv6ExtensionHeaders
  bad_length,     // IPv4 total length / IPv6 payload length or UDP length disagrees
  bad_checksum,   // IPv4 header checksum wrong
  fragment,       // IPv4 MF set or fragment offset != 0, or an IPv6 Fragment header: the
                  // relay forwards whole datagrams only
  not_udp,        // IPv4 protocol / IPv6 next header (after extension headers) not UDP
  // What the kernel's own receive path would refuse (ip_rcv, ip_route_input, udp_rcv):
  other_host,        // link-layer packet type not host, multicast or broadcast: rejected
  martian_source,    // source in 0/8, 127/8, 224/4 or 240/4; IPv6 ::1, ff00::/8, ::ffff:0:0/96
  bad_udp_checksum,  // UDP checksum present (non-zero), final, and wrong; on IPv6 also a zero
                     // checksum (mandatory there, RFC 8200 8.1)
  bad_gso,           // GSO frame the relay cannot split (not UDP_L4, segment size 0, or more
                     // than kMaxGsoSegments segments)
};

[[nodiscard]] std::string_view to_string(ParseVerdict verdict);
/// True for verdicts counted as malformed; false for ok, the "unmatched" ones (not_ipv4,
/// not_udp) and the "rejected" ones (other_host, martian_source).
[[nodiscard]] bool is_malformed(ParseVerdict verdict);

/// How far the UDP checksum field can be trusted, as the kernel reports it.
enum class ChecksumState : uint8_t {
  unverified,  // nobody has checked it: the parser verifies it when it is non-zero
  partial,     // CHECKSUM_PARTIAL: sent by this host (veth), the field holds only the
               // pseudo-header sum and is not final; never judged
  verified,    // the kernel or the NIC verified it (CHECKSUM_UNNECESSARY)
  unreported,  // nobody said (an AF_XDP frame, taken before the kernel's receive path): judged
               // like unverified, except that a field holding exactly the pseudo-header sum
               // is a local sender's CHECKSUM_PARTIAL crossing a veth, and is not judged
};

/// Packet types from the frame's sockaddr_ll (linux/if_packet.h values).
inline constexpr uint8_t kPacketHost = 0;
inline constexpr uint8_t kPacketBroadcast = 1;
inline constexpr uint8_t kPacketMulticast = 2;
inline constexpr uint8_t kPacketOtherHost = 3;
/// virtio_net_hdr gso_type values (linux/virtio_net.h) the parser understands.
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoUdpL4 = 5;
inline constexpr uint8_t kGsoEcn = 0x80;  // flag bit, ignored
/// Most datagrams a UDP GSO frame may carry: the kernel's own ceiling (UDP_MAX_SEGMENTS, 128
/// since Linux 6.x; UDP GRO merges at most 64). A frame claiming more was not built by it, and
/// splitting e.g. 64 KiB into 1-byte segments would stall the loop on one frame.
inline constexpr uint32_t kMaxGsoSegments = 128;

/// What the kernel says about a frame beside its bytes. The defaults describe bytes with no
/// such knowledge (a frame addressed to this host, untagged, checksum unverified, not GSO).
struct FrameMeta {
  uint8_t pkttype = kPacketHost;  // sll_pkttype
  bool vlan_valid = false;        // the kernel moved an 802.1Q/802.1ad tag into metadata
  uint16_t vlan_tci = 0;          // that tag (priority bits included)
  ChecksumState checksum = ChecksumState::unverified;
  uint8_t gso_type = kGsoNone;  // virtio_net_hdr gso_type
  uint16_t gso_size = 0;        // virtio_net_hdr gso_size: UDP payload bytes per segment
};

/// Most IPv6 extension headers the parser walks before UDP. A real packet carries at most a
/// few (RFC 8200 4.1 orders six kinds, each once but the destination options twice); a frame
/// with more was built to make a receiver loop.
inline constexpr uint32_t kMaxIpv6ExtensionHeaders = 8;

/// The parts of a UDP/IPv4 or UDP/IPv6 frame the relay needs. Addresses in network byte order,
/// ports in host byte order. `payload` points into the frame.
struct UdpView {
  uint32_t src_addr = 0;  // IPv4; 0 for IPv6
  uint32_t dst_addr = 0;
  bool ipv6 = false;  // then src6/dst6 hold the addresses, and ttl the hop limit
  in6_addr src6{};
  in6_addr dst6{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t vlan_id = 0;  // outermost tag (metadata first, then the frame); 0 when untagged
  uint8_t ttl = 0;
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
  // GSO super-frame: payload holds consecutive datagrams of this many bytes (the last may be
  // shorter), each to be forwarded on its own. 0 = the payload is one datagram.
  uint32_t segment_size = 0;
};

/// Parses `len` bytes starting at the Ethernet header. Trailing Ethernet padding beyond the
/// IPv4 total length / IPv6 payload length is allowed (short frames are padded to 60 bytes).
[[nodiscard]] ParseVerdict parse_frame(const uint8_t* frame, size_t len, const FrameMeta& meta,
                                       UdpView& out) noexcept;
[[nodiscard]] inline ParseVerdict parse_frame(const uint8_t* frame, size_t len,
                                              UdpView& out) noexcept {
  return parse_frame(frame, len, FrameMeta{}, out);
}

/// Parses from the IPv4 header (for sockets that deliver L3, e.g. SOCK_DGRAM packet sockets).
[[nodiscard]] ParseVerdict parse_ipv4(const uint8_t* packet, size_t len, const FrameMeta& meta,
                                      UdpView& out) noexcept;
[[nodiscard]] inline ParseVerdict parse_ipv4(const uint8_t* packet, size_t len,
                                             UdpView& out) noexcept {
  return parse_ipv4(packet, len, FrameMeta{}, out);
}

/// Parses from the IPv6 header: extension headers (hop-by-hop, routing, destination options)
/// walked to UDP, each length checked against the frame, at most kMaxIpv6ExtensionHeaders.
[[nodiscard]] ParseVerdict parse_ipv6(const uint8_t* packet, size_t len, const FrameMeta& meta,
                                      UdpView& out) noexcept;
[[nodiscard]] inline ParseVerdict parse_ipv6(const uint8_t* packet, size_t len,
                                             UdpView& out) noexcept {
  return parse_ipv6(packet, len, FrameMeta{}, out);
}

/// The number of datagrams a parsed view carries: 1, or a GSO frame's segment count.
[[nodiscard]] inline uint32_t datagram_count(const UdpView& view) noexcept {
  if (view.segment_size == 0 || view.payload_len <= view.segment_size) {
    return 1;
  }
  return (view.payload_len + view.segment_size - 1) / view.segment_size;
}

/// True for IPv4 sources no host may send from (network byte order): 0.0.0.0/8 ("this
/// network"), 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved,
/// including the limited broadcast 255.255.255.255).
[[nodiscard]] bool is_martian_source(uint32_t address) noexcept;
/// The IPv6 sources ip6_rcv_core() refuses: loopback ::1 (off the loopback device),
/// multicast ff00::/8 and IPv4-mapped ::ffff:0:0/96 (RFC 4291 2.5.5.2).
[[nodiscard]] bool is_martian_source6(const in6_addr& address) noexcept;

}  // namespace mrelay
