// What /proc says about a process the rig started and about its network namespace, read
// without spawning anything (so it can be sampled mid-window).
//
//   if (group_joined(relay_pid, "239.1.1.1")) { ... }           // /proc/PID/net/igmp
//   std::optional<SnmpUdp> udp = namespace_snmp(anchor_pid);     // /proc/PID/net/snmp
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "rig/metrics.h"

namespace mrelay::harness {

/// True while `pid` (a child of ours) has not exited; reaps nothing.
[[nodiscard]] bool process_alive(pid_t pid);

/// utime + stime of the process, clock ticks.
[[nodiscard]] std::optional<uint64_t> process_ticks(pid_t pid);

/// utime of the process (every thread), clock ticks.
[[nodiscard]] std::optional<uint64_t> process_user_ticks(pid_t pid);

/// CPU time every thread of the process has run, ns (/proc/PID/task/*/schedstat, first field:
/// the scheduler's exact sum_exec_runtime, not tick samples).
[[nodiscard]] std::optional<uint64_t> process_runtime_ns(pid_t pid);

/// Voluntary + involuntary switches of every thread: the fallback when perf is unavailable.
[[nodiscard]] std::optional<uint64_t> proc_context_switches(pid_t pid);

/// The UDP counters of the process's network namespace: /proc/PID/net/snmp shows the same as
/// `ip netns exec NS cat /proc/net/snmp`.
[[nodiscard]] std::optional<SnmpUdp> namespace_snmp(pid_t pid);

/// True once the process's namespace has joined `group` (IGMP membership).
[[nodiscard]] bool group_joined(pid_t pid, const char* group);

/// Number of multicast VIFs installed in the process's namespace (/proc/PID/net/ip_mr_vif).
[[nodiscard]] size_t installed_vifs(pid_t pid);

}  // namespace mrelay::harness
