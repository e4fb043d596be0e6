// Header-only parsing of captured test frames for the counting sink: see
// traffic/frame_counter.h.
#include "traffic/frame_counter.h"

#include <arpa/inet.h>

#include <cstring>

namespace mrelay::harness {
namespace {

constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;
constexpr uint16_t kEthertypeVlan = 0x8100;
constexpr size_t kIpv6Header = 40;
constexpr uint8_t kProtocolUdp = 17;
constexpr size_t kUdpHeader = 8;
// Offsets inside the 32-byte payload header (relay/include/mrelay/payload.h).
constexpr size_t kStreamOffset = 4;
constexpr size_t kFlagsOffset = 6;
constexpr size_t kSequenceOffset = 8;
constexpr size_t kTimeOffset = 16;
constexpr size_t kSizeOffset = 28;

uint16_t load_be16(const uint8_t* at) noexcept {
  uint16_t value;
  std::memcpy(&value, at, sizeof value);
  return ntohs(value);
}

// The payload header is little-endian (payload.h).
template <typename T>
T load_le(const uint8_t* at) noexcept {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(static_cast<T>(at[i]) << (8 * i));
  }
  return value;
}

}  // namespace

PayloadCheck check_payload_header(const uint8_t* payload, size_t captured,
                                  size_t payload_length) noexcept {
  PayloadCheck check;
  if (captured < kPayloadHeaderSize || payload_length < kPayloadHeaderSize) {
    check.status = PayloadStatus::too_short;
    return check;
  }
  if (load_le<uint32_t>(payload) != kPayloadMagic) {
    check.status = PayloadStatus::bad_magic;
    return check;
  }
  check.fields.stream = load_le<uint16_t>(payload + kStreamOffset);
  check.fields.flags = load_le<uint16_t>(payload + kFlagsOffset);
  check.fields.sequence = load_le<uint64_t>(payload + kSequenceOffset);
  check.fields.send_time_ns = load_le<uint64_t>(payload + kTimeOffset);
  check.status = load_le<uint32_t>(payload + kSizeOffset) == payload_length
                     ? PayloadStatus::ok
                     : PayloadStatus::bad_size;
  return check;
}

uint32_t payload_header_size(const uint8_t* payload, size_t captured) noexcept {
  return captured < kPayloadHeaderSize ? 0 : load_le<uint32_t>(payload + kSizeOffset);
}

namespace {

// The UDP header and payload behind an IP header of `ip_header` bytes at `offset`.
void take_udp(const uint8_t* frame, size_t captured, size_t offset, size_t ip_header,
              UdpPayload& out) noexcept {
  const uint8_t* udp = frame + offset + ip_header;
  const size_t udp_length = load_be16(udp + 4);
  out.key.port = load_be16(udp + 2);
  const size_t payload_offset = offset + ip_header + kUdpHeader;
  out.data = frame + payload_offset;
  out.length = udp_length >= kUdpHeader ? udp_length - kUdpHeader : 0;
  out.captured = captured - payload_offset;
}

bool parse_ipv4_udp(const uint8_t* frame, size_t captured, size_t offset,
                    UdpPayload& out) noexcept {
  if (captured < offset + 20) {
    return false;
  }
  const uint8_t* ip = frame + offset;
  const size_t ip_header = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ip_header < 20 || ip[9] != kProtocolUdp ||
      captured < offset + ip_header + kUdpHeader) {
    return false;
  }
  // A fragment other than the first carries no UDP header.
  if ((load_be16(ip + 6) & 0x1fff) != 0) {
    return false;
  }
  out.key = StreamKey{};
  in_addr_t group = 0;
  std::memcpy(&group, ip + 16, sizeof group);  // stays in network order
  out.key.group = GroupAddress::from_v4(group);
  take_udp(frame, captured, offset, ip_header, out);
  return true;
}

// Only UDP directly after the fixed header: the rig's traffic carries no extension headers,
// and a frame with one (a fragment, hop-by-hop options as MLD has) is not a test datagram.
bool parse_ipv6_udp(const uint8_t* frame, size_t captured, size_t offset,
                    UdpPayload& out) noexcept {
  if (captured < offset + kIpv6Header + kUdpHeader) {
    return false;
  }
  const uint8_t* ip = frame + offset;
  if ((ip[0] >> 4) != 6 || ip[6] != kProtocolUdp) {
    return false;
  }
  out.key = StreamKey{};
  in6_addr group{};
  std::memcpy(&group, ip + 24, sizeof group);
  out.key.group = GroupAddress::from_v6(group);
  take_udp(frame, captured, offset, kIpv6Header, out);
  return true;
}

}  // namespace

bool parse_udp_frame(const uint8_t* frame, size_t captured, UdpPayload& out) noexcept {
  if (captured < kEthernetHeader) {
    return false;
  }
  size_t offset = kEthernetHeader;
  uint16_t ethertype = load_be16(frame + 12);
  if (ethertype == kEthertypeVlan) {
    if (captured < kEthernetHeader + kVlanTag) {
      return false;
    }
    ethertype = load_be16(frame + 16);
    offset += kVlanTag;
  }
  if (ethertype == kEthertypeIpv4) {
    return parse_ipv4_udp(frame, captured, offset, out);
  }
  if (ethertype == kEthertypeIpv6) {
    return parse_ipv6_udp(frame, captured, offset, out);
  }
  return false;
}

bool parse_test_frame(const uint8_t* frame, size_t captured, TestFrame& out) noexcept {
  bool first = true;
  return for_each_datagram(frame, captured, [&](const TestFrame& datagram) {
    if (first) {
      out = datagram;
      first = false;
    }
  });
}

const sock_filter* sink_filter() noexcept {
  // X = the IP header's length (IPv4: from IHL; IPv6: the fixed 40 bytes, no extension
  // headers); then, shared by both families, the UDP length is at [X + 18] and the payload
  // header's size field (little-endian; its two low bytes suffice, sizes are < 65536) at
  // [X + 50].
  static const sock_filter kProgram[kSinkFilterLength] = {
      {0x28, 0, 0, 12},               // 0: A = ethertype
      {0x15, 0, 4, 0x0800},           // 1: IPv4? else 6
      {0x30, 0, 0, 23},               // 2: A = IP protocol
      {0x15, 0, 19, 17},              // 3: UDP? else 23
      {0xb1, 0, 0, 14},               // 4: X = 4 * (IHL)
      {0x05, 0, 0, 4},                // 5: to 10
      {0x15, 0, 16, 0x86dd},          // 6: IPv6? else 23
      {0x30, 0, 0, 20},               // 7: A = next header
      {0x15, 0, 14, 17},              // 8: UDP? else 23
      {0x01, 0, 0, 40},               // 9: X = 40
      {0x48, 0, 0, 18},               // 10: A = UDP length
      {0x02, 0, 0, 1},                // 11: M[1] = A
      {0x50, 0, 0, 51},               // 12: A = size field, byte 1
      {0x64, 0, 0, 8},                // 13: A <<= 8
      {0x02, 0, 0, 0},                // 14: M[0] = A
      {0x50, 0, 0, 50},               // 15: A = size field, byte 0
      {0x61, 0, 0, 0},                // 16: X = M[0]
      {0x0c, 0, 0, 0},                // 17: A += X
      {0x04, 0, 0, 8},                // 18: A += 8 (the UDP header)
      {0x61, 0, 0, 1},                // 19: X = M[1] (the UDP length)
      {0x1d, 0, 1, 0},                // 20: one datagram? else 22
      {0x06, 0, 0, kCaptureBytes},    // 21: keep its head
      {0x06, 0, 0, 0x40000},          // 22: keep the whole frame (a run of datagrams)
      {0x06, 0, 0, 0},                // 23: not IPv4/UDP or IPv6/UDP: nothing
  };
  return kProgram;
}

}  // namespace mrelay::harness
