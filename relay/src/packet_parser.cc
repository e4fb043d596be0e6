// Frame parsing for the data plane: Ethernet [802.1ad] [802.1Q] IPv4 UDP -> UdpView.
//
//   mrelay::UdpView view;
//   if (mrelay::parse_frame(frame, len, view) == mrelay::ParseVerdict::ok) {
//     int32_t rule = table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr);
//   }
//
// Every read is bounds-checked against `len` before it happens; the functions touch no memory
// outside [frame, frame + len), allocate nothing and cannot throw, so any byte string is safe.
// The IPv4 header checksum is verified (a corrupted header could send the copy to the wrong
// group); the UDP checksum is not (it is optional in IPv4 and the relay forwards the payload
// unchanged, so the receiver can still check it end to end).
#include <cstring>

#include "mrelay/packet.h"

namespace mrelay {
namespace {

constexpr size_t kEthernetHeaderSize = 14;
constexpr size_t kVlanTagSize = 4;
constexpr size_t kIpv4MinHeaderSize = 20;
constexpr size_t kUdpHeaderSize = 8;

constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeVlan = 0x8100;  // 802.1Q customer tag
constexpr uint16_t kEthertypeQinQ = 0x88a8;  // 802.1ad service tag (outer tag of QinQ)
constexpr uint8_t kIpProtocolUdp = 17;
constexpr uint16_t kIpFlagMoreFragments = 0x2000;
constexpr uint16_t kIpFragmentOffsetMask = 0x1fff;
constexpr uint16_t kVlanIdMask = 0x0fff;

inline uint16_t load_be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((static_cast<uint16_t>(p[0]) << 8) | p[1]);
}

inline uint32_t load_raw32(const uint8_t* p) noexcept {
  uint32_t value;
  std::memcpy(&value, p, sizeof value);  // keeps network byte order; no alignment assumption
  return value;
}

// RFC 1071: the one's-complement sum over a correct header, checksum field included, is 0xffff.
inline bool ipv4_checksum_ok(const uint8_t* header, size_t header_len) noexcept {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < header_len; i += 2) {
    sum += load_be16(header + i);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return sum == 0xffff;
}

}  // namespace

std::string_view to_string(ParseVerdict verdict) {
  switch (verdict) {
    case ParseVerdict::ok:
      return "ok";
    case ParseVerdict::truncated:
      return "truncated";
    case ParseVerdict::not_ipv4:
      return "not_ipv4";
    case ParseVerdict::bad_ip_header:
      return "bad_ip_header";
    case ParseVerdict::bad_length:
      return "bad_length";
    case ParseVerdict::bad_checksum:
      return "bad_checksum";
    case ParseVerdict::fragment:
      return "fragment";
    case ParseVerdict::not_udp:
      return "not_udp";
    case ParseVerdict::other_host:
      return "other_host";
    case ParseVerdict::martian_source:
      return "martian_source";
    case ParseVerdict::bad_udp_checksum:
      return "bad_udp_checksum";
    case ParseVerdict::bad_gso:
      return "bad_gso";
  }
  return "unknown";
}

bool is_malformed(ParseVerdict verdict) {
  switch (verdict) {
    case ParseVerdict::truncated:
    case ParseVerdict::bad_ip_header:
    case ParseVerdict::bad_length:
    case ParseVerdict::bad_checksum:
    case ParseVerdict::fragment:
    case ParseVerdict::bad_udp_checksum:
    case ParseVerdict::bad_gso:
      return true;
    case ParseVerdict::ok:
    case ParseVerdict::not_ipv4:
    case ParseVerdict::not_udp:
    case ParseVerdict::other_host:
    case ParseVerdict::martian_source:
      return false;
  }
  return false;
}

ParseVerdict parse_ipv4(const uint8_t* packet, size_t len, const FrameMeta& /*meta*/,
                        UdpView& out) noexcept {
  if (packet == nullptr || len < kIpv4MinHeaderSize) {
    return ParseVerdict::truncated;
  }
  const uint8_t version = packet[0] >> 4;
  const size_t header_len = static_cast<size_t>(packet[0] & 0x0f) * 4;
  if (version != 4 || header_len < kIpv4MinHeaderSize || header_len > len) {
    return ParseVerdict::bad_ip_header;
  }
  if (!ipv4_checksum_ok(packet, header_len)) {
    return ParseVerdict::bad_checksum;
  }
  const uint16_t flags_offset = load_be16(packet + 6);
  if ((flags_offset & (kIpFlagMoreFragments | kIpFragmentOffsetMask)) != 0) {
    return ParseVerdict::fragment;
  }
  if (packet[9] != kIpProtocolUdp) {
    return ParseVerdict::not_udp;
  }
  if (len < header_len + kUdpHeaderSize) {
    return ParseVerdict::truncated;  // the frame ends inside the UDP header
  }
  // Use the IPv4 total length, not the frame length: short frames carry Ethernet padding.
  const size_t total_len = load_be16(packet + 2);
  if (total_len < header_len + kUdpHeaderSize || total_len > len) {
    return ParseVerdict::bad_length;
  }
  const uint8_t* udp = packet + header_len;
  const size_t udp_len = load_be16(udp + 4);
  if (udp_len < kUdpHeaderSize || udp_len != total_len - header_len) {
    return ParseVerdict::bad_length;
  }

  out.src_addr = load_raw32(packet + 12);
  out.dst_addr = load_raw32(packet + 16);
  out.ttl = packet[8];
  out.vlan_id = 0;  // L3 input carries no tag; parse_frame fills it in
  out.src_port = load_be16(udp);
  out.dst_port = load_be16(udp + 2);
  out.payload = udp + kUdpHeaderSize;
  out.payload_len = static_cast<uint32_t>(udp_len - kUdpHeaderSize);
  return ParseVerdict::ok;
}

ParseVerdict parse_frame(const uint8_t* frame, size_t len, const FrameMeta& meta,
                         UdpView& out) noexcept {
  if (frame == nullptr || len < kEthernetHeaderSize) {
    return ParseVerdict::truncated;
  }
  size_t offset = kEthernetHeaderSize;
  uint16_t ethertype = load_be16(frame + 12);
  uint16_t vlan_id = 0;
  bool tagged = false;
  // At most two tags: an optional 802.1ad outer tag, then an optional 802.1Q tag. vlan_id
  // reports the outermost tag, the one that identifies the segment the frame arrived on.
  if (ethertype == kEthertypeQinQ) {
    if (len < offset + kVlanTagSize) {
      return ParseVerdict::truncated;
    }
    vlan_id = load_be16(frame + offset) & kVlanIdMask;
    tagged = true;
    ethertype = load_be16(frame + offset + 2);
    offset += kVlanTagSize;
  }
  if (ethertype == kEthertypeVlan) {
    if (len < offset + kVlanTagSize) {
      return ParseVerdict::truncated;
    }
    if (!tagged) {
      vlan_id = load_be16(frame + offset) & kVlanIdMask;
    }
    ethertype = load_be16(frame + offset + 2);
    offset += kVlanTagSize;
  }
  if (ethertype != kEthertypeIpv4) {
    return ParseVerdict::not_ipv4;
  }
  const ParseVerdict verdict = parse_ipv4(frame + offset, len - offset, meta, out);
  if (verdict == ParseVerdict::ok) {
    out.vlan_id = vlan_id;
  }
  return verdict;
}

bool is_martian_source(uint32_t /*address*/) noexcept {
  return false;
}

}  // namespace mrelay
