// Frame building of the "packet" egress backend: multicast MAC from the group, the header
// template, the incremental IPv4 checksum against a full recomputation, and that a stamped
// header parses back (through the relay's own parser) to what the output describes. IPv6:
// the 33:33 MAC, and the UDP checksum over the pseudo header against an independent sum.
#include "dataplane/egress/packet_frame.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/egress/egress.h"
#include "mrelay/packet.h"

namespace mrelay {
namespace {

in_addr address(const char* text) {
  in_addr value{};
  EXPECT_EQ(::inet_pton(AF_INET, text, &value), 1) << text;
  return value;
}

PacketOutput sample_output() {
  PacketOutput output;
  output.ifindex = 7;
  output.src_mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  output.src_addr = address("10.77.1.1");
  output.dst_addr = address("239.2.0.1");
  output.src_port = 40001;
  output.dst_port = 6000;
  return output;
}

TEST(MulticastMac, TakesLow23BitsOfTheGroup) {
  struct Case {
    const char* group;
    std::array<uint8_t, 6> mac;
  };
  const Case cases[] = {
      {"224.0.0.1", {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}},
      {"239.2.0.1", {0x01, 0x00, 0x5e, 0x02, 0x00, 0x01}},
      // The 24th bit is dropped: 239.129.x.y and 239.1.x.y share a MAC (RFC 1112's 32:1).
      {"239.129.10.20", {0x01, 0x00, 0x5e, 0x01, 0x0a, 0x14}},
      {"239.1.10.20", {0x01, 0x00, 0x5e, 0x01, 0x0a, 0x14}},
      {"239.255.255.255", {0x01, 0x00, 0x5e, 0x7f, 0xff, 0xff}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(multicast_mac(address(c.group)), c.mac) << c.group;
  }
}

TEST(Ipv4Checksum, KnownHeader) {
  // The worked example from RFC 1071-era literature (Wikipedia "IPv4 header checksum").
  const uint8_t header[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                              0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(ipv4_header_checksum(header, sizeof header), 0xb861);
}

TEST(FrameTemplate, ConstantFields) {
  const FrameTemplate frame = build_frame_template(sample_output());
  const uint8_t* b = frame.bytes.data();
  const std::array<uint8_t, 14> ethernet = {0x01, 0x00, 0x5e, 0x02, 0x00, 0x01, 0x02,
                                            0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00};
  EXPECT_EQ(std::memcmp(b, ethernet.data(), ethernet.size()), 0);
  const uint8_t* ip = b + kEthHeaderLen;
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(ip[6], 0x40);  // DF
  EXPECT_EQ(ip[8], 0);     // TTL: per copy, stamped with length and id
  EXPECT_EQ(ip[9], IPPROTO_UDP);
  const uint8_t* udp = ip + kIpv4HeaderLen;
  EXPECT_EQ(udp[0] << 8 | udp[1], 40001);
  EXPECT_EQ(udp[2] << 8 | udp[3], 6000);
  EXPECT_EQ(udp[6] | udp[7], 0);  // no UDP checksum
}

TEST(StampFrameHeader, IncrementalChecksumMatchesFullRecomputation) {
  // Sweep lengths and ids, including ones whose sums carry more than once.
  for (const char* source : {"10.77.1.1", "255.255.255.254", "0.0.0.1"}) {
    PacketOutput output = sample_output();
    output.src_addr = address(source);
    const FrameTemplate frame = build_frame_template(output);
    for (uint32_t payload : {0u, 1u, 32u, 512u, 1400u, 1472u}) {
      for (uint32_t id : {0u, 1u, 0x7fffu, 0xfffeu, 0xffffu}) {
        for (uint8_t ttl : {uint8_t{1}, uint8_t{63}, uint8_t{128}, uint8_t{255}}) {
          uint8_t header[kFrameHeaderLen];
          stamp_frame_header(frame, static_cast<uint16_t>(id), payload, ttl, header);
          const uint8_t* ip = header + kEthHeaderLen;
          // A header with a right checksum sums to 0xffff, i.e. its checksum is 0.
          EXPECT_EQ(ipv4_header_checksum(ip, kIpv4HeaderLen), 0)
              << source << " payload " << payload << " id " << id << " ttl " << int{ttl};
          EXPECT_EQ(ip[2] << 8 | ip[3], static_cast<int>(kIpv4HeaderLen + kUdpHeaderLen + payload));
          EXPECT_EQ(ip[4] << 8 | ip[5], static_cast<int>(id));
          EXPECT_EQ(ip[8], ttl);
        }
      }
    }
  }
}

TEST(StampFrameHeader, ParsesBackToTheOutput) {
  const PacketOutput output = sample_output();
  const FrameTemplate frame = build_frame_template(output);
  std::vector<uint8_t> wire(kFrameHeaderLen + 512, 0xab);
  stamp_frame_header(frame, 42, 512, 17, wire.data());
  UdpView view;
  ASSERT_EQ(parse_frame(wire.data(), wire.size(), view), ParseVerdict::ok);
  EXPECT_EQ(view.ttl, 17);
  EXPECT_EQ(view.src_addr, output.src_addr.s_addr);
  EXPECT_EQ(view.dst_addr, output.dst_addr.s_addr);
  EXPECT_EQ(view.dst_port, output.dst_port);
  EXPECT_EQ(view.payload_len, 512u);
  EXPECT_EQ(view.payload, wire.data() + kFrameHeaderLen);
}

TEST(DescribeOutputSocket, RefusesNonEthernetInterface) {
  // Loopback is not Ethernet: describe_output_socket must refuse it by name rather than build
  // frames with a made-up MAC.
  Output output;
  output.interface = "lo";
  output.address = address("239.2.0.1");
  output.port = 6000;
  output.ttl = 2;
  auto fd = open_output_socket(output, 1, {}, "test");
  if (!fd) {
    GTEST_SKIP() << "cannot open an output socket on lo: " << fd.error().to_string();
  }
  auto described = describe_output_socket(fd->get());
  ASSERT_FALSE(described.has_value());
  EXPECT_NE(described.error().to_string().find("not an Ethernet interface"), std::string::npos)
      << described.error().to_string();
}

TEST(DescribeOutputSocket, UnconnectedSocketIsAnError) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  ASSERT_TRUE(fd);
  auto described = describe_output_socket(fd.get());
  EXPECT_FALSE(described.has_value());
}

// ---- IPv6 ----

in6_addr address6(const char* text) {
  in6_addr value{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, &value), 1) << text;
  return value;
}

PacketOutput sample_output6() {
  PacketOutput output = sample_output();
  output.ipv6 = true;
  output.src_addr = in_addr{};
  output.dst_addr = in_addr{};
  output.src6 = address6("fe80::11:22ff:fe33:4455");
  output.dst6 = address6("ff3e::1234:5678");
  return output;
}

TEST(MulticastMac6, ThirtyThreeThirtyThreeAndTheLow32Bits) {
  struct Case {
    const char* group;
    std::array<uint8_t, 6> mac;
  };
  const Case cases[] = {
      {"ff02::1", {0x33, 0x33, 0x00, 0x00, 0x00, 0x01}},
      {"ff3e::1234:5678", {0x33, 0x33, 0x12, 0x34, 0x56, 0x78}},
      // Only the last four bytes count: these two share a MAC (RFC 2464 7).
      {"ff15::abcd:ef01:2:3", {0x33, 0x33, 0x00, 0x02, 0x00, 0x03}},
      {"ff05::2:3", {0x33, 0x33, 0x00, 0x02, 0x00, 0x03}},
      {"ff0e:ffff::ffff:ffff", {0x33, 0x33, 0xff, 0xff, 0xff, 0xff}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(multicast_mac6(address6(c.group)), c.mac) << c.group;
  }
}

// RFC 8200 8.1, summed from the wire bytes alone, independently of the template's
// arithmetic: a right checksum makes the sum over pseudo header and datagram 0xffff.
uint16_t udp6_wire_sum(const std::vector<uint8_t>& wire) {
  const size_t ip = kEthHeaderLen;
  const size_t udp = ip + kIpv6HeaderLen;
  const size_t udp_len = static_cast<size_t>(wire[udp + 4] << 8 | wire[udp + 5]);
  uint64_t sum = udp_len + IPPROTO_UDP;
  for (size_t i = ip + 8; i < ip + 40; i += 2) {
    sum += static_cast<uint32_t>(wire[i] << 8 | wire[i + 1]);
  }
  for (size_t i = 0; i < udp_len; i += 2) {
    const uint8_t low = i + 1 < udp_len ? wire[udp + i + 1] : 0;
    sum += static_cast<uint32_t>(wire[udp + i] << 8 | low);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

TEST(FrameTemplate6, ConstantFields) {
  const FrameTemplate frame = build_frame_template(sample_output6());
  EXPECT_TRUE(frame.ipv6);
  EXPECT_EQ(frame.header_len, kFrameHeaderLen6);
  const uint8_t* b = frame.bytes.data();
  const std::array<uint8_t, 14> ethernet = {0x33, 0x33, 0x12, 0x34, 0x56, 0x78, 0x02,
                                            0x11, 0x22, 0x33, 0x44, 0x55, 0x86, 0xdd};
  EXPECT_EQ(std::memcmp(b, ethernet.data(), ethernet.size()), 0);
  const uint8_t* ip = b + kEthHeaderLen;
  EXPECT_EQ(ip[0], 0x60);
  EXPECT_EQ(ip[6], IPPROTO_UDP);  // next header: no extension headers
  const in6_addr src = address6("fe80::11:22ff:fe33:4455");
  const in6_addr dst = address6("ff3e::1234:5678");
  EXPECT_EQ(std::memcmp(ip + 8, src.s6_addr, 16), 0);
  EXPECT_EQ(std::memcmp(ip + 24, dst.s6_addr, 16), 0);
}

TEST(StampFrameHeader6, ChecksumMatchesAnIndependentSum) {
  for (const char* source : {"fe80::11:22ff:fe33:4455", "ffff:ffff::ffff", "::"}) {
    PacketOutput output = sample_output6();
    output.src6 = address6(source);
    const FrameTemplate frame = build_frame_template(output);
    for (uint32_t payload : {0u, 1u, 33u, 512u, 1452u}) {
      for (uint8_t fill : {uint8_t{0x00}, uint8_t{0xab}, uint8_t{0xff}}) {
        std::vector<uint8_t> wire(kFrameHeaderLen6 + payload, fill);
        for (uint32_t i = 0; i < payload; i += 7) {
          wire[kFrameHeaderLen6 + i] = static_cast<uint8_t>(i);  // not only one byte value
        }
        const uint8_t* data = wire.data() + kFrameHeaderLen6;
        stamp_frame_header6(frame, payload, 33, ones_sum(data, payload), wire.data());
        EXPECT_EQ(udp6_wire_sum(wire), 0xffff) << source << " payload " << payload;
        const uint8_t* udp = wire.data() + kEthHeaderLen + kIpv6HeaderLen;
        EXPECT_NE(udp[6] << 8 | udp[7], 0) << "0 is invalid on IPv6";
        const uint8_t* ip = wire.data() + kEthHeaderLen;
        EXPECT_EQ(ip[4] << 8 | ip[5], static_cast<int>(kUdpHeaderLen + payload));
        EXPECT_EQ(ip[7], 33);
      }
    }
  }
}

// A header whose checksum computes to 0 carries 0xffff instead, and still verifies.
TEST(StampFrameHeader6, ComputedZeroIsSentAsAllOnes) {
  const FrameTemplate frame = build_frame_template(sample_output6());
  std::vector<uint8_t> wire(kFrameHeaderLen6 + 2, 0);
  // Choose the 2-byte payload so the sum over everything else is 0xffff: checksum 0.
  stamp_frame_header6(frame, 2, 5, 0, wire.data());
  const size_t udp = kEthHeaderLen + kIpv6HeaderLen;
  const auto checksum = static_cast<uint16_t>(wire[udp + 6] << 8 | wire[udp + 7]);
  const uint16_t word = static_cast<uint16_t>(checksum == 0xffff ? 0 : checksum);
  wire[kFrameHeaderLen6] = static_cast<uint8_t>(word >> 8);
  wire[kFrameHeaderLen6 + 1] = static_cast<uint8_t>(word);
  stamp_frame_header6(frame, 2, 5, ones_sum(wire.data() + kFrameHeaderLen6, 2), wire.data());
  EXPECT_EQ(wire[udp + 6], 0xff);
  EXPECT_EQ(wire[udp + 7], 0xff);
  EXPECT_EQ(udp6_wire_sum(wire), 0xffff);
}

TEST(StampFrameHeader6, ParsesBackToTheOutput) {
  PacketOutput output = sample_output6();
  output.src6 = address6("2001:db8::7");  // a source the parser accepts from any host
  const FrameTemplate frame = build_frame_template(output);
  std::vector<uint8_t> wire(kFrameHeaderLen6 + 301, 0x5a);
  stamp_frame_header6(frame, 301, 17, ones_sum(wire.data() + kFrameHeaderLen6, 301), wire.data());
  UdpView view;
  ASSERT_EQ(parse_frame(wire.data(), wire.size(), view), ParseVerdict::ok);  // checksum judged
  EXPECT_TRUE(view.ipv6);
  EXPECT_EQ(view.ttl, 17);
  EXPECT_EQ(std::memcmp(&view.dst6, &output.dst6, 16), 0);
  EXPECT_EQ(view.dst_port, output.dst_port);
  EXPECT_EQ(view.payload_len, 301u);
  wire.back() ^= 1;
  EXPECT_EQ(parse_frame(wire.data(), wire.size(), view), ParseVerdict::bad_udp_checksum);
}

TEST(OnesSum, BigEndianWordsOddByteOnTheLeft) {
  const uint8_t bytes[] = {0x12, 0x34, 0xff, 0xff, 0x01};
  // 0x1234 + 0xffff + 0x0100 = 0x11333 -> 0x1334
  EXPECT_EQ(ones_sum(bytes, sizeof bytes), 0x1334);
  EXPECT_EQ(ones_sum(bytes, 0), 0);
}

}  // namespace
}  // namespace mrelay
