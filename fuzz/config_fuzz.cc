// libFuzzer target for the control-plane parsers: mrelay::parse_config_json (then
// validate_config with a fake interface table, as `mrelay --check-config` would) and
// mrelay::parse_endpoint (the --in/--out quick form). Both read operator-supplied text, so
// every input must end in a value or an error naming a field: an escaped exception, a crash
// or a sanitizer report is a bug. Extra invariants: an error message is never empty, and an
// accepted endpoint has a non-empty interface and a port != 0.
//
//   ci/fuzz.sh                                            # builds and runs both targets
//   build-fuzz/fuzz/mrelay_config_fuzz -max_total_time=60 -dict=fuzz/config.dict /tmp/c \
//       fuzz/corpus/config
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mrelay/config.h"

namespace {

[[noreturn]] void invariant_broken(const char* what, std::string_view input) {
  std::fprintf(stderr, "config_fuzz: invariant broken: %s (input %zu bytes)\n", what, input.size());
  std::abort();
}

// Interfaces "exist" when their name starts with "veth" or is "lo": enough for the validator
// to walk both its accepting and its rejecting paths without touching the host.
unsigned fake_interface_index(const std::string& name) {
  if (name == "lo") {
    return 1;
  }
  if (name.rfind("veth", 0) == 0) {
    return 2 + static_cast<unsigned>(name.size());
  }
  return 0;
}

template <typename T>
void check_error_named(const mrelay::Result<T>& result, std::string_view input) {
  if (!result && result.error().to_string().empty()) {
    invariant_broken("error without a message", input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto config = mrelay::parse_config_json(text);
  check_error_named(config, text);
  if (config) {
    const mrelay::InterfaceLookup lookup = fake_interface_index;
    check_error_named(mrelay::validate_config(*config, lookup), text);
    check_error_named(mrelay::validate_knobs(*config), text);
  }

  auto endpoint = mrelay::parse_endpoint(text, "--in");
  check_error_named(endpoint, text);
  if (endpoint && (endpoint->interface.empty() || endpoint->port == 0)) {
    invariant_broken("accepted endpoint without interface or port", text);
  }
  return 0;
}
