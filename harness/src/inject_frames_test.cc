// Table-driven check that every mrelay-inject frame kind is what it claims: the relay's own
// parser gives the verdict the kind promises, and the valid kinds carry an intact payload.
#include "inject_frames.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

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
    EXPECT_EQ(parse_frame(frame.data(), len, view), expected_verdict(kind));
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

TEST(InjectFrames, JumboIsLargerThanARelayRingSlot) {
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
