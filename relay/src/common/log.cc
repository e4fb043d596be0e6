// The daemon's human log; see log.h.
#include "common/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

namespace mrelay {
namespace {

// info by default: start-up, reloads and rule changes are worth a line each.
std::atomic<LogLevel> g_level{LogLevel::info};

// Decided once: stderr does not change under a running daemon.
bool stderr_is_journal() {
  static const bool journal = is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  return journal;
}

char syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::error:
      return '3';
    case LogLevel::warn:
      return '4';
    case LogLevel::info:
      return '6';
    case LogLevel::debug:
      return '7';
  }
  return '6';
}

}  // namespace

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) {
    return false;
  }
  uintmax_t device = 0;
  uintmax_t inode = 0;
  int consumed = 0;
  if (std::sscanf(journal_stream, "%ju:%ju%n", &device, &inode, &consumed) != 2 ||
      journal_stream[consumed] != '\0') {
    return false;
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    return false;
  }
  return static_cast<uintmax_t>(status.st_dev) == device &&
         static_cast<uintmax_t>(status.st_ino) == inode;
}

std::string format_log_line(LogLevel level, const std::string& line, bool journal) {
  if (!journal) {
    return line;
  }
  return std::string{'<', syslog_priority(level), '>'} + line;
}

void write_log_line(LogLevel level, const std::string& line) {
  const std::string text = format_log_line(level, line, stderr_is_journal()) + "\n";
  std::fputs(text.c_str(), stderr);
}

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
  write_log_line(level, std::string("mrelay: ") + prefix + text);
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
