// Aggregation over a results document's samples (results/aggregate.h): reference keys,
// ratios to direct and to the best kernel reference, the headroom check, the median.
//
//   ./mrelay_harness_test --gtest_filter='Aggregate*'
#include "results/aggregate.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

using nlohmann::json;

TEST(Aggregate, MedianOfOddEvenAndEmpty) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0);
}

TEST(Aggregate, ReferenceKeyIgnoresTheForwarder) {
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

TEST(Aggregate, KernelRatioUsesTheBestKernelReferenceThatRan) {
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

TEST(Aggregate, ASkippedKernelReferenceLeavesTheOther) {
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

TEST(Aggregate, HeadroomMarksCellsWhereDirectDoesNotOutrunTheForwarder) {
  json samples = json::array({sample("mrelay", 300e3, 1), sample("kernel-nft", 100e3, 1),
                              sample("direct", 320e3, 1), sample("mrelay", 40e3, 1, 50000),
                              sample("direct", 40e3, 1, 50000), sample("socat", 220e3, 1)});
  const json summary = check_headroom(samples);
  EXPECT_EQ(summary["margin"], 1.5);
  EXPECT_EQ(summary["checked"], 3);  // saturation cells only; direct itself is not checked
  ASSERT_EQ(summary["rig_bound"].size(), 2u);
  EXPECT_EQ(summary["rig_bound"][0]["label"], "mrelay");
  EXPECT_EQ(samples[0]["rig_bound"], true);  // 320k < 1.5 x 300k
  EXPECT_EQ(samples[0]["limited_by"], json::array({"rig_headroom"}));
  EXPECT_EQ(samples[1]["rig_bound"], false);  // 320k >= 1.5 x 100k
  EXPECT_TRUE(samples[2]["rig_bound"].is_null());
  EXPECT_TRUE(samples[3]["rig_bound"].is_null());  // paced: the rate is the generator's
  EXPECT_EQ(samples[5]["rig_bound"], true);  // 320k >= 1.1 x 220k but < 1.5 x 220k
}

TEST(Aggregate, AForwarderIsComparedWithDirectUnderTheSameTester) {
  json fast_relay = sample("mrelay", 300e3, 1);
  fast_relay["params"]["tester"] = "fast";
  json fast_direct = sample("direct", 600e3, 1);
  fast_direct["params"]["tester"] = "fast";
  json full_direct = sample("direct", 310e3, 1);
  full_direct["params"]["tester"] = "full";
  json samples = json::array({fast_relay, full_direct, fast_direct, sample("mrelay", 300e3, 1)});
  EXPECT_EQ(reference_key(samples[0]), "s512/b32/f1/r0/fast");
  EXPECT_EQ(reference_key(samples[1]), reference_key(samples[3]));  // "full" = no tester
  add_reference_ratios(samples);
  EXPECT_DOUBLE_EQ(samples[0]["ratio_to_direct"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(samples[3]["ratio_to_direct"].get<double>(), 300.0 / 310.0);
  (void)check_headroom(samples);
  EXPECT_EQ(samples[0]["rig_bound"], false);  // 600k >= 1.5 x 300k
  EXPECT_EQ(samples[3]["rig_bound"], true);
}

TEST(Aggregate, AForwarderIsComparedWithReferencesOfItsFamilyAndMtu) {
  json relay6 = sample("mrelay", 300e3, 1);
  relay6["params"]["family"] = "ipv6";
  json direct6 = sample("direct", 600e3, 1);
  direct6["params"]["family"] = "ipv6";
  json jumbo_direct = sample("direct", 100e3, 1);
  jumbo_direct["params"]["mtu"] = 9000;
  // The IPv4 direct at 1500 comes last: it must not stand in for the others.
  json samples = json::array({relay6, direct6, jumbo_direct, sample("direct", 400e3, 1),
                              sample("mrelay", 200e3, 1)});
  EXPECT_EQ(reference_key(samples[0]), reference_key(samples[1]));
  EXPECT_NE(reference_key(samples[0]), reference_key(samples[3]));
  EXPECT_NE(reference_key(samples[2]), reference_key(samples[3]));
  EXPECT_EQ(reference_key(samples[3]), reference_key(sample("direct", 1, 1)));  // as before
  const json ratios = reference_ratios(samples);
  EXPECT_DOUBLE_EQ(ratios[0]["ratio_to_direct"].get<double>(), 0.5);  // 300k / IPv6's 600k
  EXPECT_DOUBLE_EQ(ratios[4]["ratio_to_direct"].get<double>(), 0.5);  // 200k / IPv4's 400k
}

TEST(Aggregate, RatiosWithoutChangingTheSamples) {
  const json samples = json::array(
      {sample("mrelay", 300e3, 1), sample("direct", 400e3, 1), json{{"label", "no params"}}});
  const json ratios = reference_ratios(samples);
  ASSERT_EQ(ratios.size(), 3u);
  EXPECT_DOUBLE_EQ(ratios[0]["ratio_to_direct"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(ratios[1]["ratio_to_direct"].get<double>(), 1.0);
  EXPECT_TRUE(ratios[2].is_null());
  EXPECT_FALSE(samples[0].contains("ratio_to_direct"));
}

TEST(Aggregate, AReferenceRunsOwnRepetitionElseItsMedian) {
  json samples = json::array({sample("mrelay", 300e3, 2), sample("direct", 400e3, 1),
                              sample("direct", 500e3, 3), sample("direct", 600e3, 2),
                              sample("mrelay", 300e3, 4)});
  add_reference_ratios(samples);
  EXPECT_DOUBLE_EQ(samples[0]["ratio_to_direct"].get<double>(), 300.0 / 600.0);  // rep 2
  EXPECT_DOUBLE_EQ(samples[4]["ratio_to_direct"].get<double>(), 300.0 / 500.0);  // median
}

// A paced record with its p99 (ns).
json paced(const std::string& forwarder, double p99_ns, int rep) {
  json record = sample(forwarder, 50e3, rep, 50e3);
  record["latency_ns"] = {{"p99", p99_ns}, {"p999", 2 * p99_ns}};
  return record;
}

TEST(Aggregate, P99RatioIsToTheKernelReferenceWithTheLowestP99) {
  json samples = json::array({paced("mrelay", 60e3, 1), paced("kernel", 40e3, 1),
                              paced("kernel-nft", 30e3, 1), sample("mrelay", 300e3, 1)});
  add_reference_ratios(samples);
  EXPECT_EQ(samples[0]["kernel_latency_reference"], "kernel-nft");
  EXPECT_DOUBLE_EQ(samples[0]["p99_ratio_to_kernel"].get<double>(), 60.0 / 30.0);
  // Saturation records (rate 0) have no latency comparison: their p99 is an overloaded path's.
  EXPECT_TRUE(samples[3]["p99_ratio_to_kernel"].is_null());
  // No kernel reference at the rate: null, not a ratio to something else.
  json alone = json::array({paced("mrelay", 60e3, 1)});
  add_reference_ratios(alone);
  EXPECT_TRUE(alone[0]["p99_ratio_to_kernel"].is_null());
}

TEST(Aggregate, BestNdrIsTheHighestMedianAmongTheForwarders) {
  auto ndr = [](const std::string& forwarder, double pps, int rep) {
    json record = sample(forwarder, pps, rep);
    record["params"]["rate_pps"] = "ndr";
    record["ndr_pps"] = pps;
    return record;
  };
  const json samples = json::array({ndr("kernel", 100e3, 1), ndr("kernel", 300e3, 2),
                                    ndr("kernel", 120e3, 3), ndr("kernel-nft", 200e3, 1),
                                    ndr("mrelay", 900e3, 1)});
  const auto best = best_ndr(samples, {"kernel", "kernel-nft"}, "s512/b32/f1/rndr");
  ASSERT_TRUE(best);
  EXPECT_EQ(best->first, "kernel-nft");  // 200k beats kernel's median 120k, not its 300k
  EXPECT_DOUBLE_EQ(best->second, 200e3);
  EXPECT_FALSE(best_ndr(samples, {"kernel"}, "s512/b32/f1/r0"));  // another point
  EXPECT_FALSE(best_ndr(samples, {"socat"}, "s512/b32/f1/rndr"));
}

// An mrelay record of `workers` workers, its relay's forwarded pps per worker.
json worker_sample(uint32_t workers, double delivered_pps, int rep,
                   const std::vector<double>& worker_pps) {
  json record = sample("mrelay", delivered_pps, rep);
  record["params"].update({{"workers", workers}, {"ingress", "packet"}, {"egress", "gso"},
                           {"queue_depth", 1024}, {"sndbuf", 4194304}, {"streams", 4}});
  json rates = json::array();
  for (size_t w = 0; w < worker_pps.size(); ++w) {
    rates.push_back({{"worker", w}, {"cpu", 1 - static_cast<int>(w)},
                     {"forwarded_pps", worker_pps[w]}});
  }
  record["relay_worker_rates"] = rates;
  return record;
}

TEST(Aggregate, ScaleOutRatioIsTheOneWorkerCellsOfTheSameSettings) {
  json samples = json::array({worker_sample(1, 300e3, 1, {300e3}),
                              worker_sample(2, 450e3, 1, {250e3, 200e3}),
                              worker_sample(1, 320e3, 2, {320e3}),
                              worker_sample(2, 480e3, 2, {260e3, 220e3}),
                              worker_sample(2, 500e3, 3, {270e3, 230e3})});
  json other_backend = worker_sample(2, 100e3, 1, {50e3, 50e3});
  other_backend["params"]["egress"] = "sendmmsg";  // no 1-worker sendmmsg cell ran
  samples.push_back(other_backend);
  add_reference_ratios(samples);
  EXPECT_FALSE(samples[0].contains("ratio_to_one_worker"));  // only several-worker records
  EXPECT_DOUBLE_EQ(samples[1]["ratio_to_one_worker"].get<double>(), 450.0 / 300.0);
  EXPECT_DOUBLE_EQ(samples[3]["ratio_to_one_worker"].get<double>(), 480.0 / 320.0);
  // Rep 3 of the 1-worker cell did not run: the median of its repetitions (310k).
  EXPECT_DOUBLE_EQ(samples[4]["ratio_to_one_worker"].get<double>(), 500.0 / 310.0);
  EXPECT_TRUE(samples[5]["ratio_to_one_worker"].is_null());
  EXPECT_NE(one_worker_key(samples[1]), one_worker_key(samples[5]));
  EXPECT_EQ(one_worker_key(samples[0]), one_worker_key(samples[1]));
}

TEST(Aggregate, WorkerRateMediansAreWorkerByWorkerOverTheOkRuns) {
  const json runs[] = {worker_sample(2, 0, 1, {100, 10}), worker_sample(2, 0, 2, {300, 30}),
                       worker_sample(2, 0, 3, {200, 20}), worker_sample(2, 0, 4, {9e9, 9e9})};
  json failed = runs[3];
  failed["status"] = "error";
  const std::vector<const json*> records = {&runs[0], &runs[1], &runs[2], &failed};
  const std::vector<double> medians = worker_rate_medians(records);
  ASSERT_EQ(medians.size(), 2u);
  EXPECT_DOUBLE_EQ(medians[0], 200);
  EXPECT_DOUBLE_EQ(medians[1], 20);
  EXPECT_TRUE(worker_rate_medians({&failed}).empty());
}

}  // namespace
}  // namespace mrelay::harness
