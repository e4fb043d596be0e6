// The control protocol: one JSON object per line in, one JSON object per line out.
//
//   {"cmd":"ping"}                                   -> {"ok":true,"pong":true}
//   {"cmd":"version"}                                -> {"ok":true,"version":"0.1.0"}
//   {"cmd":"list_rules"}                             -> {"ok":true,"rules":[{...config schema...}]}
//   {"cmd":"add_rule","rule":{"name":"b",...}}       -> {"ok":true,"added":"b"}
//   {"cmd":"remove_rule","name":"b"}                 -> {"ok":true,"removed":"b"}
//   {"cmd":"stats"}                                  -> {"ok":true,"stats":{total,workers,rules}}
//   {"cmd":"stats","format":"prometheus"}            -> {"ok":true,"prometheus":"# HELP ..."}
//   {"cmd":"set_log_level","level":"debug"}          -> {"ok":true,"level":"debug"}
//   read-only connection, add_rule                   -> {"ok":false,"error":"cmd: 'add_rule'
//                                                        needs full control access;
//                                                        ...","field":"cmd"}
//   anything wrong                                   -> {"ok":false,"error":"rule.input.group: ..",
//                                                        "field":"rule.input.group"}
//
// handle_request() is the whole dispatcher, independent of sockets so it is unit-tested with
// a fake ControlTarget. A request that fails changes nothing: rule changes are validated as a
// whole candidate config (validate_config, the same errors as the config file) before the
// target applies them, and the target applies all or nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/stats_json.h"
#include "dataplane/plan.h"
#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay {

// Longest request line in bytes. A rule with 64+ outputs is ~6 KiB of JSON; 64 KiB leaves
// room for 600 outputs while bounding what one client can make the daemon buffer.
constexpr size_t kMaxRequestBytes = 64 * 1024;

/// Every counter the daemon exposes, summed per rule and output over the workers.
struct OutputStats {
  Output output;
  OutputCounters counters;
};
struct RuleStats {
  std::string name;
  std::vector<std::string> sources;  // the rule's include list as text; empty = any source
  RuleCounters counters;
  std::vector<OutputStats> outputs;
};
struct RelayStats {
  StatsHeader header;
  std::vector<WorkerStats> workers;
  std::vector<RuleStats> rules;
  ProcessCounters process;  // the main thread's own (control plane, lifecycle)
  double start_time_s = 0;  // when the workers started, CLOCK_REALTIME seconds since the epoch
};

/// The Prometheus family of a counter of counters.h, and the label that tells it apart from
/// the other counters of that family ("mrelay_packets_dropped_total", "reason", "enobufs");
/// nullopt for a name that is not a counter.
struct PrometheusSeries {
  std::string_view family;
  std::string_view label;  // empty: the family has this counter only
  std::string_view value;
};
[[nodiscard]] std::optional<PrometheusSeries> prometheus_series(std::string_view counter);

/// What a control connection may do, from its peer's credentials (control_server.h):
/// read_only may ping, version, list_rules and stats; full may do everything.
enum class ControlRole : uint8_t { read_only, full };

/// Sums the plan's per-worker rule/output counters (relaxed loads; workers keep writing).
[[nodiscard]] std::vector<RuleStats> collect_rule_stats(const RelayPlan& plan);

/// {"total":{...},"workers":[...],"rules":[{"name":..,"matched_packets":..,"outputs":[...]}]}
[[nodiscard]] std::string format_stats_object(const RelayStats& stats);
/// Prometheus text exposition format 0.0.4: # HELP / # TYPE, counters end in _total,
/// labels worker, rule, output ("iface:addr:port").
[[nodiscard]] std::string format_prometheus(const RelayStats& stats);

/// A rule in the config file's schema (what list_rules returns and the state file holds).
[[nodiscard]] std::string rule_to_json(const Rule& rule);
/// {"rules":[...]} for the state file.
[[nodiscard]] std::string rules_to_json(const std::vector<Rule>& rules);

/// What the dispatcher acts on: the daemon (relay_control.cc) or a test fake.
class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  [[nodiscard]] virtual const Config& running_config() const = 0;
  [[nodiscard]] virtual InterfaceLookup interfaces() const = 0;
  /// Applies a validated candidate whose rules differ from the running ones (all or nothing).
  /// `origin` names the request for the log ("add_rule b").
  [[nodiscard]] virtual Result<void> apply_rules(const Config& candidate,
                                                 const std::string& origin) = 0;
  [[nodiscard]] virtual RelayStats stats() = 0;
  /// A read-only connection asked for `cmd`, which needs full access (the reply says so).
  virtual void note_refused_request(std::string_view cmd) { (void)cmd; }
};

/// Handles one request line (without its newline) from a connection with `role`; returns the
/// reply line (without newline). A command the role does not allow is an error naming "cmd".
[[nodiscard]] std::string handle_request(std::string_view line, ControlTarget& target,
                                         ControlRole role = ControlRole::full);

/// The reply for an error: {"ok":false,"error":"where: message","field":"where"}.
[[nodiscard]] std::string error_reply(const Error& error);

}  // namespace mrelay
