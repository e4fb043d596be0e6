// Samples at the edges of the measuring window and their differences: see rig/window.h.
#include "rig/window.h"

#include <unistd.h>

#include <algorithm>

#include "common/process.h"
#include "rig/proc.h"

namespace mrelay::harness {

void add_window_deltas(const WindowSample& start, const WindowSample& end, WindowObservation& obs) {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& [role, ticks] : end.ticks) {
    auto before = start.ticks.find(role);
    if (before != start.ticks.end()) {
      obs.cpu_seconds[role] = static_cast<double>(ticks - before->second) / tick;
    }
  }
  if (start.relay_core && end.relay_core) {
    obs.kernel_core_busy_s =
        static_cast<double>(end.relay_core->busy - start.relay_core->busy) / tick;
    obs.kernel_core_kernel_s =
        static_cast<double>(end.relay_core->kernel - start.relay_core->kernel) / tick;
    const double wall_s = std::chrono::duration<double>(end.when - start.when).count();
    auto seconds = [tick](uint64_t from, uint64_t to) {
      return static_cast<double>(to - from) / tick;
    };
    const double relay_user_s = start.relay_user_ticks && end.relay_user_ticks
                                    ? seconds(*start.relay_user_ticks, *end.relay_user_ticks)
                                    : 0.0;
    obs.forwarder_core_work_s = forwarding_work_s(
        wall_s, seconds(start.relay_core->idle, end.relay_core->idle),
        seconds(start.relay_core->user, end.relay_core->user), relay_user_s);
  }
  for (const auto& [role, values] : end.snmp) {
    auto before = start.snmp.find(role);
    if (before == start.snmp.end()) {
      continue;
    }
    SnmpUdp delta;
    for (const auto& [name, value] : values) {
      auto b = before->second.find(name);
      delta[name] = value - (b == before->second.end() ? 0 : b->second);
    }
    obs.snmp_delta[role] = delta;
  }
  if (start.relay_runtime_ns && end.relay_runtime_ns) {
    obs.forwarder_runtime_s = static_cast<double>(*end.relay_runtime_ns - *start.relay_runtime_ns) / 1e9;
  }
  if (!obs.context_switches && start.proc_switches && end.proc_switches) {
    obs.context_switches = *end.proc_switches - *start.proc_switches;
    obs.context_switch_source = "/proc/PID/task/*/status";
  }
}

}  // namespace mrelay::harness
