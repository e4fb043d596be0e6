// Metric computation from canned generator, sink and relay JSON, and the /proc parsers.
#include "rig/metrics.h"

#include <gtest/gtest.h>

namespace mrelay::harness {
namespace {

using nlohmann::json;

json canned_gen(uint64_t measured_sent) {
  return json{{"program", "mrelay-gen"},
              {"sent", measured_sent + 500},
              {"errors", 0},
              {"warmup_sent", 500},
              {"measured_sent", measured_sent},
              {"measure_start_ns", 1'000'000'000},
              {"measure_end_ns", 3'000'000'000},
              {"achieved_pps", measured_sent / 2.0}};
}

json canned_sink(uint64_t received) {
  return json{{"program", "mrelay-sink"},
              {"received", received},
              {"kernel_drops", 0},
              {"lost", 0},
              {"reordered", 0},
              {"duplicated", 0},
              {"corrupted", 0},
              {"latency_ns",
               {{"count", received},
                {"min", 9000},
                {"mean", 21000},
                {"p50", 20000},
                {"p90", 30000},
                {"p99", 45000},
                {"p999", 80000},
                {"max", 120000}}}};
}

json relay_line(uint64_t rx, uint64_t fwd, uint64_t exhausted, uint64_t kernel_drops) {
  return json{{"event", "stats"},
              {"total",
               {{"rx_packets", rx},
                {"fwd_packets", fwd},
                {"tx_packets", fwd * 4},
                {"exhausted_packets", exhausted},
                {"kernel_drops", kernel_drops},
                {"syscalls", 100}}}};
}

TEST(BenchMetrics, ComputesTheDesignMetricsForAFanoutRelay) {
  CellParams params;
  params.fanout = 4;
  params.rate_pps = 100000;
  WindowObservation obs;
  obs.gen = canned_gen(200000);    // 100k pps over the 2 s generator window
  obs.sink = canned_sink(760000);  // 4 outputs: 800k expected, 5 % lost
  obs.relay_start = relay_line(1000, 1000, 0, 0);
  obs.relay_end = relay_line(201000, 191000, 10000, 0);
  obs.sample_window_s = 2.0;
  obs.cpu_seconds = {{"relay", 1.96}, {"gen", 0.5}, {"sink", 1.0}};  // 75 % of core 0
  obs.forwarder_syscalls = 19000;
  obs.context_switches = 42;
  obs.counter_path = "tracefs-id";
  const json m = compute_metrics(params, obs);
  EXPECT_DOUBLE_EQ(m["offered_pps"].get<double>(), 100000);
  EXPECT_DOUBLE_EQ(m["delivered_pps"].get<double>(), 380000);
  EXPECT_NEAR(m["loss_pct"].get<double>(), 5.0, 1e-9);
  EXPECT_EQ(m["latency_ns"]["p99"], 45000);
  EXPECT_EQ(m["latency_ns"]["p999"], 80000);
  EXPECT_NEAR(m["syscalls_per_pkt"].get<double>(), 0.1, 1e-12);       // 19000 / 190000 forwarded
  EXPECT_NEAR(m["buffer_exhaustion_pct"].get<double>(), 5.0, 1e-12);  // 10000 / 200000 rx
  EXPECT_NEAR(m["relay_cpu_pct"].get<double>(), 98.0, 1e-9);
  EXPECT_NEAR(m["cpu_pct"]["sink"].get<double>(), 50.0, 1e-9);
  EXPECT_EQ(m["relay_counters"]["fwd_packets"], 190000);
  EXPECT_EQ(m["context_switches"], 42);
  EXPECT_EQ(m["perf_counter_path"], "tracefs-id");
  const auto limited = m["limited_by"].get<std::vector<std::string>>();
  EXPECT_EQ(limited, (std::vector<std::string>{"relay_cpu", "relay_exhaustion"}));
}

TEST(BenchMetrics, ReferencesHaveNullWhereTheMetricDoesNotApply) {
  CellParams params;
  params.forwarder = Forwarder::direct;
  params.fanout = 4;  // direct is always one output, whatever the topology
  WindowObservation obs;
  obs.gen = canned_gen(100000);
  obs.sink = canned_sink(100000);
  obs.sample_window_s = 2.0;
  obs.cpu_seconds = {{"gen", 1.99}, {"sink", 0.4}};
  const json m = compute_metrics(params, obs);
  EXPECT_DOUBLE_EQ(m["loss_pct"].get<double>(), 0);
  EXPECT_TRUE(m["relay_cpu_pct"].is_null());
  EXPECT_TRUE(m["syscalls_per_pkt"].is_null());
  EXPECT_TRUE(m["buffer_exhaustion_pct"].is_null());
  EXPECT_EQ(m["limited_by"], json::array({"generator_cpu"}));
  obs.cpu_seconds = {{"gen", 1.5}, {"sink", 0.5}};  // each below saturation, together 100 %
  EXPECT_EQ(compute_metrics(params, obs)["limited_by"], json::array({"load_core_cpu"}));

  params.forwarder = Forwarder::kernel;
  params.fanout = 1;
  obs.kernel_core_busy_s = 2.0;    // the whole core busy ...
  obs.kernel_core_kernel_s = 0.5;  // ... but only a quarter of it forwarding in the kernel
  obs.forwarder_syscalls.reset();
  obs.cpu_seconds["gen"] = 0.2;
  const json k = compute_metrics(params, obs);
  EXPECT_NEAR(k["relay_cpu_pct"].get<double>(), 100.0, 1e-9);
  EXPECT_NEAR(k["cpu_pct"]["relay_core_kernel"].get<double>(), 25.0, 1e-9);
  EXPECT_EQ(k["limited_by"], json::array());  // busy with someone else's user time
  EXPECT_TRUE(k["syscalls_per_pkt"].is_null());

  params.forwarder = Forwarder::socat;
  // socat: counted against the sink's count (100k over the 2 s generator window, 50k pps),
  // scaled to the 1.5 s sample window the syscalls were counted in: 75k packets.
  obs.forwarder_syscalls = 150000;
  obs.sample_window_s = 1.5;
  obs.cpu_seconds["relay"] = 1.0;
  const json s = compute_metrics(params, obs);
  EXPECT_NEAR(s["syscalls_per_pkt"].get<double>(), 2.0, 1e-12);
}

TEST(BenchMetrics, NamesReceiveBufferAndGeneratorLimits) {
  CellParams params;
  params.rate_pps = 200000;
  WindowObservation obs;
  obs.gen = canned_gen(300000);  // 150k pps: short of the 200k asked
  obs.sink = canned_sink(290000);
  obs.sink["kernel_drops"] = 10000;
  obs.relay_start = relay_line(0, 0, 0, 0);
  obs.relay_end = relay_line(300000, 300000, 0, 7);
  obs.snmp_delta["relay"] = {{"RcvbufErrors", 3}};
  obs.sample_window_s = 2.0;
  const auto limited = compute_metrics(params, obs)["limited_by"].get<std::vector<std::string>>();
  EXPECT_EQ(limited, (std::vector<std::string>{"sink_rcvbuf", "relay_rcvbuf", "generator_rate"}));
}

TEST(BenchMetrics, ParsesProcFiles) {
  const std::string snmp =
      "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
      "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors "
      "IgnoredMulti MemErrors\n"
      "Udp: 1500 2 7 1400 5 1 0 0 0\n"
      "UdpLite: InDatagrams\nUdpLite: 0\n";
  auto udp = parse_snmp_udp(snmp);
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->at("InDatagrams"), 1500);
  EXPECT_EQ(udp->at("RcvbufErrors"), 5);
  EXPECT_EQ(udp->at("SndbufErrors"), 1);
  EXPECT_FALSE(parse_snmp_udp("Ip: a\nIp: 1\n"));
  // IPv6 cells: snmp6's Udp6 counters add to the same names; UdpLite6 stays out.
  add_snmp6_udp("Ip6InReceives 9\nUdp6InDatagrams 300\nUdp6RcvbufErrors 2\n"
                "UdpLite6InDatagrams 1000\n",
                *udp);
  EXPECT_EQ(udp->at("InDatagrams"), 1800);
  EXPECT_EQ(udp->at("RcvbufErrors"), 7);
  EXPECT_EQ(udp->count("Lite6InDatagrams"), 0u);

  // comm with spaces and a ')' must not shift the fields.
  const std::string stat =
      "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 1";
  auto ticks = parse_proc_stat_ticks(stat);
  ASSERT_TRUE(ticks);
  EXPECT_EQ(*ticks, 325u);

  const std::string proc_stat =
      "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\n"
      "cpu1 30 1 9 50 10 2 8 0 0 0\nintr 0\n";
  auto core = parse_core_ticks(proc_stat, 1);
  ASSERT_TRUE(core);
  EXPECT_EQ(core->busy, 50u);    // 30+1+9+2+8: idle and iowait excluded
  EXPECT_EQ(core->kernel, 19u);  // system 9 + irq 2 + softirq 8
  EXPECT_EQ(core->total, 110u);
  EXPECT_FALSE(parse_core_ticks(proc_stat, 7));
  EXPECT_EQ(core->idle, 60u);  // idle 50 + iowait 10: what ns_per_copy subtracts from wall time
  EXPECT_EQ(core->user, 31u);  // user 30 + nice 1
  EXPECT_EQ(*parse_proc_stat_user_ticks(stat), 250u);
  EXPECT_FALSE(parse_proc_stat_user_ticks("1234 (x) S 1"));
}

TEST(BenchMetrics, ForwardingWorkLeavesOutOtherProcessesUserTime) {
  // A 2 s window, the core idle 0.4 s; 0.9 s of user time on it, 0.3 s of it the relay's:
  // 2 - 0.4 - 0.9 + 0.3 = 1.0 s of forwarding work (a build's 0.6 s of user time left out).
  EXPECT_NEAR(forwarding_work_s(2.0, 0.4, 0.9, 0.3), 1.0, 1e-12);
  // Kernel forwarding: no process; every user tick on the core is someone else's.
  EXPECT_NEAR(forwarding_work_s(2.0, 1.5, 0.2, 0.0), 0.3, 1e-12);
  // Tick samples can make the user share exceed what is left: never below zero.
  EXPECT_EQ(forwarding_work_s(2.0, 1.9, 0.2, 0.0), 0.0);
}

TEST(BenchMetrics, NsPerCopyIsCoreWorkOverCopiesDelivered) {
  // 0.5 s of work over a 2 s window while 250k copies/s arrived: 1000 ns per copy.
  EXPECT_NEAR(*ns_per_copy(0.5, 2.0, 250e3), 1000.0, 1e-9);
  EXPECT_FALSE(ns_per_copy(std::nullopt, 2.0, 250e3));
  EXPECT_FALSE(ns_per_copy(0.5, 0, 250e3));
  EXPECT_FALSE(ns_per_copy(0.5, 2.0, 0));

  // Fanout 4 at 100k pps: 4 x 100k copies/s delivered (no loss). The core worked 1.6 s of a
  // 2 s window: 0.8 of a core for 400k copies/s, 2 us per copy; the relay process's threads
  // ran 1.2 s of it, 1.5 us per copy.
  CellParams params;
  params.fanout = 4;
  params.rate_pps = 100000;
  WindowObservation obs;
  obs.gen = canned_gen(200000);
  obs.sink = canned_sink(800000);
  obs.sample_window_s = 2.0;
  obs.forwarder_core_work_s = 1.6;
  obs.forwarder_runtime_s = 1.2;
  const json m = compute_metrics(params, obs);
  EXPECT_NEAR(m["ns_per_copy"].get<double>(), 2000.0, 1e-9);
  EXPECT_NEAR(m["relay_ns_per_copy"].get<double>(), 1500.0, 1e-9);

  // direct: the core's work is the sink's receive work; no process forwards.
  params.forwarder = Forwarder::direct;
  obs.sink = canned_sink(200000);
  obs.forwarder_core_work_s = 0.2;
  const json d = compute_metrics(params, obs);
  EXPECT_NEAR(d["ns_per_copy"].get<double>(), 1000.0, 1e-9);
  EXPECT_TRUE(d["relay_ns_per_copy"].is_null());
  obs.forwarder_core_work_s.reset();
  EXPECT_TRUE(compute_metrics(params, obs)["ns_per_copy"].is_null());
}

TEST(BenchMetrics, ParsesStatsLinesAndDeltas) {
  const std::string out =
      "{\"event\":\"stats\",\"total\":{\"rx_packets\":10,\"fwd_packets\":9}}\n"
      "not json\n"
      "{\"event\":\"other\"}\n"
      "{\"event\":\"stats\",\"total\":{\"rx_packets\":110,\"fwd_packets\":99}}\n";
  const auto lines = parse_stats_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  const json d = counter_deltas(lines[0], lines[1]);
  EXPECT_EQ(d["rx_packets"], 100);
  EXPECT_EQ(d["fwd_packets"], 90);
}

TEST(BenchMetrics, SyscallsPerPacketUsesEachCountersOwnWindow) {
  // The relay answered the window's SIGUSR1s late, so its lines span 2.5 s (time_ns) while the
  // bench counted syscalls over 2.0 s: 10k syscalls/s over 100k forwarded packets/s.
  CellParams params;
  params.rate_pps = 0;
  WindowObservation obs;
  obs.gen = canned_gen(300000);
  obs.sink = canned_sink(250000);
  obs.relay_start = relay_line(0, 0, 0, 0);
  obs.relay_end = relay_line(250000, 250000, 0, 0);
  (*obs.relay_start)["time_ns"] = 1'000'000'000;
  (*obs.relay_end)["time_ns"] = 3'500'000'000;
  obs.sample_window_s = 2.0;
  obs.forwarder_syscalls = 20000;
  const json m = compute_metrics(params, obs);
  EXPECT_DOUBLE_EQ(m["relay_window_s"].get<double>(), 2.5);
  EXPECT_NEAR(m["syscalls_per_pkt"].get<double>(), 0.1, 1e-12);
  // Without time_ns: the plain quotient over the packets of the lines (0.08).
  obs.relay_start->erase("time_ns");
  obs.relay_end->erase("time_ns");
  const json plain = compute_metrics(params, obs);
  EXPECT_TRUE(plain["relay_window_s"].is_null());
  EXPECT_NEAR(plain["syscalls_per_pkt"].get<double>(), 0.08, 1e-12);
}

// Two workers' stats-line entries at the window's edges: each worker's deltas over the lines'
// window, and shares of the relay's forwarded packets that add up to 1.
json worker_line(uint64_t time_ns, uint64_t fwd0, uint64_t fwd1, uint64_t fanout) {
  json line = relay_line(fwd0 + fwd1, fwd0 + fwd1, 0, 0);
  line["time_ns"] = time_ns;
  line["workers"] = json::array({{{"worker", 0}, {"cpu", 1}, {"fwd_packets", fwd0},
                                  {"tx_packets", fwd0 * fanout}},
                                 {{"worker", 1}, {"cpu", 0}, {"fwd_packets", fwd1},
                                  {"tx_packets", fwd1 * fanout}}});
  return line;
}

TEST(BenchMetrics, PerWorkerRatesAreEachWorkersDeltaOverTheRelaysWindow) {
  const json rates = worker_rates(worker_line(1'000'000'000, 100, 50, 2),
                                  worker_line(3'000'000'000, 60'100, 20'050, 2), 2.0);
  ASSERT_TRUE(rates.is_array());
  ASSERT_EQ(rates.size(), 2u);
  EXPECT_EQ(rates[0]["worker"], 0);
  EXPECT_EQ(rates[0]["cpu"], 1);
  EXPECT_DOUBLE_EQ(rates[0]["forwarded"].get<double>(), 60'000);
  EXPECT_DOUBLE_EQ(rates[0]["forwarded_pps"].get<double>(), 30'000);
  EXPECT_DOUBLE_EQ(rates[0]["copies_pps"].get<double>(), 60'000);
  EXPECT_DOUBLE_EQ(rates[1]["forwarded_pps"].get<double>(), 10'000);
  EXPECT_DOUBLE_EQ(rates[0]["share"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(rates[1]["share"].get<double>(), 0.25);
}

TEST(BenchMetrics, PerWorkerRatesSumToTheRelaysForwardedRate) {
  WindowObservation obs;
  obs.gen = canned_gen(80'000);
  obs.sink = canned_sink(80'000);
  obs.relay_start = worker_line(1'000'000'000, 7, 3, 1);
  obs.relay_end = worker_line(3'000'000'000, 50'007, 30'003, 1);
  CellParams params;
  params.workers = 2;
  params.streams = 2;
  const json m = compute_metrics(params, obs);
  ASSERT_TRUE(m["relay_worker_rates"].is_array());
  double sum = 0;
  for (const json& worker : m["relay_worker_rates"]) {
    sum += worker["forwarded_pps"].get<double>();
  }
  EXPECT_DOUBLE_EQ(sum, m["relay_counters"]["fwd_packets"].get<double>() /
                            m["relay_window_s"].get<double>());
}

TEST(BenchMetrics, PerWorkerRatesAreNullWithoutWorkersOrWindow) {
  EXPECT_TRUE(worker_rates(relay_line(0, 0, 0, 0), relay_line(10, 10, 0, 0), 2.0).is_null());
  EXPECT_TRUE(worker_rates(worker_line(1, 0, 0, 1), worker_line(2, 5, 5, 1), 0).is_null());
  const json idle = worker_rates(worker_line(1, 4, 4, 1), worker_line(2, 4, 4, 1), 1.0);
  EXPECT_TRUE(idle[0]["share"].is_null());  // no packets: no share, not 0/0
}

}  // namespace
}  // namespace mrelay::harness
