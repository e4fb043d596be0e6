// Tests of the plan the workers run, built from a config (plan_build.h): outputs flattened,
// ingress endpoints deduplicated, TTL settings carried, a missing interface named.
#include "control/plan_build.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "testing/test_rules.h"

namespace mrelay {
namespace {

using testing::fake_lookup;

// IN:GROUP:PORT -> outputs (interface, port), unnamed (the plan does not need names).
Rule make_rule(const std::string& in, const char* group, uint16_t port,
               std::vector<std::pair<std::string, uint16_t>> outputs) {
  return testing::rule_to_ports("", in, group, port, std::move(outputs));
}

TEST(RelayPlan, FlattensOutputsAndDedupesIngress) {
  Config config;
  config.rules.push_back(make_rule("eth0", "239.1.1.1", 5000, {{"eth1", 6000}, {"eth1", 6001}}));
  config.rules.push_back(make_rule("eth0", "239.1.1.2", 5000, {{"eth1", 6002}}));
  config.rules.push_back(make_rule("eth0", "239.1.1.1", 5001, {{"eth1", 6003}}));

  config.ingress = IngressMode::packet;
  auto packet = build_plan(config, fake_lookup);
  ASSERT_TRUE(packet) << packet.error().to_string();
  EXPECT_EQ(packet->ingress.size(), 1u);  // one raw socket per interface
  ASSERT_EQ(packet->outputs.size(), 4u);
  EXPECT_EQ(packet->rule_first_output, (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(packet->rule_output_count, (std::vector<uint32_t>{2, 1, 1}));
  EXPECT_EQ(packet->outputs[3].port, 6003);
  EXPECT_EQ(packet->output_ifindex[1], 3u);
  EXPECT_EQ(packet->output_where[2], "rules[1].outputs[0]");
  EXPECT_EQ(packet->fanout_id, -1);  // one worker: no fanout

  config.ingress = IngressMode::udp;
  auto udp = build_plan(config, fake_lookup);
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->ingress.size(), 3u);  // one socket per (interface, group, port)

  config.ingress = IngressMode::packet;
  config.workers = 2;
  auto fanout = build_plan(config, fake_lookup);
  ASSERT_TRUE(fanout);
  EXPECT_GE(fanout->fanout_id, 0);
}

in_addr address(const char* text) {
  in_addr result{};
  ::inet_pton(AF_INET, text, &result);
  return result;
}

// udp mode: an endpoint joins the union of its rules' sources (sorted), or (*,G) as soon as
// one of its rules takes any source.
TEST(RelayPlan, UdpEndpointJoinsTheUnionOfItsRulesSources) {
  Config config;
  config.ingress = IngressMode::udp;
  config.rules.push_back(make_rule("eth0", "232.1.1.1", 5000, {{"eth1", 6000}}));
  config.rules.back().source = {address("10.0.0.9"), address("10.0.0.2")};
  config.rules.push_back(make_rule("eth0", "232.1.1.1", 5000, {{"eth1", 6001}}));
  config.rules.back().source = {address("10.0.0.5")};
  config.rules.push_back(make_rule("eth0", "239.1.1.2", 5000, {{"eth1", 6002}}));
  config.rules.back().source = {address("10.0.0.5")};
  config.rules.push_back(make_rule("eth0", "239.1.1.2", 5000, {{"eth1", 6003}}));  // any
  auto plan = build_plan(config, fake_lookup);
  ASSERT_TRUE(plan) << plan.error().to_string();
  ASSERT_EQ(plan->ingress.size(), 2u);
  const SourceList& ssm = plan->ingress[0].sources;
  ASSERT_EQ(ssm.size(), 3u);
  EXPECT_EQ(ssm[0].s_addr, address("10.0.0.2").s_addr);
  EXPECT_EQ(ssm[1].s_addr, address("10.0.0.5").s_addr);
  EXPECT_EQ(ssm[2].s_addr, address("10.0.0.9").s_addr);
  EXPECT_TRUE(plan->ingress[1].sources.empty());  // one rule takes any source: (*,G)
}

// An IPv6 input group gets its own udp endpoint (an AF_INET6 socket), joined to the union of
// its rules' IPv6 sources; packet ingress reads it on the interface's one packet socket.
TEST(RelayPlan, Ipv6InputOnBothIngressModes) {
  Config config;
  config.rules.push_back(make_rule("eth0", "239.1.1.1", 5000, {{"eth1", 6000}}));
  config.rules.push_back(make_rule("eth0", "239.1.1.2", 5000, {{"eth1", 6001}}));
  in6_addr group{};
  ::inet_pton(AF_INET6, "ff3e::1", &group);
  in6_addr source_a{};
  in6_addr source_b{};
  ::inet_pton(AF_INET6, "2001:db8::a", &source_a);
  ::inet_pton(AF_INET6, "2001:db8::b", &source_b);
  config.rules[1].group = in_addr{};
  config.rules[1].group6 = group;
  config.rules[1].source6 = {source_b, source_a};
  config.ingress = IngressMode::udp;
  auto udp = build_plan(config, fake_lookup);
  ASSERT_TRUE(udp) << udp.error().to_string();
  ASSERT_EQ(udp->ingress.size(), 2u);
  ASSERT_TRUE(udp->ingress[1].group6.has_value());
  ASSERT_EQ(udp->ingress[1].sources6.size(), 2u);  // sorted
  EXPECT_EQ(std::memcmp(&udp->ingress[1].sources6[0], &source_a, 16), 0);
  EXPECT_EQ(udp->table.find6(udp->ingress[1].ifindex, group, 5000, source_a), 1);
  EXPECT_EQ(udp->table.find6(udp->ingress[1].ifindex, group, 5000, source_b), 1);
  in6_addr other{};
  ::inet_pton(AF_INET6, "2001:db8::c", &other);
  EXPECT_EQ(udp->table.find6(udp->ingress[1].ifindex, group, 5000, other), -1);
  EXPECT_EQ(udp->table.find6(udp->ingress[1].ifindex, group, 5001, source_a), -1);
  config.ingress = IngressMode::packet;
  auto packet = build_plan(config, fake_lookup);
  ASSERT_TRUE(packet) << packet.error().to_string();
  EXPECT_EQ(packet->ingress.size(), 1u);  // one packet socket per interface
  EXPECT_EQ(packet->table.find6(packet->ingress[0].ifindex, group, 5000, source_b), 1);
}

TEST(RelayPlan, CarriesEachOutputsTtlSettings) {
  Config config;
  config.rules.push_back(make_rule("eth0", "239.1.1.1", 5000, {{"eth1", 6000}, {"eth1", 6001}}));
  config.rules[0].outputs[1].ttl = 7;
  config.rules[0].outputs[1].ttl_threshold = 32;
  auto plan = build_plan(config, fake_lookup);
  ASSERT_TRUE(plan) << plan.error().to_string();
  ASSERT_EQ(plan->output_ttl.size(), 2u);
  EXPECT_EQ(plan->output_ttl[0].threshold, kDefaultTtlThreshold);
  EXPECT_EQ(plan->output_ttl[0].fixed, 0);  // the received TTL - 1
  EXPECT_EQ(plan->output_ttl[1].threshold, 32);
  EXPECT_EQ(plan->output_ttl[1].fixed, 7);
}

TEST(RelayPlan, MissingInterfaceNamesTheField) {
  Config config;
  config.rules.push_back(make_rule("eth0", "239.1.1.1", 5000, {{"eth9", 6000}}));
  auto plan = build_plan(config, fake_lookup);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().where, "rules[0].outputs[0].interface");
}

}  // namespace
}  // namespace mrelay
