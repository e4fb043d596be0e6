// Forwarder::accept_frame with IPv6 frames: the rule lookup by (interface, VLAN, group, port),
// and that each refused frame lands in exactly one counter -- the hop limit as the TTL, a
// Fragment header as a fragment, a zero UDP checksum as malformed.
//
//   ./mrelay_core_test --gtest_filter='ForwarderIpv6*'
#include "dataplane/forwarder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "control/plan_build.h"
#include "testing/test_rules.h"

namespace mrelay {
namespace {

in6_addr address6(const char* text) {
  in6_addr value{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, &value), 1) << text;
  return value;
}

// Ethernet/IPv6/[one extension header]/UDP to `group`:5000 with a correct checksum (or 0).
std::vector<uint8_t> frame6(const char* group, uint8_t hop_limit, uint8_t extension = 17,
                            bool zero_checksum = false) {
  const size_t extension_len = extension == 17 ? 0 : 8;
  const size_t udp_len = 8 + 16;
  std::vector<uint8_t> f = {0x33, 0x33, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 0x86, 0xdd, 0x60, 0, 0, 0};
  f.push_back(0);
  f.push_back(static_cast<uint8_t>(extension_len + udp_len));
  f.push_back(extension);
  f.push_back(hop_limit);
  const in6_addr src = address6("2001:db8::9");
  const in6_addr dst = address6(group);
  f.insert(f.end(), src.s6_addr, src.s6_addr + 16);
  f.insert(f.end(), dst.s6_addr, dst.s6_addr + 16);
  if (extension_len != 0) {
    f.insert(f.end(), {17, 0, 0, 0, 0, 0, 0, 0});
  }
  const size_t udp = f.size();
  f.insert(f.end(), {0x9c, 0x40, 0x13, 0x88, 0, static_cast<uint8_t>(udp_len), 0, 0});
  for (int i = 0; i < 16; ++i) {
    f.push_back(static_cast<uint8_t>(i));
  }
  uint32_t sum = 17 + udp_len;
  for (size_t i = 14 + 8; i < 14 + 40; i += 2) {
    sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
  }
  for (size_t i = udp; i < f.size(); i += 2) {
    sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  const auto checksum = static_cast<uint16_t>(zero_checksum ? 0 : ~sum);
  f[udp + 6] = static_cast<uint8_t>(checksum >> 8);
  f[udp + 7] = static_cast<uint8_t>(checksum);
  return f;
}

class ForwarderIpv6 : public ::testing::Test {
 protected:
  void SetUp() override {
    Config config;
    config.ingress = IngressMode::packet;
    Rule rule = testing::rule_named("v6", "239.1.1.1");
    rule.group = in_addr{};
    rule.group6 = address6("ff3e::1");
    config.rules.push_back(rule);
    auto plan = build_plan(config, testing::fake_lookup);
    ASSERT_TRUE(plan) << plan.error().to_string();
    plan_ = std::move(*plan);
    forwarder_.use_plan(plan_, 0);
  }

  int32_t accept(const std::vector<uint8_t>& frame, unsigned ifindex = 2) {
    UdpView view;
    return forwarder_.accept_frame(ifindex, FrameMeta{}, frame.data(), frame.size(), view);
  }

  // The sum of every counter a refused frame may land in.
  uint64_t refusals() const {
    return counters_.malformed_fragment + counters_.malformed_udp_checksum +
           counters_.drop_ttl_expired + counters_.unmatched_no_rule + counters_.unmatched_not_udp +
           counters_.malformed_truncated;
  }

  WorkerCounters counters_{};
  Forwarder forwarder_{counters_};
  RelayPlan plan_;
};

TEST_F(ForwarderIpv6, MatchesTheRuleByGroupAndInterface) {
  EXPECT_EQ(accept(frame6("ff3e::1", 9)), 0);
  EXPECT_EQ(plan_.rule_counters[0][0].matched_packets, 1u);
  EXPECT_EQ(accept(frame6("ff3e::2", 9)), -1);
  EXPECT_EQ(accept(frame6("ff3e::1", 9), /*ifindex=*/3), -1);
  EXPECT_EQ(counters_.unmatched_no_rule, 2u);
  EXPECT_EQ(refusals(), 2u);
}

TEST_F(ForwarderIpv6, HopLimitOneIsTheTtlDrop) {
  EXPECT_EQ(accept(frame6("ff3e::1", 1)), -1);
  EXPECT_EQ(counters_.drop_ttl_expired, 1u);
  EXPECT_EQ(accept(frame6("ff3e::1", 2)), 0);
  EXPECT_EQ(refusals(), 1u);
}

TEST_F(ForwarderIpv6, FragmentHeaderCountedOnceAsAFragment) {
  EXPECT_EQ(accept(frame6("ff3e::1", 9, /*extension=*/44)), -1);
  EXPECT_EQ(counters_.malformed_fragment, 1u);
  EXPECT_EQ(refusals(), 1u);
  EXPECT_EQ(accept(frame6("ff3e::1", 9, /*extension=*/60)), 0);  // destination options: fine
}

TEST_F(ForwarderIpv6, ZeroChecksumIsMalformed) {
  EXPECT_EQ(accept(frame6("ff3e::1", 9, 17, /*zero_checksum=*/true)), -1);
  EXPECT_EQ(counters_.malformed_udp_checksum, 1u);
  EXPECT_EQ(refusals(), 1u);
}

}  // namespace
}  // namespace mrelay
