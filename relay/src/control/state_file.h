// The state file (--state-file): the rules changed at run time, saved after every change and
// restored at the next start when the config file's rules are still the ones they were made
// on top of.
//
//   {"base": [...the config file's rules...], "rules": [...the running rules...]}
//
//   const std::string text = mrelay::state_text(file_rules, running_rules);  // then replace_file
//   mrelay::Config config = mrelay::restore_state(loaded, mrelay::system_interfaces());
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mrelay/config.h"

namespace mrelay {

/// The file's text (2-space indented JSON and a newline) for the running `rules` made on top
/// of the config file's `base` rules.
[[nodiscard]] std::string state_text(const std::vector<Rule>& base, const std::vector<Rule>& rules);

/// Replaces config.rules with the rules saved in config.state_file, when that file exists and
/// was saved on top of the same file rules (otherwise the file was edited since: its rules
/// win). Logs what it did; a state file that cannot be read (a symbolic link is not followed)
/// or parsed is reported and ignored.
[[nodiscard]] Config restore_state(Config config, const InterfaceLookup& lookup);

/// restore_state's decision from the file's `text` (`where` names it in log lines): the
/// restored config, or `config` unchanged. Never throws, whatever the text (fuzzed).
[[nodiscard]] Config restore_state_text(Config config, std::string_view text,
                                        const InterfaceLookup& lookup, const std::string& where);

}  // namespace mrelay
