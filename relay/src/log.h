// The daemon's human log (stderr), with a level the control socket can change at run time.
//
//   mrelay::log_message(mrelay::LogLevel::warn, "SIGHUP: rules[0].input.group: ...");
//   if (auto level = mrelay::parse_log_level("debug")) { mrelay::set_log_level(*level); }
//
// Control-plane only: the data plane never logs (it counts).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mrelay/error.h"

namespace mrelay {

enum class LogLevel : uint8_t { error, warn, info, debug };

[[nodiscard]] std::string_view to_string(LogLevel level);
/// "error" | "warn" | "info" | "debug"; the error names `where`.
[[nodiscard]] Result<LogLevel> parse_log_level(std::string_view text, const std::string& where);

void set_log_level(LogLevel level) noexcept;
[[nodiscard]] LogLevel log_level() noexcept;

/// Writes "mrelay: TEXT" (warn/error: "mrelay: warning: TEXT" / "mrelay: error: TEXT") to
/// stderr when `level` is at or above the current level.
void log_message(LogLevel level, const std::string& text);

}  // namespace mrelay
