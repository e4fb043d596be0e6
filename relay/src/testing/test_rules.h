// Test helper: a one-output rule over fake interfaces (eth0 = ifindex 2 in, eth1 = 3 out), for
// tests of rule handling that never open a socket. Header-only and test-only.
//
//   auto table = build_plan(config, mrelay::testing::fake_lookup);
//   config.rules.push_back(mrelay::testing::rule_named("cam1", "239.1.1.1"));
#pragma once

#include <arpa/inet.h>

#include <string>

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

}  // namespace mrelay::testing
