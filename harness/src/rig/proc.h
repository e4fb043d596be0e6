// What /proc says about a process the rig started and about its network namespace, read
// without spawning anything (so it can be sampled mid-window).
//
//   if (igmp_lists_group(igmp_text, "239.1.1.1")) { ... }      // a /proc/PID/net/igmp text
//   std::optional<uint64_t> ns = process_runtime_ns(relay_pid);  // /proc/PID/task/*/schedstat
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "rig/metrics.h"

namespace mrelay::harness {

/// True while `pid` (a child of ours) has not exited; reaps nothing.
[[nodiscard]] bool process_alive(pid_t pid);

/// CPU time every thread of the process has run, ns (/proc/PID/task/*/schedstat, first field:
/// the scheduler's exact sum_exec_runtime, not tick samples).
[[nodiscard]] std::optional<uint64_t> process_runtime_ns(pid_t pid);

/// Sum of the voluntary_ and nonvoluntary_ctxt_switches lines of /proc/PID/task/*/status
/// texts (one or several, concatenated).
[[nodiscard]] uint64_t sum_context_switches(const std::string& status_texts);

/// Voluntary + involuntary switches of every thread: the fallback when perf is unavailable.
[[nodiscard]] std::optional<uint64_t> proc_context_switches(pid_t pid);

/// True when a /proc/net/igmp text lists `group` (dotted IPv4) on any interface.
[[nodiscard]] bool igmp_lists_group(const std::string& igmp, const char* group);

/// True when a /proc/net/igmp6 text lists `group` (IPv6 text, "ff3e::1") on any interface.
[[nodiscard]] bool igmp6_lists_group(const std::string& igmp6, const char* group);

/// Number of multicast VIFs in a /proc/net/ip_mr_vif text.
[[nodiscard]] size_t vif_count(const std::string& ip_mr_vif);

}  // namespace mrelay::harness
