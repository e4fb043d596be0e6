// libFuzzer target for the daemon's command line (mrelay::parse_command_line): the input is
// split at NUL bytes into argv. Every input must end in a command line or an error naming the
// flag (non-empty `where` and message); an accepted run command has at least one rule and
// knobs within their ranges (validate_knobs). --config and --check-config are replaced by
// --log-level: reading files named by fuzz input would make the target depend on the host.
//
//   ci/fuzz.sh                                   # builds and runs every target
//   build-fuzz/bin/mrelay_cli_fuzz -dict=fuzz/cli.dict /tmp/c fuzz/corpus/cli
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/command_line.h"

namespace {

// argv entries taken from one input: a real command line is far shorter.
constexpr size_t kMaxArgs = 64;

[[noreturn]] void invariant_broken(const char* what, size_t size) {
  std::fprintf(stderr, "cli_fuzz: invariant broken: %s (input %zu bytes)\n", what, size);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args{"mrelay"};
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && args.size() <= kMaxArgs) {
    const size_t end = rest.find('\0');
    std::string arg(rest.substr(0, end));
    if (arg.starts_with("--config") || arg.starts_with("--check-config")) {
      arg = "--log-level" +
            arg.substr(arg.find('=') == std::string::npos ? arg.size() : arg.find('='));
    }
    args.push_back(std::move(arg));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  std::vector<const char*> argv;
  for (const std::string& arg : args) {
    argv.push_back(arg.c_str());
  }
  const auto result = mrelay::parse_command_line(static_cast<int>(argv.size()), argv.data());
  if (!result) {
    if (result.error().where.empty() || result.error().message.empty()) {
      invariant_broken("an error without a field or a message", size);
    }
    return 0;
  }
  if (result->action == mrelay::Action::run) {
    if (result->config.rules.empty()) {
      invariant_broken("a run command line without rules", size);
    }
    if (auto knobs = mrelay::validate_knobs(result->config); !knobs) {
      invariant_broken("an accepted command line with knobs out of range", size);
    }
  }
  return 0;
}
