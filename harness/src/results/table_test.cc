// Table formatting and reference ratios over a canned results document.
#include "results/table.h"

#include <gtest/gtest.h>

#include "results/aggregate.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;

json record(const std::string& forwarder, int rep, double delivered, double loss,
            const char* status = "ok") {
  json r = {
      {"cell_id", forwarder + "/s512/b32/f1/r0"},
      {"label", forwarder + " 512B b32 f1 max"},
      {"rep", rep},
      {"status", status},
      {"params",
       {{"forwarder", forwarder}, {"size", 512}, {"batch", 32}, {"fanout", 1}, {"rate_pps", 0}}},
      {"outputs", 1},
      {"delivered_pps", delivered},
      {"loss_pct", loss},
      {"latency_ns", {{"p99", 45000}}},
      {"syscalls_per_pkt", forwarder == "mrelay" ? json(0.05) : json(nullptr)},
      {"buffer_exhaustion_pct", nullptr},
      {"relay_cpu_pct", 97.5},
      {"limited_by",
       rep == 2 ? json::array({"relay_cpu", "sink_rcvbuf"}) : json::array({"relay_cpu"})}};
  if (std::string(status) != "ok") {
    r["reason"] = "kernel forwarding is limited to 32 VIFs";
  }
  return r;
}

TEST(BenchTable, FormatsQuantitiesAndSpreads) {
  EXPECT_EQ(format_quantity(1234567, true), "1.23M");
  EXPECT_EQ(format_quantity(456789, true), "456.8k");
  EXPECT_EQ(format_quantity(999, true), "999");
  EXPECT_EQ(format_quantity(0, false), "0");
  EXPECT_EQ(format_quantity(0.0512, false), "0.0512");
  EXPECT_EQ(format_quantity(0.00123, false), "0.0012");
  EXPECT_EQ(format_spread({}, false), "n/a");
  EXPECT_EQ(format_spread({2, 2, 2}, false), "2");
  EXPECT_EQ(format_spread({3, 1, 2}, false), "2 [1–3]");
  EXPECT_EQ(format_spread({1, 2, 3, 4}, false), "2.5 [1–4]");
}

TEST(BenchTable, RatiosMatchTheSameRepetition) {
  json samples = json::array({record("mrelay", 1, 300000, 0), record("kernel", 1, 400000, 0),
                              record("direct", 1, 600000, 0), record("mrelay", 2, 330000, 0),
                              record("kernel", 2, 300000, 0)});
  add_reference_ratios(samples);
  EXPECT_DOUBLE_EQ(samples[0]["ratio_to_kernel"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(samples[0]["ratio_to_direct"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(samples[3]["ratio_to_kernel"].get<double>(), 1.1);
  // No direct in rep 2: the median over direct's repetitions.
  EXPECT_DOUBLE_EQ(samples[3]["ratio_to_direct"].get<double>(), 0.55);
  EXPECT_DOUBLE_EQ(samples[2]["ratio_to_direct"].get<double>(), 1.0);
}

TEST(BenchTable, RatiosAreNullWithoutAReference) {
  json samples = json::array({record("mrelay", 1, 300000, 0)});
  add_reference_ratios(samples);
  EXPECT_TRUE(samples[0]["ratio_to_kernel"].is_null());
  EXPECT_TRUE(samples[0]["ratio_to_direct"].is_null());
}

TEST(BenchTable, PrintsOneRowPerCellWithMedianAndRange) {
  json results = {
      {"samples",
       json::array({record("mrelay", 1, 300000, 0.0), record("mrelay", 2, 330000, 0.2),
                    record("mrelay", 3, 310000, 0.1), record("kernel", 1, 0, 0, "unsupported")})},
      {"placement", {{"forwarder_cpu", 1}}}};
  add_reference_ratios(results["samples"]);
  const std::string text = format_results_table(results, TableStyle::text);
  EXPECT_NE(text.find("delivered pps"), std::string::npos);
  EXPECT_NE(text.find("310k [300k–330k]"), std::string::npos) << text;
  EXPECT_NE(text.find("0.1 [0–0.2]"), std::string::npos) << text;
  EXPECT_NE(text.find("45"), std::string::npos);  // p99 in µs
  EXPECT_NE(text.find("unsupported: kernel forwarding"), std::string::npos) << text;
  EXPECT_NE(text.find("n/a"), std::string::npos);      // no references -> ratios n/a
  EXPECT_EQ(text.find("NDR pps"), std::string::npos);  // no NDR cells -> no column
  EXPECT_NE(text.find("relay_cpu, sink_rcvbuf 1/3"), std::string::npos) << text;

  const std::string md = format_results_table(results, TableStyle::markdown);
  EXPECT_EQ(md.rfind("| cell | n | delivered pps |", 0), 0u) << md;
  EXPECT_NE(md.find("| :--- | ---: |"), std::string::npos);
  EXPECT_NE(md.find("| ---: | :--- |\n"), std::string::npos) << md;  // limiter column last
  EXPECT_NE(md.find("| mrelay 512B b32 f1 max | 3 | 310k [300k–330k] |"), std::string::npos) << md;
}

TEST(BenchTable, FamilyAndMtuColumnsOnlyWhenTheyVary) {
  json v4 = record("mrelay", 1, 300000, 0.0);
  json v6 = record("mrelay", 1, 250000, 0.0);
  v6["cell_id"] = "mrelay/s512/b32/f1/r0/ipv6/mtu9000";
  v6["label"] = "mrelay 512B b32 f1 max v6 mtu9000";
  v6["params"]["family"] = "ipv6";
  v6["params"]["mtu"] = 9000;
  json unsupported = record("kernel", 1, 0, 0, "unsupported");
  unsupported["cell_id"] = "kernel/s512/b32/f1/r0/ipv6";
  unsupported["params"]["family"] = "ipv6";
  const json same = {{"samples", json::array({v4})}};
  EXPECT_EQ(format_results_table(same, TableStyle::markdown).rfind("| cell | n |", 0), 0u);
  const json mixed = {{"samples", json::array({v4, v6, unsupported})}};
  const std::string md = format_results_table(mixed, TableStyle::markdown);
  EXPECT_EQ(md.rfind("| cell | family | MTU | n | delivered pps |", 0), 0u) << md;
  EXPECT_NE(md.find("| mrelay 512B b32 f1 max | ipv4 | 1500 | 1 | 300k |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| mrelay 512B b32 f1 max v6 mtu9000 | ipv6 | 9000 | 1 | 250k |"),
            std::string::npos)
      << md;
  // The note of a cell without figures still starts where the figures would.
  const std::string text = format_results_table(mixed, TableStyle::text);
  EXPECT_NE(text.find("ipv6  1500  0/1  unsupported: kernel forwarding"), std::string::npos)
      << text;
}

TEST(BenchTable, LatencyComparisonColumnsOnlyWithPacedReferences) {
  const json saturation = {{"samples", json::array({record("mrelay", 1, 300000, 0.0)})}};
  EXPECT_EQ(format_results_table(saturation, TableStyle::markdown).find("p99 ×"),
            std::string::npos);
  json relay = record("mrelay", 1, 50000, 0.0);
  json nft = record("kernel-nft", 1, 50000, 0.0);
  for (json* r : {&relay, &nft}) {
    (*r)["params"]["rate_pps"] = 50000;
  }
  relay["latency_ns"] = {{"p99", 60000}, {"p999", 90000}};
  nft["latency_ns"] = {{"p99", 30000}, {"p999", 40000}};
  json paced = {{"samples", json::array({relay, nft})}};
  add_reference_ratios(paced["samples"]);
  const std::string md = format_results_table(paced, TableStyle::markdown);
  EXPECT_NE(md.find("| p99 µs | p99.9 µs | p99 × kernel |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 60 | 90 | 2 |"), std::string::npos) << md;
}

TEST(BenchTable, ScaleOutColumnsOnlyWhenSomeRelayRanSeveralWorkers) {
  const json plain = {{"samples", json::array({record("mrelay", 1, 300000, 0.0)})}};
  const std::string before = format_results_table(plain, TableStyle::markdown);
  EXPECT_EQ(before.find("worker"), std::string::npos) << before;
  json one = record("mrelay", 1, 300000, 0.0);
  one["params"]["workers"] = 1;
  one["relay_worker_rates"] = json::array({{{"worker", 0}, {"forwarded_pps", 300000}}});
  json two = record("mrelay", 1, 450000, 0.0);
  two["cell_id"] = "mrelay/s512/b32/f1/r0/w2";
  two["label"] = "mrelay(w2) 512B b32 f1 max";
  two["params"]["workers"] = 2;
  two["relay_worker_rates"] = json::array({{{"worker", 0}, {"forwarded_pps", 250000}},
                                           {{"worker", 1}, {"forwarded_pps", 200000}}});
  two["placement"] = {{"relay_workers", 2},
                      {"relay_cpus", {1, 0}},
                      {"kernel_rps_cpus_mask", "3"},
                      {"relay_workers_note", "worker 1 shares the load core (0)"}};
  json results = {{"samples", json::array({one, two})}};
  add_reference_ratios(results["samples"]);
  const std::string md = format_results_table(results, TableStyle::markdown);
  EXPECT_NE(md.find("| × 1 worker | worker pps | limited by |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1.5 | w0 250k / w1 200k | relay_cpu |"), std::string::npos) << md;
  EXPECT_NE(md.find("| n/a | - | relay_cpu |"), std::string::npos) << md;  // the 1-worker row
  EXPECT_NE(md.find("× 1 worker: a several-worker"), std::string::npos) << md;
  EXPECT_NE(md.find("scale-out placement: 2 workers on cores [1,0] (RPS mask \"3\"); worker 1 "
                    "shares the load core (0)"),
            std::string::npos)
      << md;
  // A wrapped `cell --out` record's document has no creation date (null).
  results["git_commit"] = "unknown";
  results["created"] = nullptr;
  EXPECT_NE(format_results_table(results, TableStyle::text).find("created ?"), std::string::npos);
}

}  // namespace
}  // namespace mrelay::harness
