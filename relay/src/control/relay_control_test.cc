// restore_state(): the state file brings back rules changed at run time only when the config
// file's rules are still the ones the state was saved on top of; anything unreadable or
// invalid is ignored (logged) and the config's rules are used.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>

#include "control/relay.h"
#include "testing/test_netns.h"
#include "testing/test_rules.h"

namespace mrelay {
namespace {

using testing::fake_lookup;  // test_rules.h
using testing::rule_named;

std::vector<std::string> names(const Config& config) {
  std::vector<std::string> result;
  for (const Rule& rule : config.rules) {
    result.push_back(rule.name);
  }
  return result;
}

class RestoreState : public ::testing::Test {
 protected:
  void SetUp() override {
    config.state_file = "/tmp/mrelay-state-test-" + std::to_string(::getpid()) + ".json";
    config.rules = {rule_named("a", "239.1.1.1")};
  }
  void TearDown() override { ::unlink(config.state_file.c_str()); }
  void write(const std::string& text) { std::ofstream(config.state_file) << text; }
  // A state saved on top of `base` holding `rules`, as Relay::save_state writes it.
  std::string state(const std::vector<Rule>& base, const std::vector<Rule>& rules) {
    const std::string base_text = rules_to_json(base);
    const std::string rules_text = rules_to_json(rules);
    // rules_to_json gives {"rules":[...]}: take the arrays out.
    auto array = [](const std::string& text) {
      return text.substr(text.find('['), text.rfind(']') - text.find('[') + 1);
    };
    return "{\"base\":" + array(base_text) + ",\"rules\":" + array(rules_text) + "}";
  }
  Config config;
};

TEST_F(RestoreState, NoFileKeepsConfig) {
  EXPECT_EQ(names(restore_state(config, fake_lookup)), std::vector<std::string>{"a"});
}

TEST_F(RestoreState, SameBaseRestoresRunTimeRules) {
  write(state(config.rules, {rule_named("a", "239.1.1.1"), rule_named("b", "239.1.1.2")}));
  EXPECT_EQ(names(restore_state(config, fake_lookup)), (std::vector<std::string>{"a", "b"}));
}

TEST_F(RestoreState, EditedConfigWins) {
  write(state({rule_named("old", "239.1.1.9")}, {rule_named("b", "239.1.1.2")}));
  EXPECT_EQ(names(restore_state(config, fake_lookup)), std::vector<std::string>{"a"});
}

TEST_F(RestoreState, BrokenOrInvalidStateIsIgnored) {
  write("{not json");
  EXPECT_EQ(names(restore_state(config, fake_lookup)), std::vector<std::string>{"a"});
  Rule missing = rule_named("b", "239.1.1.2");
  missing.input_interface = "eth9";  // no longer exists
  write(state(config.rules, {missing}));
  EXPECT_EQ(names(restore_state(config, fake_lookup)), std::vector<std::string>{"a"});
}

TEST_F(RestoreState, LoopingStateIsIgnored) {
  // b sends into a's input and a into b's: a state file that would form a loop on this host
  // (written by hand, or by an older relay) is refused like any invalid one.
  Rule b = rule_named("b", "239.2.2.2");
  b.input_interface = "eth1";
  b.port = 6000;
  ::inet_pton(AF_INET, "239.1.1.1", &b.outputs[0].address);
  b.outputs[0].port = 5000;
  write(state(config.rules, {rule_named("a", "239.1.1.1"), b}));
  EXPECT_EQ(names(restore_state(config, fake_lookup)), std::vector<std::string>{"a"});
}

TEST_F(RestoreState, TtlSettingsSurviveTheRoundTrip) {
  Rule b = rule_named("b", "224.0.0.251");
  b.allow_link_local = true;
  b.outputs[0].ttl = 9;
  b.outputs[0].ttl_threshold = 3;
  write(state(config.rules, {rule_named("a", "239.1.1.1"), b}));
  const Config restored = restore_state(config, fake_lookup);
  ASSERT_EQ(names(restored), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(restored.rules[0].outputs[0].ttl.has_value());
  EXPECT_TRUE(restored.rules[1].allow_link_local);
  EXPECT_EQ(restored.rules[1].outputs[0].ttl, 9);
  EXPECT_EQ(restored.rules[1].outputs[0].ttl_threshold, 3);
}

}  // namespace
}  // namespace mrelay

#include "mrelay/command_line.h"

namespace mrelay {
namespace {

TEST(MetricsListen, LoopbackOnlyNamedByFlagOrKey) {
  const char* argv[] = {
      "mrelay",           "--in",        "lo:239.1.1.1:5000", "--out", "lo:239.2.2.2:6000",
      "--metrics-listen", "0.0.0.0:9477"};
  auto cli = parse_command_line(7, argv);
  ASSERT_FALSE(cli);
  EXPECT_EQ(cli.error().where, "--metrics-listen");
  EXPECT_NE(cli.error().message.find("not a loopback address"), std::string::npos);

  auto config = parse_config_json(R"({"metrics_listen":"127.0.0.1:99999","rules":[]})");
  ASSERT_TRUE(config);
  auto knobs = validate_knobs(*config);
  ASSERT_FALSE(knobs);
  EXPECT_EQ(knobs.error().where, "metrics_listen");

  auto endpoint = parse_metrics_listen("127.0.0.2:9477", "x");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->port, 9477);
}

// ---- metrics scrapes ---------------------------------------------------------------------

// A scrape is answered from the counters as they are, without waiting for the workers: here
// the workers are not even running (as if busy), and a scrape must not hold the control loop
// for a refresh wait (200 ms). Relay::create on the loopback of a private namespace.
std::string scrapes_do_not_wait() {
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = EgressBackend::sendmmsg;
  config.pool_buffers = 64;
  Rule rule;
  rule.name = "a";
  rule.input_interface = "lo";
  ::inet_pton(AF_INET, "239.1.1.1", &rule.group);
  rule.port = 5000;
  Output output;
  output.interface = "lo";
  ::inet_pton(AF_INET, "127.0.0.1", &output.address);
  output.port = 6000;
  rule.outputs.push_back(output);
  config.rules.push_back(rule);
  auto relay = Relay::create(config);
  if (!relay) {
    return "create: " + relay.error().to_string();
  }
  // The fastest of 10 scrapes: one that waits for the workers takes their full refresh wait
  // (200 ms) every time; one that does not takes microseconds, unless the machine stalls it,
  // and it would have to stall all 10.
  std::string text;
  int64_t fastest_ms = INT64_MAX;
  for (int i = 0; i < 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    text = (*relay)->metrics_text();
    fastest_ms =
        std::min<int64_t>(fastest_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
  }
  if (text.find("mrelay_received_packets_total{worker=\"0\"} 0") == std::string::npos) {
    return "no worker counters in the scrape";
  }
  if (fastest_ms >= 100) {
    return "the fastest of 10 scrapes held the control loop " + std::to_string(fastest_ms) + " ms";
  }
  return "";
}

TEST(RelayMetrics, ScrapesDoNotWaitForWorkers) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS(scrapes_do_not_wait);
}

}  // namespace
}  // namespace mrelay
