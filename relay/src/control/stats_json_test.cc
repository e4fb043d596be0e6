// The stats line is a contract with the rig: one line, fixed header keys, every counter in
// "total" and in each worker, totals equal to the sum of workers.
#include "control/stats_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace mrelay {
namespace {

TEST(StatsJson, OneLineWithEveryCounterAndCorrectTotals) {
  std::vector<WorkerStats> workers(2);
  workers[0].worker = 0;
  workers[0].cpu = 1;
  workers[0].counters.rx_packets = 10;
  workers[0].counters.kernel_drops = 3;
  workers[1].worker = 1;
  workers[1].cpu = -1;
  workers[1].counters.rx_packets = 5;
  workers[1].counters.tx_bytes = 18446744073709551615ull;  // full uint64 range survives
  StatsHeader header;
  header.event = "final";
  header.time_ns = 123456789012345;
  header.uptime_s = 1.5;
  header.ingress = IngressMode::udp;
  header.egress = EgressBackend::sendmmsg;
  header.queue_depth = 1024;
  header.batch = 64;
  header.sndbuf = 4194304;

  const std::string line = format_stats_json(header, workers);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("{\"event\":\"final\",\"time_ns\":123456789012345,", 0), 0u) << line;

  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["event"], "final");
  EXPECT_EQ(json["time_ns"].get<uint64_t>(), 123456789012345u);
  EXPECT_DOUBLE_EQ(json["uptime_s"].get<double>(), 1.5);
  EXPECT_EQ(json["ingress"], "udp");
  EXPECT_EQ(json["egress"], "sendmmsg");
  EXPECT_EQ(json["queue_depth"], 1024);
  EXPECT_EQ(json["batch"], 64);
  EXPECT_EQ(json["sndbuf"], 4194304);
  ASSERT_EQ(json["workers"].size(), 2u);
  EXPECT_EQ(json["workers"][0]["worker"], 0);
  EXPECT_EQ(json["workers"][0]["cpu"], 1);
  EXPECT_EQ(json["workers"][1]["cpu"], -1);

  size_t counters = 0;
  for_each_counter(WorkerCounters{}, [&](std::string_view name, uint64_t, std::string_view) {
    const std::string key(name);
    ++counters;
    ASSERT_TRUE(json["total"].contains(key)) << key;
    ASSERT_TRUE(json["workers"][0].contains(key)) << key;
    EXPECT_EQ(json["total"][key].get<uint64_t>(),
              json["workers"][0][key].get<uint64_t>() + json["workers"][1][key].get<uint64_t>())
        << key;
  });
  EXPECT_EQ(json["total"].size(), counters);  // nothing extra
  EXPECT_EQ(json["total"]["rx_packets"], 15);
  EXPECT_EQ(json["total"]["kernel_drops"], 3);
  EXPECT_EQ(json["total"]["tx_bytes"].get<uint64_t>(), 18446744073709551615ull);
}

TEST(StatsJson, SnapshotCopiesEveryField) {
  WorkerCounters live{};
  uint64_t value = 1;
  // Give each field a distinct value through the X-macro, then compare field by field.
#define MRELAY_SET(name, help) live.name = value++;
  MRELAY_WORKER_COUNTERS(MRELAY_SET)
#undef MRELAY_SET
  const WorkerCounters copy = snapshot_counters(live);
#define MRELAY_CHECK(name, help) EXPECT_EQ(copy.name, live.name) << #name;
  MRELAY_WORKER_COUNTERS(MRELAY_CHECK)
#undef MRELAY_CHECK
}

}  // namespace
}  // namespace mrelay
