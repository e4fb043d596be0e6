// Journal priorities: "<N>" prefixes exactly when stderr is the journal's stream.
#include "common/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace mrelay {
namespace {

TEST(Log, PriorityPrefixOnlyForTheJournal) {
  EXPECT_EQ(format_log_line(LogLevel::error, "mrelay: error: x", true), "<3>mrelay: error: x");
  EXPECT_EQ(format_log_line(LogLevel::warn, "mrelay: warning: x", true), "<4>mrelay: warning: x");
  EXPECT_EQ(format_log_line(LogLevel::info, "mrelay: x", true), "<6>mrelay: x");
  EXPECT_EQ(format_log_line(LogLevel::debug, "mrelay: x", true), "<7>mrelay: x");
  EXPECT_EQ(format_log_line(LogLevel::error, "mrelay: error: x", false), "mrelay: error: x");
  EXPECT_EQ(format_log_line(LogLevel::info, "mrelay: x", false), "mrelay: x");
}

// $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected: a file stands in for it.
TEST(Log, JournalStreamMatchesTheFdItNames) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  const int fd = ::fileno(file);
  struct stat status {};
  ASSERT_EQ(::fstat(fd, &status), 0);
  const std::string same =
      std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
  const std::string other_inode =
      std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino + 1);
  EXPECT_TRUE(is_journal_stream(same.c_str(), fd));
  EXPECT_FALSE(is_journal_stream(other_inode.c_str(), fd));  // another stream: plain lines
  EXPECT_FALSE(is_journal_stream(nullptr, fd));              // not under systemd
  EXPECT_FALSE(is_journal_stream((same + "x").c_str(), fd));  // malformed
  EXPECT_FALSE(is_journal_stream("", fd));
  std::fclose(file);
}

}  // namespace
}  // namespace mrelay
