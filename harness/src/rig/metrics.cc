// Metric computation for mrelay-bench cells: see rig/metrics.h.
//
//   nlohmann::json metrics = compute_metrics(params, observation);
#include "rig/metrics.h"

#include <algorithm>
#include <sstream>

namespace mrelay::harness {
namespace {

using nlohmann::json;

// Loss or exhaustion below this (percent) is noise-level and does not name a limiter: it is
// the no-drop threshold of docs/metrics.md.
constexpr double kLimiterLossPct = 0.1;
// A paced generator that reaches less than this share of its target rate is itself the limit.
constexpr double kGeneratorShortfall = 0.98;

double number_or(const json& object, const char* key, double fallback) {
  if (object.is_object() && object.contains(key) && object[key].is_number()) {
    return object[key].get<double>();
  }
  return fallback;
}

json optional_number(const std::optional<double>& value) {
  return value ? json(*value) : json(nullptr);
}

int64_t snmp_value(const std::map<std::string, SnmpUdp>& deltas, const std::string& role,
                   const std::string& name) {
  auto ns = deltas.find(role);
  if (ns == deltas.end()) {
    return 0;
  }
  auto value = ns->second.find(name);
  return value == ns->second.end() ? 0 : value->second;
}

}  // namespace

Result<SnmpUdp> parse_snmp_udp(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line)) {
    if (line.rfind("Udp: ", 0) != 0) {
      continue;
    }
    std::istringstream fields(line.substr(5));
    std::vector<std::string> tokens;
    std::string token;
    while (fields >> token) {
      tokens.push_back(token);
    }
    if (names.empty()) {
      names = tokens;
      continue;
    }
    if (tokens.size() != names.size()) {
      return fail("/proc/net/snmp", "Udp header and value lines differ in length");
    }
    SnmpUdp values;
    for (size_t i = 0; i < names.size(); ++i) {
      try {
        values[names[i]] = std::stoll(tokens[i]);
      } catch (...) {
        return fail("/proc/net/snmp", "bad Udp value '" + tokens[i] + "'");
      }
    }
    return values;
  }
  return fail("/proc/net/snmp", "no Udp lines");
}

void add_snmp6_udp(const std::string& text, SnmpUdp& values) {
  std::istringstream lines(text);
  std::string name;
  std::string value;
  while (lines >> name >> value) {
    if (name.rfind("Udp6", 0) != 0) {
      continue;
    }
    try {
      values[name.substr(4)] += std::stoll(value);
    } catch (...) {
      // Not a counter line: skip it rather than lose the IPv4 counters.
    }
  }
}

Result<uint64_t> parse_proc_stat_ticks(const std::string& text) {
  // comm may contain spaces and ')': the fields start after the LAST ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) {
    return fail("/proc/PID/stat", "no ')' after comm");
  }
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  // After comm: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15).
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int index = 3; index <= 15; ++index) {
    if (!(fields >> field)) {
      return fail("/proc/PID/stat", "too few fields");
    }
    if (index == 14) {
      utime = std::stoull(field);
    } else if (index == 15) {
      stime = std::stoull(field);
    }
  }
  return utime + stime;
}

Result<uint64_t> parse_proc_stat_user_ticks(const std::string& text) {
  const size_t close = text.rfind(')');
  if (close == std::string::npos) {
    return fail("/proc/PID/stat", "no ')' after comm");
  }
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int index = 3; index <= 14; ++index) {  // utime is field 14
    if (!(fields >> field)) {
      return fail("/proc/PID/stat", "too few fields");
    }
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return fail("/proc/PID/stat", "bad utime '" + field + "'");
  }
}

Result<CoreTicks> parse_core_ticks(const std::string& proc_stat, int cpu) {
  const std::string prefix = "cpu" + std::to_string(cpu) + " ";
  std::istringstream lines(proc_stat);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0) {
      continue;
    }
    std::istringstream fields(line.substr(prefix.size()));
    // user nice system idle iowait irq softirq steal guest guest_nice
    std::vector<uint64_t> values;
    uint64_t value = 0;
    while (fields >> value) {
      values.push_back(value);
    }
    if (values.size() < 8) {
      return fail("/proc/stat", "short line for " + prefix);
    }
    CoreTicks ticks;
    // guest time is already included in user/nice: count the first 8 fields only.
    for (size_t i = 0; i < 8; ++i) {
      ticks.total += values[i];
      if (i != 3 && i != 4) {
        ticks.busy += values[i];
      }
      if (i == 2 || i == 5 || i == 6) {
        ticks.kernel += values[i];
      }
      if (i == 3 || i == 4) {
        ticks.idle += values[i];
      }
      if (i == 0 || i == 1) {
        ticks.user += values[i];
      }
    }
    return ticks;
  }
  return fail("/proc/stat", "no line for cpu" + std::to_string(cpu));
}

std::vector<nlohmann::json> parse_stats_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') {
      continue;
    }
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("event") &&
        (parsed["event"] == "stats" || parsed["event"] == "final")) {
      out.push_back(std::move(parsed));
    }
  }
  return out;
}

double forwarding_work_s(double wall_s, double core_idle_s, double core_user_s,
                         double forwarder_user_s) {
  return std::max(0.0, wall_s - core_idle_s - core_user_s + forwarder_user_s);
}

std::optional<double> ns_per_copy(std::optional<double> cpu_s, double window_s,
                                  double delivered_pps) {
  if (!cpu_s || window_s <= 0 || delivered_pps <= 0) {
    return std::nullopt;
  }
  return *cpu_s / window_s / delivered_pps * 1e9;
}

nlohmann::json counter_deltas(const nlohmann::json& start, const nlohmann::json& end) {
  json deltas = json::object();
  if (!start.contains("total") || !end.contains("total")) {
    return deltas;
  }
  for (const auto& item : end["total"].items()) {
    if (!item.value().is_number()) {
      continue;
    }
    const double before = number_or(start["total"], item.key().c_str(), 0);
    deltas[item.key()] = static_cast<int64_t>(item.value().get<double>() - before);
  }
  return deltas;
}

namespace {

// The entry of `line`'s "workers" whose "worker" is `worker`, or nullptr.
const json* worker_entry(const json& line, const json& worker) {
  if (!line.contains("workers") || !line["workers"].is_array()) {
    return nullptr;
  }
  for (const json& entry : line["workers"]) {
    if (entry.is_object() && entry.value("worker", json()) == worker) {
      return &entry;
    }
  }
  return nullptr;
}

// A counter's growth between a worker's two entries (from 0 when the start has none).
double worker_delta(const json* start, const json& end, const char* counter) {
  return number_or(end, counter, 0) - (start != nullptr ? number_or(*start, counter, 0) : 0);
}

}  // namespace

nlohmann::json worker_rates(const nlohmann::json& start, const nlohmann::json& end,
                            double window_s) {
  if (window_s <= 0 || !end.contains("workers") || !end["workers"].is_array()) {
    return nullptr;
  }
  json rates = json::array();
  double total = 0;
  for (const json& entry : end["workers"]) {
    const json* before = worker_entry(start, entry.value("worker", json()));
    const double forwarded = worker_delta(before, entry, "fwd_packets");
    const double copies = worker_delta(before, entry, "tx_packets");
    total += forwarded;
    rates.push_back(json{{"worker", entry.value("worker", json())},
                         {"cpu", entry.value("cpu", json())},
                         {"forwarded", forwarded},
                         {"copies", copies},
                         {"forwarded_pps", forwarded / window_s},
                         {"copies_pps", copies / window_s}});
  }
  for (json& rate : rates) {
    rate["share"] = total > 0 ? json(rate["forwarded"].get<double>() / total) : json(nullptr);
  }
  return rates;
}

namespace {

// Seconds between the two relay stats lines (their time_ns), 0 when unknown.
double stats_window_s(const WindowObservation& obs) {
  if (!obs.relay_start || !obs.relay_end) {
    return 0;
  }
  const double start_ns = number_or(*obs.relay_start, "time_ns", 0);
  const double end_ns = number_or(*obs.relay_end, "time_ns", 0);
  return start_ns > 0 && end_ns > start_ns ? (end_ns - start_ns) / 1e9 : 0;
}

// What the generator and the sinks counted: the rates are over the generator's own measuring
// window, the span its measured packets were sent in.
struct Traffic {
  double outputs = 1;
  double window_s = 0;
  double sent = 0;
  double received = 0;
  double loss_pct = 0;
};

Traffic traffic_of(const CellParams& params, const WindowObservation& obs) {
  Traffic t;
  t.outputs = params.forwarder == Forwarder::direct ? 1.0 : params.fanout;
  t.window_s = params.window_s;
  const double start_ns = number_or(obs.gen, "measure_start_ns", 0);
  const double end_ns = number_or(obs.gen, "measure_end_ns", 0);
  if (end_ns > start_ns) {
    t.window_s = (end_ns - start_ns) / 1e9;
  }
  t.sent = number_or(obs.gen, "measured_sent", 0);
  t.received = number_or(obs.sink, "received", 0);
  t.loss_pct =
      t.sent > 0 ? std::max(0.0, 100.0 * (1.0 - t.received / (t.sent * t.outputs))) : 100.0;
  return t;
}

void add_traffic(const Traffic& t, const WindowObservation& obs, json& out) {
  out["window_s"] = t.window_s;
  out["sample_window_s"] = obs.sample_window_s;
  out["outputs"] = t.outputs;
  out["measured_sent"] = t.sent;
  out["received"] = t.received;
  out["offered_pps"] = t.sent / t.window_s;
  out["delivered_pps"] = t.received / t.window_s;
  out["loss_pct"] = t.loss_pct;
  json latency = json::object();
  if (obs.sink.is_object() && obs.sink.contains("latency_ns")) {
    for (const char* key : {"p50", "p90", "p99", "p999", "max", "min", "mean", "count"}) {
      latency[key] = obs.sink["latency_ns"].value(key, json(nullptr));
    }
  }
  out["latency_ns"] = latency;
  out["sink_kernel_drops"] = obs.sink.value("kernel_drops", json(nullptr));
  out["sink_lost"] = obs.sink.value("lost", json(nullptr));
  out["sink_reordered"] = obs.sink.value("reordered", json(nullptr));
  out["sink_duplicated"] = obs.sink.value("duplicated", json(nullptr));
  out["sink_corrupted"] = obs.sink.value("corrupted", json(nullptr));
  out["generator_errors"] = obs.gen.value("errors", json(nullptr));
}

// The relay's counters over the window (SIGUSR1 lines at the window's edges).
struct RelayWindow {
  json deltas = nullptr;
  std::optional<double> forwarded;
  std::optional<double> exhaustion_pct;
};

RelayWindow relay_window(const WindowObservation& obs) {
  RelayWindow relay;
  if (!obs.relay_start || !obs.relay_end) {
    return relay;
  }
  relay.deltas = counter_deltas(*obs.relay_start, *obs.relay_end);
  relay.forwarded = number_or(relay.deltas, "fwd_packets", 0);
  const double rx = number_or(relay.deltas, "rx_packets", 0);
  // Disjoint: a packet read with the pool empty is counted in drop_buffer_exhausted only,
  // one that lost copies at egress in exhausted_packets only (docs/metrics.md).
  const double exhausted = number_or(relay.deltas, "exhausted_packets", 0) +
                           number_or(relay.deltas, "drop_buffer_exhausted", 0);
  relay.exhaustion_pct = rx > 0 ? 100.0 * exhausted / rx : std::optional(0.0);
  return relay;
}

// syscalls/pkt: forwarder syscalls ÷ packets it forwarded in the same window.
std::optional<double> syscalls_per_packet(const CellParams& params, const WindowObservation& obs,
                                          const Traffic& t, const RelayWindow& relay) {
  if (!obs.forwarder_syscalls) {
    return std::nullopt;
  }
  std::optional<double> forwarded;
  if (params.forwarder == Forwarder::mrelay) {
    forwarded = relay.forwarded;
  } else if (params.forwarder == Forwarder::socat) {
    // socat has no counters: what the sink received is what it forwarded, scaled from the
    // generator's window to the sample window the syscalls were counted over.
    if (obs.sample_window_s > 0) {
      forwarded = t.received / t.window_s * obs.sample_window_s;
    }
  }
  // The syscalls were counted over the bench's sample window, the relay's packets over its
  // own stats lines' window (they answer SIGUSR1 late when the machine is saturated): a
  // ratio of rates, each over its own window, when both windows are known.
  const double relay_window_s = stats_window_s(obs);
  if (forwarded && *forwarded > 0 && params.forwarder == Forwarder::mrelay && relay_window_s > 0 &&
      obs.sample_window_s > 0) {
    return (static_cast<double>(*obs.forwarder_syscalls) / obs.sample_window_s) /
           (*forwarded / relay_window_s);
  }
  if (forwarded && *forwarded > 0) {
    return static_cast<double>(*obs.forwarder_syscalls) / *forwarded;
  }
  return std::nullopt;
}

// Percent of one core over the sample window of a role's CPU seconds, when measured.
std::optional<double> role_cpu_pct(const WindowObservation& obs, const std::string& role) {
  auto it = obs.cpu_seconds.find(role);
  if (it == obs.cpu_seconds.end() || obs.sample_window_s <= 0) {
    return std::nullopt;
  }
  return 100.0 * it->second / obs.sample_window_s;
}

// The forwarder's CPU: the forwarder core's busy share for the kernel references (their
// forwarding runs in softirq there), the process's own for mrelay and socat, none for direct.
std::optional<double> forwarder_cpu_pct(const CellParams& params, const WindowObservation& obs) {
  if (is_kernel_reference(params.forwarder)) {
    if (obs.kernel_core_busy_s && obs.sample_window_s > 0) {
      // Tick granularity (10 ms) can push a full core a little past 100 %.
      return std::min(100.0, 100.0 * *obs.kernel_core_busy_s / obs.sample_window_s);
    }
    return std::nullopt;
  }
  if (params.forwarder != Forwarder::direct) {
    return role_cpu_pct(obs, "relay");
  }
  return std::nullopt;
}

json cpu_json(const CellParams& params, const WindowObservation& obs) {
  json cpu = json::object();
  for (const char* role : {"relay", "gen", "sink"}) {
    cpu[role] = optional_number(role_cpu_pct(obs, role));
  }
  if (is_kernel_reference(params.forwarder)) {
    cpu["relay_core_kernel"] = obs.kernel_core_kernel_s && obs.sample_window_s > 0
                                   ? json(100.0 * *obs.kernel_core_kernel_s / obs.sample_window_s)
                                   : json(nullptr);
  }
  // Busy share of the forwarder's core from /proc/stat, whoever used it.
  cpu["relay_core_busy"] =
      obs.kernel_core_busy_s && obs.sample_window_s > 0
          ? json(std::min(100.0, 100.0 * *obs.kernel_core_busy_s / obs.sample_window_s))
          : json(nullptr);
  return cpu;
}

json snmp_json(const WindowObservation& obs) {
  json snmp = json::object();
  for (const auto& [role, values] : obs.snmp_delta) {
    json ns = json::object();
    for (const char* key :
         {"RcvbufErrors", "SndbufErrors", "InErrors", "InDatagrams", "OutDatagrams", "NoPorts"}) {
      auto it = values.find(key);
      ns[key] = it == values.end() ? json(nullptr) : json(it->second);
    }
    snmp[role] = ns;
  }
  return snmp;
}

// ns_per_copy: the forwarder core's work per delivered copy, whatever ran there (the
// forwarding, its softirqs, the outputs' receive softirq on veth; direct: the sink's receive
// work alone). relay_ns_per_copy: the forwarder process's own run time per copy, where it
// forwards in a process (mrelay, socat).
void add_cost_per_copy(const CellParams& params, const WindowObservation& obs, const Traffic& t,
                       json& out) {
  const double delivered_pps = t.window_s > 0 ? t.received / t.window_s : 0;
  out["ns_per_copy"] =
      optional_number(ns_per_copy(obs.forwarder_core_work_s, obs.sample_window_s, delivered_pps));
  const std::optional<double> runtime_s =
      params.forwarder == Forwarder::direct ? std::nullopt : obs.forwarder_runtime_s;
  out["relay_ns_per_copy"] =
      optional_number(ns_per_copy(runtime_s, obs.sample_window_s, delivered_pps));
}

// CPU signs of what limited the run: the forwarder's core, then the load core's two programs.
void cpu_limiters(const CellParams& params, const WindowObservation& obs,
                  std::optional<double> relay_cpu, json& limited) {
  if (is_kernel_reference(params.forwarder)) {
    // Only the core's kernel time counts: user time there belongs to other processes.
    if (obs.kernel_core_kernel_s && obs.sample_window_s > 0 &&
        100.0 * *obs.kernel_core_kernel_s / obs.sample_window_s >= kSaturatedCpuPct) {
      limited.push_back("relay_core_cpu");
    }
  } else if (relay_cpu && *relay_cpu >= kSaturatedCpuPct) {
    limited.push_back("relay_cpu");
  } else if (relay_cpu && obs.kernel_core_busy_s && obs.sample_window_s > 0 &&
             100.0 * *obs.kernel_core_busy_s / obs.sample_window_s >= kSaturatedCpuPct) {
    // The forwarder's core was full but not with the forwarder: other processes took it.
    limited.push_back("relay_core_contended");
  }
  const auto gen_cpu = role_cpu_pct(obs, "gen");
  const auto sink_cpu = role_cpu_pct(obs, "sink");
  if (gen_cpu && *gen_cpu >= kSaturatedCpuPct) {
    limited.push_back("generator_cpu");
  }
  if (sink_cpu && *sink_cpu >= kSaturatedCpuPct) {
    limited.push_back("sink_cpu");
  }
  // Generator and sink share one core by design: together they can fill it.
  if (gen_cpu && sink_cpu && *gen_cpu < kSaturatedCpuPct && *sink_cpu < kSaturatedCpuPct &&
      *gen_cpu + *sink_cpu >= kSaturatedCpuPct) {
    limited.push_back("load_core_cpu");
  }
}

// Buffer and send-error signs: receive buffers, relay exhaustion, send buffers, the generator.
void buffer_limiters(const CellParams& params, const WindowObservation& obs, const Traffic& t,
                     const RelayWindow& relay, json& limited) {
  const std::string sink_role = params.forwarder == Forwarder::direct ? "relay" : "sink";
  if (number_or(obs.sink, "kernel_drops", 0) > 0 ||
      snmp_value(obs.snmp_delta, sink_role, "RcvbufErrors") > 0) {
    limited.push_back("sink_rcvbuf");
  }
  if (params.forwarder != Forwarder::direct &&
      (number_or(relay.deltas, "kernel_drops", 0) > 0 ||
       snmp_value(obs.snmp_delta, "relay", "RcvbufErrors") > 0)) {
    limited.push_back("relay_rcvbuf");
  }
  if (relay.exhaustion_pct && *relay.exhaustion_pct > kLimiterLossPct) {
    limited.push_back("relay_exhaustion");
  }
  if (snmp_value(obs.snmp_delta, "relay", "SndbufErrors") > 0) {
    limited.push_back("relay_sndbuf");
  }
  if (number_or(obs.gen, "errors", 0) > 0 ||
      snmp_value(obs.snmp_delta, "src", "SndbufErrors") > 0) {
    limited.push_back("generator_send_errors");
  }
  if (params.rate_pps > 0 && t.sent / t.window_s < kGeneratorShortfall * params.rate_pps) {
    limited.push_back("generator_rate");
  }
}

// What limited the run, when we can tell: every sign found, most direct first.
json limiters(const CellParams& params, const WindowObservation& obs, const Traffic& t,
              const RelayWindow& relay, std::optional<double> relay_cpu) {
  json limited = json::array();
  cpu_limiters(params, obs, relay_cpu, limited);
  buffer_limiters(params, obs, t, relay, limited);
  if (limited.empty() && t.loss_pct > kLimiterLossPct) {
    limited.push_back("unexplained_loss");
  }
  return limited;
}

}  // namespace

nlohmann::json compute_metrics(const CellParams& params, const WindowObservation& obs) {
  json out;
  const Traffic traffic = traffic_of(params, obs);
  add_traffic(traffic, obs, out);
  const RelayWindow relay = relay_window(obs);
  out["relay_counters"] = relay.deltas;
  const double relay_window_s = stats_window_s(obs);
  out["relay_window_s"] = relay_window_s > 0 ? json(relay_window_s) : json(nullptr);
  out["relay_worker_rates"] = obs.relay_start && obs.relay_end
                                  ? worker_rates(*obs.relay_start, *obs.relay_end, relay_window_s)
                                  : json(nullptr);
  out["buffer_exhaustion_pct"] = optional_number(relay.exhaustion_pct);
  out["forwarder_syscalls"] =
      obs.forwarder_syscalls ? json(*obs.forwarder_syscalls) : json(nullptr);
  out["syscalls_per_pkt"] = optional_number(syscalls_per_packet(params, obs, traffic, relay));
  out["context_switches"] = obs.context_switches ? json(*obs.context_switches) : json(nullptr);
  out["context_switch_source"] = obs.context_switch_source;
  out["perf_counter_path"] = obs.counter_path.empty() ? json(nullptr) : json(obs.counter_path);
  const std::optional<double> relay_cpu = forwarder_cpu_pct(params, obs);
  out["cpu_pct"] = cpu_json(params, obs);
  out["relay_cpu_pct"] = optional_number(relay_cpu);
  add_cost_per_copy(params, obs, traffic, out);
  out["snmp_udp_delta"] = snmp_json(obs);
  out["limited_by"] = limiters(params, obs, traffic, relay, relay_cpu);
  return out;
}

}  // namespace mrelay::harness
