// Table-driven tests of parse_frame / parse_ipv4. Each case starts from a good frame built by
// FrameBuilder (which computes a correct IPv4 checksum) and changes one thing.
//
//   ./mrelay_core_test --gtest_filter='PacketParser*'
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
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
  size_t payload_size = 32;
  size_t pad_to = 0;  // Ethernet padding: append zeros up to this frame size

  [[nodiscard]] std::vector<uint8_t> build() const {
    std::vector<uint8_t> f;
    auto put16 = [&f](uint16_t v) {
      f.push_back(static_cast<uint8_t>(v >> 8));
      f.push_back(static_cast<uint8_t>(v & 0xff));
    };
    auto put_raw32 = [&f](uint32_t v) {
      const auto* p = reinterpret_cast<const uint8_t*>(&v);
      f.insert(f.end(), p, p + 4);
    };
    for (int i = 0; i < 6; ++i) {
      f.push_back(i == 0 ? 0x01 : 0x00);  // multicast destination MAC
    }
    for (int i = 0; i < 6; ++i) {
      f.push_back(0x02);
    }
    for (size_t i = 0; i < vlan_tpids.size(); ++i) {
      put16(vlan_tpids[i]);
      put16(static_cast<uint16_t>(0xa000 | vlan_ids[i]));  // priority bits set, must be masked
    }
    put16(ethertype);

    const size_t ip_start = f.size();
    const size_t header_len = 20 + ip_options.size();
    const size_t udp_len = 8 + payload_size;
    const uint8_t ihl = ihl_override.value_or(static_cast<uint8_t>(header_len / 4));
    f.push_back(static_cast<uint8_t>((version << 4) | (ihl & 0x0f)));
    f.push_back(0);  // DSCP/ECN
    put16(total_length_override.value_or(static_cast<uint16_t>(header_len + udp_len)));
    put16(0x1234);  // identification
    put16(flags_offset);
    f.push_back(ttl);
    f.push_back(protocol);
    put16(0);  // checksum, filled below
    put_raw32(src);
    put_raw32(dst);
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

    put16(src_port);
    put16(dst_port);
    put16(udp_length_override.value_or(static_cast<uint16_t>(udp_len)));
    put16(0);  // UDP checksum: optional in IPv4, not checked
    for (size_t i = 0; i < payload_size; ++i) {
      f.push_back(static_cast<uint8_t>(i * 7));
    }
    if (f.size() < pad_to) {
      f.resize(pad_to, 0);
    }
    return f;
  }
};

struct Expected {
  uint16_t vlan_id = 0;
  uint32_t payload_len = 32;
  size_t payload_offset = 14 + 20 + 8;
};

struct Case {
  std::string name;
  std::function<void(FrameBuilder&)> mutate;
  ParseVerdict verdict;
  Expected fields{};
  // Applied to the built bytes, for cases the builder cannot express (cutting the frame).
  std::function<void(std::vector<uint8_t>&)> mutate_bytes{};
};

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
      {"ipv6", [](FrameBuilder& b) { b.ethertype = 0x86dd; }, ParseVerdict::not_ipv4},
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
  const ParseVerdict verdict = parse_frame(frame.data(), frame.size(), view);
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
  EXPECT_EQ(to_string(ParseVerdict::bad_checksum), "bad_checksum");
  EXPECT_EQ(to_string(ParseVerdict::not_udp), "not_udp");
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

}  // namespace
}  // namespace mrelay
