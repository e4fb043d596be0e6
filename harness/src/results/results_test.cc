// Results document: fingerprint fields, git commit fallback, atomic write.
#include "results/results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/process.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

TEST(ResultsDocument, FingerprintDescribesTheMachine) {
  const json machine = machine_fingerprint();
  EXPECT_GT(machine["cores_online"].get<long>(), 0);
  EXPECT_FALSE(machine["kernel"].get<std::string>().empty());
  EXPECT_GT(machine["memory_kib"].get<uint64_t>(), 0u);
  EXPECT_TRUE(machine.contains("cpu_model"));
  EXPECT_FALSE(machine["virtualization"].get<std::string>().empty());
  EXPECT_TRUE(machine["pmu_present"].is_boolean());
}

TEST(ResultsDocument, GitCommitIsUnknownOutsideARepository) {
  EXPECT_EQ(git_commit("/nonexistent-dir-for-mrelay-test"), "unknown");
}

TEST(ResultsDocument, DocumentHoldsSpecPlacementAndEmptySamples) {
  const json spec = {{"forwarders", {"direct"}}};
  const json doc =
      new_results_document(spec, "/nonexistent-dir-for-mrelay-test", json{{"forwarder_cpu", 1}});
  EXPECT_EQ(doc["format"], "mrelay-bench-results/1");
  EXPECT_EQ(doc["spec"], spec);
  EXPECT_EQ(doc["git_commit"], "unknown");
  EXPECT_EQ(doc["placement"]["forwarder_cpu"], 1);
  EXPECT_TRUE(doc["samples"].is_array() && doc["samples"].empty());
  EXPECT_EQ(doc["created"].get<std::string>().size(), 20u);  // 2026-11-22T04:05:06Z
}

TEST(ResultsDocument, WritesJsonAtomicallyCreatingDirectories) {
  const std::string dir = "/tmp/mrelay-results-test-" + std::to_string(::getpid());
  const std::string path = dir + "/runs/out.json";
  ASSERT_TRUE(write_json_file(path, json{{"a", 1}}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(json::parse(*read_text_file(path))["a"], 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mrelay::harness
