// The daemon's human log (stderr), with a level the control socket can change at run time.
//
//   mrelay::log_message(mrelay::LogLevel::warn, "SIGHUP: rules[0].input.group: ...");
//   if (auto level = mrelay::parse_log_level("debug")) { mrelay::set_log_level(*level); }
//
// Control-plane only: the data plane never logs (it counts).
//
// Under systemd, stderr is a stream to the journal ($JOURNAL_STREAM names its device:inode);
// then every line starts with its syslog priority, "<3>" error, "<4>" warning, "<6>" info,
// "<7>" debug (sd-daemon(3)), which the journal strips and keeps as the entry's PRIORITY, so
// `journalctl -p warning -u mrelay` shows what went wrong. Anywhere else the lines are plain.
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

/// Writes `line` as it is (plus a newline) to stderr, with `level`'s priority prefix when
/// stderr is the journal; no level filter. For messages with their own wording (start-up
/// errors of main(), the supervisor).
void write_log_line(LogLevel level, const std::string& line);

/// "<N>" + line when `journal`, else line: N = 3, 4, 6, 7 for error, warn, info, debug.
[[nodiscard]] std::string format_log_line(LogLevel level, const std::string& line, bool journal);

/// True when `journal_stream` ($JOURNAL_STREAM, "DEV:INODE" in decimal) names the file `fd`
/// is open on. Null, malformed or another file: false.
[[nodiscard]] bool is_journal_stream(const char* journal_stream, int fd);

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
