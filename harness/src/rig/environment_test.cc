// The tester's flags per cell (rig/environment.h): which generator and sink the fast tester
// gets, and when it falls back; where a relay's workers run.
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

using Cores = std::vector<int>;

// Worker i on the i-th forwarder core; the load core only when every other core has one.
TEST(Environment, WorkersTakeTheForwarderCoresThenShareTheLoadCore) {
  RigEnvironment env;  // relay_cpu 1, load_cpu 0
  env.cores_online = 2;
  EXPECT_EQ(relay_worker_cpus(env, 1), Cores{1});
  EXPECT_EQ(relay_worker_cpus(env, 2), (Cores{1, 0}));
  EXPECT_EQ(relay_worker_cpus(env, 3), (Cores{1, 0, 1}));
  env.cores_online = 4;
  EXPECT_EQ(relay_worker_cpus(env, 2), (Cores{1, 2}));
  EXPECT_EQ(relay_worker_cpus(env, 4), (Cores{1, 2, 3, 0}));
  env.cores_online = 1;
  env.relay_cpu = 0;
  EXPECT_EQ(relay_worker_cpus(env, 2), (Cores{0, 0}));
}

TEST(Environment, ACellsPlacementNamesItsWorkersCoresAndTheSharedOne) {
  RigEnvironment env;
  env.cores_online = 2;
  CellParams params;
  params.workers = 2;
  const auto placement = cell_placement_json(env, params);
  EXPECT_EQ(placement["relay_workers"], 2);
  EXPECT_EQ(placement["relay_cpus"], nlohmann::json::array({1, 0}));
  EXPECT_EQ(placement["kernel_rps_cpus_mask"], "3");  // the ingress softirq over both cores
  EXPECT_EQ(placement["relay_workers_note"].get<std::string>().rfind("worker 1 shares", 0), 0u);
  EXPECT_EQ(ingress_rps_mask(params, env), "3");
  params.workers = 1;
  EXPECT_FALSE(cell_placement_json(env, params).contains("relay_workers_note"));
  EXPECT_EQ(cell_placement_json(env, params)["kernel_rps_cpus_mask"], "2");
  params.forwarder = Forwarder::direct;
  params.workers = 2;  // not an mrelay knob: direct keeps the forwarder core alone
  EXPECT_EQ(ingress_rps_mask(params, env), "2");
  EXPECT_FALSE(cell_placement_json(env, params).contains("relay_cpus"));
}

}  // namespace
}  // namespace mrelay::harness
