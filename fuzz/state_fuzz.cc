// libFuzzer target for restore_state's decision (state_file.h): the state file is read at
// start, whoever wrote it. Any text must end in the configuration's own rules or in a restored
// set that passes validate_config (with the same fake interface table); an escaped exception,
// a crash or a sanitizer report is a bug.
//
//   ci/fuzz.sh                                   # builds and runs every target
//   build-fuzz/bin/mrelay_state_fuzz -dict=fuzz/state.dict /tmp/c fuzz/corpus/state
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/log.h"
#include "control/state_file.h"

namespace {

[[noreturn]] void invariant_broken(const char* what, size_t size) {
  std::fprintf(stderr, "state_fuzz: invariant broken: %s (input %zu bytes)\n", what, size);
  std::abort();
}

unsigned fake_interface_index(const std::string& name) {
  return name == "lo" ? 1 : name.rfind("veth", 0) == 0 ? 2 + static_cast<unsigned>(name.size()) : 0;
}

mrelay::Rule make_rule(const char* name, const char* group, uint16_t port) {
  mrelay::Rule rule;
  rule.name = name;
  rule.input_interface = "veth0";
  ::inet_pton(AF_INET, group, &rule.group);
  rule.port = port;
  mrelay::Output output;
  output.interface = "veth1";
  ::inet_pton(AF_INET, "239.2.2.2", &output.address);
  output.port = 6000;
  rule.outputs.push_back(output);
  return rule;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    mrelay::set_log_level(mrelay::LogLevel::error);  // restore logs every decision
    return true;
  }();
  (void)quiet;
  mrelay::Config config;
  config.rules = {make_rule("a", "239.1.1.1", 5000), make_rule("b", "239.1.1.2", 5000)};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const mrelay::Config restored =
      mrelay::restore_state_text(config, text, fake_interface_index, "state");
  if (restored.rules.empty()) {
    invariant_broken("a restored configuration without rules", size);
  }
  if (auto valid = mrelay::validate_config(restored, fake_interface_index); !valid) {
    invariant_broken("a restored configuration that does not validate", size);
  }
  // The text of what was restored restores the same rules again (a saved state round-trips).
  const std::string again = mrelay::state_text(config.rules, restored.rules);
  const mrelay::Config twice = mrelay::restore_state_text(config, again, fake_interface_index, "s");
  if (twice.rules.size() != restored.rules.size()) {
    invariant_broken("a saved state does not restore the rules it holds", size);
  }
  return 0;
}
