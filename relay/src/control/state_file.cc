// The state file; see state_file.h.
#include "control/state_file.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/safe_file.h"
#include "control/control_protocol.h"

namespace mrelay {
namespace {

// A state file is a list of rules: 16 MiB is far beyond any real one and bounds a mistake.
constexpr size_t kMaxStateFileBytes = 16u << 20;

// The rules as the JSON array the file holds (the config schema, control_protocol.h).
nlohmann::json rules_array(const std::vector<Rule>& rules) {
  return nlohmann::json::parse(rules_to_json(rules))["rules"];
}

}  // namespace

std::string state_text(const std::vector<Rule>& base, const std::vector<Rule>& rules) {
  nlohmann::json state;
  state["base"] = rules_array(base);
  state["rules"] = rules_array(rules);
  return state.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Config restore_state_text(Config config, std::string_view text, const InterfaceLookup& lookup,
                          const std::string& where) {
  nlohmann::json state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object() || !state.contains("base") || !state.contains("rules") ||
      !state["rules"].is_array()) {
    log_message(LogLevel::warn, where +
                                    ": not a state file ({\"base\":[..],\"rules\":[..]}); "
                                    "ignored");
    return config;
  }
  const std::string base =
      state["base"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (base !=
      rules_array(config.rules).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) {
    log_message(LogLevel::info, where +
                                    ": the configuration's rules changed since the state "
                                    "was saved; using the configuration's rules");
    return config;
  }
  Config restored = config;
  restored.rules.clear();
  const nlohmann::json& rules = state["rules"];
  for (size_t i = 0; i < rules.size(); ++i) {
    auto rule =
        parse_rule_json(rules[i].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                        "rules[" + std::to_string(i) + "]");
    if (!rule) {
      log_message(LogLevel::warn, where + ": " + rule.error().to_string() + "; ignored");
      return config;
    }
    restored.rules.push_back(std::move(*rule));
  }
  if (auto valid = validate_config(restored, lookup); !valid) {
    log_message(LogLevel::warn,
                where + ": " + valid.error().to_string() + "; using the configuration's rules");
    return config;
  }
  log_message(LogLevel::info, where + ": restored " + std::to_string(restored.rules.size()) +
                                  " rules saved at run time");
  return restored;
}

Config restore_state(Config config, const InterfaceLookup& lookup) {
  const std::string path = config.state_file;
  struct stat info {};
  if (path.empty() || ::lstat(path.c_str(), &info) != 0) {
    return config;  // no state saved yet
  }
  const std::string where = "--state-file " + path;
  auto text = read_regular_file(path, "state file", kMaxStateFileBytes);
  if (!text) {
    log_message(LogLevel::warn, where + ": " + text.error().to_string() + "; ignored");
    return config;
  }
  return restore_state_text(std::move(config), *text, lookup, where);
}

}  // namespace mrelay
