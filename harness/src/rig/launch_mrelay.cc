// The relay under test: mrelay pinned to the forwarder's core (each worker to its own, see
// relay_worker_cpus), asked for a stats line at each edge of the window (SIGUSR1), its
// counters over the window -- in total and per worker -- read from those lines.
//
//   mrelay --in rin0:239.1.1.1:5000 --out rout0:239.2.0.1:6000 --egress uring --batch 32
//          --cpus 1 --rt-priority 10 --stats-json DIR/relay-final.json
//   ... --cpus 1,0 --workers 2                 (a 2-worker cell on a 2-core machine)
//   mrelay --config DIR/relay-config.json --egress gso ...     (IPv6 cells: ff3e::1 -> ff3e::2)
#include <signal.h>

#include <chrono>
#include <vector>

#include "common/process.h"
#include "rig/launcher.h"

namespace mrelay::harness {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double steady_ns(Clock::time_point when) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
}

// "1" or "1,0": mrelay --cpus, worker i on entry i.
std::string cpu_list(const std::vector<int>& cpus) {
  std::string text;
  for (int cpu : cpus) {
    if (!text.empty()) {
      text += ',';
    }
    text += std::to_string(cpu);  // appended alone: `"," + std::string&&` trips GCC 12's -Wrestrict
  }
  return text;
}

// The first relay stats line whose time_ns (CLOCK_MONOTONIC, as steady_clock) is not before
// `asked`, or nullptr. A millisecond of slack covers the two clocks being read a moment apart.
const json* first_stats_line_after(const std::vector<json>& lines, Clock::time_point asked) {
  const double asked_ns = steady_ns(asked) - 1e6;
  for (const json& line : lines) {
    if (line.contains("time_ns") && line["time_ns"].is_number() &&
        line["time_ns"].get<double>() >= asked_ns) {
      return &line;
    }
  }
  return nullptr;
}

json stats_line_lag_ms(const json& line, Clock::time_point asked) {
  if (!line.contains("time_ns") || !line["time_ns"].is_number()) {
    return nullptr;
  }
  return (line["time_ns"].get<double>() - steady_ns(asked)) / 1e6;
}

// The relay's counters at the window's edges: the stats lines that answered the two SIGUSR1s.
void read_window_stats(const ForwarderReport& report, WindowObservation& obs, json& record) {
  std::vector<json> stats;
  for (const auto& line : parse_stats_lines(read_text_file(report.files.out).value_or(""))) {
    if (line["event"] == "stats") {
      stats.push_back(line);
    }
  }
  if (stats.size() < 2) {
    record["relay_stats_warning"] =
        "expected 2 SIGUSR1 stats lines on stdout, got " + std::to_string(stats.size());
    return;
  }
  // The first line taken at or after each request (the relay's control thread may answer late
  // under load; an interval line or a late answer must not be taken for the other edge).
  const json* start_line = first_stats_line_after(stats, report.window_start);
  const json* end_line = first_stats_line_after(stats, report.window_end);
  if (start_line == nullptr || end_line == nullptr || start_line == end_line) {
    start_line = &stats[stats.size() - 2];  // no time_ns: the last two, as requested
    end_line = &stats.back();
  }
  obs.relay_start = *start_line;
  obs.relay_end = *end_line;
  // How late the relay answered each SIGUSR1 (ms): its counters cover its own window, which
  // compute_metrics() turns into rates over that window.
  record["relay_stats_lag_ms"] =
      json{{"start", stats_line_lag_ms(*start_line, report.window_start)},
           {"end", stats_line_lag_ms(*end_line, report.window_end)}};
}

// The relay's final totals and the backend settings it actually ran with (--stats-json).
void read_final_stats(const ForwarderReport& report, json& record) {
  json final_stats =
      json::parse(read_text_file(report.files.relay_final).value_or(""), nullptr, false);
  if (!final_stats.is_object()) {
    return;
  }
  record["relay_final"] = final_stats.value("total", json());
  record["relay_backend"] = json{{"ingress", final_stats.value("ingress", json())},
                                 {"egress", final_stats.value("egress", json())},
                                 {"queue_depth", final_stats.value("queue_depth", json())},
                                 {"batch", final_stats.value("batch", json())},
                                 {"sndbuf", final_stats.value("sndbuf", json())}};
}

// IPv6 cells: --in/--out take IPv4 endpoints only, so the rule (ff3e::1:5000 on the ingress
// to ff3e::2:6000 on every output) goes into a config file on the relay's host, the JSON a
// user would write; the knobs stay on the command line, which overrides the file.
Result<void> write_ipv6_config(const LaunchContext& context) {
  json outputs = json::array();
  for (uint32_t i = 0; i < context.params.fanout; ++i) {
    outputs.push_back({{"interface", context.topology.relay_egress[i]},
                       {"group", kOutputGroup6},
                       {"port", kOutputPort}});
  }
  const json config = {
      {"rules", json::array({{{"name", "bench"},
                              {"input",
                               {{"interface", context.topology.relay_ingress},
                                {"group", kInputGroup6},
                                {"port", kInputPort}}},
                              {"outputs", outputs}}})}};
  auto written = context.topology.relay->run(
      {"sh", "-c", "printf '%s\\n' \"$1\" > \"$2\"", "mrelay-bench", config.dump(),
       context.files.config},
      std::chrono::seconds(10));
  if (!written || !written->status.ok()) {
    return fail("mrelay --config " + context.files.config,
                written ? written->status.describe() + ": " + written->err
                        : written.error().to_string());
  }
  return {};
}

class MrelayLauncher final : public Launcher {
 public:
  std::string_view required_capability(const CellParams& params) const override {
    return params.egress == "uring" ? capability::kIoUring : std::string_view();
  }

  Result<std::vector<std::string>> command(const LaunchContext& context) const override {
    const CellParams& params = context.params;
    const RigEnvironment& env = context.env;
    std::vector<std::string> args = {env.bin_dir + "/mrelay"};
    if (params.family == Family::ipv6) {
      if (auto written = write_ipv6_config(context); !written) {
        return tl::unexpected(written.error());
      }
      args.insert(args.end(), {"--config", context.files.config});
    } else {
      args.insert(args.end(),
                  {"--in", context.topology.relay_ingress + ":" + input_endpoint(params)});
      for (uint32_t i = 0; i < params.fanout; ++i) {
        args.insert(args.end(),
                    {"--out", context.topology.relay_egress[i] + ":" + output_endpoint(params)});
      }
    }
    args.insert(
        args.end(),
        {"--ingress", params.ingress, "--egress", params.egress, "--queue-depth",
         std::to_string(params.queue_depth), "--batch", std::to_string(params.batch), "--sndbuf",
         std::to_string(params.sndbuf), "--rcvbuf", std::to_string(params.relay_rcvbuf), "--cpus",
         cpu_list(relay_worker_cpus(env, params.workers)), "--rt-priority",
         std::to_string(env.forwarder_rt_priority), "--stats-json", context.files.relay_final});
    if (params.workers != 1) {  // 1: the command line of the cells before workers
      args.insert(args.end(), {"--workers", std::to_string(params.workers)});
    }
    return args;
  }

  // The relay prints a stats line at once (time_ns tells when).
  void at_window_edge(Host& host, const HostProcess& process) const override {
    host.signal(process, SIGUSR1);
  }

  void read_report(const ForwarderReport& report, WindowObservation& observation,
                   json& record) const override {
    read_window_stats(report, observation, record);
    read_final_stats(report, record);
  }
};

}  // namespace

const Launcher& mrelay_launcher() {
  static const MrelayLauncher launcher;
  return launcher;
}

}  // namespace mrelay::harness
