// Tests of RuleTable: each key part must match exactly, an exact-source rule beats an
// any-source rule, a rule on a missing interface never matches, and 1000 rules all resolve.
//
//   ./mrelay_core_test --gtest_filter='RuleTable*'
#include "mrelay/rule_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace mrelay {
namespace {

constexpr unsigned kVeth0 = 10;
constexpr unsigned kVeth1 = 11;

InterfaceLookup fake_interfaces() {
  return [](const std::string& name) -> unsigned {
    static const std::map<std::string, unsigned> known = {{"veth0", kVeth0}, {"veth1", kVeth1}};
    auto it = known.find(name);
    return it == known.end() ? 0 : it->second;
  };
}

uint32_t addr(const char* text) {
  return inet_addr(text);
}

Rule make_rule(const std::string& interface, const char* group, uint16_t port,
               const char* source = nullptr, uint16_t vlan = 0) {
  Rule rule;
  rule.name = interface + "/" + group + ":" + std::to_string(port);
  rule.input_interface = interface;
  rule.vlan = vlan;
  rule.group.s_addr = addr(group);
  rule.port = port;
  if (source != nullptr) {
    rule.source = SourceList{in_addr{addr(source)}};
  }
  rule.outputs.push_back(Output{"veth1", in_addr{addr("239.9.9.9")}, 6000, 1});
  return rule;
}

struct Lookup {
  const char* what;
  unsigned ifindex;
  const char* group;
  uint16_t port;
  const char* source;
  int32_t expected;
};

// A rule naming several sources matches each of them and nothing else; an any-source rule on
// the same input still takes every other source.
TEST(RuleTable, RuleWithSeveralSourcesMatchesEachOfThem) {
  Rule several = make_rule("veth0", "239.1.1.1", 5000, "10.0.0.1");
  several.source.push_back(in_addr{addr("10.0.0.2")});
  const std::vector<Rule> rules = {several, make_rule("veth0", "239.1.1.1", 5000)};
  RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.1")), 0);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.2")), 0);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.3")), 1);
  RuleTable alone({several}, fake_interfaces());
  EXPECT_EQ(alone.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.2")), 0);
  EXPECT_EQ(alone.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.3")), -1);
}

TEST(RuleTable, EachKeyPartMustMatch) {
  const std::vector<Rule> rules = {
      make_rule("veth0", "239.1.1.1", 5000),              // 0: any source
      make_rule("veth0", "239.1.1.1", 5000, "10.0.0.1"),  // 1: only from 10.0.0.1
      make_rule("veth1", "239.1.1.1", 5000),              // 2: other interface
      make_rule("veth0", "239.1.1.2", 5000),              // 3: other group
      make_rule("veth0", "239.1.1.1", 5001),              // 4: other port
      make_rule("veth0", "239.5.5.5", 7000, "10.0.0.7"),  // 5: source-only key
  };
  const RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.size(), rules.size());
  const std::vector<Lookup> lookups = {
      {"any source", kVeth0, "239.1.1.1", 5000, "10.0.0.2", 0},
      {"exact source wins", kVeth0, "239.1.1.1", 5000, "10.0.0.1", 1},
      {"other interface", kVeth1, "239.1.1.1", 5000, "10.0.0.1", 2},
      {"other group", kVeth0, "239.1.1.2", 5000, "10.0.0.1", 3},
      {"other port", kVeth0, "239.1.1.1", 5001, "10.0.0.1", 4},
      {"unknown interface", 12, "239.1.1.1", 5000, "10.0.0.2", -1},
      {"ifindex 0", 0, "239.1.1.1", 5000, "10.0.0.2", -1},
      {"unknown group", kVeth0, "239.1.1.3", 5000, "10.0.0.2", -1},
      {"unknown port", kVeth0, "239.1.1.1", 5002, "10.0.0.2", -1},
      {"group on wrong interface", kVeth1, "239.1.1.2", 5000, "10.0.0.2", -1},
      {"port on wrong group", kVeth0, "239.1.1.2", 5001, "10.0.0.2", -1},
      {"source-only key, right source", kVeth0, "239.5.5.5", 7000, "10.0.0.7", 5},
      {"source-only key, wrong source", kVeth0, "239.5.5.5", 7000, "10.0.0.8", -1},
      {"port byte order", kVeth0, "239.1.1.1", htons(5000), "10.0.0.2", -1},
  };
  for (const Lookup& l : lookups) {
    EXPECT_EQ(table.find(l.ifindex, addr(l.group), l.port, addr(l.source)), l.expected) << l.what;
  }
}

TEST(RuleTable, ExactSourceWinsWhateverTheRuleOrder) {
  const std::vector<Rule> rules = {
      make_rule("veth0", "239.1.1.1", 5000, "10.0.0.1"),  // 0
      make_rule("veth0", "239.1.1.1", 5000, "10.0.0.2"),  // 1
      make_rule("veth0", "239.1.1.1", 5000),              // 2
  };
  const RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.1")), 0);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.2")), 1);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, addr("10.0.0.3")), 2);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, 0), 2);
}

TEST(RuleTable, MissingInterfaceNeverMatches) {
  const std::vector<Rule> rules = {
      make_rule("veth9", "239.1.1.1", 5000),  // 0: interface does not exist
      make_rule("veth0", "239.1.1.2", 5000),  // 1
  };
  const RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.size(), 1u);
  for (unsigned ifindex = 0; ifindex < 64; ++ifindex) {
    EXPECT_EQ(table.find(ifindex, addr("239.1.1.1"), 5000, addr("10.0.0.1")), -1) << ifindex;
  }
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.2"), 5000, addr("10.0.0.1")), 1);
}

TEST(RuleTable, EmptyAndDefaultTablesMatchNothing) {
  const RuleTable empty_default;
  EXPECT_EQ(empty_default.size(), 0u);
  EXPECT_EQ(empty_default.find(kVeth0, addr("239.1.1.1"), 5000, 0), -1);
  const RuleTable empty_rules(std::vector<Rule>{}, fake_interfaces());
  EXPECT_EQ(empty_rules.find(kVeth0, addr("239.1.1.1"), 5000, 0), -1);
  const RuleTable no_lookup({make_rule("veth0", "239.1.1.1", 5000)}, InterfaceLookup{});
  EXPECT_EQ(no_lookup.find(kVeth0, addr("239.1.1.1"), 5000, 0), -1);
}

TEST(RuleTable, DuplicateKeyKeepsTheFirstRule) {
  const std::vector<Rule> rules = {
      make_rule("veth0", "239.1.1.1", 5000),
      make_rule("veth0", "239.1.1.1", 5000),
  };
  const RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.find(kVeth0, addr("239.1.1.1"), 5000, 0), 0);
}

// On a trunk the VLAN is part of the key: a rule takes its own VLAN's frames only, and a rule
// that names no VLAN takes untagged frames only.
TEST(RuleTable, VlanIsPartOfTheKey) {
  const std::vector<Rule> rules = {
      make_rule("veth0", "239.1.1.1", 5000),                   // 0: untagged
      make_rule("veth0", "239.1.1.1", 5000, nullptr, 100),     // 1: VLAN 100
      make_rule("veth0", "239.1.1.1", 5000, "10.0.0.1", 100),  // 2: VLAN 100, one source
      make_rule("veth0", "239.7.7.7", 5000, nullptr, 200),     // 3: VLAN 200 only
  };
  const RuleTable table(rules, fake_interfaces());
  ASSERT_EQ(table.size(), rules.size());
  const uint32_t group = addr("239.1.1.1");
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.9"), 0), 0);
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.9")), 0);  // default: untagged
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.9"), 100), 1);
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.1"), 100), 2);
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.1"), 0), 0);
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.9"), 101), -1);
  EXPECT_EQ(table.find(kVeth0, group, 5000, addr("10.0.0.9"), 4094), -1);
  EXPECT_EQ(table.find(kVeth0, addr("239.7.7.7"), 5000, addr("10.0.0.9"), 200), 3);
  EXPECT_EQ(table.find(kVeth0, addr("239.7.7.7"), 5000, addr("10.0.0.9"), 0), -1);
  EXPECT_EQ(table.find(kVeth0, addr("239.7.7.7"), 5000, addr("10.0.0.9"), 100), -1);
}

TEST(RuleTable, ThousandRules) {
  // Regular keys (consecutive groups and ports, two interfaces, some with sources) are the
  // worst case for a weak hash; every rule must still resolve to itself.
  std::vector<Rule> rules;
  for (int i = 0; i < 1000; ++i) {
    const std::string group = "239.10." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    const std::string source = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    rules.push_back(make_rule(i % 2 == 0 ? "veth0" : "veth1", group.c_str(),
                              static_cast<uint16_t>(5000 + i % 7),
                              i % 3 == 0 ? source.c_str() : nullptr));
  }
  const RuleTable table(rules, fake_interfaces());
  ASSERT_EQ(table.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const Rule& rule = rules[i];
    const unsigned ifindex = i % 2 == 0 ? kVeth0 : kVeth1;
    const uint32_t source = rule.source ? rule.source[0].s_addr : addr("10.200.0.1");
    EXPECT_EQ(table.find(ifindex, rule.group.s_addr, rule.port, source), i);
    // Wrong interface, port, or (for source rules) source: no match.
    EXPECT_EQ(table.find(ifindex == kVeth0 ? kVeth1 : kVeth0, rule.group.s_addr, rule.port, source),
              -1);
    EXPECT_EQ(table.find(ifindex, rule.group.s_addr, static_cast<uint16_t>(rule.port + 7), source),
              -1);
    if (rule.source) {
      EXPECT_EQ(table.find(ifindex, rule.group.s_addr, rule.port, addr("10.200.0.1")), -1);
    }
  }
}

in6_addr addr6(const char* text) {
  in6_addr value{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, &value), 1) << text;
  return value;
}

Rule make_rule6(const char* group, uint16_t port, std::vector<const char*> sources = {},
                uint16_t vlan = 0) {
  Rule rule = make_rule("veth0", "0.0.0.0", port, nullptr, vlan);
  rule.group6 = addr6(group);
  for (const char* source : sources) {
    rule.source6.push_back(addr6(source));
  }
  return rule;
}

// IPv6 keys: interface, VLAN, group, port and source each must match; an exact-source rule
// beats an any-source rule on the same input; an unnamed source falls back to it.
TEST(RuleTable, Ipv6SourcesAndVlans) {
  const std::vector<Rule> rules = {
      make_rule6("ff3e::1", 5000),                                  // 0: any source
      make_rule6("ff3e::1", 5000, {"2001:db8::a", "2001:db8::b"}),  // 1: A and B
      make_rule6("ff3e::1", 5001, {"2001:db8::a"}),                 // 2: A only, no fallback
      make_rule6("ff3e::1", 5000, {}, 100),                         // 3: VLAN 100
  };
  const RuleTable table(rules, fake_interfaces());
  EXPECT_EQ(table.size(), 4u);
  const in6_addr group = addr6("ff3e::1");
  const in6_addr a = addr6("2001:db8::a");
  const in6_addr b = addr6("2001:db8::b");
  const in6_addr c = addr6("2001:db8::c");
  EXPECT_EQ(table.find6(kVeth0, group, 5000, a), 1);
  EXPECT_EQ(table.find6(kVeth0, group, 5000, b), 1);
  EXPECT_EQ(table.find6(kVeth0, group, 5000, c), 0);
  EXPECT_EQ(table.find6(kVeth0, group, 5001, a), 2);
  EXPECT_EQ(table.find6(kVeth0, group, 5001, b), -1);
  EXPECT_EQ(table.find6(kVeth0, group, 5000, c, 100), 3);
  EXPECT_EQ(table.find6(kVeth0, group, 5000, c, 200), -1);
  EXPECT_EQ(table.find6(kVeth1, group, 5000, a), -1);
  EXPECT_EQ(table.find6(kVeth0, addr6("ff3e::2"), 5000, a), -1);
  // An IPv6 rule never answers an IPv4 lookup, and the reverse.
  EXPECT_EQ(table.find(kVeth0, addr("0.0.0.0"), 5000, addr("10.0.0.1")), -1);
}

}  // namespace
}  // namespace mrelay
