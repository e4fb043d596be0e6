// Frame parsing for AF_PACKET ingress: Ethernet, optional 802.1Q tag, IPv4, UDP.
// Pure function of the bytes: no allocation, no exceptions, safe on any input.
//
//   mrelay::UdpView view;
//   auto verdict = mrelay::parse_frame(frame, frame_len, view);
//   if (verdict != mrelay::ParseVerdict::ok) { ++counters.by_verdict(verdict); }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mrelay {

/// Why a frame was not forwarded, or ok. Each non-ok value maps to one counter.
enum class ParseVerdict : uint8_t {
  ok,
  truncated,        // frame ends inside the Ethernet, VLAN, IPv4 or UDP header
  not_ipv4,         // ethertype is not IPv4 (after an optional 802.1Q tag): unmatched
  bad_ip_header,    // version != 4 or IHL < 5 or IHL beyond the frame
  bad_length,       // IPv4 total length or UDP length disagrees with the frame
  bad_checksum,     // IPv4 header checksum wrong
  fragment,         // MF set or fragment offset != 0: relay forwards whole datagrams only
  not_udp,          // IPv4 protocol is not UDP: unmatched
};

[[nodiscard]] std::string_view to_string(ParseVerdict verdict);
/// True for verdicts counted as malformed; false for ok and the "unmatched" ones.
[[nodiscard]] bool is_malformed(ParseVerdict verdict);

/// The parts of a UDP/IPv4 frame the relay needs. Addresses in network byte order,
/// ports in host byte order. `payload` points into the frame.
struct UdpView {
  uint32_t src_addr = 0;
  uint32_t dst_addr = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t vlan_id = 0;  // 0 when untagged
  uint8_t ttl = 0;
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
};

/// Parses `len` bytes starting at the Ethernet header. Trailing Ethernet padding beyond the
/// IPv4 total length is allowed (short frames are padded to 60 bytes).
[[nodiscard]] ParseVerdict parse_frame(const uint8_t* frame, size_t len, UdpView& out) noexcept;

/// Parses from the IPv4 header (for sockets that deliver L3, e.g. SOCK_DGRAM packet sockets).
[[nodiscard]] ParseVerdict parse_ipv4(const uint8_t* packet, size_t len, UdpView& out) noexcept;

}  // namespace mrelay
