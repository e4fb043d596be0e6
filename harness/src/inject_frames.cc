// Frame builders for mrelay-inject; see inject_frames.h.
//
// Every frame starts from one valid Ethernet/IPv4/UDP frame with a correct header checksum,
// then breaks exactly one thing, so each kind exercises exactly one parser check (the checks
// run in the order of relay/src/packet_parser.cc: IHL, checksum, fragment, protocol, lengths).
#include "inject_frames.h"

#include <algorithm>
#include <cstring>

#include "mrelay/payload.h"

namespace mrelay::harness {
namespace {

constexpr size_t kEthernetHeaderSize = 14;
constexpr size_t kVlanTagSize = 4;
constexpr size_t kIpv4HeaderSize = 20;
constexpr size_t kUdpHeaderSize = 8;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeVlan = 0x8100;
constexpr uint16_t kEthertypeLocalExperimental = 0x88b5;  // IEEE 802 local experimental 1
constexpr uint16_t kTestVlanId = 100;
constexpr uint8_t kIpProtocolUdp = 17;
constexpr uint8_t kIpProtocolTcp = 6;
constexpr uint16_t kIpFlagMoreFragments = 0x2000;
constexpr uint16_t kIpFlagDontFragment = 0x4000;
// Offset field counts 8-byte units: 185 units = 1480 bytes, the second fragment at MTU 1500.
constexpr uint16_t kSecondFragmentOffsetUnits = 185;
// Router Alert (RFC 2113): copied flag + option 20, length 4, value 0. The one IPv4 option
// multicast actually carries (IGMP), so a relay meets it in the field.
constexpr std::array<uint8_t, 4> kRouterAlertOption{0x94, 0x04, 0x00, 0x00};

void store_be16(uint8_t* p, uint16_t value) {
  p[0] = static_cast<uint8_t>(value >> 8);
  p[1] = static_cast<uint8_t>(value);
}

uint16_t ipv4_checksum(const uint8_t* header, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<uint32_t>((header[i] << 8) | header[i + 1]);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

// Ethernet header (optionally tagged) at `out`; returns the offset of the IPv4 header.
size_t write_ethernet(const FrameParams& params, uint16_t ethertype, bool tagged, uint8_t* out) {
  // RFC 1112 §6.4: 01:00:5e + the low 23 bits of the group, so a real NIC's filter passes it.
  const auto* group = reinterpret_cast<const uint8_t*>(&params.dst_group);
  const uint8_t dst_mac[6] = {0x01,     0x00,    0x5e, static_cast<uint8_t>(group[1] & 0x7f),
                              group[2], group[3]};
  std::memcpy(out, dst_mac, 6);
  std::memcpy(out + 6, params.src_mac.data(), 6);
  size_t offset = 12;
  if (tagged) {
    store_be16(out + offset, kEthertypeVlan);
    store_be16(out + offset + 2, kTestVlanId);
    offset += kVlanTagSize;
  }
  store_be16(out + offset, ethertype);
  return offset + 2;
}

struct DatagramShape {
  size_t options_len = 0;
  uint8_t protocol = kIpProtocolUdp;
  uint16_t flags_offset = kIpFlagDontFragment;
  uint32_t payload_size = 0;
};

// A valid IPv4+UDP datagram at `out` with a stamped test payload; returns its length.
size_t write_datagram(const FrameParams& params, const DatagramShape& shape, uint64_t sequence,
                      uint64_t send_time_ns, uint8_t* out) {
  const size_t header_len = kIpv4HeaderSize + shape.options_len;
  const size_t udp_len = kUdpHeaderSize + shape.payload_size;
  const size_t total_len = header_len + udp_len;
  out[0] = static_cast<uint8_t>(0x40 | (header_len / 4));
  out[1] = 0;
  store_be16(out + 2, static_cast<uint16_t>(total_len));
  store_be16(out + 4, static_cast<uint16_t>(sequence));  // identification
  store_be16(out + 6, shape.flags_offset);
  out[8] = params.ttl;
  out[9] = shape.protocol;
  store_be16(out + 10, 0);
  std::memcpy(out + 12, &params.src_addr, 4);
  std::memcpy(out + 16, &params.dst_group, 4);
  if (shape.options_len == kRouterAlertOption.size()) {
    std::memcpy(out + kIpv4HeaderSize, kRouterAlertOption.data(), kRouterAlertOption.size());
  }
  store_be16(out + 10, ipv4_checksum(out, header_len));

  uint8_t* udp = out + header_len;
  store_be16(udp, params.src_port);
  store_be16(udp + 2, params.dst_port);
  store_be16(udp + 4, static_cast<uint16_t>(udp_len));
  store_be16(udp + 6, 0);  // no UDP checksum: optional in IPv4, and the relay never checks it
  uint8_t* payload = udp + kUdpHeaderSize;
  if (shape.payload_size >= kPayloadHeaderSize) {
    stamp_payload(payload, shape.payload_size,
                  {.stream = params.stream, .sequence = sequence, .send_time_ns = send_time_ns});
  } else {
    std::memset(payload, 0xa5, shape.payload_size);
  }
  return total_len;
}

void rewrite_checksum(uint8_t* ip) {
  const size_t header_len = static_cast<size_t>(ip[0] & 0x0f) * 4;
  store_be16(ip + 10, 0);
  store_be16(ip + 10, ipv4_checksum(ip, std::max(header_len, kIpv4HeaderSize)));
}

}  // namespace

std::string_view to_string(InjectKind kind) {
  switch (kind) {
#define MRELAY_INJECT_NAME(k, counter, help) \
  case InjectKind::k:                        \
    return #k;
    MRELAY_INJECT_KINDS(MRELAY_INJECT_NAME)
#undef MRELAY_INJECT_NAME
  }
  return "unknown";
}

std::optional<InjectKind> parse_inject_kind(std::string_view name) {
  for (InjectKind kind : kAllInjectKinds) {
    if (to_string(kind) == name) {
      return kind;
    }
  }
  return std::nullopt;
}

std::string_view expected_counter(InjectKind kind) {
  switch (kind) {
#define MRELAY_INJECT_COUNTER(k, counter, help) \
  case InjectKind::k:                           \
    return counter;
    MRELAY_INJECT_KINDS(MRELAY_INJECT_COUNTER)
#undef MRELAY_INJECT_COUNTER
  }
  return "none";
}

std::string_view describe(InjectKind kind) {
  switch (kind) {
#define MRELAY_INJECT_HELP(k, counter, help) \
  case InjectKind::k:                        \
    return help;
    MRELAY_INJECT_KINDS(MRELAY_INJECT_HELP)
#undef MRELAY_INJECT_HELP
  }
  return "";
}

ParseVerdict expected_verdict(InjectKind kind) {
  switch (kind) {
    case InjectKind::truncated_eth:
    case InjectKind::truncated_ip:
    case InjectKind::truncated_udp:
      return ParseVerdict::truncated;
    case InjectKind::bad_ihl:
      return ParseVerdict::bad_ip_header;
    case InjectKind::total_len_long:
    case InjectKind::total_len_short:
    case InjectKind::udp_len_lie:
      return ParseVerdict::bad_length;
    case InjectKind::fragment_mf:
    case InjectKind::fragment_offset:
      return ParseVerdict::fragment;
    case InjectKind::non_udp:
      return ParseVerdict::not_udp;
    case InjectKind::not_ipv4:
      return ParseVerdict::not_ipv4;
    case InjectKind::bad_checksum:
      return ParseVerdict::bad_checksum;
    case InjectKind::ip_options:
    case InjectKind::vlan_valid:
    case InjectKind::jumbo:  // a valid frame: the relay rejects it for its size, not its bytes
      return ParseVerdict::ok;
  }
  return ParseVerdict::ok;
}

size_t build_frame(InjectKind kind, const FrameParams& params, uint64_t sequence,
                   uint64_t send_time_ns, std::span<uint8_t> out) {
  uint8_t* frame = out.data();
  const bool tagged = kind == InjectKind::vlan_valid;
  const uint16_t ethertype =
      kind == InjectKind::not_ipv4 ? kEthertypeLocalExperimental : kEthertypeIpv4;
  const size_t ip_offset = write_ethernet(params, ethertype, tagged, frame);
  if (kind == InjectKind::truncated_eth) {
    return ip_offset;
  }
  uint8_t* ip = frame + ip_offset;

  DatagramShape shape;
  shape.payload_size = params.payload_size;
  switch (kind) {
    case InjectKind::ip_options:
      shape.options_len = kRouterAlertOption.size();
      break;
    case InjectKind::non_udp:
      shape.protocol = kIpProtocolTcp;
      break;
    case InjectKind::fragment_mf:
      shape.flags_offset = kIpFlagMoreFragments;
      break;
    case InjectKind::fragment_offset:
      shape.flags_offset = kSecondFragmentOffsetUnits;
      break;
    case InjectKind::jumbo:
      shape.payload_size = std::max<uint32_t>(params.jumbo_size, kIpv4HeaderSize + kUdpHeaderSize) -
                           static_cast<uint32_t>(kIpv4HeaderSize + kUdpHeaderSize);
      break;
    default:
      break;
  }
  const size_t datagram_len = write_datagram(params, shape, sequence, send_time_ns, ip);
  size_t frame_len = ip_offset + datagram_len;

  switch (kind) {
    case InjectKind::truncated_ip:
      frame_len = ip_offset + 12;
      break;
    case InjectKind::truncated_udp:
      // Total length still claims the whole datagram; the frame stops 4 bytes into UDP.
      frame_len = ip_offset + kIpv4HeaderSize + 4;
      break;
    case InjectKind::bad_ihl:
      ip[0] = 0x44;
      rewrite_checksum(ip);  // only the IHL is wrong
      break;
    case InjectKind::total_len_long:
      store_be16(ip + 2, static_cast<uint16_t>(datagram_len + 200));
      rewrite_checksum(ip);
      break;
    case InjectKind::total_len_short:
      store_be16(ip + 2, static_cast<uint16_t>(kIpv4HeaderSize + kUdpHeaderSize - 4));
      rewrite_checksum(ip);
      break;
    case InjectKind::udp_len_lie:
      store_be16(ip + kIpv4HeaderSize + 4,
                 static_cast<uint16_t>(kUdpHeaderSize + params.payload_size + 100));
      break;
    case InjectKind::bad_checksum:
      store_be16(ip + 10, static_cast<uint16_t>(((ip[10] << 8) | ip[11]) + 1));
      break;
    default:
      break;
  }
  return frame_len;
}

}  // namespace mrelay::harness
