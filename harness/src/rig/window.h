// The edges of a cell's measuring window: what the rig samples there (CPU ticks by role, the
// forwarder core's busy, kernel, idle and user ticks, each host's UDP counters, the
// forwarder's context switches and exact run time) and the differences that become the
// observation. The samples are read through the hosts the roles run on (rig/host_window.h).
//
//   WindowSample start = sample_hosts(targets);
//   ... sleep for the window ...
//   WindowSample end = sample_hosts(targets);
//   add_window_deltas(start, end, observation);   // cpu_seconds, core, snmp_delta, switches
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "rig/metrics.h"

namespace mrelay::harness {

struct WindowSample {
  std::chrono::steady_clock::time_point when;
  std::map<std::string, uint64_t> ticks;  // role -> utime+stime
  std::optional<CoreTicks> relay_core;
  std::map<std::string, SnmpUdp> snmp;  // role -> counters
  std::optional<uint64_t> proc_switches;
  std::optional<uint64_t> relay_runtime_ns;  // the "relay" role's threads, exact
  std::optional<uint64_t> relay_user_ticks;  // the "relay" role's utime
};

/// Fills cpu_seconds, kernel_core_busy_s / kernel_core_kernel_s / forwarder_core_work_s and
/// snmp_delta from the two edges, and context_switches from /proc when perf gave none.
void add_window_deltas(const WindowSample& start, const WindowSample& end,
                       WindowObservation& observation);

}  // namespace mrelay::harness
