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
#include <sstream>
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

// The xdp ingress on a veth runs its XDP program and the copy into the UMEM in the veth's
// NAPI poll, which the sending core schedules (the generator's: veth passes the frame before
// RPS could move it), where every other forwarder's ingress work is on the forwarder's core.
// This script turns the relay ingress's NAPI into a kernel thread (/sys/class/net/IF/threaded;
// the NAPI exists once the program is attached) and pins that thread to the forwarder's core
// at a real-time priority above the relay's, as a receive softirq there would run ahead of
// it. It prints the thread's PID. Arguments: interface, core, priority. Exit 3: the device
// has no NAPI to thread (generic XDP, which runs in the receive softirq after RPS, or a kernel
// without threaded NAPI).
constexpr const char* kPinNapiScript = R"(
iface=$1 cpu=$2 prio=$3
napi_pids() {
  for d in /proc/[0-9]*; do
    case $(cat "$d/comm" 2>/dev/null) in "napi/$iface-"*) echo "${d#/proc/}" ;; esac
  done
}
before=" $(napi_pids | tr '\n' ' ') "
# The rig joins the namespace without remounting /sys: a private sysfs mount shows its devices.
unshare --mount --propagation private sh -c \
  'mount -t sysfs sysfs /sys && echo 1 > "/sys/class/net/$1/threaded"' _ "$iface" || exit 3
for pid in $(napi_pids); do
  case $before in *" $pid "*) continue ;; esac
  taskset -p -c "$cpu" "$pid" >/dev/null && chrt -f -p "$prio" "$pid" && echo "$pid"
done
)";

constexpr int kNoNapiToThread = 3;  // kPinNapiScript's exit code when threaded cannot be set

// Runs kPinNapiScript for the cell's relay ingress: {"threaded", "pids", "cpu", "rt_priority"}.
Result<json> pin_ingress_napi(const LaunchContext& context, Host& host) {
  const int cpu = context.env.relay_cpu;
  const int priority = context.env.forwarder_rt_priority + 1;
  auto done = host.run({"sh", "-c", kPinNapiScript, "mrelay-bench", context.topology.relay_ingress,
                        std::to_string(cpu), std::to_string(priority)},
                       std::chrono::seconds(10));
  if (done && done->status.exited && done->status.code == kNoNapiToThread) {
    return json{{"threaded", false}, {"pids", json::array()}, {"cpu", cpu},
                {"rt_priority", priority},
                {"why", "no NAPI to thread on " + context.topology.relay_ingress +
                            " (generic XDP runs in the receive softirq, which RPS already "
                            "steers to the forwarder's core): " + done->err}};
  }
  if (!done || !done->status.ok()) {
    return fail("threaded NAPI on " + context.topology.relay_ingress,
                done ? done->status.describe() + ": " + done->err : done.error().to_string());
  }
  json pids = json::array();
  std::istringstream lines(done->out);
  for (long pid = 0; lines >> pid;) {
    pids.push_back(pid);
  }
  if (pids.empty()) {
    return fail("threaded NAPI on " + context.topology.relay_ingress,
                "no new napi/" + context.topology.relay_ingress + "-* kernel thread to pin");
  }
  return json{{"threaded", true}, {"pids", pids}, {"cpu", cpu}, {"rt_priority", priority},
              {"why", "the XDP program and the UMEM copy run in the veth's NAPI: moved from the "
                      "sending core to the forwarder's, as every other forwarder's ingress"}};
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

  // xdp ingress on the namespace rig: its NAPI on the forwarder's core (kPinNapiScript). On
  // an inventory's DUT the NIC's own interrupt placement decides, as for every forwarder.
  Result<json> after_ready(const LaunchContext& context, Host& host) const override {
    if (context.params.ingress != "xdp" || context.env.inventory != nullptr) {
      return json();
    }
    return pin_ingress_napi(context, host);
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
