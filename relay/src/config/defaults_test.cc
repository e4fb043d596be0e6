// The defaults are stated once (mrelay/config.h); the sample config and the documents repeat
// some of them for readers. These tests fail when a copy disagrees with the constant.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "mrelay/config.h"

namespace mrelay {
namespace {

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(MRELAY_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Defaults, SampleConfigUsesTheDaemonsDefaults) {
  const std::string text = source_file("dist/mrelay.json");
  ASSERT_FALSE(text.empty()) << "dist/mrelay.json not found";
  auto config = parse_config_json(text);
  ASSERT_TRUE(config.has_value()) << config.error().to_string();
  const Config defaults;
  EXPECT_EQ(to_string(config->egress.backend), to_string(kDefaultEgressBackend));
  EXPECT_EQ(config->egress.queue_depth, kDefaultQueueDepth);
  EXPECT_EQ(config->egress.batch, kDefaultEgressBatch);
  EXPECT_EQ(config->egress.sndbuf, kDefaultSndbuf);
  EXPECT_EQ(config->rcvbuf, kDefaultRcvbuf);
  EXPECT_EQ(config->pool_buffers, kDefaultPoolBuffers);
  EXPECT_EQ(config->workers, kDefaultWorkers);
  EXPECT_EQ(to_string(config->ingress), to_string(defaults.ingress));
}

TEST(Defaults, StructsTakeTheConstants) {
  const Config config;
  EXPECT_EQ(config.egress.backend, kDefaultEgressBackend);
  EXPECT_EQ(config.egress.queue_depth, kDefaultQueueDepth);
  EXPECT_EQ(config.egress.batch, kDefaultEgressBatch);
  EXPECT_EQ(config.rcvbuf, kDefaultRcvbuf);
  EXPECT_EQ(egress_backend_name(kDefaultEgressBackend), to_string(kDefaultEgressBackend));
}

// Every place a document calls a backend "the default" ("`gso` (default)", "default `gso`
// egress", "--egress gso (the default)") must name the constant's backend.
TEST(Defaults, DocumentsNameTheDefaultBackend) {
  const std::regex claim(
      R"((?:default `?(send|sendmmsg|uring|packet|gso)`? egress)|)"
      R"((?:`(send|sendmmsg|uring|packet|gso)`(?: egress)? \(default\))|)"
      R"((?:--egress (send|sendmmsg|uring|packet|gso)`?,? \(?the default))");
  const std::string expected(egress_backend_name(kDefaultEgressBackend));
  int claims = 0;
  for (const char* doc : {"README.md", "docs/architecture.md", "docs/architecture-relay.md",
                          "docs/operations.md", "docs/gate.md"}) {
    const std::string text = source_file(doc);
    ASSERT_FALSE(text.empty()) << doc << " not found";
    for (auto it = std::sregex_iterator(text.begin(), text.end(), claim);
         it != std::sregex_iterator(); ++it) {
      std::string named;
      for (size_t group = 1; group < it->size(); ++group) {
        named += (*it)[group].str();
      }
      EXPECT_EQ(named, expected) << doc << ": \"" << it->str() << "\"";
      ++claims;
    }
  }
  // The documents do say it (at the time of writing, 7 times): a regex that stopped matching
  // would otherwise pass vacuously.
  EXPECT_GE(claims, 4);
}

}  // namespace
}  // namespace mrelay
