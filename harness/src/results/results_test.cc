// Results document: fingerprint fields, git commit fallback, atomic write, reference keys.
#include "results/results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/process.h"

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

json sample(const std::string& forwarder, double delivered_pps, int rep, double rate = 0,
            const std::string& status = "ok") {
  return json{
      {"params",
       {{"forwarder", forwarder}, {"size", 512}, {"batch", 32}, {"fanout", 1}, {"rate_pps", rate}}},
      {"label", forwarder},
      {"rep", rep},
      {"status", status},
      {"outputs", 1},
      {"delivered_pps", delivered_pps},
      {"limited_by", json::array()}};
}

TEST(BenchResults, KernelRatioUsesTheBestKernelReferenceThatRan) {
  json samples = json::array({sample("mrelay", 300e3, 1), sample("kernel", 200e3, 1),
                              sample("kernel-nft", 250e3, 1), sample("direct", 400e3, 1)});
  add_reference_ratios(samples);
  const json& relay = samples[0];
  EXPECT_EQ(relay["kernel_reference"], "kernel-nft");
  EXPECT_DOUBLE_EQ(relay["ratio_to_kernel"].get<double>(), 300.0 / 250.0);
  EXPECT_DOUBLE_EQ(relay["ratio_to_each_kernel"]["kernel"].get<double>(), 300.0 / 200.0);
  EXPECT_DOUBLE_EQ(relay["ratio_to_direct"].get<double>(), 300.0 / 400.0);
  EXPECT_EQ(kernel_reference_label("kernel-nft"), "nft");
  EXPECT_EQ(kernel_reference_label("kernel"), "ipmr");
}

TEST(BenchResults, ASkippedKernelReferenceLeavesTheOther) {
  json samples = json::array({sample("mrelay", 300e3, 1), sample("kernel", 0, 1, 0, "skipped"),
                              sample("kernel-nft", 250e3, 1)});
  add_reference_ratios(samples);
  EXPECT_EQ(samples[0]["kernel_reference"], "kernel-nft");
  EXPECT_TRUE(samples[0]["ratio_to_each_kernel"]["kernel"].is_null());
  EXPECT_TRUE(samples[0]["ratio_to_direct"].is_null());

  json none = json::array({sample("mrelay", 300e3, 1)});
  add_reference_ratios(none);
  EXPECT_TRUE(none[0]["kernel_reference"].is_null());
  EXPECT_TRUE(none[0]["ratio_to_kernel"].is_null());
}

TEST(BenchResults, HeadroomMarksCellsWhereDirectDoesNotOutrunTheForwarder) {
  json samples = json::array({sample("mrelay", 300e3, 1), sample("kernel-nft", 100e3, 1),
                              sample("direct", 320e3, 1), sample("mrelay", 40e3, 1, 50000),
                              sample("direct", 40e3, 1, 50000)});
  const json summary = check_headroom(samples);
  EXPECT_EQ(summary["checked"], 2);  // saturation cells only; direct itself is not checked
  ASSERT_EQ(summary["rig_bound"].size(), 1u);
  EXPECT_EQ(summary["rig_bound"][0]["label"], "mrelay");
  EXPECT_EQ(samples[0]["rig_bound"], true);  // 320k < 1.1 x 300k
  EXPECT_EQ(samples[0]["limited_by"], json::array({"rig_headroom"}));
  EXPECT_EQ(samples[1]["rig_bound"], false);  // 320k >= 1.1 x 100k
  EXPECT_TRUE(samples[2]["rig_bound"].is_null());
  EXPECT_TRUE(samples[3]["rig_bound"].is_null());  // paced: the rate is the generator's
}

}  // namespace
}  // namespace mrelay::harness
