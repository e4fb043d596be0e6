// Results document: fingerprint fields, git commit fallback, atomic write, reference keys.
#include "mrelay_harness/bench_results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "mrelay_harness/process.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

TEST(BenchResults, FingerprintDescribesTheMachine) {
  const json machine = machine_fingerprint();
  EXPECT_GT(machine["cores_online"].get<long>(), 0);
  EXPECT_FALSE(machine["kernel"].get<std::string>().empty());
  EXPECT_GT(machine["memory_kib"].get<uint64_t>(), 0u);
  EXPECT_TRUE(machine.contains("cpu_model"));
  EXPECT_FALSE(machine["virtualization"].get<std::string>().empty());
  EXPECT_TRUE(machine["pmu_present"].is_boolean());
}

TEST(BenchResults, GitCommitIsUnknownOutsideARepository) {
  EXPECT_EQ(git_commit("/nonexistent-dir-for-mrelay-test"), "unknown");
}

TEST(BenchResults, DocumentHoldsSpecPlacementAndEmptySamples) {
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

TEST(BenchResults, WritesJsonAtomicallyCreatingDirectories) {
  const std::string dir = "/tmp/mrelay-results-test-" + std::to_string(::getpid());
  const std::string path = dir + "/runs/out.json";
  ASSERT_TRUE(write_json_file(path, json{{"a", 1}}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(json::parse(*read_text_file(path))["a"], 1);
  std::filesystem::remove_all(dir);
}

TEST(BenchResults, ReferenceKeyIgnoresTheForwarder) {
  const json a = {{"params",
                   {{"forwarder", "mrelay"},
                    {"size", 512},
                    {"batch", 32},
                    {"fanout", 4},
                    {"rate_pps", 50000.0}}}};
  json b = a;
  b["params"]["forwarder"] = "kernel";
  EXPECT_EQ(reference_key(a), "s512/b32/f4/r50000");
  EXPECT_EQ(reference_key(a), reference_key(b));
  b["params"]["rate_pps"] = "ndr";
  EXPECT_EQ(reference_key(b), "s512/b32/f4/rndr");
}

}  // namespace
}  // namespace mrelay::harness
