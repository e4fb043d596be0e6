// mrelay-perfstat: counts a running process's syscalls, context switches, task clock (and
// cycles/instructions where a PMU exists) for a window, with mrelay_harness::PerfCounters.
//
//   mrelay-perfstat --pid "$(pidof mrelay)" --duration 2 --json
//
// JSON: {"program":"mrelay-perfstat","pid":P,"duration_s":F,"threads":N,
//        "events":{"raw_syscalls:sys_enter":{"supported":true,"value":N,"source":"tracefs-id",
//                  "raw_value":N,"time_enabled_ns":T,"time_running_ns":T},
//                  "cycles":{"supported":false,"reason":"..."}, ...}}
// If the process exits during the window, the counts up to its exit are reported.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "common/program_util.h"
#include "mrelay/cli.h"
#include "reference/perf_counters.h"

namespace {

struct Options {
  pid_t pid = 0;
  double duration_s = 1;
  bool json = false;
};

void describe(mrelay::cli::Parser& parser, Options& options) {
  parser.usage("--pid PID [--duration SECONDS] [--json]");
  // 4194304: PID_MAX_LIMIT on 64-bit Linux.
  parser.value("--pid", "PID", "process to observe (required)",
               mrelay::cli::store_uint(options.pid, 1, 4'194'304));
  parser.value("--duration", "SECONDS", "window length; SIGINT/SIGTERM end it early",
               mrelay::cli::store_double(options.duration_s, 0.001, 1e6))
      .with_unit("s")
      .with_default("1");
  parser.flag("--json", "print one JSON object instead of text", options.json);
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser(
      "mrelay-perfstat",
      "Counts events of every thread of PID (and threads they create) for a window, kernel "
      "level included: raw_syscalls:sys_enter, context-switches, task-clock (ns), cycles, "
      "instructions. Events the machine cannot count are reported as unsupported with the "
      "reason.");
  Options parsed_options;
  describe(parser, parsed_options);
  if (auto code = mrelay::cli::finish(parser.parse(argc, argv))) {
    return *code;
  }
  if (parsed_options.pid == 0) {
    return parser.usage_error({"--pid", "required"});
  }
  const Options* options = &parsed_options;
  auto counters = mrelay::harness::PerfCounters::attach(options->pid);
  if (!counters) {
    std::fprintf(stderr, "mrelay-perfstat: %s\n", counters.error().to_string().c_str());
    return 1;
  }
  mrelay::harness::install_stop_handlers();
  const uint64_t start_ns = mrelay::harness::monotonic_ns();
  if (auto started = counters->start(); !started) {
    std::fprintf(stderr, "mrelay-perfstat: %s\n", started.error().to_string().c_str());
    return 1;
  }
  const uint64_t end_ns = start_ns + static_cast<uint64_t>(options->duration_s * 1e9);
  while (!mrelay::harness::stop_requested()) {
    const uint64_t now = mrelay::harness::monotonic_ns();
    if (now >= end_ns) {
      break;
    }
    // Relative sleep in slices so a signal (EINTR) or the deadline ends the window promptly.
    const uint64_t slice_ns = std::min<uint64_t>(end_ns - now, 100'000'000);
    timespec pause{static_cast<time_t>(slice_ns / 1'000'000'000ULL),
                   static_cast<long>(slice_ns % 1'000'000'000ULL)};
    nanosleep(&pause, nullptr);
  }
  (void)counters->stop();  // best effort: the read below is what counts
  const double window_s = static_cast<double>(mrelay::harness::monotonic_ns() - start_ns) / 1e9;
  const auto readings = counters->read();

  nlohmann::json events = nlohmann::json::object();
  for (const auto& r : readings) {
    if (r.supported) {
      events[r.name] = {{"supported", true},
                        {"value", r.value},
                        {"raw_value", r.raw_value},
                        {"source", r.source},
                        {"time_enabled_ns", r.time_enabled_ns},
                        {"time_running_ns", r.time_running_ns}};
    } else {
      events[r.name] = {{"supported", false}, {"reason", r.unsupported_reason}};
    }
  }
  if (options->json) {
    const nlohmann::json j = {{"program", "mrelay-perfstat"},
                              {"pid", options->pid},
                              {"duration_s", window_s},
                              {"threads", counters->threads()},
                              {"events", events}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("mrelay-perfstat: pid %d, %zu thread(s), %.3f s\n", options->pid, counters->threads(),
              window_s);
  for (const auto& r : readings) {
    if (r.supported) {
      std::printf("  %-24s %16llu  (%s)\n", r.name.c_str(),
                  static_cast<unsigned long long>(r.value), r.source.c_str());
    } else {
      std::printf("  %-24s %16s  (%s)\n", r.name.c_str(), "unsupported",
                  r.unsupported_reason.c_str());
    }
  }
  return 0;
}
