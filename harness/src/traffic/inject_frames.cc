// Frame builders for mrelay-inject; see inject_frames.h.
//
// Every frame starts from one valid Ethernet/IPv4/UDP frame with a correct header checksum,
// then breaks exactly one thing, so each kind exercises exactly one parser check (the checks
// run in the order of relay/src/packet_parser.cc: packet type, IHL, checksum, fragment,
// protocol, lengths, source, UDP checksum, GSO).
#include "traffic/inject_frames.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "mrelay/payload.h"

namespace mrelay::harness {
namespace {

constexpr size_t kEthernetHeaderSize = 14;
constexpr size_t kVlanTagSize = 4;
constexpr size_t kIpv4HeaderSize = 20;
constexpr size_t kUdpHeaderSize = 8;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeVlan = 0x8100;
constexpr uint16_t kEthertypeQinQ = 0x88a8;
constexpr uint16_t kEthertypeLocalExperimental = 0x88b5;  // IEEE 802 local experimental 1
constexpr uint16_t kTestVlanId = 100;
constexpr uint16_t kOtherVlanId = 200;
constexpr uint16_t kInnerVlanId = 7;  // the customer tag inside the QinQ kind's service tag
// A locally administered unicast MAC no rig interface has: frames to it are PACKET_OTHERHOST.
constexpr std::array<uint8_t, 6> kOtherHostMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
constexpr uint8_t kVnetNeedsChecksum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVnetGsoUdpL4 = 5;       // VIRTIO_NET_HDR_GSO_UDP_L4
constexpr size_t kUdpChecksumOffset = 6;
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

// One-complement sum of `len` bytes as big-endian words (the last byte padded with zero),
// not folded: the caller adds the pseudo header and folds.
uint32_t sum_words(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i < len; i += 2) {
    sum += static_cast<uint32_t>(data[i] << 8) + (i + 1 < len ? data[i + 1] : 0u);
  }
  return sum;
}

uint16_t fold(uint32_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// RFC 768 pseudo header of the UDP datagram at ip: source, destination, protocol, UDP length.
uint32_t pseudo_header_sum(const uint8_t* ip, size_t udp_len) {
  return sum_words(ip + 12, 8) + kIpProtocolUdp + static_cast<uint32_t>(udp_len);
}

// Ethernet header at `out` with the given 802.1Q/802.1ad tags (outermost first); returns the
// offset of the IPv4 header.
size_t write_ethernet(const FrameParams& params, uint16_t ethertype, InjectKind kind,
                      uint8_t* out) {
  // RFC 1112 §6.4: 01:00:5e + the low 23 bits of the group, so a real NIC's filter passes it.
  const auto* group = reinterpret_cast<const uint8_t*>(&params.dst_group);
  const uint8_t dst_mac[6] = {0x01,     0x00,    0x5e, static_cast<uint8_t>(group[1] & 0x7f),
                              group[2], group[3]};
  std::memcpy(out, kind == InjectKind::other_host ? kOtherHostMac.data() : dst_mac, 6);
  std::memcpy(out + 6, params.src_mac.data(), 6);
  size_t offset = 12;
  auto tag = [&offset, out](uint16_t tpid, uint16_t vlan) {
    store_be16(out + offset, tpid);
    store_be16(out + offset + 2, vlan);
    offset += kVlanTagSize;
  };
  if (kind == InjectKind::vlan_valid) {
    tag(kEthertypeVlan, kTestVlanId);
  } else if (kind == InjectKind::vlan_other) {
    tag(kEthertypeVlan, kOtherVlanId);
  } else if (kind == InjectKind::qinq_valid) {
    tag(kEthertypeQinQ, kTestVlanId);
    tag(kEthertypeVlan, kInnerVlanId);
  }
  store_be16(out + offset, ethertype);
  return offset + 2;
}

// The IPv4 source of the martian kinds, or nullopt for the others.
std::optional<uint32_t> martian_source(InjectKind kind) {
  switch (kind) {
    case InjectKind::source_zeronet:
      return htonl(0x00010203);  // 0.1.2.3
    case InjectKind::source_loopback:
      return htonl(0x7f000001);  // 127.0.0.1
    case InjectKind::source_multicast:
      return htonl(0xe0000001);  // 224.0.0.1
    case InjectKind::source_class_e:
      return htonl(0xf0000001);  // 240.0.0.1
    case InjectKind::source_broadcast:
      return htonl(0xffffffff);
    default:
      return std::nullopt;
  }
}

bool is_gso_kind(InjectKind kind) {
  return kind == InjectKind::gso_run || kind == InjectKind::gso_run_large;
}

struct DatagramShape {
  size_t options_len = 0;
  uint8_t protocol = kIpProtocolUdp;
  uint16_t flags_offset = kIpFlagDontFragment;
  uint32_t payload_size = 0;
  // The payload is this many test payloads of payload_size bytes back to back (the
  // datagrams of a GSO super-frame), with consecutive sequence numbers.
  uint32_t segments = 1;
};

// A valid IPv4+UDP datagram at `out` with a stamped test payload; returns its length.
size_t write_datagram(const FrameParams& params, const DatagramShape& shape, uint64_t sequence,
                      uint64_t send_time_ns, uint8_t* out) {
  const size_t header_len = kIpv4HeaderSize + shape.options_len;
  const size_t udp_len = kUdpHeaderSize + static_cast<size_t>(shape.payload_size) * shape.segments;
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
  store_be16(udp + 6, 0);  // no UDP checksum (optional in IPv4) unless a kind sets one
  for (uint32_t s = 0; s < shape.segments; ++s) {
    uint8_t* payload = udp + kUdpHeaderSize + static_cast<size_t>(s) * shape.payload_size;
    if (shape.payload_size >= kPayloadHeaderSize) {
      stamp_payload(
          payload, shape.payload_size,
          {.stream = params.stream, .sequence = sequence + s, .send_time_ns = send_time_ns});
    } else {
      std::memset(payload, 0xa5, shape.payload_size);
    }
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

uint32_t datagrams_per_frame(InjectKind kind, const FrameParams& params) {
  switch (kind) {
    case InjectKind::gso_run:
      return params.gso_segments;
    case InjectKind::gso_run_large:
      return params.gso_large_segments;
    default:
      return 1;
  }
}

std::array<uint8_t, VnetHeader::kSize> VnetHeader::serialise() const {
  std::array<uint8_t, kSize> out{};
  auto store16 = [&out](size_t at, uint16_t value) { std::memcpy(out.data() + at, &value, 2); };
  out[0] = flags;
  out[1] = gso_type;
  store16(2, hdr_len);
  store16(4, gso_size);
  store16(6, csum_start);
  store16(8, csum_offset);
  return out;
}

VnetHeader vnet_header(InjectKind kind, const FrameParams& params) {
  VnetHeader header;
  if (kind != InjectKind::udp_partial_checksum && !is_gso_kind(kind)) {
    return header;
  }
  // The kernel completes the UDP checksum from csum_start (the UDP header, counted from the
  // Ethernet header) and stores it csum_offset bytes further, as for a local sender's skb.
  header.flags = kVnetNeedsChecksum;
  header.csum_start = static_cast<uint16_t>(kEthernetHeaderSize + kIpv4HeaderSize);
  header.csum_offset = static_cast<uint16_t>(kUdpChecksumOffset);
  if (is_gso_kind(kind)) {
    header.gso_type = kVnetGsoUdpL4;
    header.hdr_len = static_cast<uint16_t>(kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize);
    header.gso_size = kind == InjectKind::gso_run ? params.gso_segment : params.gso_large_segment;
  }
  return header;
}

FrameMeta frame_meta(InjectKind kind, const FrameParams& params) {
  FrameMeta meta;
  meta.pkttype = kind == InjectKind::other_host ? kPacketOtherHost : kPacketMulticast;
  const VnetHeader header = vnet_header(kind, params);
  if ((header.flags & kVnetNeedsChecksum) != 0) {
    meta.checksum = ChecksumState::partial;
  }
  meta.gso_type = header.gso_type;
  meta.gso_size = header.gso_size;
  return meta;
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
    case InjectKind::other_host:
      return ParseVerdict::other_host;
    case InjectKind::source_zeronet:
    case InjectKind::source_loopback:
    case InjectKind::source_multicast:
    case InjectKind::source_class_e:
    case InjectKind::source_broadcast:
      return ParseVerdict::martian_source;
    case InjectKind::udp_bad_checksum:
      return ParseVerdict::bad_udp_checksum;
    case InjectKind::ip_options:
    case InjectKind::vlan_valid:  // valid: the rule table decides by VLAN, not the parser
    case InjectKind::vlan_other:
    case InjectKind::qinq_valid:
    case InjectKind::udp_checksum:
    case InjectKind::udp_partial_checksum:
    case InjectKind::gso_run:
    case InjectKind::gso_run_large:
    case InjectKind::jumbo:  // a valid frame: the relay rejects it for its size, not its bytes
      return ParseVerdict::ok;
  }
  return ParseVerdict::ok;
}

namespace {

// The datagram a kind is built from: options, protocol, fragment bits, size, GSO segments.
DatagramShape shape_of(InjectKind kind, const FrameParams& params) {
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
    case InjectKind::gso_run:
      shape.payload_size = params.gso_segment;
      shape.segments = params.gso_segments;
      break;
    case InjectKind::gso_run_large:
      shape.payload_size = params.gso_large_segment;
      shape.segments = params.gso_large_segments;
      break;
    default:
      break;
  }
  return shape;
}

// Spoils a well-formed datagram the way its kind says (truncation, header lies, checksums);
// returns the frame's length.
size_t damage(InjectKind kind, const FrameParams& params, size_t ip_offset, size_t datagram_len,
              uint8_t* ip) {
  size_t frame_len = ip_offset + datagram_len;
  uint8_t* udp_checksum = ip + kIpv4HeaderSize + kUdpChecksumOffset;
  const size_t udp_len = datagram_len - kIpv4HeaderSize;

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
    case InjectKind::udp_checksum:
    case InjectKind::udp_bad_checksum: {
      uint16_t value = static_cast<uint16_t>(
          ~fold(pseudo_header_sum(ip, udp_len) + sum_words(ip + kIpv4HeaderSize, udp_len)));
      if (value == 0) {
        value = 0xffff;  // RFC 768: a computed 0 is sent as all ones
      }
      if (kind == InjectKind::udp_bad_checksum) {
        value = static_cast<uint16_t>(value == 1 ? 3 : value - 1);  // never 0 ("none")
      }
      store_be16(udp_checksum, value);
      break;
    }
    case InjectKind::udp_partial_checksum:
    case InjectKind::gso_run:
    case InjectKind::gso_run_large:
      // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum; whoever finishes the
      // checksum adds the UDP header and payload (udp4_hwcsum() leaves the same value).
      store_be16(udp_checksum, fold(pseudo_header_sum(ip, udp_len)));
      break;
    default:
      break;
  }
  return frame_len;
}

}  // namespace

size_t build_frame(InjectKind kind, const FrameParams& params, uint64_t sequence,
                   uint64_t send_time_ns, std::span<uint8_t> out) {
  uint8_t* frame = out.data();
  const uint16_t ethertype =
      kind == InjectKind::not_ipv4 ? kEthertypeLocalExperimental : kEthertypeIpv4;
  const size_t ip_offset = write_ethernet(params, ethertype, kind, frame);
  if (kind == InjectKind::truncated_eth) {
    return ip_offset;
  }
  uint8_t* ip = frame + ip_offset;
  FrameParams datagram_params = params;
  if (auto source = martian_source(kind)) {
    datagram_params.src_addr = *source;
  }
  const size_t datagram_len =
      write_datagram(datagram_params, shape_of(kind, params), sequence, send_time_ns, ip);
  return damage(kind, params, ip_offset, datagram_len, ip);
}

}  // namespace mrelay::harness
