// libFuzzer target for the control socket's dispatcher: mrelay::handle_request over one
// request line, against a fake target with two rules. Any client can send any bytes, so every
// input must end in exactly one reply line of JSON with "ok"; an error reply names something
// ("error" non-empty) and leaves the target's rules as they were; an escaped exception, a
// crash or a sanitizer report is a bug.
//
//   ci/fuzz.sh                                            # builds and runs every target
//   build-fuzz/bin/mrelay_control_fuzz -max_total_time=60 -dict=fuzz/control.dict /tmp/c \
//       fuzz/corpus/control
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "control/control_protocol.h"

namespace {

[[noreturn]] void invariant_broken(const char* what, std::string_view input) {
  std::fprintf(stderr, "control_fuzz: invariant broken: %s (input %zu bytes)\n", what,
               input.size());
  std::abort();
}

unsigned fake_interface_index(const std::string& name) {
  return name == "lo" ? 1 : name.rfind("veth", 0) == 0 ? 2 : 0;
}

mrelay::Rule make_rule(const char* name, const char* group) {
  mrelay::Rule rule;
  rule.name = name;
  rule.input_interface = "veth0";
  ::inet_pton(AF_INET, group, &rule.group);
  rule.port = 5000;
  mrelay::Output output;
  output.interface = "veth1";
  ::inet_pton(AF_INET, "239.2.2.2", &output.address);
  output.port = 6000;
  rule.outputs.push_back(output);
  return rule;
}

class FakeTarget : public mrelay::ControlTarget {
 public:
  FakeTarget() { config.rules = {make_rule("a", "239.1.1.1"), make_rule("b", "239.1.1.2")}; }
  const mrelay::Config& running_config() const override { return config; }
  mrelay::InterfaceLookup interfaces() const override { return fake_interface_index; }
  mrelay::Result<void> apply_rules(const mrelay::Config& candidate, const std::string&) override {
    config = candidate;
    return {};
  }
  mrelay::RelayStats stats() override {
    mrelay::RelayStats stats;
    stats.workers.push_back({});
    for (const mrelay::Rule& rule : config.rules) {
      stats.rules.push_back({rule.name, {}, {}});
    }
    return stats;
  }
  mrelay::Config config;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  FakeTarget target;
  const std::string reply_text = mrelay::handle_request(input, target);
  if (reply_text.find('\n') != std::string::npos) {
    invariant_broken("reply spans more than one line", input);
  }
  const auto reply = nlohmann::json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean()) {
    invariant_broken("reply is not a JSON object with a boolean ok", input);
  }
  if (reply["ok"] == false) {
    if (!reply.contains("error") || !reply["error"].is_string() ||
        reply["error"].get<std::string>().empty()) {
      invariant_broken("error reply without an error text", input);
    }
    if (target.config.rules.size() != 2 || target.config.rules[0].name != "a" ||
        target.config.rules[1].name != "b") {
      invariant_broken("a failed request changed the rules", input);
    }
  }
  return 0;
}
