// Forwarder counters over a window for mrelay-bench: see rig/window_counters.h. A thin adapter over
// the harness perf library, reduced to what a cell record needs.
//
//   auto counters = WindowCounters::attach(pid); counters->start(); ... counters->read();
#include "rig/window_counters.h"

namespace mrelay::harness {

WindowCounters::WindowCounters(std::unique_ptr<PerfCounters> counters)
    : counters_(std::move(counters)) {}

Result<WindowCounters> WindowCounters::attach(pid_t pid) {
  auto counters = PerfCounters::attach(pid);
  if (!counters) {
    return tl::unexpected(counters.error());
  }
  return WindowCounters(std::make_unique<PerfCounters>(std::move(*counters)));
}

void WindowCounters::start() {
  // A failed enable shows up as unsupported/zero readings; the cell still measures the rest.
  (void)counters_->start();
}

WindowCounters::Reading WindowCounters::read() const {
  Reading reading;
  for (const PerfReading& event : counters_->read()) {
    if (!event.supported) {
      reading.unsupported[event.name] = event.unsupported_reason;
      if (event.name == kSyscallsEvent) {
        reading.path = "unsupported: " + event.unsupported_reason;
      }
      continue;
    }
    reading.values[event.name] = event.value;
    if (event.name == kSyscallsEvent) {
      reading.syscalls = event.value;
      reading.path = event.source;
    } else if (event.name == kContextSwitchesEvent) {
      reading.context_switches = event.value;
    }
  }
  return reading;
}

WindowCounters::WindowCounters(WindowCounters&&) noexcept = default;
WindowCounters& WindowCounters::operator=(WindowCounters&&) noexcept = default;
WindowCounters::~WindowCounters() = default;

}  // namespace mrelay::harness
