// The nftables reference's ruleset and counter parsing (nft_forwarder.h). Loading it into a
// kernel needs a namespace: netns/tests/kfwd_nft_test.sh and the capability probe do that.
//
//   ./mrelay_harness_test --gtest_filter='Nft*'
#include "reference/nft_forwarder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace mrelay {
namespace {

in_addr address(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

NftForwarderPlan plan_with_outputs(size_t outputs) {
  NftForwarderPlan plan;
  plan.input_interface = "rin0";
  for (size_t i = 0; i < outputs; ++i) {
    char mac[18];
    std::snprintf(mac, sizeof mac, "02:00:00:00:00:%02zx", i);
    plan.outputs.push_back({"rout" + std::to_string(i), mac});
  }
  plan.group = address("239.1.1.1");
  plan.port = 5000;
  return plan;
}

TEST(NftRuleset, MatchesRewritesAndReplicates) {
  NftForwarderPlan plan = plan_with_outputs(2);
  plan.rewrite_group = address("239.2.0.1");
  plan.rewrite_port = 6000;
  const std::string rules = render_nft_ruleset(plan);
  EXPECT_NE(rules.find("table netdev mrelay_kfwd {"), std::string::npos);
  EXPECT_NE(rules.find("type filter hook ingress device \"rin0\" priority 0; policy accept;"),
            std::string::npos);
  EXPECT_NE(rules.find("ip daddr 239.1.1.1 udp dport 5000 ip ttl > 1 counter ip daddr set "
                       "239.2.0.1 udp dport set 6000 ether daddr set 01:00:5e:02:00:01"),
            std::string::npos)
      << rules;
  // Each output gets its own source MAC; the last takes the original with fwd.
  EXPECT_NE(rules.find("ether saddr set 02:00:00:00:00:00 dup to \"rout0\" ether saddr set "
                       "02:00:00:00:00:01 fwd to \"rout1\";"),
            std::string::npos)
      << rules;
  // TTL - 1 through one chain per TTL 2..255.
  EXPECT_EQ(count(rules, " : goto ttl_"), 254u);
  EXPECT_NE(rules.find("chain ttl_2 { ip ttl set 1 goto fanout; }"), std::string::npos);
  EXPECT_NE(rules.find("chain ttl_255 { ip ttl set 254 goto fanout; }"), std::string::npos);
  EXPECT_EQ(rules.find("ip saddr"), std::string::npos);
}

TEST(NftRuleset, Ipv6MatchesRewritesAndDecrementsTheHopLimit) {
  NftForwarderPlan plan = plan_with_outputs(2);
  in6_addr group{};
  in6_addr rewrite{};
  inet_pton(AF_INET6, "ff3e::1", &group);
  inet_pton(AF_INET6, "ff3e::2", &rewrite);
  plan.group6 = group;
  plan.rewrite_group6 = rewrite;
  plan.rewrite_port = 6000;
  const std::string rules = render_nft_ruleset(plan);
  EXPECT_NE(rules.find("ip6 daddr ff3e::1 udp dport 5000 ip6 hoplimit > 1 counter ip6 daddr set "
                       "ff3e::2 udp dport set 6000 ether daddr set 33:33:00:00:00:02 ip6 hoplimit "
                       "vmap {"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("chain ttl_2 { ip6 hoplimit set 1 goto fanout; }"), std::string::npos);
  EXPECT_EQ(rules.find("ip ttl"), std::string::npos);
  EXPECT_EQ(rules.find("ip daddr"), std::string::npos);
  EXPECT_EQ(rules.find("239.1.1.1"), std::string::npos);  // the IPv4 group is not matched
  EXPECT_NE(rules.find("fwd to \"rout1\";"), std::string::npos);
  EXPECT_EQ(multicast_mac6(group), "33:33:00:00:00:01");
}

TEST(NftRuleset, KeepsGroupAndPortWithoutRewriteAndMatchesASource) {
  NftForwarderPlan plan = plan_with_outputs(1);
  plan.source = address("10.77.0.1");
  const std::string rules = render_nft_ruleset(plan);
  EXPECT_NE(rules.find("ip saddr 10.77.0.1 ip daddr 239.1.1.1"), std::string::npos) << rules;
  EXPECT_EQ(rules.find("daddr set 2"), std::string::npos);
  EXPECT_EQ(rules.find("dport set"), std::string::npos);
  EXPECT_NE(rules.find("ether daddr set 01:00:5e:01:01:01"), std::string::npos);
  EXPECT_NE(rules.find("fwd to \"rout0\";"), std::string::npos);
  EXPECT_EQ(rules.find("dup to"), std::string::npos);
}

TEST(NftRuleset, SpreadsManyOutputsOverRulesWithinTheKernelsExpressionLimit) {
  const NftForwarderPlan plan = plan_with_outputs(40);
  const std::string rules = render_nft_ruleset(plan);
  EXPECT_EQ(count(rules, "dup to"), 39u);
  EXPECT_EQ(count(rules, "fwd to"), 1u);
  // 40 outputs at 16 per rule: three rules in the fanout chain.
  const size_t fanout = rules.find("chain fanout {");
  const size_t end = rules.find("  }\n", fanout);
  EXPECT_EQ(count(rules.substr(fanout, end - fanout), ";\n"), 3u);
}

TEST(NftRuleset, MulticastMacKeepsTheLow23Bits) {
  EXPECT_EQ(multicast_mac(address("239.2.0.1")), "01:00:5e:02:00:01");
  EXPECT_EQ(multicast_mac(address("224.128.1.2")), "01:00:5e:00:01:02");
  EXPECT_EQ(multicast_mac(address("239.255.255.255")), "01:00:5e:7f:ff:ff");
}

TEST(NftCounter, ReadsTheRuleCounterFromNftJson) {
  const std::string listed = R"({"nftables": [{"metainfo": {"version": "1.0.6"}},
    {"chain": {"family": "netdev", "table": "mrelay_kfwd", "name": "ingress"}},
    {"rule": {"family": "netdev", "expr": [{"match": {"op": "==", "left": {}, "right": 5000}},
      {"counter": {"packets": 19897, "bytes": 10744380}}, {"dup": {"device": "rout0"}}]}}]})";
  auto counts = parse_nft_counter(listed);
  ASSERT_TRUE(counts) << counts.error().to_string();
  EXPECT_EQ(counts->packets, 19897u);
  EXPECT_EQ(counts->bytes, 10744380u);
  EXPECT_FALSE(parse_nft_counter("not json"));
  EXPECT_FALSE(parse_nft_counter(R"({"nftables": [{"rule": {"expr": []}}]})"));
}

}  // namespace
}  // namespace mrelay
