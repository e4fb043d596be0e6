// Pieces shared by mrelay-gen/-sink/-perfstat: GROUP:PORT endpoints, errno names. (Flags:
// relay/src/cli/cli_test.cc.)
//
//   build-harness/harness/mrelay_harness_test --gtest_filter='GenSinkUtil*'
#include "common/program_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <utility>
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

TEST(GenSinkUtil, ParsesIpv6GroupPortInBrackets) {
  auto parsed = parse_group_port("--group", "[ff3e::1]:5000");
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  EXPECT_TRUE(parsed->ipv6());
  EXPECT_EQ(parsed->group_text(), "ff3e::1");
  EXPECT_EQ(parsed->port, 5000);
  EXPECT_EQ(parsed->text(), "[ff3e::1]:5000");
  sockaddr_storage address{};
  EXPECT_EQ(parsed->to_sockaddr(address), sizeof(sockaddr_in6));
  EXPECT_EQ(address.ss_family, AF_INET6);
  EXPECT_EQ(parse_group_port("--group", "239.1.1.1:5000")->text(), "239.1.1.1:5000");
  EXPECT_FALSE(parse_group_port("--group", "239.1.1.1:5000").value() ==
               parse_group_port("--group", "[ff3e::1]:5000").value());
}

TEST(GenSinkUtil, Ipv6GroupErrorsNameTheFlagAndThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"ff3e::1:5000", "brackets"},                 // IPv6 without brackets
      {"[ff3e::1]5000", "expected GROUP:PORT"},     // no colon after the bracket
      {"[ff3e::1", "expected GROUP:PORT"},          // unclosed
      {"[fd77::1]:5000", "not a multicast group (ff00::/8)"},
      {"[239.1.1.1]:5000", "not an IPv6 address"},
      {"[ff3e::zz]:5000", "not an IPv6 address"},
      {"[ff3e::1]:0", "port '0'"},
      {"[ff3e::1]:", "port ''"},
  };
  for (const auto& [text, says] : cases) {
    auto parsed = parse_group_port("--group", text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().where, "--group") << text;
    EXPECT_NE(parsed.error().message.find(says), std::string::npos)
        << text << ": " << parsed.error().message;
  }
}

TEST(GenSinkUtil, ParsesSourceAddresses) {
  EXPECT_EQ(parse_ip_address("--source", "10.77.0.1")->family, AF_INET);
  EXPECT_EQ(parse_ip_address("--source", "fd77::1")->family, AF_INET6);
  EXPECT_EQ(parse_ip_address("--source", "[fd77::1]")->text(), "fd77::1");
  for (const char* bad : {"239.1.1.1", "ff3e::1", "::", "0.0.0.0", "host", ""}) {
    auto parsed = parse_ip_address("--source", bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().where, "--source");
  }
}

TEST(GenSinkUtil, GroupsOfOneFamilyOnly) {
  std::vector<GroupPort> groups{parse_group_port("--group", "[ff3e::1]:5000").value(),
                                parse_group_port("--group", "[ff3e::2]:5000").value()};
  EXPECT_EQ(common_family("--group", groups).value(), AF_INET6);
  groups.push_back(parse_group_port("--group", "239.1.1.1:5000").value());
  auto mixed = common_family("--group", groups);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().where, "--group");
  EXPECT_NE(mixed.error().message.find("mixed"), std::string::npos);
}

TEST(GenSinkUtil, ErrnoNames) {
  EXPECT_EQ(errno_name(ENOBUFS), "ENOBUFS");
  EXPECT_EQ(errno_name(EAGAIN), "EAGAIN");
  EXPECT_EQ(errno_name(4095), "E4095");
}

}  // namespace
}  // namespace mrelay::harness
