// The daemon's human log; see log.h.
#include "common/log.h"

#include <atomic>
#include <cstdio>

namespace mrelay {
namespace {

// info by default: start-up, reloads and rule changes are worth a line each.
std::atomic<LogLevel> g_level{LogLevel::info};

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::error:
      return "error";
    case LogLevel::warn:
      return "warn";
    case LogLevel::info:
      return "info";
    case LogLevel::debug:
      return "debug";
  }
  return "unknown";
}

Result<LogLevel> parse_log_level(std::string_view text, const std::string& where) {
  for (LogLevel level : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug}) {
    if (text == to_string(level)) {
      return level;
    }
  }
  // Built with append: GCC 12 gives a false -Wrestrict on "'" + std::string(...).
  std::string message = "'";
  message.append(text).append("' is not one of error, warn, info, debug");
  return fail(where, std::move(message));
}

void set_log_level(LogLevel level) noexcept {
  g_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() noexcept {
  return g_level.load(std::memory_order_relaxed);
}

void log_message(LogLevel level, const std::string& text) {
  if (static_cast<uint8_t>(level) > static_cast<uint8_t>(log_level())) {
    return;
  }
  const char* prefix = level == LogLevel::error  ? "error: "
                       : level == LogLevel::warn ? "warning: "
                                                 : "";
  std::fprintf(stderr, "mrelay: %s%s\n", prefix, text.c_str());
}

void RateLimitedLog::log(uint64_t now_ns, LogLevel level, const std::string& text) {
  if (now_ns < next_ns_) {
    ++suppressed_;
    return;
  }
  next_ns_ = now_ns + period_ns_;
  if (suppressed_ == 0) {
    log_message(level, text);
    return;
  }
  log_message(level, text + " (" + std::to_string(suppressed_) + " more like it suppressed)");
  suppressed_ = 0;
}

}  // namespace mrelay
