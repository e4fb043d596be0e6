// The stats line: ONE line of JSON per emission, parsed by the rig (a contract).
//
//   {"event":"stats","time_ns":123,"uptime_s":1.5,"ingress":"packet","egress":"gso",
//    "queue_depth":1024,"batch":64,"sndbuf":4194304,"total":{"rx_packets":10,...},
//    "workers":[{"worker":0,"cpu":1,"rx_packets":10,...}],"process":{"control_peer_refused":0,...}}
//
//   auto counters = mrelay::snapshot_counters(worker.counters());  // from another thread
//   std::puts(mrelay::format_stats_json(header, workers).c_str());
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mrelay/config.h"
#include "mrelay/counters.h"

namespace mrelay {

struct StatsHeader {
  std::string_view event = "stats";  // "stats" | "final"
  uint64_t time_ns = 0;              // CLOCK_MONOTONIC
  double uptime_s = 0;
  IngressMode ingress = IngressMode::packet;
  EgressBackend egress = kDefaultEgressBackend;  // the backend in use (after any fallback)
  uint32_t queue_depth = kDefaultQueueDepth;
  uint32_t batch = kDefaultEgressBatch;
  uint32_t sndbuf = kDefaultSndbuf;
};

struct WorkerStats {
  uint32_t worker = 0;
  int cpu = -1;  // -1 when not pinned
  WorkerCounters counters;
};

/// The line, without a trailing newline. Counter keys in counters.h order. With `process`,
/// the line ends with "process":{...} (the process counters, counters.h).
[[nodiscard]] std::string format_stats_json(const StatsHeader& header,
                                            std::span<const WorkerStats> workers,
                                            const ProcessCounters* process = nullptr);

/// Reads every field of counters another thread is updating with relaxed atomic loads (each
/// field is consistent; the set is not one instant, which a rate reader does not need).
[[nodiscard]] WorkerCounters snapshot_counters(const WorkerCounters& live) noexcept;

}  // namespace mrelay
