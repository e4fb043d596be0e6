// The tester's flags per cell (rig/environment.h): which generator and sink the fast tester
// gets, and when it falls back.
//
//   ./mrelay_harness_test --gtest_filter='Environment*'
#include "rig/environment.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

using Flags = std::vector<std::string>;

TEST(Environment, FastTesterFlagsFollowSizeAndCapability) {
  RigEnvironment env;  // not probed: UDP GSO assumed
  CellParams params;
  EXPECT_EQ(tester_generator_args(params, env), Flags{});  // full tester
  EXPECT_EQ(tester_sink_args(params), Flags{});
  EXPECT_EQ(tester_netns_args(params), Flags{});
  params.tester = Tester::fast;
  EXPECT_EQ(tester_sink_args(params), Flags{"--count-only"});
  EXPECT_EQ(tester_netns_args(params), (Flags{"--source-tx-udp-segmentation", "off"}));
  params.size = 512;
  EXPECT_EQ(tester_generator_args(params, env), (Flags{"--gso", "64"}));
  params.size = 1400;  // 64 x 1400 B is more than one IPv4 datagram: 46 fit
  EXPECT_EQ(tester_generator_args(params, env), (Flags{"--gso", "46"}));
  params.size = 1473;  // a segment would not fit the 1500-byte MTU
  EXPECT_EQ(tester_generator_args(params, env), Flags{});
  params.size = 512;
  env.capabilities = Capabilities::from_json(
      {{"udp_gso", {{"present", false}, {"title", "UDP GSO"}, {"detail", "refused"}}}});
  EXPECT_EQ(tester_generator_args(params, env), Flags{});  // the kernel has no UDP GSO
}

TEST(Environment, LinkFlagsAndGsoRunsFollowFamilyAndMtu) {
  RigEnvironment env;
  CellParams params;
  // IPv4 at the kernel's MTU: only the segmentation model, software by default.
  EXPECT_EQ(link_netns_args(params), (Flags{"--relay-tx-udp-segmentation", "off"}));
  params.segmentation = Segmentation::device;
  EXPECT_EQ(link_netns_args(params), Flags{});
  params.family = Family::ipv6;
  params.mtu = 9000;
  EXPECT_EQ(link_netns_args(params), (Flags{"--family", "ipv6", "--mtu", "9000"}));
  params.tester = Tester::fast;
  params.size = 8952;  // fits one IPv6 packet at MTU 9000; 7 fit one GSO run
  EXPECT_EQ(tester_generator_args(params, env), (Flags{"--gso", "7"}));
  params.size = 8953;
  EXPECT_EQ(tester_generator_args(params, env), Flags{});
  params.mtu = 0;
  params.size = 1453;  // over 1500 - 48
  EXPECT_EQ(tester_generator_args(params, env), Flags{});
  params.size = 1452;
  EXPECT_EQ(tester_generator_args(params, env), (Flags{"--gso", "45"}));  // 65527 / 1452
}

}  // namespace
}  // namespace mrelay::harness
