// The edges of a cell's measuring window: what the rig samples there (CPU ticks by role, the
// forwarder core's busy and kernel ticks, each namespace's UDP counters, the forwarder's
// context switches) and the differences that become the observation.
//
//   SampleTargets targets{{{"gen", gen_pid}, {"sink", sink_pid}}, {{"src", anchor}}, 1, relay};
//   WindowSample start = take_window_sample(targets);
//   ... sleep for the window ...
//   WindowSample end = take_window_sample(targets);
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

/// What to sample: processes by role, namespace anchors by role, the forwarder's core, and
/// the process whose context switches are counted from /proc (-1: none).
struct SampleTargets {
  std::map<std::string, pid_t> cpu;   // "gen", "sink", "relay"
  std::map<std::string, pid_t> snmp;  // "src", "relay", "sink": an idle process in each
  int relay_cpu = 0;
  pid_t switches = -1;
};

struct WindowSample {
  std::chrono::steady_clock::time_point when;
  std::map<std::string, uint64_t> ticks;  // role -> utime+stime
  std::optional<CoreTicks> relay_core;
  std::map<std::string, SnmpUdp> snmp;  // role -> counters
  std::optional<uint64_t> proc_switches;
  std::optional<uint64_t> relay_runtime_ns;  // the "relay" role's threads, exact
  std::optional<uint64_t> relay_user_ticks;  // the "relay" role's utime
};

/// Reads every target now (no process is spawned: /proc only).
[[nodiscard]] WindowSample take_window_sample(const SampleTargets& targets);

/// Fills cpu_seconds, kernel_core_busy_s / kernel_core_kernel_s / forwarder_core_work_s and
/// snmp_delta from the two edges, and context_switches from /proc when perf gave none.
void add_window_deltas(const WindowSample& start, const WindowSample& end,
                       WindowObservation& observation);

}  // namespace mrelay::harness
