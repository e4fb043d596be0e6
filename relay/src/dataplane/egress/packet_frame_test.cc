// Frame building of the "packet" egress backend: multicast MAC from the group, the header
// template, the incremental IPv4 checksum against a full recomputation, and that a stamped
// header parses back (through the relay's own parser) to what the output describes.
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

}  // namespace
}  // namespace mrelay
