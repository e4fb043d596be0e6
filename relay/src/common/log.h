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

/// At most one line per `period_ns` for one kind of event that a peer can repeat at will (a
/// refused connection): the first is logged with the count of those suppressed since.
///
///   RateLimitedLog refusals(1'000'000'000);
///   refusals.log(now_ns, LogLevel::warn, "control: refused ...");
class RateLimitedLog {
 public:
  explicit RateLimitedLog(uint64_t period_ns) : period_ns_(period_ns) {}
  void log(uint64_t now_ns, LogLevel level, const std::string& text);

 private:
  uint64_t period_ns_;
  uint64_t next_ns_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace mrelay
