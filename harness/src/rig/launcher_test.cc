// Which cells a machine can run (rig/launcher.h): each forwarder is skipped only for what it
// needs.
//
//   ./mrelay_harness_test --gtest_filter='Launcher*'
#include "rig/launcher.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

// A probed machine, in the form results files record it (machine.capabilities).
Capabilities with(std::initializer_list<std::pair<std::string_view, bool>> present) {
  nlohmann::json probed = nlohmann::json::object();
  for (const auto& [name, yes] : present) {
    probed[std::string(name)] = {{"present", yes},
                                 {"title", std::string(name) + " title"},
                                 {"detail", yes ? "works" : "not in this kernel (CONFIG_X)"}};
  }
  return Capabilities::from_json(probed);
}

CellParams cell(Forwarder forwarder, std::string egress = "gso", std::string qdisc = "") {
  CellParams params;
  params.forwarder = forwarder;
  params.egress = std::move(egress);
  params.egress_qdisc = std::move(qdisc);
  return params;
}

TEST(Launcher, EachForwarderIsSkippedOnlyForWhatItNeeds) {
  const Capabilities caps = with({{capability::kIpmr, false},
                                  {capability::kNftDup, true},
                                  {capability::kSocat, false},
                                  {capability::kIoUring, false},
                                  {capability::kTbf, true},
                                  {capability::kNetem, false}});
  auto kernel = unavailable_reason(cell(Forwarder::kernel), caps);
  ASSERT_TRUE(kernel);
  EXPECT_EQ(*kernel, "ipmr title: not in this kernel (CONFIG_X)");
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::kernel_nft), caps));
  EXPECT_TRUE(unavailable_reason(cell(Forwarder::socat), caps));
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::mrelay, "gso"), caps));
  EXPECT_TRUE(unavailable_reason(cell(Forwarder::mrelay, "uring"), caps));
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::direct), caps));
  // The egress qdisc is needed by every forwarder, direct included (the rig installs it).
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::mrelay, "gso", "tbf rate 100mbit"), caps));
  EXPECT_TRUE(unavailable_reason(cell(Forwarder::direct, "gso", "netem delay 1ms"), caps));
  // A qdisc the probes do not know is left to tc.
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::mrelay, "gso", "htb"), caps));
}

TEST(Launcher, XdpIngressNeedsAfXdp) {
  CellParams xdp = cell(Forwarder::mrelay);
  xdp.ingress = "xdp";
  CellParams packet = cell(Forwarder::mrelay);
  packet.ingress = "packet";
  const Capabilities without = with({{capability::kAfXdp, false}});
  auto reason = unavailable_reason(xdp, without);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "af_xdp title: not in this kernel (CONFIG_X)");
  EXPECT_FALSE(unavailable_reason(packet, without));  // the other ingresses still run
  EXPECT_FALSE(unavailable_reason(xdp, with({{capability::kAfXdp, true}})));
}

TEST(Launcher, NotProbedMeansTryIt) {
  const Capabilities none;
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::kernel), none));
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::mrelay, "uring", "netem delay 1ms"), none));
}

}  // namespace
}  // namespace mrelay::harness
