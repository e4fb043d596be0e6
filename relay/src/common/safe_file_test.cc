// replace_file / read_regular_file: a planted symlink is never followed (the target stays
// untouched), non-regular files are refused, a replace is whole, and no temporary is left.
#include "common/safe_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace mrelay {
namespace {

class SafeFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/mrelay-safe-file-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  std::string path(const char* name) const { return dir_ + "/" + name; }
  static std::string content(const std::string& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Entries of the directory (a failed or finished replace leaves no temporary behind).
  int entries() const {
    int count = 0;
    DIR* dir = ::opendir(dir_.c_str());
    while (const dirent* entry = ::readdir(dir)) {
      count += entry->d_name[0] != '.';
    }
    ::closedir(dir);
    return count;
  }
  std::string dir_;
};

TEST_F(SafeFile, ReplacesWholeWithTheMode) {
  std::ofstream(path("state.json")) << "old";
  ASSERT_TRUE(replace_file(path("state.json"), "new text\n", 0640, "--state-file"));
  EXPECT_EQ(content(path("state.json")), "new text\n");
  struct stat info {};
  ASSERT_EQ(::lstat(path("state.json").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
  ASSERT_TRUE(replace_file(path("fresh.json"), "x", 0644, "--stats-json"));
  EXPECT_EQ(content(path("fresh.json")), "x");
  EXPECT_EQ(entries(), 2);
}

TEST_F(SafeFile, SymlinkAtThePathIsRefusedAndItsTargetUntouched) {
  std::ofstream(path("victim")) << "precious";
  ASSERT_EQ(::symlink(path("victim").c_str(), path("final.json").c_str()), 0);
  auto refused = replace_file(path("final.json"), "stats", 0644, "--stats-json x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().where, "--stats-json x");
  EXPECT_NE(refused.error().message.find("symbolic link"), std::string::npos);
  EXPECT_EQ(content(path("victim")), "precious");
  struct stat info {};
  ASSERT_EQ(::lstat(path("final.json").c_str(), &info), 0);
  EXPECT_TRUE(S_ISLNK(info.st_mode)) << "the link itself must not be replaced either";
  EXPECT_EQ(entries(), 2);
}

TEST_F(SafeFile, LinksBesideThePathAreNeverOpened) {
  // The old fixed temporary name, and a few guesses at new ones: all links to the victim.
  std::ofstream(path("victim")) << "precious";
  for (const char* name : {"state.json.tmp", "state.json.XXXXXX", "state.json.000000"}) {
    ASSERT_EQ(::symlink(path("victim").c_str(), path(name).c_str()), 0);
  }
  ASSERT_TRUE(replace_file(path("state.json"), "rules", 0640, "--state-file"));
  EXPECT_EQ(content(path("victim")), "precious");
  EXPECT_EQ(content(path("state.json")), "rules");
}

TEST_F(SafeFile, OtherNonRegularFilesAreRefused) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_FALSE(replace_file(path("fifo"), "x", 0644, "w"));
  ASSERT_EQ(::mkdir(path("dir").c_str(), 0700), 0);
  EXPECT_FALSE(replace_file(path("dir"), "x", 0644, "w"));
  EXPECT_FALSE(replace_file(path("no-such-dir/file"), "x", 0644, "w"));
}

TEST_F(SafeFile, ReadingNeverFollowsALink) {
  std::ofstream(path("victim")) << "secret";
  ASSERT_EQ(::symlink(path("victim").c_str(), path("state.json").c_str()), 0);
  auto refused = read_regular_file(path("state.json"), "state file", 1024);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("symbolic link"), std::string::npos);
  std::ofstream(path("real")) << "text";
  auto text = read_regular_file(path("real"), "state file", 1024);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "text");
  EXPECT_FALSE(read_regular_file(path("real"), "state file", 2));  // over the limit
}

}  // namespace
}  // namespace mrelay
