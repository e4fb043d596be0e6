// mrelay's command line: flags, the quick form, and merging over a config file.
//
//   mrelay --config relay.json --egress sendmmsg --batch 32
//   mrelay --in veth0:239.1.1.1:5000 --out veth1:239.2.2.2:6000 --out veth2:239.2.2.3:6000
//   mrelay --check-config relay.json
#pragma once

#include <string>

#include "mrelay/config.h"

namespace mrelay {

enum class Action { run, check_config, help, version };

struct CommandLine {
  Action action = Action::run;
  Config config;            // file (if any) with every flag applied on top
  std::string config_path;  // empty for the quick form
  bool supervise = false;   // --supervise: run the relay as a restarted child (supervisor.h)
  std::string log_level;    // --log-level as given (checked by the daemon), empty = default
};

/// Parses argv. Flags override values from --config. Unknown flags, missing values and
/// malformed numbers are errors naming the flag. Does not check interfaces exist; call
/// validate_config() for that.
[[nodiscard]] Result<CommandLine> parse_command_line(int argc, const char* const* argv);

/// The --help text, every flag with its unit and default.
[[nodiscard]] std::string usage_text();

}  // namespace mrelay
