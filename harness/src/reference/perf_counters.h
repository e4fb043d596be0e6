// perf_event_open counters on another process (the relay under test): syscalls entered
// (tracepoint raw_syscalls:sys_enter), context switches, task clock, and cycles/instructions
// where the machine has a PMU. Events are encoded with libpfm4; an event the machine cannot
// count is reported as unsupported with the reason, never as an error.
//
//   auto counters = mrelay::harness::PerfCounters::attach(relay_pid);
//   if (!counters) { ... counters.error().to_string() ... }
//   counters->start();                       // reset + enable
//   ... measuring window ...
//   for (const auto& r : counters->read()) { if (r.supported) use(r.name, r.value); }
//   counters->stop();
//
// Threads: one counter per event per thread listed in /proc/PID/task at attach time, each
// opened with inherit=1, so threads those threads create later are folded into their
// creator's counter (perf sums inherited children into the parent's read). Inherit on the
// main thread alone would miss threads already running at attach, hence one fd per thread.
// A thread that exits keeps its counts in its fd until we close it.
//
// Kernel-level events are counted (exclude_kernel=0): a tracepoint fires in the kernel, so
// excluding it would read zero.
//
// Tracepoints: libpfm4 finds them only under a mounted debugfs (/sys/kernel/debug/tracing).
// When it cannot encode raw_syscalls:sys_enter, the id is read from tracefs instead
// (/sys/kernel/tracing or /sys/kernel/debug/tracing). If no tracefs is mounted at all, a
// short-lived child process mounts one in a private mount namespace (unshare(CLONE_NEWNS),
// needs CAP_SYS_ADMIN) just to read the id; the host's mounts are never changed. The path
// used is recorded per event in PerfReading::source ("libpfm4" or "tracefs-id").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"

namespace mrelay::harness {

/// Names of the events attach() opens, in this order.
inline constexpr std::string_view kSyscallsEvent = "raw_syscalls:sys_enter";
inline constexpr std::string_view kContextSwitchesEvent = "context-switches";
inline constexpr std::string_view kTaskClockEvent = "task-clock";  // ns of CPU time
inline constexpr std::string_view kCyclesEvent = "cycles";
inline constexpr std::string_view kInstructionsEvent = "instructions";

struct PerfReading {
  std::string name;
  bool supported = false;
  std::string source;              // "libpfm4" or "tracefs-id" (how the event was encoded)
  std::string unsupported_reason;  // why not, when !supported
  uint64_t value = 0;              // summed over threads, scaled when multiplexed
  uint64_t raw_value = 0;          // summed over threads, unscaled
  uint64_t time_enabled_ns = 0;    // longest over threads
  uint64_t time_running_ns = 0;    // longest over threads
  size_t threads = 0;              // counters opened (one per thread at attach)
};

class PerfCounters {
 public:
  /// Opens every event on every thread of pid, disabled. Errors: the process does not exist,
  /// or perf_event_open is not permitted at all (EACCES/EPERM: see
  /// kernel.perf_event_paranoid). Events the machine lacks are unsupported, not errors.
  [[nodiscard]] static Result<PerfCounters> attach(pid_t pid);

  PerfCounters(PerfCounters&& other) noexcept;
  PerfCounters& operator=(PerfCounters&& other) noexcept;
  PerfCounters(const PerfCounters&) = delete;
  PerfCounters& operator=(const PerfCounters&) = delete;
  ~PerfCounters();

  /// Resets and enables every counter.
  [[nodiscard]] Result<void> start();
  /// Snapshot of every event (supported or not), in the order of the k*Event names.
  [[nodiscard]] std::vector<PerfReading> read() const;
  /// Disables every counter; read() still returns the final values.
  [[nodiscard]] Result<void> stop();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] size_t threads() const { return threads_; }

 private:
  struct Event {
    PerfReading info;
    std::vector<int> fds;
  };
  PerfCounters() = default;
  void close_all() noexcept;

  pid_t pid_ = 0;
  size_t threads_ = 0;
  std::vector<Event> events_;
};

/// The tracefs id of tracepoint "category:event" (e.g. "raw_syscalls:sys_enter"), from a
/// mounted tracefs or, failing that, a private mount in a child process. Errors name the
/// files tried.
[[nodiscard]] Result<uint64_t> tracepoint_id(std::string_view tracepoint);

}  // namespace mrelay::harness
