// Test helper: a one-output rule over fake interfaces (eth0 = ifindex 2 in, eth1 = 3 out), for
// tests of rule handling that never open a socket. Header-only and test-only.
//
//   auto table = build_plan(config, mrelay::testing::fake_lookup);
//   config.rules.push_back(mrelay::testing::rule_named("cam1", "239.1.1.1"));
#pragma once

#include <arpa/inet.h>

#include <string>
#include <utility>
#include <vector>

#include "mrelay/config.h"

namespace mrelay::testing {

inline unsigned fake_lookup(const std::string& name) {
  return name == "eth0" ? 2 : name == "eth1" ? 3 : 0;
}

/// eth0:GROUP:5000 -> eth1:239.2.2.2:6000, named `name`.
inline Rule rule_named(const std::string& name, const char* group) {
  Rule rule;
  rule.name = name;
  rule.input_interface = "eth0";
  ::inet_pton(AF_INET, group, &rule.group);
  rule.port = 5000;
  Output output;
  output.interface = "eth1";
  ::inet_pton(AF_INET, "239.2.2.2", &output.address);
  output.port = 6000;
  rule.outputs.push_back(output);
  return rule;
}

/// IN:GROUP:PORT -> one output per (interface, port), each to group 239.9.9.9, named `name`.
inline Rule rule_to_ports(const std::string& name, const std::string& in, const char* group,
                          uint16_t port, std::vector<std::pair<std::string, uint16_t>> outputs) {
  Rule rule;
  rule.name = name;
  rule.input_interface = in;
  ::inet_pton(AF_INET, group, &rule.group);
  rule.port = port;
  for (auto& [interface, out_port] : outputs) {
    Output output;
    output.interface = interface;
    ::inet_pton(AF_INET, "239.9.9.9", &output.address);
    output.port = out_port;
    rule.outputs.push_back(output);
  }
  return rule;
}

/// lo:GROUP:PORT -> 127.0.0.1:OUTPUT_PORT on lo, named `name`: a rule a loop test can send
/// to from its private namespace's loopback (test_netns.h) and read from a bound receiver.
inline Rule loopback_rule(const std::string& name, const char* group, uint16_t port,
                          uint16_t output_port) {
  Rule rule;
  rule.name = name;
  rule.input_interface = "lo";
  ::inet_pton(AF_INET, group, &rule.group);
  rule.port = port;
  Output output;
  output.interface = "lo";
  ::inet_pton(AF_INET, "127.0.0.1", &output.address);
  output.port = output_port;
  rule.outputs.push_back(output);
  return rule;
}

}  // namespace mrelay::testing
