// Stats line formatting; see stats_json.h. Written by hand (not via a JSON library) so the
// key order is fixed and formatting allocates only the output string.
#include "control/stats_json.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace mrelay {
namespace {

template <typename Counters, typename ForEach>
void append_counter_list(std::string& out, const Counters& counters, ForEach&& for_each) {
  bool first = true;
  for_each(counters, [&](std::string_view name, uint64_t value, std::string_view) {
    char number[32];
    std::snprintf(number, sizeof number, "%" PRIu64, value);
    if (!first) {
      out += ',';
    }
    first = false;
    out += '"';
    out += name;
    out += "\":";
    out += number;
  });
}

void append_counters(std::string& out, const WorkerCounters& counters) {
  append_counter_list(out, counters,
                      [](const WorkerCounters& c, auto&& fn) { for_each_counter(c, fn); });
}

}  // namespace

std::string format_stats_json(const StatsHeader& header, std::span<const WorkerStats> workers,
                              const ProcessCounters* process) {
  std::string out;
  out.reserve(1024 + 1024 * workers.size());
  char head[512];
  std::snprintf(
      head, sizeof head,
      "{\"event\":\"%.*s\",\"time_ns\":%" PRIu64
      ",\"uptime_s\":%.6f,\"ingress\":\"%.*s\",\"egress\":\"%.*s\",\"queue_depth\":%" PRIu32
      ",\"batch\":%" PRIu32 ",\"sndbuf\":%" PRIu32 ",\"total\":{",
      static_cast<int>(header.event.size()), header.event.data(), header.time_ns, header.uptime_s,
      static_cast<int>(to_string(header.ingress).size()), to_string(header.ingress).data(),
      static_cast<int>(to_string(header.egress).size()), to_string(header.egress).data(),
      header.queue_depth, header.batch, header.sndbuf);
  out += head;
  WorkerCounters total{};
  for (const WorkerStats& worker : workers) {
    total += worker.counters;
  }
  append_counters(out, total);
  out += "},\"workers\":[";
  for (size_t i = 0; i < workers.size(); ++i) {
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "%s{\"worker\":%" PRIu32 ",\"cpu\":%d,", i ? "," : "",
                  workers[i].worker, workers[i].cpu);
    out += prefix;
    append_counters(out, workers[i].counters);
    out += '}';
  }
  out += ']';
  if (process != nullptr) {
    out += ",\"process\":{";
    append_counter_list(out, *process, [](const ProcessCounters& c, auto&& fn) {
      for_each_process_counter(c, fn);
    });
    out += '}';
  }
  out += '}';
  return out;
}

WorkerCounters snapshot_counters(const WorkerCounters& live) noexcept {
  WorkerCounters copy{};
#define MRELAY_COUNTER_SNAPSHOT(name, help) \
  copy.name = __atomic_load_n(&live.name, __ATOMIC_RELAXED);
  MRELAY_WORKER_COUNTERS(MRELAY_COUNTER_SNAPSHOT)
#undef MRELAY_COUNTER_SNAPSHOT
  return copy;
}

}  // namespace mrelay
