// Table-driven tests of parse_frame / parse_ipv4 / parse_ipv6. Each case starts from a good frame
// built by FrameBuilder (which computes a correct IPv4 checksum) and changes one thing: a byte of
// the frame, or what the kernel says about it (FrameMeta: packet type, VLAN tag, checksum, GSO).
//
//   ./mrelay_core_test --gtest_filter='PacketParser*'
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mrelay/packet.h"

namespace mrelay {
namespace {

// Describes a frame field by field; build() serialises it. Overrides let a case lie in one
// header field while everything else (including the checksum) stays consistent.
struct FrameBuilder {
  std::vector<uint16_t> vlan_tpids;  // tag protocol ids, outermost first (0x88a8, 0x8100)
  std::vector<uint16_t> vlan_ids;    // one per tag
  uint16_t ethertype = 0x0800;
  uint8_t version = 4;
  std::vector<uint8_t> ip_options;  // padded by the caller to a multiple of 4
  std::optional<uint8_t> ihl_override;
  std::optional<uint16_t> total_length_override;
  uint16_t flags_offset = 0x4000;  // DF, as Linux sends
  uint8_t ttl = 7;
  uint8_t protocol = 17;
  uint32_t src = inet_addr("10.9.9.9");
  uint32_t dst = inet_addr("239.1.1.1");
  bool corrupt_checksum = false;
  uint16_t src_port = 40000;
  uint16_t dst_port = 5000;
  std::optional<uint16_t> udp_length_override;
  // UDP checksum field: 0 (none, as by default), the correct value, one off from it, or the
  // folded pseudo-header sum a local sender leaves for the device (CHECKSUM_PARTIAL).
  enum class UdpChecksum { none, correct, wrong, pseudo_header } udp_checksum = UdpChecksum::none;
  size_t payload_size = 32;
  size_t pad_to = 0;  // Ethernet padding: append zeros up to this frame size

  [[nodiscard]] std::vector<uint8_t> build() const {
    std::vector<uint8_t> f;
    put_ethernet(f);
    const size_t ip_start = f.size();
    put_ipv4(f);
    put_udp(f, ip_start);
    if (f.size() < pad_to) {
      f.resize(pad_to, 0);
    }
    return f;
  }

 private:
  static void put16(std::vector<uint8_t>& f, uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v & 0xff));
  }
  static void put_raw32(std::vector<uint8_t>& f, uint32_t v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    f.insert(f.end(), p, p + 4);
  }

  void put_ethernet(std::vector<uint8_t>& f) const {
    for (int i = 0; i < 6; ++i) {
      f.push_back(i == 0 ? 0x01 : 0x00);  // multicast destination MAC
    }
    for (int i = 0; i < 6; ++i) {
      f.push_back(0x02);
    }
    for (size_t i = 0; i < vlan_tpids.size(); ++i) {
      put16(f, vlan_tpids[i]);
      put16(f, static_cast<uint16_t>(0xa000 | vlan_ids[i]));  // priority bits set, must be masked
    }
    put16(f, ethertype);
  }

  void put_ipv4(std::vector<uint8_t>& f) const {
    const size_t ip_start = f.size();
    const size_t header_len = 20 + ip_options.size();
    const size_t udp_len = 8 + payload_size;
    const uint8_t ihl = ihl_override.value_or(static_cast<uint8_t>(header_len / 4));
    f.push_back(static_cast<uint8_t>((version << 4) | (ihl & 0x0f)));
    f.push_back(0);  // DSCP/ECN
    put16(f, total_length_override.value_or(static_cast<uint16_t>(header_len + udp_len)));
    put16(f, 0x1234);  // identification
    put16(f, flags_offset);
    f.push_back(ttl);
    f.push_back(protocol);
    put16(f, 0);  // checksum, filled below
    put_raw32(f, src);
    put_raw32(f, dst);
    f.insert(f.end(), ip_options.begin(), ip_options.end());
    uint32_t sum = 0;
    for (size_t i = ip_start; i < ip_start + header_len; i += 2) {
      sum += static_cast<uint32_t>((f[i] << 8) | f[i + 1]);
    }
    while ((sum >> 16) != 0) {
      sum = (sum & 0xffff) + (sum >> 16);
    }
    uint16_t checksum = static_cast<uint16_t>(~sum);
    if (corrupt_checksum) {
      checksum ^= 0x0100;
    }
    f[ip_start + 10] = static_cast<uint8_t>(checksum >> 8);
    f[ip_start + 11] = static_cast<uint8_t>(checksum & 0xff);
  }

  void put_udp(std::vector<uint8_t>& f, size_t ip_start) const {
    put16(f, src_port);
    put16(f, dst_port);
    put16(f, udp_length_override.value_or(static_cast<uint16_t>(8 + payload_size)));
    const size_t udp_start = f.size() - 6;
    put16(f, 0);  // UDP checksum, filled below when asked for
    for (size_t i = 0; i < payload_size; ++i) {
      f.push_back(static_cast<uint8_t>(i * 7));
    }
    if (udp_checksum == UdpChecksum::none) {
      return;
    }
    // RFC 768: one's-complement sum over the pseudo header (source, destination, zero,
    // protocol, UDP length) and the UDP header and payload, the last byte padded with zero.
    const size_t length = f.size() - udp_start;
    uint32_t udp_sum = 17 + static_cast<uint32_t>(length);
    for (size_t i = ip_start + 12; i < ip_start + 20; i += 2) {
      udp_sum += static_cast<uint32_t>((f[i] << 8) | f[i + 1]);
    }
    for (size_t i = udp_start; i < f.size() && udp_checksum != UdpChecksum::pseudo_header; i += 2) {
      udp_sum += static_cast<uint32_t>(f[i] << 8) + (i + 1 < f.size() ? f[i + 1] : 0u);
    }
    while ((udp_sum >> 16) != 0) {
      udp_sum = (udp_sum & 0xffff) + (udp_sum >> 16);
    }
    uint16_t value = static_cast<uint16_t>(~udp_sum);
    if (udp_checksum == UdpChecksum::pseudo_header) {
      value = static_cast<uint16_t>(udp_sum);  // not complemented: the device finishes it
    }
    if (value == 0) {
      value = 0xffff;  // RFC 768: a computed 0 is sent as all ones (0 means "none")
    }
    if (udp_checksum == UdpChecksum::wrong) {
      value = static_cast<uint16_t>(value == 0x0001 ? 0x0003 : value - 1);
    }
    f[udp_start + 6] = static_cast<uint8_t>(value >> 8);
    f[udp_start + 7] = static_cast<uint8_t>(value & 0xff);
  }
};

struct Expected {
  uint16_t vlan_id = 0;
  uint32_t payload_len = 32;
  size_t payload_offset = 14 + 20 + 8;
  uint32_t segment_size = 0;
};

struct Case {
  std::string name;
  std::function<void(FrameBuilder&)> mutate;
  ParseVerdict verdict;
  Expected fields{};
  // Applied to the built bytes, for cases the builder cannot express (cutting the frame).
  std::function<void(std::vector<uint8_t>&)> mutate_bytes{};
  FrameMeta meta{};  // what the kernel reports beside the bytes
};

FrameMeta with_pkttype(uint8_t pkttype) {
  FrameMeta meta;
  meta.pkttype = pkttype;
  return meta;
}

FrameMeta with_checksum(ChecksumState state) {
  FrameMeta meta;
  meta.checksum = state;
  return meta;
}

FrameMeta with_vlan_tag(uint16_t tci) {
  FrameMeta meta;
  meta.vlan_valid = true;
  meta.vlan_tci = tci;
  return meta;
}

// A UDP GSO frame as a local sender hands it over: checksum partial, segments of `size`.
FrameMeta with_gso(uint8_t type, uint16_t size) {
  FrameMeta meta;
  meta.checksum = ChecksumState::partial;
  meta.gso_type = type;
  meta.gso_size = size;
  return meta;
}

std::function<void(FrameBuilder&)> from_source(const char* address) {
  return [address](FrameBuilder& b) { b.src = inet_addr(address); };
}

std::function<void(FrameBuilder&)> udp_checksum(FrameBuilder::UdpChecksum value,
                                                size_t payload_size = 32) {
  return [value, payload_size](FrameBuilder& b) {
    b.udp_checksum = value;
    b.payload_size = payload_size;
  };
}

using UdpChecksum = FrameBuilder::UdpChecksum;

// Long: one table of every frame kind the parser must tell apart, read top to bottom.
std::vector<Case> cases() {
  return {
      {"good", [](FrameBuilder&) {}, ParseVerdict::ok},
      {"bad_version_6", [](FrameBuilder& b) { b.version = 6; }, ParseVerdict::bad_ip_header},
      {"ihl_4", [](FrameBuilder& b) { b.ihl_override = 4; }, ParseVerdict::bad_ip_header},
      {"ihl_0", [](FrameBuilder& b) { b.ihl_override = 0; }, ParseVerdict::bad_ip_header},
      {"ihl_beyond_frame",
       [](FrameBuilder& b) {
         b.ihl_override = 15;  // 60-byte header in a frame with 20 + 8 + 4 bytes of IP
         b.payload_size = 4;
       },
       ParseVerdict::bad_ip_header},
      {"total_length_larger_than_frame",
       [](FrameBuilder& b) { b.total_length_override = 20 + 8 + 32 + 1; },
       ParseVerdict::bad_length},
      {"total_length_smaller_than_headers",
       [](FrameBuilder& b) { b.total_length_override = 20 + 7; }, ParseVerdict::bad_length},
      {"total_length_smaller_than_ip_header", [](FrameBuilder& b) { b.total_length_override = 19; },
       ParseVerdict::bad_length},
      {"udp_length_bigger", [](FrameBuilder& b) { b.udp_length_override = 8 + 33; },
       ParseVerdict::bad_length},
      {"udp_length_smaller", [](FrameBuilder& b) { b.udp_length_override = 8 + 31; },
       ParseVerdict::bad_length},
      {"udp_length_below_header", [](FrameBuilder& b) { b.udp_length_override = 7; },
       ParseVerdict::bad_length},
      {"more_fragments", [](FrameBuilder& b) { b.flags_offset = 0x2000; }, ParseVerdict::fragment},
      {"nonzero_offset", [](FrameBuilder& b) { b.flags_offset = 0x0010; }, ParseVerdict::fragment},
      {"protocol_tcp", [](FrameBuilder& b) { b.protocol = 6; }, ParseVerdict::not_udp},
      {"protocol_icmp", [](FrameBuilder& b) { b.protocol = 1; }, ParseVerdict::not_udp},
      {"arp", [](FrameBuilder& b) { b.ethertype = 0x0806; }, ParseVerdict::not_ipv4},
      {"other_ethertype", [](FrameBuilder& b) { b.ethertype = 0x88b5; }, ParseVerdict::not_ipv4},
      // IPv4 bytes under the IPv6 ethertype: the version field says 4.
      {"ipv4_under_ipv6_ethertype", [](FrameBuilder& b) { b.ethertype = 0x86dd; },
       ParseVerdict::bad_ip_header},
      {"wrong_checksum", [](FrameBuilder& b) { b.corrupt_checksum = true; },
       ParseVerdict::bad_checksum},
      {"vlan_tagged",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {42};
       },
       ParseVerdict::ok, Expected{.vlan_id = 42, .payload_len = 32, .payload_offset = 18 + 28}},
      {"qinq_tagged_reports_outer",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x88a8, 0x8100};
         b.vlan_ids = {100, 7};
       },
       ParseVerdict::ok, Expected{.vlan_id = 100, .payload_len = 32, .payload_offset = 22 + 28}},
      {"vlan_tagged_arp",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {42};
         b.ethertype = 0x0806;
       },
       ParseVerdict::not_ipv4},
      {"ip_options_ihl_6",
       [](FrameBuilder& b) {
         b.ip_options = {0x01, 0x01, 0x01, 0x00};
       },  // NOP NOP NOP EOL
       ParseVerdict::ok, Expected{.vlan_id = 0, .payload_len = 32, .payload_offset = 14 + 24 + 8}},
      {"ethernet_padding",
       [](FrameBuilder& b) {
         b.payload_size = 2;  // 14 + 20 + 8 + 2 = 44 bytes, padded to the 60-byte minimum
         b.pad_to = 60;
       },
       ParseVerdict::ok, Expected{.vlan_id = 0, .payload_len = 2, .payload_offset = 42}},
      {"jumbo_9000", [](FrameBuilder& b) { b.payload_size = 9000 - 14 - 20 - 8; }, ParseVerdict::ok,
       Expected{.vlan_id = 0, .payload_len = 9000 - 42, .payload_offset = 42}},
      {"empty_payload", [](FrameBuilder& b) { b.payload_size = 0; }, ParseVerdict::ok,
       Expected{.vlan_id = 0, .payload_len = 0, .payload_offset = 42}},
      {"cut_in_ethernet",
       [](FrameBuilder&) {},
       ParseVerdict::truncated,
       {},
       [](std::vector<uint8_t>& f) { f.resize(13); }},
      {"cut_in_vlan_tag",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {42};
       },
       ParseVerdict::truncated,
       {},
       [](std::vector<uint8_t>& f) { f.resize(16); }},
      {"cut_in_ip_header",
       [](FrameBuilder&) {},
       ParseVerdict::truncated,
       {},
       [](std::vector<uint8_t>& f) { f.resize(14 + 19); }},
      {"cut_in_udp_header",
       [](FrameBuilder&) {},
       ParseVerdict::truncated,
       {},
       [](std::vector<uint8_t>& f) { f.resize(14 + 20 + 7); }},
      {"cut_in_payload",
       [](FrameBuilder&) {},
       ParseVerdict::bad_length,
       {},
       [](std::vector<uint8_t>& f) { f.resize(14 + 20 + 8 + 5); }},

      // Link-layer packet type: only what the kernel would hand to its own IP layer.
      {"pkttype_host", [](FrameBuilder&) {}, ParseVerdict::ok, {}, {}, with_pkttype(0)},
      {"pkttype_broadcast", [](FrameBuilder&) {}, ParseVerdict::ok, {}, {}, with_pkttype(1)},
      {"pkttype_multicast", [](FrameBuilder&) {}, ParseVerdict::ok, {}, {}, with_pkttype(2)},
      {"pkttype_otherhost",
       [](FrameBuilder&) {},
       ParseVerdict::other_host,
       {},
       {},
       with_pkttype(3)},
      {"pkttype_outgoing", [](FrameBuilder&) {}, ParseVerdict::other_host, {}, {}, with_pkttype(4)},
      {"pkttype_loopback", [](FrameBuilder&) {}, ParseVerdict::other_host, {}, {}, with_pkttype(5)},
      {"pkttype_otherhost_checked_before_bytes",
       [](FrameBuilder&) {},
       ParseVerdict::other_host,
       {},
       [](std::vector<uint8_t>& f) { f.resize(10); },
       with_pkttype(3)},

      // Martian sources (what ip_route_input refuses): never forwarded.
      {"source_zeronet_0_0_0_0", from_source("0.0.0.0"), ParseVerdict::martian_source},
      {"source_zeronet_0_1_2_3", from_source("0.1.2.3"), ParseVerdict::martian_source},
      {"source_loopback_127_0_0_1", from_source("127.0.0.1"), ParseVerdict::martian_source},
      {"source_loopback_127_255_255_254", from_source("127.255.255.254"),
       ParseVerdict::martian_source},
      {"source_multicast_224_0_0_1", from_source("224.0.0.1"), ParseVerdict::martian_source},
      {"source_multicast_239_1_1_1", from_source("239.1.1.1"), ParseVerdict::martian_source},
      {"source_class_e_240_0_0_1", from_source("240.0.0.1"), ParseVerdict::martian_source},
      {"source_limited_broadcast", from_source("255.255.255.255"), ParseVerdict::martian_source},
      {"source_1_0_0_0_ok", from_source("1.0.0.0"), ParseVerdict::ok},
      {"source_126_255_255_255_ok", from_source("126.255.255.255"), ParseVerdict::ok},
      {"source_128_0_0_1_ok", from_source("128.0.0.1"), ParseVerdict::ok},
      {"source_223_255_255_255_ok", from_source("223.255.255.255"), ParseVerdict::ok},
      {"martian_source_after_malformed",
       [](FrameBuilder& b) {
         b.src = inet_addr("127.0.0.1");
         b.corrupt_checksum = true;
       },
       ParseVerdict::bad_checksum},

      // UDP checksum: verified when present and not already settled by the kernel.
      {"udp_checksum_correct", udp_checksum(UdpChecksum::correct), ParseVerdict::ok},
      {"udp_checksum_correct_odd_payload", udp_checksum(UdpChecksum::correct, 33), ParseVerdict::ok,
       Expected{.payload_len = 33}},
      {"udp_checksum_correct_1400", udp_checksum(UdpChecksum::correct, 1400), ParseVerdict::ok,
       Expected{.payload_len = 1400}},
      {"udp_checksum_wrong", udp_checksum(UdpChecksum::wrong), ParseVerdict::bad_udp_checksum},
      {"udp_checksum_wrong_odd_payload", udp_checksum(UdpChecksum::wrong, 33),
       ParseVerdict::bad_udp_checksum},
      {"udp_checksum_wrong_empty_payload", udp_checksum(UdpChecksum::wrong, 0),
       ParseVerdict::bad_udp_checksum},
      {"udp_checksum_payload_byte_flipped",
       udp_checksum(UdpChecksum::correct),
       ParseVerdict::bad_udp_checksum,
       {},
       [](std::vector<uint8_t>& f) { f[14 + 20 + 8 + 3] ^= 0x40; }},
      {"udp_checksum_wrong_partial",
       udp_checksum(UdpChecksum::wrong),
       ParseVerdict::ok,
       {},
       {},
       with_checksum(ChecksumState::partial)},
      // AF_XDP frames (checksum state unreported): judged, except a local sender's partial
      // field, which holds exactly the pseudo-header sum.
      {"udp_checksum_pseudo_header_unreported",
       udp_checksum(UdpChecksum::pseudo_header),
       ParseVerdict::ok,
       {},
       {},
       with_checksum(ChecksumState::unreported)},
      {"udp_checksum_pseudo_header_unverified", udp_checksum(UdpChecksum::pseudo_header),
       ParseVerdict::bad_udp_checksum},
      {"udp_checksum_wrong_unreported",
       udp_checksum(UdpChecksum::wrong),
       ParseVerdict::bad_udp_checksum,
       {},
       {},
       with_checksum(ChecksumState::unreported)},
      {"udp_checksum_correct_unreported",
       udp_checksum(UdpChecksum::correct),
       ParseVerdict::ok,
       {},
       {},
       with_checksum(ChecksumState::unreported)},
      {"udp_checksum_wrong_verified_by_kernel",
       udp_checksum(UdpChecksum::wrong),
       ParseVerdict::ok,
       {},
       {},
       with_checksum(ChecksumState::verified)},
      {"udp_checksum_wrong_in_vlan_frame",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {42};
         b.udp_checksum = UdpChecksum::wrong;
       },
       ParseVerdict::bad_udp_checksum},

      // VLAN: the tag the kernel moved into metadata is the outermost one.
      {"vlan_from_metadata",
       [](FrameBuilder&) {},
       ParseVerdict::ok,
       Expected{.vlan_id = 100},
       {},
       with_vlan_tag(0xa064)},
      {"vlan_metadata_priority_tag_is_untagged",
       [](FrameBuilder&) {},
       ParseVerdict::ok,
       Expected{.vlan_id = 0},
       {},
       with_vlan_tag(0xe000)},
      {"vlan_metadata_priority_tag_then_in_frame_tag",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {7};
       },
       ParseVerdict::ok,
       Expected{.vlan_id = 7, .payload_offset = 18 + 28},
       {},
       with_vlan_tag(0x2000)},
      {"vlan_metadata_outer_in_frame_inner",
       [](FrameBuilder& b) {
         b.vlan_tpids = {0x8100};
         b.vlan_ids = {7};
       },
       ParseVerdict::ok,
       Expected{.vlan_id = 100, .payload_offset = 18 + 28},
       {},
       with_vlan_tag(100)},

      // GSO super-frames: UDP_L4 only, with a segment size.
      {"gso_udp_l4",
       [](FrameBuilder& b) { b.payload_size = 1000; },
       ParseVerdict::ok,
       Expected{.payload_len = 1000, .segment_size = 200},
       {},
       with_gso(kGsoUdpL4, 200)},
      {"gso_udp_l4_ecn_flag",
       [](FrameBuilder& b) { b.payload_size = 1000; },
       ParseVerdict::ok,
       Expected{.payload_len = 1000, .segment_size = 200},
       {},
       with_gso(kGsoUdpL4 | kGsoEcn, 200)},
      {"gso_checksum_field_not_judged",
       [](FrameBuilder& b) {
         b.payload_size = 1000;
         b.udp_checksum = UdpChecksum::wrong;
       },
       ParseVerdict::ok,
       Expected{.payload_len = 1000, .segment_size = 200},
       {},
       with_gso(kGsoUdpL4, 200)},
      {"gso_128_segments",
       [](FrameBuilder& b) { b.payload_size = 128 * 8; },
       ParseVerdict::ok,
       Expected{.payload_len = 128 * 8, .segment_size = 8},
       {},
       with_gso(kGsoUdpL4, 8)},
      {"gso_more_than_128_segments",
       [](FrameBuilder& b) { b.payload_size = 128 * 8 + 1; },
       ParseVerdict::bad_gso,
       {},
       {},
       with_gso(kGsoUdpL4, 8)},
      {"gso_size_zero",
       [](FrameBuilder& b) { b.payload_size = 1000; },
       ParseVerdict::bad_gso,
       {},
       {},
       with_gso(kGsoUdpL4, 0)},
      {"gso_tcpv4",
       [](FrameBuilder& b) { b.payload_size = 1000; },
       ParseVerdict::bad_gso,
       {},
       {},
       with_gso(1, 200)},
      {"gso_ufo",
       [](FrameBuilder& b) { b.payload_size = 1000; },
       ParseVerdict::bad_gso,
       {},
       {},
       with_gso(3, 200)},
  };
}

// gtest prints parameters on failure; the case name says more than the raw bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class PacketParserTable : public ::testing::TestWithParam<Case> {};

TEST_P(PacketParserTable, Verdict) {
  const Case& c = GetParam();
  FrameBuilder builder;
  c.mutate(builder);
  std::vector<uint8_t> frame = builder.build();
  if (c.mutate_bytes) {
    c.mutate_bytes(frame);
  }
  UdpView view;
  const ParseVerdict verdict = parse_frame(frame.data(), frame.size(), c.meta, view);
  ASSERT_EQ(to_string(verdict), to_string(c.verdict));
  if (verdict != ParseVerdict::ok) {
    return;
  }
  EXPECT_EQ(view.src_addr, builder.src);
  EXPECT_EQ(view.dst_addr, builder.dst);
  EXPECT_EQ(view.src_port, builder.src_port);
  EXPECT_EQ(view.dst_port, builder.dst_port);
  EXPECT_EQ(view.ttl, builder.ttl);
  EXPECT_EQ(view.vlan_id, c.fields.vlan_id);
  EXPECT_EQ(view.payload_len, c.fields.payload_len);
  EXPECT_EQ(view.payload, frame.data() + c.fields.payload_offset);
  EXPECT_EQ(view.segment_size, c.fields.segment_size);
}

INSTANTIATE_TEST_SUITE_P(Cases, PacketParserTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return param_info.param.name;
                         });

// Every prefix of a good frame (untagged, tagged, with options) must be rejected and must not
// read past its end. The copy into an exactly-sized heap buffer lets ASan builds catch overreads.
TEST(PacketParser, EveryTruncationIsRejected) {
  std::vector<FrameBuilder> builders(3);
  builders[1].vlan_tpids = {0x88a8, 0x8100};
  builders[1].vlan_ids = {1, 2};
  builders[2].ip_options = {0x01, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01, 0x00};
  for (const FrameBuilder& builder : builders) {
    const std::vector<uint8_t> full = builder.build();
    UdpView view;
    ASSERT_EQ(parse_frame(full.data(), full.size(), view), ParseVerdict::ok);
    for (size_t len = 0; len < full.size(); ++len) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
      const ParseVerdict verdict = parse_frame(cut.empty() ? nullptr : cut.data(), len, view);
      EXPECT_NE(verdict, ParseVerdict::ok) << "length " << len;
      EXPECT_TRUE(is_malformed(verdict)) << "length " << len << " gave " << to_string(verdict);
    }
  }
}

TEST(PacketParser, Ipv4EntryPointSkipsEthernet) {
  FrameBuilder builder;
  builder.vlan_tpids = {0x8100};
  builder.vlan_ids = {9};
  const std::vector<uint8_t> frame = builder.build();
  UdpView view;
  view.vlan_id = 55;  // must be reset: L3 input has no tag
  ASSERT_EQ(parse_ipv4(frame.data() + 18, frame.size() - 18, view), ParseVerdict::ok);
  EXPECT_EQ(view.vlan_id, 0);
  EXPECT_EQ(view.dst_port, 5000);
  EXPECT_EQ(view.payload_len, 32u);
  EXPECT_EQ(parse_ipv4(frame.data() + 18, 19, view), ParseVerdict::truncated);
}

TEST(PacketParser, MalformedClassification) {
  EXPECT_FALSE(is_malformed(ParseVerdict::ok));
  EXPECT_FALSE(is_malformed(ParseVerdict::not_ipv4));
  EXPECT_FALSE(is_malformed(ParseVerdict::not_udp));
  EXPECT_TRUE(is_malformed(ParseVerdict::truncated));
  EXPECT_TRUE(is_malformed(ParseVerdict::bad_ip_header));
  EXPECT_TRUE(is_malformed(ParseVerdict::bad_length));
  EXPECT_TRUE(is_malformed(ParseVerdict::bad_checksum));
  EXPECT_TRUE(is_malformed(ParseVerdict::fragment));
  EXPECT_TRUE(is_malformed(ParseVerdict::bad_udp_checksum));
  EXPECT_TRUE(is_malformed(ParseVerdict::bad_gso));
  EXPECT_FALSE(is_malformed(ParseVerdict::other_host));
  EXPECT_FALSE(is_malformed(ParseVerdict::martian_source));
  EXPECT_EQ(to_string(ParseVerdict::bad_checksum), "bad_checksum");
  EXPECT_EQ(to_string(ParseVerdict::not_udp), "not_udp");
  EXPECT_EQ(to_string(ParseVerdict::other_host), "other_host");
  EXPECT_EQ(to_string(ParseVerdict::martian_source), "martian_source");
  EXPECT_EQ(to_string(ParseVerdict::bad_udp_checksum), "bad_udp_checksum");
  EXPECT_EQ(to_string(ParseVerdict::bad_gso), "bad_gso");
}

// RFC 768: a checksum that computes to 0 is sent as 0xffff, and must verify.
TEST(PacketParser, UdpChecksumAllOnesMeansZero) {
  FrameBuilder builder;
  builder.udp_checksum = UdpChecksum::correct;
  std::vector<uint8_t> frame = builder.build();
  // Make the sum over everything except the checksum field 0xffff (so the checksum computes
  // to 0) by adjusting the first payload word, then store 0xffff as a sender must.
  const size_t udp = 14 + 20;
  frame[udp + 6] = 0;
  frame[udp + 7] = 0;
  auto folded_sum = [&frame, udp]() {
    uint32_t sum = 17 + static_cast<uint32_t>(frame.size() - udp);
    for (size_t i = 14 + 12; i < 14 + 20; i += 2) {
      sum += static_cast<uint32_t>((frame[i] << 8) | frame[i + 1]);
    }
    for (size_t i = udp; i < frame.size(); i += 2) {
      sum += static_cast<uint32_t>((frame[i] << 8) | frame[i + 1]);
    }
    while ((sum >> 16) != 0) {
      sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
  };
  const uint16_t word = static_cast<uint16_t>((frame[udp + 8] << 8) | frame[udp + 9]);
  // Adding d to one word adds d to the folded sum (mod 0xffff): choose d to reach 0xffff.
  const uint32_t missing = (0xffffu - folded_sum() + 0xffffu) % 0xffffu;
  uint32_t adjusted = word + missing;
  adjusted = (adjusted & 0xffff) + (adjusted >> 16);
  frame[udp + 8] = static_cast<uint8_t>(adjusted >> 8);
  frame[udp + 9] = static_cast<uint8_t>(adjusted & 0xff);
  ASSERT_EQ(folded_sum(), 0xffff);
  frame[udp + 6] = 0xff;
  frame[udp + 7] = 0xff;
  UdpView view;
  EXPECT_EQ(parse_frame(frame.data(), frame.size(), view), ParseVerdict::ok);
}

// The L3 entry point applies the same acceptance rules as the L2 one.
TEST(PacketParser, Ipv4EntryPointRejectsLikeFrames) {
  FrameBuilder martian;
  martian.src = inet_addr("127.0.0.1");
  const std::vector<uint8_t> m = martian.build();
  UdpView view;
  EXPECT_EQ(parse_ipv4(m.data() + 14, m.size() - 14, view), ParseVerdict::martian_source);
  FrameBuilder corrupt;
  corrupt.udp_checksum = UdpChecksum::wrong;
  const std::vector<uint8_t> c = corrupt.build();
  EXPECT_EQ(parse_ipv4(c.data() + 14, c.size() - 14, view), ParseVerdict::bad_udp_checksum);
  FrameMeta other;
  other.pkttype = kPacketOtherHost;
  EXPECT_EQ(parse_ipv4(c.data() + 14, c.size() - 14, other, view), ParseVerdict::other_host);
}

TEST(PacketParser, MartianSources) {
  for (const char* address : {"0.0.0.0", "0.255.255.255", "127.0.0.1", "224.0.0.0",
                              "239.255.255.255", "240.0.0.0", "254.1.2.3", "255.255.255.255"}) {
    EXPECT_TRUE(is_martian_source(inet_addr(address))) << address;
  }
  for (const char* address :
       {"1.0.0.0", "10.0.0.1", "126.255.255.255", "128.0.0.0", "192.0.2.1", "223.255.255.255"}) {
    EXPECT_FALSE(is_martian_source(inet_addr(address))) << address;
  }
}

TEST(PacketParser, DatagramCount) {
  UdpView view;
  view.payload_len = 1000;
  EXPECT_EQ(datagram_count(view), 1u);  // not GSO
  view.segment_size = 200;
  EXPECT_EQ(datagram_count(view), 5u);
  view.payload_len = 1001;
  EXPECT_EQ(datagram_count(view), 6u);  // a short last segment
  view.payload_len = 150;
  EXPECT_EQ(datagram_count(view), 1u);  // one segment, shorter than the segment size
  view.payload_len = 0;
  EXPECT_EQ(datagram_count(view), 1u);
}

// Random bytes behind a valid Ethernet + IPv4 prefix: the parser must return some verdict
// without crashing, for many seeds (a cheap fuzz pass that runs in milliseconds).
TEST(PacketParser, RandomBytesNeverCrash) {
  uint32_t state = 12345;
  auto next = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<uint8_t>(state >> 24);
  };
  const std::vector<uint8_t> good = FrameBuilder{}.build();
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> frame = good;
    const size_t len = next() % (good.size() + 1);
    frame.resize(len);
    for (int flips = next() % 4; flips >= 0 && len > 0; --flips) {
      frame[next() % len] = next();
    }
    UdpView view;
    if (parse_frame(frame.empty() ? nullptr : frame.data(), len, view) == ParseVerdict::ok) {
      ASSERT_GE(view.payload, frame.data());
      ASSERT_LE(view.payload + view.payload_len, frame.data() + len);
    }
  }
}

// ---- IPv6 ----

in6_addr address6(const char* text) {
  in6_addr value{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, &value), 1) << text;
  return value;
}

// An Ethernet/IPv6/[extension headers]/UDP frame, field by field, as FrameBuilder for IPv4.
struct Frame6Builder {
  struct Extension {
    uint8_t type;               // its own next-header value: 0, 43, 44 or 60
    size_t length = 8;          // bytes, a multiple of 8
    uint8_t segments_left = 0;  // routing header only
  };
  std::vector<Extension> extensions;
  uint8_t upper = 17;  // the last next header
  uint8_t hop_limit = 9;
  in6_addr src = address6("2001:db8:77::5");
  in6_addr dst = address6("ff3e::1");
  std::optional<uint16_t> payload_length_override;
  uint16_t src_port = 40000;
  uint16_t dst_port = 5000;
  enum class Checksum { correct, zero, wrong } checksum = Checksum::correct;
  size_t payload_size = 32;
  size_t pad_to = 0;

  [[nodiscard]] size_t udp_offset() const {
    size_t offset = 14 + 40;
    for (const Extension& e : extensions) {
      offset += e.length;
    }
    return offset;
  }

  [[nodiscard]] std::vector<uint8_t> build() const {
    std::vector<uint8_t> f = {0x33, 0x33, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 0x86, 0xdd};
    const size_t udp_len = 8 + payload_size;
    const size_t payload_length = udp_offset() - 14 - 40 + udp_len;
    f.insert(f.end(), {0x60, 0, 0, 0});
    put16(f, payload_length_override.value_or(static_cast<uint16_t>(payload_length)));
    f.push_back(extensions.empty() ? upper : extensions[0].type);
    f.push_back(hop_limit);
    f.insert(f.end(), src.s6_addr, src.s6_addr + 16);
    f.insert(f.end(), dst.s6_addr, dst.s6_addr + 16);
    for (size_t i = 0; i < extensions.size(); ++i) {
      const Extension& e = extensions[i];
      std::vector<uint8_t> header(e.length, 0);
      header[0] = i + 1 < extensions.size() ? extensions[i + 1].type : upper;
      header[1] = static_cast<uint8_t>(e.length / 8 - 1);
      if (e.type == 43) {
        header[3] = e.segments_left;
      } else if (e.type != 44) {
        header[2] = 1;  // a PadN option filling the rest
        header[3] = static_cast<uint8_t>(e.length - 4);
      }
      f.insert(f.end(), header.begin(), header.end());
    }
    const size_t udp = f.size();
    put16(f, src_port);
    put16(f, dst_port);
    put16(f, static_cast<uint16_t>(udp_len));
    put16(f, 0);
    for (size_t i = 0; i < payload_size; ++i) {
      f.push_back(static_cast<uint8_t>(i * 13 + 1));
    }
    put_checksum(f, udp);
    if (f.size() < pad_to) {
      f.resize(pad_to, 0);
    }
    return f;
  }

 private:
  static void put16(std::vector<uint8_t>& f, uint16_t v) {
    f.push_back(static_cast<uint8_t>(v >> 8));
    f.push_back(static_cast<uint8_t>(v & 0xff));
  }

  // RFC 8200 8.1, summed here independently of the parser: source, destination, the UDP
  // length as 32 bits, next header 17 as 32 bits, then the UDP header and payload.
  void put_checksum(std::vector<uint8_t>& f, size_t udp) const {
    if (checksum == Checksum::zero) {
      return;
    }
    const size_t length = f.size() - udp;
    uint64_t sum = 17 + length;
    for (size_t i = 14 + 8; i < 14 + 40; i += 2) {
      sum += static_cast<uint32_t>((f[i] << 8) | f[i + 1]);
    }
    for (size_t i = udp; i < f.size(); i += 2) {
      sum += static_cast<uint32_t>(f[i] << 8) + (i + 1 < f.size() ? f[i + 1] : 0u);
    }
    while ((sum >> 16) != 0) {
      sum = (sum & 0xffff) + (sum >> 16);
    }
    uint16_t value = static_cast<uint16_t>(~sum);
    value = value == 0 ? 0xffff : value;
    if (checksum == Checksum::wrong) {
      value = static_cast<uint16_t>(value == 0x0001 ? 0x0003 : value - 1);
    }
    f[udp + 6] = static_cast<uint8_t>(value >> 8);
    f[udp + 7] = static_cast<uint8_t>(value & 0xff);
  }
};

using Extension = Frame6Builder::Extension;

struct Case6 {
  std::string name;
  std::function<void(Frame6Builder&)> mutate;
  ParseVerdict verdict;
  std::function<void(std::vector<uint8_t>&)> mutate_bytes{};
  FrameMeta meta{};
};

// Long: one table of the IPv6 frames the parser must tell apart, read top to bottom.
std::vector<Case6> cases6() {
  constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestination = 60;
  return {
      {"good", [](Frame6Builder&) {}, ParseVerdict::ok},
      {"hop_by_hop", [](Frame6Builder& b) { b.extensions = {{kHopByHop}}; }, ParseVerdict::ok},
      {"routing_no_segments_left",
       [](Frame6Builder& b) {
         b.extensions = {{kRouting, 24}};
       },
       ParseVerdict::ok},
      {"destination_options",
       [](Frame6Builder& b) {
         b.extensions = {{kDestination, 16}};
       },
       ParseVerdict::ok},
      {"all_three",
       [](Frame6Builder& b) {
         b.extensions = {{kHopByHop}, {kDestination}, {kRouting}, {kDestination, 40}};
       },
       ParseVerdict::ok},
      {"padded_short_frame",
       [](Frame6Builder& b) {
         b.payload_size = 0;
         b.pad_to = 80;
       },
       ParseVerdict::ok},
      {"fragment_header", [](Frame6Builder& b) { b.extensions = {{kFragment}}; },
       ParseVerdict::fragment},
      {"fragment_after_options",
       [](Frame6Builder& b) {
         b.extensions = {{kHopByHop}, {kFragment}};
       },
       ParseVerdict::fragment},
      {"hop_by_hop_not_first",
       [](Frame6Builder& b) {
         b.extensions = {{kDestination}, {kHopByHop}};
       },
       ParseVerdict::bad_ip_header},
      {"routing_segments_left",
       [](Frame6Builder& b) {
         b.extensions = {{kRouting, 24, 1}};
       },
       ParseVerdict::bad_ip_header},
      {"too_many_extension_headers",
       [](Frame6Builder& b) {
         b.extensions.assign(kMaxIpv6ExtensionHeaders + 1, Extension{kDestination});
       },
       ParseVerdict::bad_ip_header},
      {"most_extension_headers",
       [](Frame6Builder& b) {
         b.extensions.assign(kMaxIpv6ExtensionHeaders, Extension{kDestination});
       },
       ParseVerdict::ok},
      {"extension_header_beyond_frame",
       [](Frame6Builder& b) {
         b.extensions = {{kDestination, 16}};
         b.payload_size = 0;
       },
       ParseVerdict::truncated,
       // Claim 2048 bytes of options in a frame that ends right after the UDP header.
       [](std::vector<uint8_t>& f) { f[14 + 40 + 1] = 255; }},
      {"frame_ends_in_extension_header",
       [](Frame6Builder& b) {
         b.extensions = {{kDestination, 16}};
       },
       ParseVerdict::truncated, [](std::vector<uint8_t>& f) { f.resize(14 + 40 + 10); }},
      {"tcp", [](Frame6Builder& b) { b.upper = 6; }, ParseVerdict::not_udp},
      {"icmpv6_after_hop_by_hop",
       [](Frame6Builder& b) {
         b.upper = 58;  // an MLD report looks like this
         b.extensions = {{kHopByHop}};
       },
       ParseVerdict::not_udp},
      {"no_next_header", [](Frame6Builder& b) { b.upper = 59; }, ParseVerdict::not_udp},
      {"version_4", [](Frame6Builder&) {}, ParseVerdict::bad_ip_header,
       [](std::vector<uint8_t>& f) { f[14] = 0x40; }},
      {"payload_length_beyond_frame",
       [](Frame6Builder& b) { b.payload_length_override = 8 + 32 + 1; }, ParseVerdict::bad_length},
      {"payload_length_short_of_udp", [](Frame6Builder& b) { b.payload_length_override = 8 + 31; },
       ParseVerdict::bad_length},
      {"jumbogram_length_0", [](Frame6Builder& b) { b.payload_length_override = 0; },
       ParseVerdict::bad_length},
      {"zero_checksum", [](Frame6Builder& b) { b.checksum = Frame6Builder::Checksum::zero; },
       ParseVerdict::bad_udp_checksum},
      {"wrong_checksum", [](Frame6Builder& b) { b.checksum = Frame6Builder::Checksum::wrong; },
       ParseVerdict::bad_udp_checksum},
      {"wrong_checksum_odd_payload",
       [](Frame6Builder& b) {
         b.checksum = Frame6Builder::Checksum::wrong;
         b.payload_size = 33;
       },
       ParseVerdict::bad_udp_checksum},
      {"good_checksum_odd_payload", [](Frame6Builder& b) { b.payload_size = 33; },
       ParseVerdict::ok},
      {"wrong_checksum_verified_by_kernel",
       [](Frame6Builder& b) { b.checksum = Frame6Builder::Checksum::wrong; },
       ParseVerdict::ok,
       {},
       with_checksum(ChecksumState::verified)},
      {"zero_checksum_partial",  // a local sender's frame: the field is not final
       [](Frame6Builder& b) { b.checksum = Frame6Builder::Checksum::zero; },
       ParseVerdict::ok,
       {},
       with_checksum(ChecksumState::partial)},
      {"hop_limit_1", [](Frame6Builder& b) { b.hop_limit = 1; }, ParseVerdict::ok},
      {"source_loopback", [](Frame6Builder& b) { b.src = address6("::1"); },
       ParseVerdict::martian_source},
      {"source_multicast", [](Frame6Builder& b) { b.src = address6("ff02::1"); },
       ParseVerdict::martian_source},
      {"source_ipv4_mapped", [](Frame6Builder& b) { b.src = address6("::ffff:10.1.1.1"); },
       ParseVerdict::martian_source},
      {"other_host",
       [](Frame6Builder&) {},
       ParseVerdict::other_host,
       {},
       with_pkttype(kPacketOtherHost)},
      {"gso_segments",
       [](Frame6Builder& b) { b.payload_size = 1000; },
       ParseVerdict::ok,
       {},
       with_gso(kGsoUdpL4, 200)},
  };
}

void PrintTo(const Case6& c, std::ostream* os) {
  *os << c.name;
}

class PacketParserIpv6Table : public ::testing::TestWithParam<Case6> {};

TEST_P(PacketParserIpv6Table, Verdict) {
  const Case6& c = GetParam();
  Frame6Builder builder;
  c.mutate(builder);
  std::vector<uint8_t> frame = builder.build();
  if (c.mutate_bytes) {
    c.mutate_bytes(frame);
  }
  UdpView view;
  const ParseVerdict verdict = parse_frame(frame.data(), frame.size(), c.meta, view);
  ASSERT_EQ(to_string(verdict), to_string(c.verdict));
  if (verdict != ParseVerdict::ok) {
    return;
  }
  EXPECT_TRUE(view.ipv6);
  EXPECT_EQ(std::memcmp(&view.src6, &builder.src, 16), 0);
  EXPECT_EQ(std::memcmp(&view.dst6, &builder.dst, 16), 0);
  EXPECT_EQ(view.src_port, builder.src_port);
  EXPECT_EQ(view.dst_port, builder.dst_port);
  EXPECT_EQ(view.ttl, builder.hop_limit);
  EXPECT_EQ(view.payload_len, builder.payload_size);
  EXPECT_EQ(view.payload, frame.data() + builder.udp_offset() + 8);
  EXPECT_EQ(view.segment_size, c.meta.gso_size);
}

INSTANTIATE_TEST_SUITE_P(Cases, PacketParserIpv6Table, ::testing::ValuesIn(cases6()),
                         [](const ::testing::TestParamInfo<Case6>& param_info) {
                           return param_info.param.name;
                         });

// Every prefix of a good IPv6 frame, with and without extension headers, is refused as
// malformed and read only within its length (exactly sized copies, for ASan builds).
TEST(PacketParserIpv6, EveryTruncationIsRejected) {
  std::vector<Frame6Builder> builders(2);
  builders[1].extensions = {{0}, {60, 16}, {43, 24}};
  for (const Frame6Builder& builder : builders) {
    const std::vector<uint8_t> full = builder.build();
    UdpView view;
    ASSERT_EQ(parse_frame(full.data(), full.size(), view), ParseVerdict::ok);
    for (size_t len = 14; len < full.size(); ++len) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
      const ParseVerdict verdict = parse_frame(cut.data(), len, view);
      EXPECT_TRUE(is_malformed(verdict)) << "length " << len << " gave " << to_string(verdict);
    }
  }
}

// The IPv4 view fields are cleared for an IPv6 frame, so a stale IPv4 lookup cannot match.
TEST(PacketParserIpv6, ViewSaysWhichFamily) {
  UdpView view;
  const std::vector<uint8_t> v4 = FrameBuilder{}.build();
  ASSERT_EQ(parse_frame(v4.data(), v4.size(), view), ParseVerdict::ok);
  EXPECT_FALSE(view.ipv6);
  const std::vector<uint8_t> v6 = Frame6Builder{}.build();
  ASSERT_EQ(parse_frame(v6.data(), v6.size(), view), ParseVerdict::ok);
  EXPECT_TRUE(view.ipv6);
  EXPECT_EQ(view.dst_addr, 0u);
  ASSERT_EQ(parse_frame(v4.data(), v4.size(), view), ParseVerdict::ok);
  EXPECT_FALSE(view.ipv6);
}

TEST(PacketParserIpv6, MartianSources) {
  for (const char* text : {"::1", "ff02::1", "ff3e::1", "::ffff:192.0.2.1"}) {
    EXPECT_TRUE(is_martian_source6(address6(text))) << text;
  }
  for (const char* text : {"fe80::1", "2001:db8::1", "fd00::5", "::ffff:0:0:1", "::2"}) {
    EXPECT_FALSE(is_martian_source6(address6(text))) << text;
  }
}

TEST(PacketParserIpv6, RandomBytesNeverCrash) {
  uint32_t state = 54321;
  auto next = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<uint8_t>(state >> 24);
  };
  Frame6Builder builder;
  builder.extensions = {{0}, {60, 16}};
  const std::vector<uint8_t> good = builder.build();
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> frame = good;
    const size_t len = next() % (good.size() + 1);
    frame.resize(len);
    for (int flips = next() % 4; flips >= 0 && len > 14; --flips) {
      frame[14 + next() % (len - 14)] = next();
    }
    UdpView view;
    if (parse_frame(frame.empty() ? nullptr : frame.data(), len, view) == ParseVerdict::ok) {
      ASSERT_GE(view.payload, frame.data());
      ASSERT_LE(view.payload + view.payload_len, frame.data() + len);
    }
  }
}

}  // namespace
}  // namespace mrelay
