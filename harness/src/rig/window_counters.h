// Counters of the forwarder process over the measuring window, for mrelay-bench: syscalls
// entered (perf tracepoint raw_syscalls:sys_enter) and context switches, on every thread of
// the process, through the harness perf library (perf_counters.h: libpfm4, tracefs-id
// fallback). Records which path encoded the events and every event's reading.
//
//   auto counters = WindowCounters::attach(relay_pid);     // after the relay has started
//   if (counters) { counters->start(); sleep(window); auto r = counters->read(); }
//   r.syscalls, r.context_switches, r.path ("tracefs-id", or why unavailable)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/error.h"
#include "reference/perf_counters.h"

namespace mrelay::harness {

class WindowCounters {
 public:
  struct Reading {
    std::optional<uint64_t> syscalls;
    std::optional<uint64_t> context_switches;
    std::string path;  // how syscalls were counted ("libpfm4", "tracefs-id") or why not
    // Every event (task-clock, cycles, instructions ...): {"value": n, "source": ...} or
    // {"unsupported": reason}.
    std::map<std::string, std::string> unsupported;
    std::map<std::string, uint64_t> values;
  };

  /// Opens the counters on every thread of `pid` (threads that start later are not counted:
  /// attach once the process has started its workers). Fails when perf_event_open is not
  /// permitted or the tracepoint id cannot be found; the error names the step.
  [[nodiscard]] static Result<WindowCounters> attach(pid_t pid);

  /// Resets and enables the counters (the window's start).
  void start();
  /// Sums over threads, scaled by time_enabled / time_running when multiplexed.
  [[nodiscard]] Reading read() const;

  WindowCounters(WindowCounters&&) noexcept;
  WindowCounters& operator=(WindowCounters&&) noexcept;
  ~WindowCounters();

 private:
  explicit WindowCounters(std::unique_ptr<PerfCounters> counters);
  std::unique_ptr<PerfCounters> counters_;
};

}  // namespace mrelay::harness
