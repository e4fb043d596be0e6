// Frame parsing for the data plane: Ethernet [802.1ad] [802.1Q] IPv4|IPv6 UDP -> UdpView.
//
//   mrelay::UdpView view;
//   if (mrelay::parse_frame(frame, len, meta, view) == mrelay::ParseVerdict::ok) {
//     int32_t rule = table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr,
//                               view.vlan_id);
//   }
//
// Every read is bounds-checked against `len` before it happens; the functions touch no memory
// outside [frame, frame + len), allocate nothing and cannot throw, so any byte string is safe.
//
// A packet socket sees frames before the kernel's IP layer has judged them, so the parser
// applies what that layer would (ip_rcv, ip_route_input_noref, __udp4_lib_rcv), or the relay
// would forward what the host itself refuses:
// - only frames whose link-layer packet type says "for this host" (host, multicast,
//   broadcast): a frame for another MAC reaches a packet socket, never the IP layer;
// - the IPv4 header checksum (a corrupted header could send the copy to the wrong group);
// - no martian source (ip_route_input_slow / ip_route_input_mc refuse multicast, limited
//   broadcast, 0/8 and loopback sources; 240/4 is refused here as well: reserved, never a
//   sender);
// - the UDP checksum when present. The relay sends only the payload and its egress computes a
//   fresh, valid checksum for every copy, so a corrupted datagram would leave laundered.
//   Not judged when the kernel reports it CHECKSUM_PARTIAL (a local sender's frame on veth:
//   the field holds only the pseudo-header sum) or already verified it.
// IPv6 (ip6_rcv_core, ipv6_parse_hopopts, udpv6_rcv): the extension headers are walked to the
// UDP header, each length checked against the frame, at most kMaxIpv6ExtensionHeaders; a
// Fragment header is counted as a fragment (never reassembled, as IPv4); a routing header
// with segments left means the packet is not at its last hop (the kernel would route it on
// or refuse it), so it is refused; the UDP checksum is mandatory (a zero one is invalid).
#include <cstring>

#include "mrelay/packet.h"

namespace mrelay {
namespace {

constexpr size_t kEthernetHeaderSize = 14;
constexpr size_t kVlanTagSize = 4;
constexpr size_t kIpv4MinHeaderSize = 20;
constexpr size_t kUdpHeaderSize = 8;

constexpr size_t kIpv6HeaderSize = 40;
constexpr uint16_t kEthertypeIpv4 = 0x0800;
constexpr uint16_t kEthertypeIpv6 = 0x86dd;
// IPv6 next-header values the walk knows (RFC 8200 4).
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestinationOptions = 60;
constexpr uint16_t kEthertypeVlan = 0x8100;  // 802.1Q customer tag
constexpr uint16_t kEthertypeQinQ = 0x88a8;  // 802.1ad service tag (outer tag of QinQ)
constexpr uint8_t kIpProtocolUdp = 17;
constexpr size_t kUdpChecksumOffset = 6;
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

// One's-complement sum of `len` bytes, unfolded, in the byte order of the loads (RFC 1071
// §2(B): the sum is byte-order independent, so words are loaded natively, 4 bytes at a time,
// and only compared with 0xffff at the end, which reads the same in either order).
inline uint64_t sum_native(const uint8_t* data, size_t len) noexcept {
  uint64_t sum = 0;
  for (; len >= 4; data += 4, len -= 4) {
    sum += load_raw32(data);
  }
  if (len >= 2) {
    uint16_t half;
    std::memcpy(&half, data, sizeof half);
    sum += half;
    data += 2;
    len -= 2;
  }
  if (len == 1) {
    const uint8_t last[2] = {*data, 0};  // an odd last byte is padded with zero on the right
    uint16_t half;
    std::memcpy(&half, last, sizeof half);
    sum += half;
  }
  return sum;
}

inline uint16_t fold(uint64_t sum) noexcept {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// RFC 768: the sum over the pseudo header (source, destination, zero, protocol, UDP length)
// and the whole datagram, checksum field included, is 0xffff when the checksum is right.
// `udp` points at the UDP header, `udp_len` bytes long (already checked to lie in the frame).
// Whether the parser checks a UDP checksum in this state (neither partial nor verified).
constexpr bool judged(ChecksumState state) noexcept {
  return state == ChecksumState::unverified || state == ChecksumState::unreported;
}

inline uint64_t pseudo_header_sum(const uint8_t* ip, size_t udp_len) noexcept {
  const uint8_t tail[4] = {0, kIpProtocolUdp, static_cast<uint8_t>(udp_len >> 8),
                           static_cast<uint8_t>(udp_len & 0xff)};
  return sum_native(ip + 12, 8) + load_raw32(tail);
}
inline bool udp_checksum_ok(const uint8_t* ip, const uint8_t* udp, size_t udp_len) noexcept {
  return fold(pseudo_header_sum(ip, udp_len) + sum_native(udp, udp_len)) == 0xffff;
}

// A CHECKSUM_PARTIAL field, as a local sender leaves it for the device to finish (the kernel
// stores the folded pseudo-header sum there): what an AF_XDP reader sees of a veth peer's
// datagram, since XDP runs before anything would finish it. ChecksumState::unreported only.
inline bool holds_pseudo_header_sum(uint64_t pseudo_sum, const uint8_t* udp) noexcept {
  uint16_t field;
  std::memcpy(&field, udp + kUdpChecksumOffset, sizeof field);
  return field == fold(pseudo_sum);
}

// Whether a datagram with a wrong checksum sum may still be forwarded: only one whose checksum
// state nobody reported and whose field holds just the pseudo-header sum (see above).
inline bool partial_when_unreported(const FrameMeta& meta, uint64_t pseudo_sum,
                                    const uint8_t* udp) noexcept {
  return meta.checksum == ChecksumState::unreported && holds_pseudo_header_sum(pseudo_sum, udp);
}

// RFC 8200 8.1: the pseudo header is source, destination, the upper-layer length (32 bits)
// and the next header value (32 bits, zero-padded); the rest as udp_checksum_ok().
inline uint64_t pseudo_header_sum6(const uint8_t* ip, size_t udp_len) noexcept {
  const auto high = static_cast<uint8_t>(udp_len >> 8);
  const auto low = static_cast<uint8_t>(udp_len & 0xff);
  const uint8_t tail[8] = {0, 0, high, low, 0, 0, 0, kIpProtocolUdp};
  return sum_native(ip + 8, 32) + sum_native(tail, 8);
}
inline bool udp6_checksum_ok(const uint8_t* ip, const uint8_t* udp, size_t udp_len) noexcept {
  return fold(pseudo_header_sum6(ip, udp_len) + sum_native(udp, udp_len)) == 0xffff;
}

// From the fixed IPv6 header to the UDP header: sets `offset` to where it starts. Each
// extension header's length is checked against the frame before it is read past; the walk
// stops after kMaxIpv6ExtensionHeaders.
ParseVerdict walk_ipv6_headers(const uint8_t* packet, size_t len, size_t& offset) noexcept {
  uint8_t next = packet[6];
  offset = kIpv6HeaderSize;
  for (uint32_t walked = 0;; ++walked) {
    switch (next) {
      case kIpProtocolUdp:
        return ParseVerdict::ok;
      case kIpv6Fragment:
        return ParseVerdict::fragment;
      case kIpv6HopByHop:
        if (walked != 0) {
          return ParseVerdict::bad_ip_header;  // only right after the fixed header (RFC 8200 4.1)
        }
        break;
      case kIpv6Routing:
      case kIpv6DestinationOptions:
        break;
      default:
        return ParseVerdict::not_udp;  // TCP, ICMPv6, ESP, No Next Header (59), ...
    }
    if (walked == kMaxIpv6ExtensionHeaders) {
      return ParseVerdict::bad_ip_header;
    }
    if (len < offset + 4) {  // next header, length, and a routing header's segments left
      return ParseVerdict::truncated;
    }
    const size_t header_len = (static_cast<size_t>(packet[offset + 1]) + 1) * 8;
    if (len < offset + header_len) {
      return ParseVerdict::truncated;
    }
    if (next == kIpv6Routing && packet[offset + 3] != 0) {
      return ParseVerdict::bad_ip_header;  // segments left: not at its final destination yet
    }
    next = packet[offset];
    offset += header_len;
  }
}

// ip_rcv() drops PACKET_OTHERHOST; a packet socket also sees PACKET_OUTGOING (the host's own
// frames) and PACKET_LOOPBACK, neither of them an arrival.
inline bool addressed_to_host(uint8_t pkttype) noexcept {
  return pkttype == kPacketHost || pkttype == kPacketMulticast || pkttype == kPacketBroadcast;
}

// GSO: only a UDP_L4 super-frame (a sender's UDP_SEGMENT run, or UDP GRO) can be split into
// datagrams; it needs a segment size. The ECN flag bit does not change the layout.
inline bool gso_splittable(const FrameMeta& meta) noexcept {
  return (meta.gso_type & static_cast<uint8_t>(~kGsoEcn)) == kGsoUdpL4 && meta.gso_size != 0;
}

}  // namespace

bool is_martian_source(uint32_t address) noexcept {
  const auto* octets = reinterpret_cast<const uint8_t*>(&address);  // network byte order
  return octets[0] == 0 || octets[0] == 127 || octets[0] >= 224;
}

bool is_martian_source6(const in6_addr& address) noexcept {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return address.s6_addr[0] == 0xff || IN6_IS_ADDR_LOOPBACK(&address) ||
         std::memcmp(address.s6_addr, kMappedPrefix, sizeof kMappedPrefix) == 0;
}

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

ParseVerdict parse_ipv4(const uint8_t* packet, size_t len, const FrameMeta& meta,
                        UdpView& out) noexcept {
  if (!addressed_to_host(meta.pkttype)) {
    return ParseVerdict::other_host;
  }
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
  if (is_martian_source(load_raw32(packet + 12))) {
    return ParseVerdict::martian_source;
  }
  const bool gso = meta.gso_type != kGsoNone;
  const size_t payload_len = udp_len - kUdpHeaderSize;
  if (gso && (!gso_splittable(meta) ||
              payload_len > static_cast<size_t>(meta.gso_size) * kMaxGsoSegments)) {
    return ParseVerdict::bad_gso;
  }
  // A GSO frame's checksum field is a template for its segments (partial, or verified by
  // GRO segment by segment), never a checksum over the whole super-frame.
  const bool judge_checksum =
      !gso && judged(meta.checksum) && load_be16(udp + kUdpChecksumOffset) != 0;
  if (judge_checksum && !udp_checksum_ok(packet, udp, udp_len) &&
      !partial_when_unreported(meta, pseudo_header_sum(packet, udp_len), udp)) {
    return ParseVerdict::bad_udp_checksum;
  }

  out.ipv6 = false;
  out.src_addr = load_raw32(packet + 12);
  out.dst_addr = load_raw32(packet + 16);
  out.ttl = packet[8];
  out.vlan_id = 0;  // L3 input carries no tag; parse_frame fills it in
  out.src_port = load_be16(udp);
  out.dst_port = load_be16(udp + 2);
  out.payload = udp + kUdpHeaderSize;
  out.payload_len = static_cast<uint32_t>(payload_len);
  out.segment_size = gso ? meta.gso_size : 0;
  return ParseVerdict::ok;
}

ParseVerdict parse_ipv6(const uint8_t* packet, size_t len, const FrameMeta& meta,
                        UdpView& out) noexcept {
  if (!addressed_to_host(meta.pkttype)) {
    return ParseVerdict::other_host;
  }
  if (packet == nullptr || len < kIpv6HeaderSize) {
    return ParseVerdict::truncated;
  }
  if ((packet[0] >> 4) != 6) {
    return ParseVerdict::bad_ip_header;
  }
  size_t udp_offset = 0;
  if (const ParseVerdict walk = walk_ipv6_headers(packet, len, udp_offset);
      walk != ParseVerdict::ok) {
    return walk;
  }
  if (len < udp_offset + kUdpHeaderSize) {
    return ParseVerdict::truncated;  // the frame ends inside the UDP header
  }
  // The payload length, not the frame length: short frames carry Ethernet padding. 0 would be
  // a jumbogram (RFC 2675), which needs a hop-by-hop option no Ethernet frame can carry.
  const size_t total_len = kIpv6HeaderSize + load_be16(packet + 4);
  if (total_len < udp_offset + kUdpHeaderSize || total_len > len) {
    return ParseVerdict::bad_length;
  }
  const uint8_t* udp = packet + udp_offset;
  const size_t udp_len = load_be16(udp + 4);
  if (udp_len < kUdpHeaderSize || udp_len != total_len - udp_offset) {
    return ParseVerdict::bad_length;
  }
  in6_addr source;
  std::memcpy(&source, packet + 8, sizeof source);
  if (is_martian_source6(source)) {
    return ParseVerdict::martian_source;
  }
  const bool gso = meta.gso_type != kGsoNone;
  const size_t payload_len = udp_len - kUdpHeaderSize;
  if (gso && (!gso_splittable(meta) ||
              payload_len > static_cast<size_t>(meta.gso_size) * kMaxGsoSegments)) {
    return ParseVerdict::bad_gso;
  }
  // Mandatory on IPv6: zero is no "no checksum" there but an invalid datagram (udp6 drops it).
  const bool judge_checksum = !gso && judged(meta.checksum);
  if (judge_checksum &&
      (load_be16(udp + kUdpChecksumOffset) == 0 ||
       (!udp6_checksum_ok(packet, udp, udp_len) &&
        !partial_when_unreported(meta, pseudo_header_sum6(packet, udp_len), udp)))) {
    return ParseVerdict::bad_udp_checksum;
  }
  out = UdpView{};
  out.ipv6 = true;
  out.src6 = source;
  std::memcpy(&out.dst6, packet + 24, sizeof out.dst6);
  out.ttl = packet[7];  // the hop limit, handled as the TTL
  out.src_port = load_be16(udp);
  out.dst_port = load_be16(udp + 2);
  out.payload = udp + kUdpHeaderSize;
  out.payload_len = static_cast<uint32_t>(payload_len);
  out.segment_size = gso ? meta.gso_size : 0;
  return ParseVerdict::ok;
}

ParseVerdict parse_frame(const uint8_t* frame, size_t len, const FrameMeta& meta,
                         UdpView& out) noexcept {
  if (!addressed_to_host(meta.pkttype)) {
    return ParseVerdict::other_host;
  }
  if (frame == nullptr || len < kEthernetHeaderSize) {
    return ParseVerdict::truncated;
  }
  size_t offset = kEthernetHeaderSize;
  uint16_t ethertype = load_be16(frame + 12);
  // The kernel takes the outer tag out of the frame into metadata before a packet socket
  // sees it (skb_vlan_untag); a second tag (QinQ) stays in the frame. VLAN id 0 is a
  // priority-only tag (802.1p), not a VLAN: the next tag, if any, names the VLAN.
  uint16_t vlan_id = meta.vlan_valid ? (meta.vlan_tci & kVlanIdMask) : 0;
  bool tagged = vlan_id != 0;
  // At most two tags in the frame: an optional 802.1ad outer tag, then an optional 802.1Q tag.
  // vlan_id reports the outermost tag, the one that identifies the segment the frame arrived
  // on.
  if (ethertype == kEthertypeQinQ) {
    if (len < offset + kVlanTagSize) {
      return ParseVerdict::truncated;
    }
    if (!tagged) {
      vlan_id = load_be16(frame + offset) & kVlanIdMask;
    }
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
  if (ethertype != kEthertypeIpv4 && ethertype != kEthertypeIpv6) {
    return ParseVerdict::not_ipv4;
  }
  const ParseVerdict verdict = ethertype == kEthertypeIpv4
                                   ? parse_ipv4(frame + offset, len - offset, meta, out)
                                   : parse_ipv6(frame + offset, len - offset, meta, out);
  if (verdict == ParseVerdict::ok) {
    out.vlan_id = vlan_id;
  }
  return verdict;
}

}  // namespace mrelay
