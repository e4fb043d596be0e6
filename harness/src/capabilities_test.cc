// Capability probes and what a missing capability does to a cell (capabilities.h).
//
//   ./mrelay_harness_test --gtest_filter='Capabilit*'
#include "mrelay_harness/capabilities.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

using nlohmann::json;

Capabilities with(std::initializer_list<std::pair<std::string_view, bool>> present) {
  Capabilities caps;
  for (const auto& [name, yes] : present) {
    caps.items.push_back(Capability{std::string(name), std::string(name) + " title", yes,
                                    yes ? "works" : "not in this kernel (CONFIG_X)",
                                    "what is lost"});
  }
  return caps;
}

CellParams cell(Forwarder forwarder, std::string egress = "gso", std::string qdisc = "") {
  CellParams params;
  params.forwarder = forwarder;
  params.egress = std::move(egress);
  params.egress_qdisc = std::move(qdisc);
  return params;
}

TEST(Capabilities, EachForwarderIsSkippedOnlyForWhatItNeeds) {
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

TEST(Capabilities, NotProbedMeansTryIt) {
  const Capabilities none;
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::kernel), none));
  EXPECT_FALSE(unavailable_reason(cell(Forwarder::mrelay, "uring", "netem delay 1ms"), none));
}

TEST(Capabilities, JsonRoundTripAndReports) {
  const Capabilities caps = with({{capability::kIpmr, false}, {capability::kTbf, true}});
  const json j = caps.to_json();
  EXPECT_EQ(j["ipmr"]["present"], false);
  EXPECT_EQ(j["tbf"]["detail"], "works");
  const Capabilities back = Capabilities::from_json(j);
  EXPECT_FALSE(back.has(capability::kIpmr));
  EXPECT_TRUE(back.has(capability::kTbf));
  EXPECT_FALSE(back.has(capability::kNetem));  // unknown = not present
  EXPECT_EQ(caps.missing_report(), "ipmr title: not in this kernel (CONFIG_X); what is lost\n");
  EXPECT_NE(caps.full_report().find("tbf"), std::string::npos);
}

TEST(Capabilities, ProbeReportsEveryCapabilityWithADetail) {
  // Runs the real probes: each one must answer (present or not, and why), whatever the kernel.
  const Capabilities caps = probe_capabilities();
  for (std::string_view name :
       {capability::kIpmr, capability::kNftDup, capability::kTbf, capability::kNetem,
        capability::kRps, capability::kIoUring, capability::kUdpGso, capability::kTracepoints,
        capability::kPmu, capability::kSocat}) {
    const Capability* c = caps.find(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_FALSE(c->detail.empty()) << name;
    EXPECT_FALSE(c->title.empty()) << name;
    if (!c->present) {
      EXPECT_FALSE(c->without.empty()) << name;
    }
  }
}

}  // namespace
}  // namespace mrelay::harness
