// Capability probes and what a missing capability does to a cell (capabilities.h).
//
//   ./mrelay_harness_test --gtest_filter='Capabilit*'
#include "reference/capabilities.h"

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
        capability::kPmu, capability::kSocat, capability::kIp6mr}) {
    const Capability* c = caps.find(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_FALSE(c->detail.empty()) << name;
    EXPECT_FALSE(c->title.empty()) << name;
    if (!c->present) {
      EXPECT_FALSE(c->without.empty()) << name;
    }
  }
}

TEST(Capabilities, TheRelayProbeRunsOnlyWhenARelayIsNamedAndSaysWhy) {
  EXPECT_EQ(probe_capabilities().find(capability::kMrelayPacketIpv6), nullptr);
  // A relay that cannot even start: absent, with what the probe saw.
  const Capabilities caps = probe_capabilities("nft", "socat", "/nonexistent/mrelay");
  const Capability* c = caps.find(capability::kMrelayPacketIpv6);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->present);
  EXPECT_FALSE(c->detail.empty());
  EXPECT_FALSE(c->without.empty());
}

}  // namespace
}  // namespace mrelay::harness
