// Frame building for the "packet" egress backend (egress_packet.cc): the per-output
// Ethernet/IPv4/UDP header template and its per-packet stamp (pure functions), and the
// output's addresses read back from its UDP socket. packet_frame.cc; tested in
// packet_frame_test.cc.
//
//   mrelay::FrameTemplate frame = mrelay::build_frame_template(output);
//   uint8_t header[mrelay::kFrameHeaderLen];
//   mrelay::stamp_frame_header(frame, /*ip_id=*/7, /*payload_len=*/512, /*ttl=*/63, header);
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

/// Everything needed to build one output's frames.
struct PacketOutput {
  unsigned ifindex = 0;
  std::array<uint8_t, 6> src_mac{};
  in_addr src_addr{};     // network order
  in_addr dst_addr{};     // network order
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;  // host order
  bool multicast = true;  // false: unicast, left to the UDP socket
};

/// An output's frame header with the per-packet fields (IPv4 total length, id, TTL, checksum;
/// UDP length) zero, and the one's-complement sum of the IPv4 header's constant words.
struct FrameTemplate {
  std::array<uint8_t, kFrameHeaderLen> bytes{};
  uint32_t partial_sum = 0;
};

/// 01:00:5e + the low 23 bits of the group (RFC 1112 §6.4).
[[nodiscard]] std::array<uint8_t, 6> multicast_mac(in_addr group) noexcept;
/// The Internet checksum of an IPv4 header whose checksum field is zero (or, over a header with
/// its checksum filled in, 0 when it is right).
[[nodiscard]] uint16_t ipv4_header_checksum(const uint8_t* header, size_t len) noexcept;
[[nodiscard]] FrameTemplate build_frame_template(const PacketOutput& output) noexcept;
/// Writes kFrameHeaderLen bytes to `out`: the template with length, id, TTL and an
/// incrementally computed IPv4 checksum; UDP checksum 0 (none, allowed for IPv4).
void stamp_frame_header(const FrameTemplate& frame, uint16_t ip_id, uint32_t payload_len,
                        uint8_t ttl, uint8_t* out) noexcept;
/// Reads an output's interface, MAC, addresses and ports back from its connected UDP socket
/// (open_output_socket), so the frames match what that socket would send.
[[nodiscard]] Result<PacketOutput> describe_output_socket(int fd);

}  // namespace mrelay
