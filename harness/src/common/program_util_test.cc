// Pieces shared by mrelay-gen/-sink/-perfstat: GROUP:PORT endpoints, errno names. (Flags:
// relay/src/cli/cli_test.cc.)
//
//   build-harness/harness/mrelay_harness_test --gtest_filter='GenSinkUtil*'
#include "common/program_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

namespace mrelay::harness {
namespace {

struct GroupCase {
  const char* text;
  bool ok;
  const char* group;
  uint16_t port;
};

TEST(GenSinkUtil, ParsesGroupPort) {
  const GroupCase cases[] = {
      {"239.1.1.1:5000", true, "239.1.1.1", 5000},
      {"224.0.0.251:5353", true, "224.0.0.251", 5353},
      {"239.255.255.255:65535", true, "239.255.255.255", 65535},
      {"10.0.0.1:5000", false, "", 0},  // unicast
      {"239.1.1.1", false, "", 0},      // no port
      {"239.1.1.1:0", false, "", 0},
      {"239.1.1.1:65536", false, "", 0},
      {"239.1.1.1:50x", false, "", 0},
      {"239.1.1:5000", false, "", 0},
      {":5000", false, "", 0},
  };
  for (const GroupCase& c : cases) {
    auto parsed = parse_group_port("--group", c.text);
    ASSERT_EQ(static_cast<bool>(parsed), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(parsed->group_text(), c.group);
      EXPECT_EQ(parsed->port, c.port);
    } else {
      EXPECT_EQ(parsed.error().where, "--group") << c.text;
    }
  }
}

TEST(GenSinkUtil, ErrnoNames) {
  EXPECT_EQ(errno_name(ENOBUFS), "ENOBUFS");
  EXPECT_EQ(errno_name(EAGAIN), "EAGAIN");
  EXPECT_EQ(errno_name(4095), "E4095");
}

}  // namespace
}  // namespace mrelay::harness
