// Turns what one cell observed (generator and sink JSON, the relay's SIGUSR1 stats lines at
// the window edges, /proc CPU times, perf counts, /proc/net/snmp) into the record's metrics,
// with the definitions of docs/metrics.md. Pure functions over parsed inputs, so they are tested
// with canned JSON.
//
//   WindowObservation obs;  obs.gen = gen_json; obs.sink = sink_json; ...
//   nlohmann::json metrics = compute_metrics(params, obs);
//   metrics["delivered_pps"], metrics["loss_pct"], metrics["limited_by"] ...
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/error.h"
#include "rig/spec.h"

namespace mrelay::harness {

/// UDP counters of one namespace's /proc/net/snmp ("Udp:" lines), by name.
using SnmpUdp = std::map<std::string, int64_t>;

/// Parses the two "Udp:" lines of /proc/net/snmp. Errors when they are missing.
[[nodiscard]] Result<SnmpUdp> parse_snmp_udp(const std::string& text);
/// Adds the UDP-over-IPv6 counters of a /proc/net/snmp6 text ("Udp6InDatagrams 12") to
/// `values` under the IPv4 names ("InDatagrams"), so a cell's UDP deltas count both families
/// (an IPv6 cell's datagrams are only in snmp6; UdpLite6 lines are not UDP).
void add_snmp6_udp(const std::string& text, SnmpUdp& values);

/// utime + stime (clock ticks) from the text of /proc/PID/stat; handles ")" in comm.
[[nodiscard]] Result<uint64_t> parse_proc_stat_ticks(const std::string& text);
/// utime alone (clock ticks), every thread of the process.
[[nodiscard]] Result<uint64_t> parse_proc_stat_user_ticks(const std::string& text);

/// Busy (non-idle, non-iowait) and total ticks of one CPU ("cpuN" line) in /proc/stat.
struct CoreTicks {
  uint64_t busy = 0;
  uint64_t kernel = 0;  // system + irq + softirq: where kernel forwarding runs
  // idle + iowait. Unlike the busy fields, which the tick samples (a full tick to whatever
  // context it interrupts: at a paced rate with short wake-ups that overstates softirq many
  // times), a tickless kernel counts idle time exactly: wall time - idle is the core's real
  // work. What ns_per_copy divides.
  uint64_t idle = 0;
  uint64_t user = 0;  // user + nice: other processes' code on a shared core, sampled per tick
  uint64_t total = 0;
};
[[nodiscard]] Result<CoreTicks> parse_core_ticks(const std::string& proc_stat, int cpu);

/// Every JSON object line of the relay's stdout whose "event" is "stats" or "final".
[[nodiscard]] std::vector<nlohmann::json> parse_stats_lines(const std::string& text);

/// Everything sampled for one cell. Optional fields stay empty when not applicable or not
/// measurable; they become JSON null.
struct WindowObservation {
  nlohmann::json gen;   // mrelay-gen --json output
  nlohmann::json sink;  // mrelay-sink --json output
  // Relay stats lines taken with SIGUSR1 at the window's start and end (mrelay only).
  std::optional<nlohmann::json> relay_start;
  std::optional<nlohmann::json> relay_end;
  double sample_window_s = 0;  // wall clock between the start and end samples
  // CPU seconds (user+sys) used over the sample window, by role: "relay", "gen", "sink".
  std::map<std::string, double> cpu_seconds;
  // Busy seconds of the forwarder's core over the window (/proc/stat; every forwarder). For the
  // kernel reference this is its relay CPU; for the others it reveals contention.
  std::optional<double> kernel_core_busy_s;
  // ... of which in the kernel (system + irq + softirq). On a shared machine other tenants'
  // user time lands in busy too; the kernel share is what forwarding itself costs.
  std::optional<double> kernel_core_kernel_s;
  // ... and the forwarding work on it, the numerator of ns_per_copy: the window's wall time
  // minus the core's idle time (exact) minus the user time of any process on the core
  // (sampled) plus the forwarder process's own user time. On a quiet core that is its busy
  // time; on a shared one other processes' user time (builds) drops out, their kernel time
  // does not. See forwarding_work_s().
  std::optional<double> forwarder_core_work_s;
  // CPU time the forwarder process's threads ran over the window (/proc/PID/task/*/schedstat,
  // ns-exact), the numerator of relay_ns_per_copy; empty for the kernel references and direct.
  std::optional<double> forwarder_runtime_s;
  std::optional<uint64_t> forwarder_syscalls;  // perf raw_syscalls:sys_enter delta
  std::optional<uint64_t> context_switches;    // forwarder, over the window
  std::string counter_path;                    // how the counts were taken (e.g. "tracefs-id")
  std::string context_switch_source;           // "perf" or "/proc/PID/task/*/status"
  // UDP snmp deltas over the window, by role: "src", "relay", "sink".
  std::map<std::string, SnmpUdp> snmp_delta;
};

/// The metric part of a cell record (names are a contract for the Python gate/report):
/// offered_pps, delivered_pps, loss_pct, latency_ns, syscalls_per_pkt, buffer_exhaustion_pct,
/// relay_cpu_pct, cpu_pct {relay, gen, sink}, ns_per_copy, relay_ns_per_copy, context_switches, perf_counter_path,
/// relay_counters (deltas), relay_worker_rates (worker_rates), sink_kernel_drops,
/// snmp_udp_delta, limited_by, window_s, ...
[[nodiscard]] nlohmann::json compute_metrics(const CellParams& params,
                                             const WindowObservation& observation);

/// The forwarding work on the forwarder's core over a window (seconds): wall - idle - the
/// core's user time + the forwarder process's user time (0 when the forwarding runs in the
/// kernel), never below 0.
[[nodiscard]] double forwarding_work_s(double wall_s, double core_idle_s, double core_user_s,
                                       double forwarder_user_s);

/// CPU cost per delivered copy (docs/metrics.md): `cpu_s` seconds of CPU over a window of
/// `window_s` seconds in which copies arrived at `delivered_pps` (summed over outputs), in ns:
/// cpu_s / window_s / delivered_pps × 1e9 (a ratio of rates, so the two windows need not be
/// the same). Nothing without CPU time, window or deliveries.
[[nodiscard]] std::optional<double> ns_per_copy(std::optional<double> cpu_s, double window_s,
                                                double delivered_pps);

/// Per-counter difference end - start of two relay stats lines' "total" objects.
[[nodiscard]] nlohmann::json counter_deltas(const nlohmann::json& start, const nlohmann::json& end);

/// Each relay worker over the window between two stats lines (their "workers" arrays, matched
/// by "worker"): [{"worker", "cpu", "forwarded", "copies", "forwarded_pps", "copies_pps",
/// "share"}], the counts the deltas of fwd_packets and tx_packets, the rates those over
/// `window_s` (the lines' own window), share = the worker's part of the relay's forwarded
/// packets (null when it forwarded none). Null without the arrays or a window.
[[nodiscard]] nlohmann::json worker_rates(const nlohmann::json& start, const nlohmann::json& end,
                                          double window_s);

/// Thresholds the limiter heuristic uses (percent of one core).
inline constexpr double kSaturatedCpuPct = 95.0;

}  // namespace mrelay::harness
