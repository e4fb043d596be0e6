// Table-driven check that every mrelay-inject frame kind is what it claims: the relay's own
// parser gives the verdict the kind promises, and the valid kinds carry an intact payload.
#include "traffic/inject_frames.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "mrelay/payload.h"

namespace mrelay::harness {
namespace {

FrameParams test_params() {
  FrameParams params;
  params.src_addr = htonl(0x0a000001);   // 10.0.0.1
  params.dst_group = htonl(0xef010101);  // 239.1.1.1
  params.dst_port = 5000;
  return params;
}

TEST(InjectFrames, EveryKindGetsItsParserVerdict) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  for (InjectKind kind : kAllInjectKinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const size_t len = build_frame(kind, test_params(), 3, 12345, frame);
    ASSERT_GE(len, 14u);
    UdpView view;
    EXPECT_EQ(parse_frame(frame.data(), len, frame_meta(kind, test_params()), view),
              expected_verdict(kind));
  }
}

// The partial-checksum kind only tests something if its field is wrong as a final checksum:
// judged on the bytes alone (no kernel metadata) it must be refused.
TEST(InjectFrames, PartialChecksumIsNotAFinalOne) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  for (InjectKind kind :
       {InjectKind::udp_partial_checksum, InjectKind::gso_run, InjectKind::gso_run_large}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const size_t len = build_frame(kind, test_params(), 0, 0, frame);
    UdpView view;
    EXPECT_EQ(parse_frame(frame.data(), len, view), ParseVerdict::bad_udp_checksum);
    const VnetHeader header = vnet_header(kind, test_params());
    EXPECT_EQ(header.flags, 1);  // NEEDS_CSUM
    EXPECT_EQ(header.csum_start, 34);
    EXPECT_EQ(header.csum_offset, 6);
  }
  const size_t len = build_frame(InjectKind::udp_checksum, test_params(), 0, 0, frame);
  UdpView view;
  EXPECT_EQ(parse_frame(frame.data(), len, view), ParseVerdict::ok);
  EXPECT_NE(frame[14 + 20 + 6] | frame[14 + 20 + 7], 0);  // a checksum is present
  EXPECT_EQ(vnet_header(InjectKind::udp_checksum, test_params()).serialise(),
            (std::array<uint8_t, 10>{}));
}

TEST(InjectFrames, GsoRunsCarryOneTestPayloadPerSegment) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  const FrameParams params = test_params();
  for (InjectKind kind : {InjectKind::gso_run, InjectKind::gso_run_large}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const size_t len = build_frame(kind, params, 100, 7, frame);
    UdpView view;
    ASSERT_EQ(parse_frame(frame.data(), len, frame_meta(kind, params), view), ParseVerdict::ok);
    const VnetHeader header = vnet_header(kind, params);
    EXPECT_EQ(header.gso_type, 5);  // VIRTIO_NET_HDR_GSO_UDP_L4
    EXPECT_EQ(header.hdr_len, 42);
    ASSERT_EQ(view.segment_size, header.gso_size);
    const uint32_t segments = datagrams_per_frame(kind, params);
    EXPECT_EQ(datagram_count(view), segments);
    EXPECT_EQ(view.payload_len, segments * header.gso_size);
    for (uint32_t s = 0; s < segments; ++s) {
      const PayloadCheck check =
          check_payload(view.payload + static_cast<size_t>(s) * header.gso_size, header.gso_size);
      ASSERT_EQ(check.status, PayloadStatus::ok) << "segment " << s;
      EXPECT_EQ(check.fields.stream, 900);
      EXPECT_EQ(check.fields.sequence, 100u + s);
    }
  }
  EXPECT_EQ(datagrams_per_frame(InjectKind::gso_run, params), 5u);
  EXPECT_EQ(vnet_header(InjectKind::gso_run, params).gso_size, 200);
  EXPECT_EQ(datagrams_per_frame(InjectKind::gso_run_large, params), 46u);
  EXPECT_GT(build_frame(InjectKind::gso_run_large, params, 0, 0, frame), 60000u);
  EXPECT_EQ(datagrams_per_frame(InjectKind::ip_options, params), 1u);
}

TEST(InjectFrames, AcceptanceKindsBreakOneThing) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  const FrameParams params = test_params();
  // The martian kinds differ from a forwarded frame only in the source address.
  const std::vector<std::pair<InjectKind, const char*>> martians = {
      {InjectKind::source_zeronet, "0.1.2.3"},
      {InjectKind::source_loopback, "127.0.0.1"},
      {InjectKind::source_multicast, "224.0.0.1"},
      {InjectKind::source_class_e, "240.0.0.1"},
      {InjectKind::source_broadcast, "255.255.255.255"}};
  for (const auto& [kind, source] : martians) {
    const size_t len = build_frame(kind, params, 0, 0, frame);
    uint32_t got = 0;
    std::memcpy(&got, frame.data() + 14 + 12, 4);
    EXPECT_EQ(got, inet_addr(source)) << to_string(kind);
    EXPECT_EQ(len, 14u + 20u + 8u + params.payload_size);
  }
  // other_host: a unicast destination MAC (group bit clear) that is not the sender's.
  (void)build_frame(InjectKind::other_host, params, 0, 0, frame);
  EXPECT_EQ(frame[0] & 1, 0);
  UdpView view;
  const size_t len = build_frame(InjectKind::other_host, params, 0, 0, frame);
  EXPECT_EQ(parse_frame(frame.data(), len, view), ParseVerdict::ok);  // only the type differs
  // VLAN kinds: 802.1Q 100, 802.1Q 200, and 802.1ad 100 around 802.1Q 7.
  const std::vector<std::pair<InjectKind, uint16_t>> tagged = {
      {InjectKind::vlan_valid, 100}, {InjectKind::vlan_other, 200}, {InjectKind::qinq_valid, 100}};
  for (const auto& [kind, vlan] : tagged) {
    const size_t tagged_len = build_frame(kind, params, 0, 0, frame);
    ASSERT_EQ(parse_frame(frame.data(), tagged_len, view), ParseVerdict::ok) << to_string(kind);
    EXPECT_EQ(view.vlan_id, vlan) << to_string(kind);
  }
}

TEST(InjectFrames, ForwardedKindsCarryAValidPayloadToTheRuleEndpoint) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  for (InjectKind kind : {InjectKind::ip_options, InjectKind::vlan_valid}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const size_t len = build_frame(kind, test_params(), 41, 999, frame);
    UdpView view;
    ASSERT_EQ(parse_frame(frame.data(), len, view), ParseVerdict::ok);
    EXPECT_EQ(view.dst_addr, test_params().dst_group);
    EXPECT_EQ(view.dst_port, 5000);
    EXPECT_EQ(view.payload_len, test_params().payload_size);
    const PayloadCheck check = check_payload(view.payload, view.payload_len);
    EXPECT_EQ(check.status, PayloadStatus::ok);
    EXPECT_EQ(check.fields.stream, 900);
    EXPECT_EQ(check.fields.sequence, 41u);
  }
  const size_t len = build_frame(InjectKind::vlan_valid, test_params(), 0, 0, frame);
  UdpView view;
  ASSERT_EQ(parse_frame(frame.data(), len, view), ParseVerdict::ok);
  EXPECT_EQ(view.vlan_id, 100);
}

TEST(InjectFrames, JumboIsLargerThanARelayBuffer) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  const size_t len = build_frame(InjectKind::jumbo, test_params(), 0, 0, frame);
  EXPECT_EQ(len, 14u + 9000u);
  EXPECT_GT(len, 2048u);  // relay/src/ingress.h kFrameSize
}

TEST(InjectFrames, MulticastDestinationMacFollowsTheGroup) {
  std::vector<uint8_t> frame(kMaxInjectFrame);
  FrameParams params = test_params();
  params.dst_group = htonl(0xef817f05);  // 239.129.127.5: the top bit of octet 2 is dropped
  (void)build_frame(InjectKind::non_udp, params, 0, 0, frame);
  const uint8_t expected[6] = {0x01, 0x00, 0x5e, 0x01, 0x7f, 0x05};
  EXPECT_EQ(std::vector<uint8_t>(frame.begin(), frame.begin() + 6),
            std::vector<uint8_t>(expected, expected + 6));
}

TEST(InjectFrames, KindNamesRoundTripAndMapToCounters) {
  for (InjectKind kind : kAllInjectKinds) {
    EXPECT_EQ(parse_inject_kind(to_string(kind)), kind);
    EXPECT_FALSE(expected_counter(kind).empty());
    EXPECT_FALSE(describe(kind).empty());
  }
  EXPECT_FALSE(parse_inject_kind("all").has_value());
  EXPECT_FALSE(parse_inject_kind("bogus").has_value());
  EXPECT_EQ(expected_counter(InjectKind::udp_len_lie), "malformed_bad_length");
}

}  // namespace
}  // namespace mrelay::harness
