// Frame building for the "packet" egress backend (egress_packet.cc): the per-output
// Ethernet/IPv4/UDP or Ethernet/IPv6/UDP header template and its per-packet stamp (pure functions),
// and the output's addresses read back from its UDP socket. packet_frame.cc; tested in
// packet_frame_test.cc.
//
//   mrelay::FrameTemplate frame = mrelay::build_frame_template(output);
//   uint8_t header[mrelay::kFrameHeaderLen];
//   mrelay::stamp_frame_header(frame, /*ip_id=*/7, /*payload_len=*/512, /*ttl=*/63, header);
//   // IPv6 (frame.ipv6): the UDP checksum is mandatory, so the payload's sum goes in.
//   mrelay::stamp_frame_header6(frame, 512, /*hop_limit=*/63, mrelay::ones_sum(payload, 512),
//                               header);
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "mrelay/error.h"

namespace mrelay {

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kIpv4HeaderLen = 20;
inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr size_t kFrameHeaderLen = kEthHeaderLen + kIpv4HeaderLen + kUdpHeaderLen;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kFrameHeaderLen6 = kEthHeaderLen + kIpv6HeaderLen + kUdpHeaderLen;

/// Everything needed to build one output's frames.
struct PacketOutput {
  unsigned ifindex = 0;
  std::array<uint8_t, 6> src_mac{};
  in_addr src_addr{};     // network order
  in_addr dst_addr{};     // network order
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;  // host order
  bool multicast = true;  // false: unicast, left to the UDP socket
  bool ipv6 = false;      // then src6/dst6 are the addresses (an AF_INET6 output socket)
  in6_addr src6{};
  in6_addr dst6{};
};

/// An output's frame header with the per-packet fields (IPv4 total length, id, TTL, checksum;
/// UDP length) zero, and the one's-complement sum of the IPv4 header's constant words. IPv6:
/// payload length, hop limit, UDP length and checksum zero, and partial_sum the constant part
/// of the UDP checksum (pseudo-header addresses and next header, the ports).
struct FrameTemplate {
  std::array<uint8_t, kFrameHeaderLen6> bytes{};
  uint32_t partial_sum = 0;
  bool ipv6 = false;
  uint8_t header_len = kFrameHeaderLen;  // kFrameHeaderLen, or kFrameHeaderLen6 for IPv6
};

/// 01:00:5e + the low 23 bits of the group (RFC 1112 §6.4).
[[nodiscard]] std::array<uint8_t, 6> multicast_mac(in_addr group) noexcept;
/// 33:33 + the low 32 bits of the group (RFC 2464 7).
[[nodiscard]] std::array<uint8_t, 6> multicast_mac6(const in6_addr& group) noexcept;
/// The one's-complement sum of `len` bytes as big-endian 16-bit words (an odd last byte padded
/// with zero), folded to 16 bits: a payload's share of a UDP checksum.
[[nodiscard]] uint16_t ones_sum(const uint8_t* data, size_t len) noexcept;
/// The Internet checksum of an IPv4 header whose checksum field is zero (or, over a header with
/// its checksum filled in, 0 when it is right).
[[nodiscard]] uint16_t ipv4_header_checksum(const uint8_t* header, size_t len) noexcept;
[[nodiscard]] FrameTemplate build_frame_template(const PacketOutput& output) noexcept;
/// Writes kFrameHeaderLen bytes to `out`: the template with length, id, TTL and an
/// incrementally computed IPv4 checksum; UDP checksum 0 (none, allowed for IPv4).
void stamp_frame_header(const FrameTemplate& frame, uint16_t ip_id, uint32_t payload_len,
                        uint8_t ttl, uint8_t* out) noexcept;
/// Writes kFrameHeaderLen6 bytes of an IPv6 template to `out`: payload length, hop limit, UDP
/// length and the UDP checksum over the pseudo header (RFC 8200 8.1), with `payload_sum`
/// = ones_sum(payload, payload_len). A computed 0 is sent as 0xffff (0 is invalid on IPv6).
void stamp_frame_header6(const FrameTemplate& frame, uint32_t payload_len, uint8_t hop_limit,
                         uint16_t payload_sum, uint8_t* out) noexcept;
/// Reads an output's interface, MAC, addresses and ports back from its connected UDP socket
/// (open_output_socket), so the frames match what that socket would send.
[[nodiscard]] Result<PacketOutput> describe_output_socket(int fd);

}  // namespace mrelay
