// Tests of config parsing and validation: a table of bad configs (each must be rejected with
// an error whose `where` names the offending field) and good configs (values and defaults).
//
//   ./mrelay_core_test --gtest_filter='Config*'
#include "mrelay/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace mrelay {
namespace {

using nlohmann::json;

// Interfaces the fake lookup knows; anything else "does not exist".
InterfaceLookup fake_interfaces() {
  return [](const std::string& name) -> unsigned {
    static const std::map<std::string, unsigned> known = {
        {"veth0", 10}, {"veth1", 11}, {"veth2", 12}, {"veth3", 13}};
    auto it = known.find(name);
    return it == known.end() ? 0 : it->second;
  };
}

json base_config() {
  return json::parse(R"({
    "rules": [
      {"name": "cam1",
       "input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000},
       "outputs": [{"interface": "veth1", "group": "239.2.2.2", "port": 6000}]}
    ]
  })");
}

// Parse then validate, as the daemon does; returns the first error.
Result<Config> parse_and_validate(const std::string& text) {
  auto config = parse_config_json(text);
  if (!config) {
    return config;
  }
  if (auto ok = validate_config(*config, fake_interfaces()); !ok) {
    return tl::unexpected(ok.error());
  }
  return config;
}

struct BadCase {
  std::string name;
  std::function<void(json&)> mutate;
  std::string where;             // exact expected Error::where
  std::string message_contains;  // substring of Error::message
};

// Long: one table of every malformed config and the field its error must name.
std::vector<BadCase> bad_cases() {
  return {
      {"unknown_key_top", [](json& j) { j["workrs"] = 2; }, "workrs", "unknown key"},
      {"unknown_key_rule", [](json& j) { j["rules"][0]["inptu"] = json::object(); },
       "rules[0].inptu", "unknown key"},
      {"unknown_key_input", [](json& j) { j["rules"][0]["input"]["sorce"] = "10.0.0.1"; },
       "rules[0].input.sorce", "unknown key"},
      {"unknown_key_output",
       [](json& j) {
         j["rules"][0]["outputs"].push_back(
             {{"interface", "veth2"}, {"gruop", "239.2.2.3"}, {"port", 6000}});
       },
       "rules[0].outputs[1].gruop", "unknown key"},
      {"unknown_key_egress",
       [](json& j) {
         j["egress"] = {{"batchsize", 4}};
       },
       "egress.batchsize", "unknown key"},
      {"bad_input_address", [](json& j) { j["rules"][0]["input"]["group"] = "239.1.1"; },
       "rules[0].input.group", "not an IPv4 address"},
      {"bad_output_address", [](json& j) { j["rules"][0]["outputs"][0]["group"] = "host.lan"; },
       "rules[0].outputs[0].group", "not an IPv4 address"},
      {"input_not_multicast", [](json& j) { j["rules"][0]["input"]["group"] = "10.1.1.1"; },
       "rules[0].input.group", "not a multicast group"},
      {"output_any", [](json& j) { j["rules"][0]["outputs"][0]["group"] = "0.0.0.0"; },
       "rules[0].outputs[0].group", "not a valid destination"},
      {"output_broadcast",
       [](json& j) { j["rules"][0]["outputs"][0]["group"] = "255.255.255.255"; },
       "rules[0].outputs[0].group", "not a valid destination"},
      {"source_multicast", [](json& j) { j["rules"][0]["input"]["source"] = "239.9.9.9"; },
       "rules[0].input.source", "not a unicast source"},
      {"source_list_entry_multicast",
       [](json& j) { j["rules"][0]["input"]["source"] = {"10.0.0.1", "239.9.9.9"}; },
       "rules[0].input.source[1]", "not a unicast source"},
      {"source_list_entry_not_an_address",
       [](json& j) { j["rules"][0]["input"]["source"] = {"10.0.0.1", "10.0"}; },
       "rules[0].input.source[1]", "not an IPv4 address"},
      {"source_list_empty", [](json& j) { j["rules"][0]["input"]["source"] = json::array(); },
       "rules[0].input.source", "empty source list"},
      {"source_list_twice",
       [](json& j) { j["rules"][0]["input"]["source"] = {"10.0.0.1", "10.0.0.2", "10.0.0.1"}; },
       "rules[0].input.source[2]", "listed twice"},
      {"source_list_too_long",
       [](json& j) {
         json sources = json::array();
         for (int i = 1; i <= 11; ++i) {
           sources.push_back("10.0.0." + std::to_string(i));
         }
         j["rules"][0]["input"]["source"] = sources;
       },
       "rules[0].input.source", "at most 10 per rule"},
      {"source_lists_overlap",
       [](json& j) {
         j["rules"][0]["input"]["source"] = {"10.0.0.1", "10.0.0.2"};
         json second = j["rules"][0];
         second["name"] = "cam2";
         second["input"]["source"] = {"10.0.0.3", "10.0.0.2"};
         second["outputs"][0]["port"] = 6001;
         j["rules"].push_back(second);
       },
       "rules[1].input", "source (10.0.0.2) as rules[0]"},
      {"input_port_0", [](json& j) { j["rules"][0]["input"]["port"] = 0; }, "rules[0].input.port",
       "must be in 1..65535"},
      {"output_port_70000", [](json& j) { j["rules"][0]["outputs"][0]["port"] = 70000; },
       "rules[0].outputs[0].port", "must be in 1..65535"},
      {"input_port_negative", [](json& j) { j["rules"][0]["input"]["port"] = -1; },
       "rules[0].input.port", "must be in 1..65535"},
      {"ttl_0", [](json& j) { j["rules"][0]["outputs"][0]["ttl"] = 0; }, "rules[0].outputs[0].ttl",
       "must be in 1..255"},
      {"ttl_256", [](json& j) { j["rules"][0]["outputs"][0]["ttl"] = 256; },
       "rules[0].outputs[0].ttl", "must be in 1..255"},
      {"ttl_string", [](json& j) { j["rules"][0]["outputs"][0]["ttl"] = "8"; },
       "rules[0].outputs[0].ttl", "must be an integer"},
      {"ttl_threshold_0", [](json& j) { j["rules"][0]["outputs"][0]["ttl_threshold"] = 0; },
       "rules[0].outputs[0].ttl_threshold", "must be in 1..254"},
      {"ttl_threshold_255", [](json& j) { j["rules"][0]["outputs"][0]["ttl_threshold"] = 255; },
       "rules[0].outputs[0].ttl_threshold", "must be in 1..254"},
      {"ttl_threshold_float", [](json& j) { j["rules"][0]["outputs"][0]["ttl_threshold"] = 2.5; },
       "rules[0].outputs[0].ttl_threshold", "must be an integer"},
      // Link-local groups (224.0.0.0/24) only with the rule's explicit allow_link_local.
      {"link_local_input", [](json& j) { j["rules"][0]["input"]["group"] = "224.0.0.251"; },
       "rules[0].input.group", "224.0.0.251 is link-local multicast"},
      {"link_local_input_edge", [](json& j) { j["rules"][0]["input"]["group"] = "224.0.0.255"; },
       "rules[0].input.group", "allow_link_local"},
      {"link_local_output", [](json& j) { j["rules"][0]["outputs"][0]["group"] = "224.0.0.9"; },
       "rules[0].outputs[0].group", "224.0.0.9 is link-local multicast"},
      {"link_local_allowed_false",
       [](json& j) {
         j["rules"][0]["allow_link_local"] = false;
         j["rules"][0]["outputs"][0]["group"] = "224.0.0.1";
       },
       "rules[0].outputs[0].group", "link-local"},
      {"allow_link_local_not_boolean", [](json& j) { j["rules"][0]["allow_link_local"] = 1; },
       "rules[0].allow_link_local", "must be true or false, got number"},
      // Forwarding loops among one host's rules, on any interface (a rule feeding itself on
      // its own input interface is the output_equals_input case above).
      {"loop_two_rules",
       [](json& j) {
         j["rules"] = json::parse(R"([
           {"name": "A", "input": {"interface": "veth1", "group": "239.1.1.1", "port": 5000},
            "outputs": [{"interface": "veth0", "group": "239.2.2.2", "port": 6000}]},
           {"name": "B", "input": {"interface": "veth1", "group": "239.2.2.2", "port": 6000},
            "outputs": [{"interface": "veth0", "group": "239.1.1.1", "port": 5000}]}])");
       },
       "rules[1].outputs[0]",
       "forwarding loop on this host: rule 'A' sends 239.2.2.2:6000, the input of rule 'B'; "
       "rule 'B' sends 239.1.1.1:5000, the input of rule 'A'"},
      {"loop_three_rules_through_a_source_filter",
       [](json& j) {
         j["rules"] = json::parse(R"([
           {"name": "head", "input": {"interface": "veth0", "group": "239.9.9.9", "port": 1},
            "outputs": [{"interface": "veth1", "group": "239.1.1.1", "port": 5000}]},
           {"name": "A", "input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000},
            "outputs": [{"interface": "veth1", "group": "10.0.0.1", "port": 9},
                        {"interface": "veth1", "group": "239.2.2.2", "port": 6000}]},
           {"name": "B", "input": {"interface": "veth2", "group": "239.2.2.2", "port": 6000,
                                   "source": "10.7.7.7"},
            "outputs": [{"interface": "veth3", "group": "239.3.3.3", "port": 7000}]},
           {"name": "C", "input": {"interface": "veth3", "group": "239.3.3.3", "port": 7000},
            "outputs": [{"interface": "veth0", "group": "239.1.1.1", "port": 5000, "ttl": 4}]}])");
       },
       "rules[3].outputs[0]",
       "rule 'A' sends 239.2.2.2:6000, the input of rule 'B'; rule 'B' sends 239.3.3.3:7000, "
       "the input of rule 'C'; rule 'C' sends 239.1.1.1:5000, the input of rule 'A'"},
      {"missing_input_interface", [](json& j) { j["rules"][0]["input"]["interface"] = "veth9"; },
       "rules[0].input.interface", "no such interface 'veth9'"},
      {"missing_output_interface",
       [](json& j) { j["rules"][0]["outputs"][0]["interface"] = "eth7"; },
       "rules[0].outputs[0].interface", "no such interface 'eth7'"},
      {"interface_name_too_long",
       [](json& j) { j["rules"][0]["input"]["interface"] = "averyveryverylongname"; },
       "rules[0].input.interface", "longer than 15"},
      {"duplicate_rule",
       [](json& j) {
         json second = j["rules"][0];
         second["name"] = "cam2";
         second["outputs"][0]["port"] = 6001;
         j["rules"].push_back(second);
       },
       "rules[1].input", "same interface, group, port and source as rules[0]"},
      {"vlan_0", [](json& j) { j["rules"][0]["input"]["vlan"] = 0; }, "rules[0].input.vlan",
       "must be in 1..4094"},
      {"vlan_4095", [](json& j) { j["rules"][0]["input"]["vlan"] = 4095; }, "rules[0].input.vlan",
       "must be in 1..4094"},
      {"vlan_string", [](json& j) { j["rules"][0]["input"]["vlan"] = "100"; },
       "rules[0].input.vlan", "must be an integer"},
      {"vlan_with_udp_ingress",
       [](json& j) {
         j["ingress"] = "udp";
         j["rules"][0]["input"]["vlan"] = 100;
       },
       "rules[0].input.vlan", "needs packet ingress"},
      {"vlan_with_xdp_ingress",
       [](json& j) {
         j["ingress"] = "xdp";
         j["rules"][0]["input"]["vlan"] = 100;
       },
       "rules[0].input.vlan", "the xdp ingress leaves tagged frames to the kernel"},
      {"xdp_with_two_workers",
       [](json& j) {
         j["ingress"] = "xdp";
         j["workers"] = 2;
       },
       "workers", "--ingress xdp reads with one worker (got 2)"},
      {"duplicate_rule_same_vlan",
       [](json& j) {
         j["rules"][0]["input"]["vlan"] = 100;
         json second = j["rules"][0];
         second["name"] = "cam2";
         second["outputs"][0]["port"] = 6001;
         j["rules"].push_back(second);
       },
       "rules[1].input", "same interface, group, port and source as rules[0] on VLAN 100"},
      {"duplicate_rule_same_source",
       [](json& j) {
         j["rules"][0]["input"]["source"] = "10.9.9.9";
         json second = j["rules"][0];
         second["name"] = "cam2";
         j["rules"].push_back(second);
       },
       "rules[1].input", "as rules[0]"},
      {"duplicate_name",
       [](json& j) {
         json second = j["rules"][0];
         second["input"]["port"] = 5001;
         j["rules"].push_back(second);
       },
       "rules[1].name", "duplicate rule name 'cam1'"},
      {"duplicate_default_name",
       [](json& j) {
         json second = j["rules"][0];
         second["input"]["port"] = 5001;
         second["name"] = "rule0";  // collides with the default name of a nameless rules[0]
         j["rules"][0].erase("name");
         j["rules"].push_back(second);
       },
       "rules[1].name", "duplicate rule name 'rule0'"},
      {"empty_name", [](json& j) { j["rules"][0]["name"] = ""; }, "rules[0].name",
       "must not be empty"},
      {"output_equals_input",
       [](json& j) {
         j["rules"][0]["outputs"].push_back(
             {{"interface", "veth0"}, {"group", "239.1.1.1"}, {"port", 5000}});
       },
       "rules[0].outputs[1]", "same interface, address and port as the rule's input"},
      {"duplicate_output",
       [](json& j) { j["rules"][0]["outputs"].push_back(j["rules"][0]["outputs"][0]); },
       "rules[0].outputs[1]", "duplicate of outputs[0]"},
      {"queue_depth_100",
       [](json& j) {
         j["egress"] = {{"queue_depth", 100}};
       },
       "egress.queue_depth", "power of two in 1..32768"},
      {"queue_depth_65536",
       [](json& j) {
         j["egress"] = {{"queue_depth", 65536}};
       },
       "egress.queue_depth", "power of two in 1..32768"},
      {"batch_0",
       [](json& j) {
         j["egress"] = {{"batch", 0}};
       },
       "egress.batch", "must be in 1..1024"},
      {"batch_1025",
       [](json& j) {
         j["egress"] = {{"batch", 1025}};
       },
       "egress.batch", "must be in 1..1024"},
      {"sndbuf_2g",
       [](json& j) {
         j["egress"] = {{"sndbuf", 2147483648u}};
       },
       "egress.sndbuf", "must be in 0..1073741824"},
      {"rcvbuf_huge", [](json& j) { j["rcvbuf"] = 99999999999999u; }, "rcvbuf",
       "must be in 0..1073741824"},
      {"workers_0", [](json& j) { j["workers"] = 0; }, "workers", "must be in 1..64"},
      {"workers_65", [](json& j) { j["workers"] = 65; }, "workers", "must be in 1..64"},
      {"cpu_1024",
       [](json& j) {
         j["cpus"] = {0, 1024};
       },
       "cpus[1]", "must be in 0..1023"},
      {"pool_buffers_63", [](json& j) { j["pool_buffers"] = 63; }, "pool_buffers",
       "must be in 64..1048576"},
      {"buffer_size_1000", [](json& j) { j["buffer_size"] = 1000; }, "buffer_size",
       "must be 0 (from the largest ingress MTU) or 2048..65600 bytes (got 1000)"},
      {"buffer_size_70000", [](json& j) { j["buffer_size"] = 70000; }, "buffer_size",
       "0..65600"},
      {"rt_priority_100", [](json& j) { j["rt_priority"] = 100; }, "rt_priority",
       "must be in 0..99"},
      {"stats_interval_huge", [](json& j) { j["stats_interval_ms"] = 3600001; },
       "stats_interval_ms", "must be in 0..3600000"},
      {"empty_rules", [](json& j) { j["rules"] = json::array(); }, "rules", "at least one rule"},
      {"missing_rules", [](json& j) { j.erase("rules"); }, "rules", "required key missing"},
      {"missing_input_port", [](json& j) { j["rules"][0]["input"].erase("port"); },
       "rules[0].input.port", "required key missing"},
      {"missing_outputs", [](json& j) { j["rules"][0].erase("outputs"); }, "rules[0].outputs",
       "required key missing"},
      {"empty_outputs", [](json& j) { j["rules"][0]["outputs"] = json::array(); },
       "rules[0].outputs", "at least one output"},
      {"wrong_type_port_string", [](json& j) { j["rules"][0]["input"]["port"] = "5000"; },
       "rules[0].input.port", "must be an integer, got string"},
      {"wrong_type_port_float", [](json& j) { j["rules"][0]["input"]["port"] = 5000.5; },
       "rules[0].input.port", "must be an integer, got number"},
      {"wrong_type_rules_object", [](json& j) { j["rules"] = json::object(); }, "rules",
       "must be an array, got object"},
      {"wrong_type_rule", [](json& j) { j["rules"][0] = 3; }, "rules[0]",
       "must be an object, got number"},
      {"wrong_type_egress", [](json& j) { j["egress"] = "uring"; }, "egress",
       "must be an object, got string"},
      {"wrong_type_group", [](json& j) { j["rules"][0]["input"]["group"] = 4009820417u; },
       "rules[0].input.group", "must be a string"},
      {"wrong_type_name", [](json& j) { j["rules"][0]["name"] = true; }, "rules[0].name",
       "must be a string, got boolean"},
      {"wrong_type_cpus", [](json& j) { j["cpus"] = 1; }, "cpus", "must be an array"},
      {"bad_ingress", [](json& j) { j["ingress"] = "raw"; }, "ingress",
       "'raw' is not one of packet, udp, xdp"},
      {"bad_backend",
       [](json& j) {
         j["egress"] = {{"backend", "io_uring"}};
       },
       "egress.backend", "'io_uring' is not one of send, sendmmsg, uring, packet"},
      {"top_level_array", [](json& j) { j = json::array({j}); }, "(top level)",
       "must be an object"},
  };
}

// gtest prints parameters on failure; the case name says more than the raw bytes.
void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class ConfigBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigBad, ErrorNamesTheField) {
  const BadCase& c = GetParam();
  json j = base_config();
  c.mutate(j);
  auto result = parse_and_validate(j.dump());
  ASSERT_FALSE(result.has_value()) << "accepted: " << j.dump();
  EXPECT_EQ(result.error().where, c.where) << result.error().to_string();
  EXPECT_NE(result.error().message.find(c.message_contains), std::string::npos)
      << result.error().to_string();
  EXPECT_EQ(result.error().sys_errno, 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigBad, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(Config, BaseConfigIsGoodAndDefaultsApply) {
  json j = base_config();
  j["rules"][0].erase("name");
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  const Config defaults;
  EXPECT_EQ(config->ingress, IngressMode::packet);
  EXPECT_EQ(config->egress.backend, EgressBackend::gso);
  EXPECT_EQ(config->egress.queue_depth, 1024u);
  EXPECT_EQ(config->egress.batch, 64u);
  EXPECT_EQ(config->egress.sndbuf, 4u << 20);
  EXPECT_EQ(config->rcvbuf, 4u << 20);
  EXPECT_EQ(config->workers, 1u);
  EXPECT_TRUE(config->cpus.empty());
  EXPECT_EQ(config->pool_buffers, defaults.pool_buffers);
  EXPECT_EQ(config->stats_interval_ms, 0u);
  EXPECT_TRUE(config->stats_json_path.empty());
  ASSERT_EQ(config->rules.size(), 1u);
  const Rule& rule = config->rules[0];
  EXPECT_EQ(rule.name, "rule0");
  EXPECT_EQ(rule.input_interface, "veth0");
  EXPECT_EQ(rule.group.s_addr, inet_addr("239.1.1.1"));
  EXPECT_EQ(rule.port, 5000);
  EXPECT_TRUE(rule.source.empty());
  ASSERT_EQ(rule.outputs.size(), 1u);
  EXPECT_EQ(rule.outputs[0].interface, "veth1");
  EXPECT_EQ(rule.outputs[0].address.s_addr, inet_addr("239.2.2.2"));
  EXPECT_EQ(rule.outputs[0].port, 6000);
  EXPECT_FALSE(rule.outputs[0].ttl.has_value());  // copies carry the received TTL - 1
  EXPECT_EQ(rule.outputs[0].ttl_threshold, kDefaultTtlThreshold);
  EXPECT_EQ(kDefaultTtlThreshold, 1);
  EXPECT_FALSE(rule.allow_link_local);
}

TEST(Config, EveryKeyWithComments) {
  const char* text = R"({
    // the header's example, with every key
    "ingress": "udp",
    "egress": {"backend": "sendmmsg", "queue_depth": 128, "batch": 32, "sndbuf": 0},
    "rcvbuf": 1048576, "workers": 4, "cpus": [1, 3], "pool_buffers": 4096,
    "rt_priority": 20, "stats_interval_ms": 1000, "stats_json": "/tmp/stats.json",
    "rules": [
      {"name": "cam1",
       "input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000,
                 "source": "10.9.9.9"},
       "outputs": [{"interface": "veth1", "group": "239.2.2.2", "port": 6000, "ttl": 8,
                    "ttl_threshold": 16},
                   {"interface": "veth2", "group": "10.0.0.7", "port": 7000}]},
      {"name": "mdns", "allow_link_local": true,
       "input": {"interface": "veth0", "group": "224.0.0.251", "port": 5353},
       "outputs": [{"interface": "veth1", "group": "239.255.0.251", "port": 5353, "ttl": 2}]}
    ]
  })";
  auto config = parse_and_validate(text);
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  EXPECT_EQ(config->ingress, IngressMode::udp);
  EXPECT_EQ(config->egress.backend, EgressBackend::sendmmsg);
  EXPECT_EQ(config->egress.queue_depth, 128u);
  EXPECT_EQ(config->egress.batch, 32u);
  EXPECT_EQ(config->egress.sndbuf, 0u);
  EXPECT_EQ(config->rcvbuf, 1048576u);
  EXPECT_EQ(config->workers, 4u);  // more workers than cpus: pinning wraps
  EXPECT_EQ(config->cpus, (std::vector<int>{1, 3}));
  EXPECT_EQ(config->pool_buffers, 4096u);
  EXPECT_EQ(config->rt_priority, 20u);
  EXPECT_EQ(config->stats_interval_ms, 1000u);
  EXPECT_EQ(config->stats_json_path, "/tmp/stats.json");
  const Rule& rule = config->rules.at(0);
  ASSERT_EQ(rule.source.size(), 1u);
  EXPECT_EQ(rule.source[0].s_addr, inet_addr("10.9.9.9"));
  EXPECT_EQ(rule.outputs.at(0).ttl, 8);
  EXPECT_EQ(rule.outputs.at(0).ttl_threshold, 16);
  EXPECT_EQ(rule.outputs.at(1).address.s_addr, inet_addr("10.0.0.7"));  // unicast output
  EXPECT_FALSE(rule.outputs.at(1).ttl.has_value());
  EXPECT_EQ(rule.outputs.at(1).ttl_threshold, 1);
  EXPECT_FALSE(rule.allow_link_local);
  EXPECT_TRUE(config->rules.at(1).allow_link_local);
}

TEST(Config, RulesThatFeedEachOtherWithoutALoopAreAllowed) {
  // A chain (a -> b -> c) and a diamond (d -> e, d -> f, e -> g, f -> g): outputs feed other
  // rules' inputs, but no copy can come back to a rule it passed.
  const char* text = R"({"rules": [
    {"name": "a", "input": {"interface": "veth0", "group": "239.1.0.1", "port": 1},
     "outputs": [{"interface": "veth1", "group": "239.1.0.2", "port": 2}]},
    {"name": "b", "input": {"interface": "veth1", "group": "239.1.0.2", "port": 2},
     "outputs": [{"interface": "veth2", "group": "239.1.0.3", "port": 3}]},
    {"name": "c", "input": {"interface": "veth2", "group": "239.1.0.3", "port": 3},
     "outputs": [{"interface": "veth3", "group": "239.1.0.4", "port": 4}]},
    {"name": "g", "input": {"interface": "veth3", "group": "239.2.0.4", "port": 4},
     "outputs": [{"interface": "veth0", "group": "239.2.0.5", "port": 5}]},
    {"name": "d", "input": {"interface": "veth0", "group": "239.2.0.1", "port": 1},
     "outputs": [{"interface": "veth1", "group": "239.2.0.2", "port": 2},
                 {"interface": "veth2", "group": "239.2.0.3", "port": 3}]},
    {"name": "e", "input": {"interface": "veth1", "group": "239.2.0.2", "port": 2},
     "outputs": [{"interface": "veth3", "group": "239.2.0.4", "port": 4}]},
    {"name": "f", "input": {"interface": "veth2", "group": "239.2.0.3", "port": 3},
     "outputs": [{"interface": "veth3", "group": "239.2.0.4", "port": 4}]}
  ]})";
  auto config = parse_and_validate(text);
  EXPECT_TRUE(config.has_value()) << config.error().to_string();
  // The same group on another port is no edge either.
  json j = base_config();
  j["rules"][0]["outputs"][0] = {{"interface", "veth2"}, {"group", "239.1.1.1"}, {"port", 5001}};
  EXPECT_TRUE(parse_and_validate(j.dump()).has_value());
}

TEST(Config, LongChainOfRulesIsCheckedWithoutRecursion) {
  // 20000 rules, each feeding the next, the last one feeding the first: the loop is found
  // (an iterative search; a recursive one this deep could overflow the stack).
  Config config;
  const auto group = [](uint32_t i) {
    in_addr a{};
    a.s_addr = htonl(0xef000000u + i);
    return a;
  };
  constexpr uint32_t kRules = 20000;
  for (uint32_t i = 0; i < kRules; ++i) {
    Rule rule;
    rule.name = "r";  // appended: GCC 12 warns falsely (-Wrestrict) on "r" + std::string
    rule.name += std::to_string(i);
    rule.input_interface = "veth0";
    rule.group = group(i + 1);
    rule.port = 5000;
    Output output;
    output.interface = "veth1";
    output.address = group((i + 1) % kRules + 1);
    output.port = 5000;
    rule.outputs.push_back(output);
    config.rules.push_back(std::move(rule));
  }
  auto looped = validate_config(config, fake_interfaces());
  ASSERT_FALSE(looped.has_value());
  EXPECT_EQ(looped.error().where, "rules[19999].outputs[0]");
  const std::string& message = looped.error().message;
  EXPECT_NE(message.find("rule 'r0' sends 239.0.0.2:5000, the input of rule 'r1'; "),
            std::string::npos);
  EXPECT_NE(message.find("(19993 more steps); rule 'r19999' sends 239.0.0.1:5000, the input of "
                         "rule 'r0'"),
            std::string::npos)
      << message.substr(0, 600);
  EXPECT_LT(message.size(), 1000u);
  config.rules.back().outputs[0].port = 5001;  // break the ring: a chain remains
  EXPECT_TRUE(validate_config(config, fake_interfaces()).has_value());
}

TEST(Config, VlanOnTheRuleInput) {
  json j = base_config();
  EXPECT_EQ(parse_and_validate(j.dump())->rules.at(0).vlan, 0);  // default: untagged only
  // The same group and port on two VLANs and untagged are three rules, not duplicates.
  json tagged = j["rules"][0];
  tagged["name"] = "cam1_vlan100";
  tagged["input"]["vlan"] = 100;
  json other = tagged;
  other["name"] = "cam1_vlan4094";
  other["input"]["vlan"] = 4094;
  j["rules"].push_back(tagged);
  j["rules"].push_back(other);
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  EXPECT_EQ(config->rules.at(0).vlan, 0);
  EXPECT_EQ(config->rules.at(1).vlan, 100);
  EXPECT_EQ(config->rules.at(2).vlan, 4094);
  auto rule = parse_rule_json(tagged.dump(), "rule");
  ASSERT_TRUE(rule.has_value()) << rule.error().to_string();
  EXPECT_EQ(rule->vlan, 100);
}

TEST(Config, SixtyFourOutputs) {
  json j = base_config();
  j["rules"][0]["outputs"] = json::array();
  for (int i = 0; i < 64; ++i) {
    j["rules"][0]["outputs"].push_back({{"interface", i % 2 == 0 ? "veth1" : "veth2"},
                                        {"group", "239.2.2." + std::to_string(i + 1)},
                                        {"port", 6000 + i}});
  }
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  ASSERT_EQ(config->rules.at(0).outputs.size(), 64u);
  EXPECT_EQ(config->rules[0].outputs[63].port, 6063);
  EXPECT_EQ(config->rules[0].outputs[63].address.s_addr, inet_addr("239.2.2.64"));
}

TEST(Config, SourceListReadsEveryAddressInOrder) {
  json j = base_config();
  j["rules"][0]["input"]["source"] = {"10.0.0.2", "10.0.0.1"};
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  const SourceList& sources = config->rules.at(0).source;
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].s_addr, inet_addr("10.0.0.2"));
  EXPECT_EQ(sources[1].s_addr, inet_addr("10.0.0.1"));
  EXPECT_TRUE(sources.contains(sources[1]));
}

TEST(Config, DescribeRuleShowsTheSourcesOrAnySource) {
  json j = base_config();
  auto any = parse_and_validate(j.dump());
  ASSERT_TRUE(any.has_value()) << any.error().to_string();
  EXPECT_NE(describe_rule(any->rules.at(0)).find("from any source (*,G)"), std::string::npos);
  j["rules"][0]["input"]["source"] = {"10.0.0.1", "10.0.0.2"};
  auto specific = parse_and_validate(j.dump());
  ASSERT_TRUE(specific.has_value()) << specific.error().to_string();
  EXPECT_NE(describe_rule(specific->rules.at(0)).find("from 10.0.0.1, 10.0.0.2 (source-specific)"),
            std::string::npos)
      << describe_rule(specific->rules.at(0));
}

// IPv6: groups in ff00::/8, scopes 1 (interface-local) and 2 (link-local) only with
// allow_link_local, IPv6 and IPv4 outputs; errors name the field.
TEST(Config, Ipv6GroupsAndOutputsParseAndValidate) {
  json j = base_config();
  j["rules"][0]["input"]["group"] = "ff3e::1:1";
  j["rules"][0]["outputs"][0]["group"] = "ff05::2";
  j["rules"][0]["outputs"].push_back({{"interface", "veth2"}, {"group", "239.2.2.9"}, {"port", 6001}});
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  const Rule& rule = config->rules.at(0);
  ASSERT_TRUE(rule.group6.has_value());
  EXPECT_EQ(input_group_text(rule), "ff3e::1:1");
  EXPECT_EQ(output_address_text(rule.outputs.at(0)), "ff05::2");
  EXPECT_FALSE(rule.outputs.at(1).address6.has_value());
  EXPECT_TRUE(uses_ipv6(rule));
  EXPECT_NE(describe_rule(rule).find("veth0 ff3e::1:1:5000"), std::string::npos);
  j["rules"][0]["input"]["group"] = "ff02::fb";
  j["rules"][0]["allow_link_local"] = true;
  EXPECT_TRUE(parse_and_validate(j.dump()).has_value());  // said explicitly: allowed
}

TEST(Config, Ipv6ErrorsNameTheField) {
  const struct {
    const char* input;
    const char* output;
    const char* where;
    const char* message;
  } cases[] = {
      {"ff02::fb", "239.2.2.2", "rules[0].input.group", "link-local multicast (ff02::/16)"},
      {"ff01::1", "239.2.2.2", "rules[0].input.group", "interface-local multicast (ff01::/16)"},
      {"2001:db8::1", "239.2.2.2", "rules[0].input.group", "not an IPv6 multicast group"},
      {"ff30::1", "239.2.2.2", "rules[0].input.group", "reserved scope (0)"},
      {"ff3e::zz", "239.2.2.2", "rules[0].input.group", "not an IPv6 address"},
      {"ff3e::1", "ff12::1", "rules[0].outputs[0].group", "link-local multicast (ff02::/16)"},
      {"ff3e::1", "::", "rules[0].outputs[0].group", "not a valid destination"},
  };
  for (const auto& c : cases) {
    json j = base_config();
    j["rules"][0]["input"]["group"] = c.input;
    j["rules"][0]["outputs"][0]["group"] = c.output;
    auto result = parse_and_validate(j.dump());
    ASSERT_FALSE(result.has_value()) << c.input << " -> " << c.output;
    EXPECT_EQ(result.error().where, c.where) << result.error().to_string();
    EXPECT_NE(result.error().message.find(c.message), std::string::npos)
        << result.error().to_string();
  }
}

// An IPv6 group takes IPv6 sources (MLDv2 include mode), checked as IPv4 ones are; two rules
// on one IPv6 input with different sources are fine, the same source twice is not.
TEST(Config, Ipv6SourceLists) {
  json j = base_config();
  j["rules"][0]["input"]["group"] = "ff3e::1";
  j["rules"][0]["input"]["source"] = {"2001:db8::1", "2001:db8::2"};
  auto parsed = parse_and_validate(j.dump());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  const Rule& rule = parsed->rules[0];
  EXPECT_TRUE(rule.source.empty());
  ASSERT_EQ(rule.source6.size(), 2u);
  EXPECT_TRUE(has_sources(rule));
  EXPECT_EQ(source_texts(rule), (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
  EXPECT_NE(describe_rule(rule).find("from 2001:db8::1, 2001:db8::2 (source-specific)"),
            std::string::npos)
      << describe_rule(rule);
  json other = j["rules"][0];
  other["name"] = "other";
  other["input"]["source"] = "2001:db8::3";
  other["outputs"][0]["port"] = 6001;
  j["rules"].push_back(other);
  EXPECT_TRUE(parse_and_validate(j.dump()).has_value());
  j["rules"][1]["input"]["source"] = "2001:db8::2";
  auto duplicate = parse_and_validate(j.dump());
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_NE(duplicate.error().message.find("(2001:db8::2)"), std::string::npos)
      << duplicate.error().to_string();

  struct Bad {
    json source;
    const char* message;
  };
  const Bad bad[] = {
      {"10.0.0.1", "not an IPv6 address"},
      {"ff02::1", "not a unicast source address"},
      {"::", "not a unicast source address"},
      {json::array({"2001:db8::1", "2001:db8::1"}), "listed twice"},
      {json::array(), "empty source list"},
  };
  for (const Bad& b : bad) {
    json one = base_config();
    one["rules"][0]["input"]["group"] = "ff3e::1";
    one["rules"][0]["input"]["source"] = b.source;
    auto result = parse_and_validate(one.dump());
    ASSERT_FALSE(result.has_value()) << b.source.dump();
    EXPECT_NE(result.error().where.find("rules[0].input.source"), std::string::npos)
        << result.error().to_string();
    EXPECT_NE(result.error().message.find(b.message), std::string::npos)
        << result.error().to_string();
  }
  json v4 = base_config();
  v4["rules"][0]["input"]["source"] = "2001:db8::1";  // IPv4 group, IPv6 source
  EXPECT_FALSE(parse_and_validate(v4.dump()).has_value());
}

// Two IPv6 rules feeding each other close a loop as IPv4 ones do; the same IPv6 group on
// another port does not.
TEST(Config, Ipv6LoopIsRefused) {
  json j = base_config();
  j["rules"][0]["input"]["group"] = "ff3e::1";
  j["rules"][0]["outputs"][0] = {{"interface", "veth1"}, {"group", "ff3e::2"}, {"port", 6000}};
  json second = j["rules"][0];
  second["name"] = "back";
  second["input"] = {{"interface", "veth1"}, {"group", "ff3e::2"}, {"port", 6000}};
  second["outputs"][0] = {{"interface", "veth0"}, {"group", "ff3e::1"}, {"port", 5000}};
  j["rules"].push_back(second);
  auto looped = parse_and_validate(j.dump());
  ASSERT_FALSE(looped.has_value());
  EXPECT_NE(looped.error().message.find("ff3e::2:6000"), std::string::npos)
      << looped.error().to_string();
  j["rules"][1]["outputs"][0]["port"] = 5001;
  EXPECT_TRUE(parse_and_validate(j.dump()).has_value());
}

TEST(Config, SameInputWithDifferentSourcesIsAllowed) {
  json j = base_config();
  json specific = j["rules"][0];
  specific["name"] = "from_a";
  specific["input"]["source"] = "10.0.0.1";
  json other = specific;
  other["name"] = "from_b";
  other["input"]["source"] = "10.0.0.2";
  j["rules"].push_back(specific);
  j["rules"].push_back(other);
  auto config = parse_and_validate(j.dump());
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  EXPECT_EQ(config->rules.size(), 3u);
  // The output may equal the input on another port or interface (not a loop): relaying a
  // group unchanged from one interface to another is the plain router case.
  json k = base_config();
  k["rules"][0]["outputs"][0] = {{"interface", "veth0"}, {"group", "239.1.1.1"}, {"port", 5001}};
  EXPECT_TRUE(parse_and_validate(k.dump()).has_value());
  json unchanged = base_config();
  unchanged["rules"][0]["outputs"].push_back(
      {{"interface", "veth2"}, {"group", "239.1.1.1"}, {"port", 5000}});
  auto relayed = parse_and_validate(unchanged.dump());
  EXPECT_TRUE(relayed.has_value()) << relayed.error().to_string();
}

TEST(Config, InvalidJsonSyntax) {
  auto config = parse_config_json(R"({"rules": [})");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().where, "");
  EXPECT_NE(config.error().message.find("invalid JSON"), std::string::npos);
  EXPECT_NE(config.error().message.find("line 1"), std::string::npos) << config.error().message;
}

TEST(Config, ValidateCatchesValuesSetInCode) {
  // The command line and the control socket build Configs without JSON: validation must
  // check the same ranges on its own.
  auto config = parse_config_json(base_config().dump());
  ASSERT_TRUE(config.has_value());
  Config c = *config;
  c.egress.queue_depth = 3;
  auto bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "egress.queue_depth");
  c = *config;
  c.cpus = {2, -1};
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "cpus[1]");
  c = *config;
  c.rules[0].port = 0;
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "rules[0].input.port");
  c = *config;
  c.rules[0].group.s_addr = inet_addr("192.168.1.1");
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "rules[0].input.group");
  c = *config;
  c.rules[0].outputs[0].ttl = 0;
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "rules[0].outputs[0].ttl");
  c = *config;
  c.rules[0].outputs[0].ttl_threshold = 0;
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "rules[0].outputs[0].ttl_threshold");
  c = *config;
  c.rules[0].group.s_addr = inet_addr("224.0.0.5");
  bad = validate_config(c, fake_interfaces());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "rules[0].input.group");
  c.rules[0].allow_link_local = true;
  EXPECT_TRUE(validate_config(c, fake_interfaces()).has_value());
  EXPECT_TRUE(validate_knobs(*config).has_value());
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mrelay_config_test_XXXXXX";
    const int fd = mkstemp(pattern);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = pattern;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) {
    FILE* file = std::fopen(path_.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs(text.c_str(), file);
    std::fclose(file);
  }
  std::string path_;
};

TEST_F(ConfigFile, ErrorsNameTheFile) {
  json j = base_config();
  j["rules"][0]["outputs"][0]["gruop"] = "x";
  write(j.dump(2));
  auto config = load_config_file(path_);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().where, path_ + ": rules[0].outputs[0].gruop");
  write("{ nope");
  config = load_config_file(path_);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().where, path_);
}

TEST_F(ConfigFile, LoadsGoodFile) {
  write(base_config().dump(2));
  auto config = load_config_file(path_);
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  EXPECT_EQ(config->rules.at(0).name, "cam1");
}

TEST(Config, MissingFileCarriesErrno) {
  auto config = load_config_file("/nonexistent/mrelay/relay.json");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().where, "/nonexistent/mrelay/relay.json");
  EXPECT_EQ(config.error().sys_errno, ENOENT);
  // A directory must report EISDIR, not look like an empty file with invalid JSON.
  auto directory = load_config_file("/tmp");
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().where, "/tmp");
  EXPECT_EQ(directory.error().sys_errno, EISDIR);
}

TEST(Config, SystemInterfacesResolvesLoopback) {
  auto lookup = system_interfaces();
  EXPECT_GT(lookup("lo"), 0u);
  EXPECT_EQ(lookup("mrl-no-such-if"), 0u);
}

TEST(Config, EnumNames) {
  EXPECT_EQ(to_string(IngressMode::packet), "packet");
  EXPECT_EQ(to_string(IngressMode::udp), "udp");
  EXPECT_EQ(to_string(EgressBackend::send), "send");
  EXPECT_EQ(to_string(EgressBackend::sendmmsg), "sendmmsg");
  EXPECT_EQ(to_string(EgressBackend::uring), "uring");
}

struct EndpointCase {
  std::string text;
  std::string message_contains;  // empty = must parse
};

TEST(Config, ParseEndpoint) {
  auto good = parse_endpoint("veth0:239.1.1.1:5000", "--in");
  ASSERT_TRUE(good.has_value()) << good.error().to_string();
  EXPECT_EQ(good->interface, "veth0");
  EXPECT_EQ(good->address.s_addr, inet_addr("239.1.1.1"));
  EXPECT_EQ(good->port, 5000);
  EXPECT_FALSE(good->ttl.has_value());
  auto unicast = parse_endpoint("veth1:10.0.0.2:65535", "--out");
  ASSERT_TRUE(unicast.has_value());
  EXPECT_EQ(unicast->port, 65535);

  const std::vector<EndpointCase> bad = {
      {"veth0:239.1.1.1", "expected IFACE:ADDR:PORT"},
      {"veth0", "expected IFACE:ADDR:PORT"},
      {"", "expected IFACE:ADDR:PORT"},
      {":239.1.1.1:5000", "must not be empty"},
      {"veth0:239.1.1:5000", "not an IPv4 address"},
      {"veth0::5000", "not an IPv4 address"},
      {"veth0:239.1.1.1:0", "must be in 1..65535"},
      {"veth0:239.1.1.1:65536", "must be in 1..65535"},
      {"veth0:239.1.1.1:abc", "not a number"},
      {"veth0:239.1.1.1:", "not a number"},
      {"veth0:239.1.1.1:-5", "not a number"},
      {"veth0:0.0.0.0:5000", "not a valid destination"},
      {"averyveryverylongname:239.1.1.1:5000", "longer than 15"},
  };
  for (const EndpointCase& c : bad) {
    auto result = parse_endpoint(c.text, "--out");
    ASSERT_FALSE(result.has_value()) << c.text;
    EXPECT_EQ(result.error().where, "--out") << c.text;
    EXPECT_NE(result.error().message.find(c.message_contains), std::string::npos)
        << c.text << " -> " << result.error().to_string();
  }
}

}  // namespace
}  // namespace mrelay
