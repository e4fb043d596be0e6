// The control protocol's dispatcher and the stats formats; see control_protocol.h.
#include "control/control_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/log.h"

#ifndef MRELAY_VERSION
#define MRELAY_VERSION "dev"
#endif

namespace mrelay {
namespace {

using nlohmann::json;

// Replies never throw: bytes that are not UTF-8 (a rule name from a file) become U+FFFD.
std::string dump_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string output_label(const Output& output) {
  return output.interface + ":" + output_address_text(output) + ":" + std::to_string(output.port);
}

json rule_object(const Rule& rule) {
  json input = {{"interface", rule.input_interface},
                {"group", input_group_text(rule)},
                {"port", rule.port}};
  const std::vector<std::string> sources = source_texts(rule);
  if (sources.size() == 1) {
    input["source"] = sources.front();
  } else if (!sources.empty()) {
    input["source"] = sources;  // several: a list, as the config takes them
  }
  if (rule.vlan != 0) {
    input["vlan"] = rule.vlan;
  }
  json outputs = json::array();
  for (const Output& output : rule.outputs) {
    json item = {{"interface", output.interface},
                 {"group", output_address_text(output)},
                 {"port", output.port},
                 {"ttl_threshold", output.ttl_threshold}};
    if (output.ttl) {
      item["ttl"] = *output.ttl;  // absent: copies carry the received TTL - 1
    }
    outputs.push_back(std::move(item));
  }
  json object = {{"name", rule.name}, {"input", std::move(input)}, {"outputs", std::move(outputs)}};
  if (rule.allow_link_local) {
    object["allow_link_local"] = true;
  }
  return object;
}

json ok_reply() {
  return {{"ok", true}};
}

// Fails unless every key of `request` is "cmd" or one of `allowed`.
Result<void> check_request_keys(const json& request,
                                std::initializer_list<std::string_view> allowed) {
  for (const auto& item : request.items()) {
    bool known = item.key() == "cmd";
    for (std::string_view key : allowed) {
      known = known || item.key() == key;
    }
    if (!known) {
      return fail(item.key(), "unknown key for cmd '" + request["cmd"].get<std::string>() + "'");
    }
  }
  return {};
}

Result<std::string> string_field(const json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end()) {
    return fail(key, "required key missing");
  }
  if (!it->is_string()) {
    return fail(key, std::string("must be a string, got ") + it->type_name());
  }
  return it->get<std::string>();
}

// validate_config() names the candidate's rules "rules[N]"; the rule a request added is
// "rule" in the request, so its errors are renamed to point there.
Error rename_new_rule(Error error, size_t index) {
  const std::string prefix = "rules[" + std::to_string(index) + "]";
  if (error.where.rfind(prefix, 0) == 0) {
    error.where = "rule" + error.where.substr(prefix.size());
  }
  return error;
}

Result<json> add_rule(const json& request, ControlTarget& target) {
  if (auto ok = check_request_keys(request, {"rule"}); !ok) {
    return tl::unexpected(ok.error());
  }
  auto it = request.find("rule");
  if (it == request.end()) {
    return fail("rule", "required key missing");
  }
  if (it->is_object() && !it->contains("name")) {
    return fail("rule.name", "required for add_rule (remove_rule finds rules by name)");
  }
  auto rule = parse_rule_json(it->dump(), "rule");
  if (!rule) {
    return tl::unexpected(rule.error());
  }
  Config candidate = target.running_config();
  const std::string name = rule->name;
  candidate.rules.push_back(std::move(*rule));
  if (auto valid = validate_config(candidate, target.interfaces()); !valid) {
    return tl::unexpected(rename_new_rule(valid.error(), candidate.rules.size() - 1));
  }
  if (auto applied = target.apply_rules(candidate, "add_rule " + name); !applied) {
    return tl::unexpected(rename_new_rule(applied.error(), candidate.rules.size() - 1));
  }
  json reply = ok_reply();
  reply["added"] = name;
  return reply;
}

Result<json> remove_rule(const json& request, ControlTarget& target) {
  if (auto ok = check_request_keys(request, {"name"}); !ok) {
    return tl::unexpected(ok.error());
  }
  auto name = string_field(request, "name");
  if (!name) {
    return tl::unexpected(name.error());
  }
  Config candidate = target.running_config();
  auto& rules = candidate.rules;
  const auto it = std::find_if(rules.begin(), rules.end(),
                               [&](const Rule& rule) { return rule.name == *name; });
  if (it == rules.end()) {
    return fail("name", "no rule named '" + *name + "'");
  }
  if (rules.size() == 1) {
    return fail("name", "'" + *name + "' is the last rule; a relay needs at least one");
  }
  rules.erase(it);
  if (auto applied = target.apply_rules(candidate, "remove_rule " + *name); !applied) {
    return tl::unexpected(applied.error());
  }
  json reply = ok_reply();
  reply["removed"] = *name;
  return reply;
}

// The commands a read-only connection may use: they change nothing.
bool read_only_command(std::string_view cmd) {
  return cmd == "ping" || cmd == "version" || cmd == "list_rules" || cmd == "stats";
}

// A command without arguments whose reply is one key: {"ok":true,"pong":true}.
Result<json> plain_reply(const json& request, const char* key, json value) {
  if (auto ok = check_request_keys(request, {}); !ok) {
    return tl::unexpected(ok.error());
  }
  json reply = ok_reply();
  reply[key] = std::move(value);
  return reply;
}

Result<json> list_rules(const json& request, const ControlTarget& target) {
  json rules = json::array();
  for (const Rule& rule : target.running_config().rules) {
    rules.push_back(rule_object(rule));
  }
  return plain_reply(request, "rules", std::move(rules));
}

Result<json> stats_reply(const json& request, ControlTarget& target) {
  if (auto ok = check_request_keys(request, {"format"}); !ok) {
    return tl::unexpected(ok.error());
  }
  std::string format = "json";
  if (request.contains("format")) {
    auto given = string_field(request, "format");
    if (!given) {
      return tl::unexpected(given.error());
    }
    format = *given;
  }
  if (format != "json" && format != "prometheus") {
    return fail("format", "'" + format + "' is not one of json, prometheus");
  }
  const RelayStats stats = target.stats();
  json reply = ok_reply();
  if (format == "prometheus") {
    reply["prometheus"] = format_prometheus(stats);
  } else {
    reply["stats"] = json::parse(format_stats_object(stats));
  }
  return reply;
}

Result<json> set_level(const json& request) {
  if (auto ok = check_request_keys(request, {"level"}); !ok) {
    return tl::unexpected(ok.error());
  }
  auto text = string_field(request, "level");
  if (!text) {
    return tl::unexpected(text.error());
  }
  auto level = parse_log_level(*text, "level");
  if (!level) {
    return tl::unexpected(level.error());
  }
  set_log_level(*level);
  json reply = ok_reply();
  reply["level"] = std::string(to_string(*level));
  return reply;
}

Result<json> dispatch(const json& request, ControlTarget& target, ControlRole role) {
  if (!request.is_object()) {
    return fail("request", std::string("must be a JSON object, got ") + request.type_name());
  }
  auto cmd = string_field(request, "cmd");
  if (!cmd) {
    return tl::unexpected(cmd.error());
  }
  if (role == ControlRole::read_only && !read_only_command(*cmd)) {
    target.note_refused_request(*cmd);
    return fail("cmd", "'" + *cmd +
                           "' needs full control access; this connection is read-only "
                           "(--control-read-group): ping, version, list_rules, stats");
  }
  if (*cmd == "ping") {
    return plain_reply(request, "pong", true);
  }
  if (*cmd == "version") {
    return plain_reply(request, "version", MRELAY_VERSION);
  }
  if (*cmd == "list_rules") {
    return list_rules(request, target);
  }
  if (*cmd == "add_rule") {
    return add_rule(request, target);
  }
  if (*cmd == "remove_rule") {
    return remove_rule(request, target);
  }
  if (*cmd == "stats") {
    return stats_reply(request, target);
  }
  if (*cmd == "set_log_level") {
    return set_level(request);
  }
  return fail("cmd", "unknown command '" + *cmd +
                         "' (one of ping, version, list_rules, add_rule, remove_rule, stats, "
                         "set_log_level)");
}

void append_escaped_label(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// One metric family: "# HELP", "# TYPE", then its samples.
void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name,
                   std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                   uint64_t value) {
  out += name;
  if (labels.size() != 0) {
    out += '{';
    bool first = true;
    for (const auto& [key, label_value] : labels) {
      out += first ? "" : ",";
      first = false;
      out += key;
      out += "=\"";
      append_escaped_label(out, label_value);
      out += '"';
    }
    out += '}';
  }
  char number[32];
  std::snprintf(number, sizeof number, " %" PRIu64 "\n", value);
  out += number;
}

}  // namespace

std::vector<RuleStats> collect_rule_stats(const RelayPlan& plan) {
  std::vector<RuleStats> rules;
  rules.reserve(plan.config.rules.size());
  for (size_t r = 0; r < plan.config.rules.size(); ++r) {
    RuleStats rule;
    rule.name = plan.config.rules[r].name;
    rule.sources = source_texts(plan.config.rules[r]);
    for (const auto& per_worker : plan.rule_counters) {
      rule.counters.matched_packets +=
          __atomic_load_n(&per_worker[r].matched_packets, __ATOMIC_RELAXED);
      rule.counters.matched_bytes +=
          __atomic_load_n(&per_worker[r].matched_bytes, __ATOMIC_RELAXED);
    }
    const uint32_t first = plan.rule_first_output[r];
    for (uint32_t o = first; o < first + plan.rule_output_count[r]; ++o) {
      OutputStats output;
      output.output = plan.outputs[o];
      for (const auto& per_worker : plan.output_counters) {
        output.counters.queued_packets +=
            __atomic_load_n(&per_worker[o].queued_packets, __ATOMIC_RELAXED);
        output.counters.dropped_packets +=
            __atomic_load_n(&per_worker[o].dropped_packets, __ATOMIC_RELAXED);
        output.counters.failed_packets +=
            __atomic_load_n(&per_worker[o].failed_packets, __ATOMIC_RELAXED);
      }
      rule.outputs.push_back(std::move(output));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string format_stats_object(const RelayStats& stats) {
  // The stats line (a contract with the rig) plus the per-rule section.
  json object = json::parse(format_stats_json(stats.header, stats.workers, &stats.process));
  json rules = json::array();
  for (const RuleStats& rule : stats.rules) {
    json outputs = json::array();
    for (const OutputStats& output : rule.outputs) {
      outputs.push_back({{"output", output_label(output.output)},
                         {"queued_packets", output.counters.queued_packets},
                         {"dropped_packets", output.counters.dropped_packets},
                         {"failed_packets", output.counters.failed_packets}});
    }
    json sources = rule.sources;  // empty: any source, a (*,G) join
    if (rule.sources.empty()) {
      sources = json::array();
    }
    rules.push_back({{"name", rule.name},
                     {"sources", std::move(sources)},
                     {"matched_packets", rule.counters.matched_packets},
                     {"matched_bytes", rule.counters.matched_bytes},
                     {"outputs", std::move(outputs)}});
  }
  object["rules"] = std::move(rules);
  return dump_line(object);
}

namespace {

// Build, configuration, uptime, rule count.
void append_overview(std::string& out, const RelayStats& stats) {
  append_family(out, "mrelay_info", "gauge",
                "Relay build and data-plane configuration (always 1).");
  append_sample(out, "mrelay_info",
                {{"version", MRELAY_VERSION},
                 {"ingress", to_string(stats.header.ingress)},
                 {"egress", to_string(stats.header.egress)}},
                1);
  append_family(out, "mrelay_uptime_seconds", "gauge", "Seconds since the workers started.");
  char uptime[64];
  std::snprintf(uptime, sizeof uptime, "mrelay_uptime_seconds %.3f\n", stats.header.uptime_s);
  out += uptime;
  append_family(out, "mrelay_start_time_seconds", "gauge",
                "Start time of the relay's workers since the Unix epoch, in seconds.");
  char start[64];
  std::snprintf(start, sizeof start, "mrelay_start_time_seconds %.3f\n", stats.start_time_s);
  out += start;
  append_family(out, "mrelay_rules", "gauge", "Rules installed.");
  append_sample(out, "mrelay_rules", {}, stats.rules.size());
}

// Counter name (counters.h) -> Prometheus family and label. The cause of a drop, refusal or
// malformed packet is a label value, not part of the family name (the Prometheus naming
// guide: one family per quantity, so sum(mrelay_packets_dropped_total) is every drop); units
// (packets, bytes) are in the family name. docs/operations.md lists every family; a counter
// missing here fails PrometheusNames.EveryCounterHasAFamily.
struct PrometheusName {
  std::string_view counter;
  std::string_view family;
  std::string_view label;  // "reason", "result" ... or empty
  std::string_view value;  // the label's value
};

constexpr PrometheusName kPrometheusNames[] = {
    {"rx_packets", "mrelay_received_packets_total", "", ""},
    {"rx_bytes", "mrelay_received_bytes_total", "", ""},
    {"fwd_packets", "mrelay_forwarded_packets_total", "", ""},
    {"tx_packets", "mrelay_sent_packets_total", "", ""},
    {"tx_bytes", "mrelay_sent_bytes_total", "", ""},
    {"malformed_truncated", "mrelay_packets_malformed_total", "reason", "truncated"},
    {"malformed_bad_ip_header", "mrelay_packets_malformed_total", "reason", "bad_ip_header"},
    {"malformed_bad_length", "mrelay_packets_malformed_total", "reason", "bad_length"},
    {"malformed_bad_checksum", "mrelay_packets_malformed_total", "reason", "bad_checksum"},
    {"malformed_fragment", "mrelay_packets_malformed_total", "reason", "fragment"},
    {"malformed_udp_checksum", "mrelay_packets_malformed_total", "reason", "udp_checksum"},
    {"malformed_gso", "mrelay_packets_malformed_total", "reason", "gso"},
    {"unmatched_not_ipv4", "mrelay_packets_unmatched_total", "reason", "not_ipv4"},
    {"unmatched_not_udp", "mrelay_packets_unmatched_total", "reason", "not_udp"},
    {"unmatched_no_rule", "mrelay_packets_unmatched_total", "reason", "no_rule"},
    {"rejected_other_host", "mrelay_packets_rejected_total", "reason", "other_host"},
    {"rejected_martian_source", "mrelay_packets_rejected_total", "reason", "martian_source"},
    {"exhausted_packets", "mrelay_exhausted_packets_total", "", ""},
    {"drop_buffer_exhausted", "mrelay_packets_dropped_total", "reason", "buffer_exhausted"},
    {"drop_queue_full", "mrelay_packets_dropped_total", "reason", "queue_full"},
    {"drop_enobufs", "mrelay_packets_dropped_total", "reason", "enobufs"},
    {"drop_eagain", "mrelay_packets_dropped_total", "reason", "eagain"},
    {"drop_other_errno", "mrelay_packets_dropped_total", "reason", "other_errno"},
    {"drop_ttl_expired", "mrelay_packets_dropped_total", "reason", "ttl_expired"},
    {"drop_ttl_threshold", "mrelay_packets_dropped_total", "reason", "ttl_threshold"},
    {"drop_cancelled", "mrelay_packets_dropped_total", "reason", "cancelled"},
    {"rx_truncated", "mrelay_packets_dropped_total", "reason", "rx_truncated"},
    {"rx_oversize", "mrelay_packets_dropped_total", "reason", "rx_oversize"},
    {"drop_too_big", "mrelay_packets_dropped_total", "reason", "too_big"},
    {"tx_fragmented", "mrelay_sent_fragmented_packets_total", "", ""},
    {"syscalls", "mrelay_syscalls_total", "", ""},
    {"batches", "mrelay_egress_batches_total", "", ""},
    {"uring_sq_full", "mrelay_uring_sq_full_events_total", "", ""},
    {"kernel_drops", "mrelay_kernel_dropped_packets_total", "", ""},
    {"ingress_errors", "mrelay_ingress_errors_total", "", ""},
    {"output_rebinds", "mrelay_output_rebinds_total", "result", "ok"},
    {"output_rebind_failures", "mrelay_output_rebinds_total", "result", "failed"},
    {"gso_fallbacks", "mrelay_gso_fallbacks_total", "", ""},
    {"gso_frames", "mrelay_gso_received_frames_total", "", ""},
    {"gso_segments", "mrelay_gso_received_segments_total", "", ""},
    // process counters
    {"control_peer_refused", "mrelay_control_refused_total", "reason", "peer"},
    {"control_request_refused", "mrelay_control_refused_total", "reason", "read_only"},
    {"control_busy_refused", "mrelay_control_refused_total", "reason", "busy"},
    {"metrics_busy_refused", "mrelay_metrics_refused_total", "reason", "busy"},
    {"client_deadline_closes", "mrelay_client_deadline_closes_total", "", ""},
    {"metrics_bind_retries", "mrelay_metrics_bind_retries_total", "", ""},
    {"ingress_reopens", "mrelay_ingress_reopens_total", "result", "ok"},
    {"ingress_reopen_failures", "mrelay_ingress_reopens_total", "result", "failed"},
    {"state_save_failures", "mrelay_state_save_failures_total", "", ""},
};

// The help of a family: its own words, then what each label value counts (counters.h).
const std::map<std::string_view, std::string_view>& family_help() {
  static const std::map<std::string_view, std::string_view> help = {
      {"mrelay_packets_malformed_total", "Frames refused as malformed, by reason."},
      {"mrelay_packets_unmatched_total", "Frames or packets matching no rule, by reason."},
      {"mrelay_packets_rejected_total",
       "Frames refused as the kernel's receive path would (another host, martian source)."},
      {"mrelay_packets_dropped_total",
       "Packets or copies dropped, by reason; each dropped packet or copy in exactly one "
       "reason (docs/metrics.md, Drop accounting)."},
      {"mrelay_output_rebinds_total", "Outputs re-attached to a re-created interface, by result."},
      {"mrelay_control_refused_total", "Control connections or requests refused, by reason."},
      {"mrelay_metrics_refused_total", "Metrics connections refused (503), by reason."},
      {"mrelay_ingress_reopens_total",
       "Ingress interfaces re-opened after being re-created, by result."},
  };
  return help;
}

}  // namespace

std::optional<PrometheusSeries> prometheus_series(std::string_view counter) {
  for (const PrometheusName& name : kPrometheusNames) {
    if (name.counter == counter) {
      return PrometheusSeries{name.family, name.label, name.value};
    }
  }
  return std::nullopt;
}

namespace {

// One counter's samples, under its family's HELP/TYPE header when the family starts here.
void append_counter(std::string& out, std::set<std::string_view>& started,
                    std::string_view counter, std::string_view counter_help,
                    const std::vector<std::pair<std::string, uint64_t>>& samples) {
  const std::optional<PrometheusSeries> series = prometheus_series(counter);
  const std::string fallback = "mrelay_" + std::string(counter) + "_total";
  const std::string_view family = series ? series->family : std::string_view(fallback);
  if (started.insert(family).second) {
    const auto help = family_help().find(family);
    append_family(out, family, "counter",
                  help != family_help().end() ? help->second : counter_help);
  }
  for (const auto& [worker, value] : samples) {
    if (series && !series->label.empty() && !worker.empty()) {
      append_sample(out, family, {{"worker", worker}, {series->label, series->value}}, value);
    } else if (series && !series->label.empty()) {
      append_sample(out, family, {{series->label, series->value}}, value);
    } else if (!worker.empty()) {
      append_sample(out, family, {{"worker", worker}}, value);
    } else {
      append_sample(out, family, {}, value);
    }
  }
}

// Worker counters: one sample per worker and label value; process counters (control plane,
// lifecycle): one sample each, no worker label. Emitted in the table's order, where each
// family's counters are adjacent: the text format wants one block per family.
void append_counters(std::string& out, const RelayStats& stats) {
  using Samples = std::vector<std::pair<std::string, uint64_t>>;
  std::map<std::string_view, std::pair<Samples, std::string_view>> by_counter;
  for (const WorkerStats& worker : stats.workers) {
    for_each_counter(worker.counters, [&](std::string_view name, uint64_t v, std::string_view help) {
      auto& [samples, counter_help] = by_counter[name];
      samples.emplace_back(std::to_string(worker.worker), v);
      counter_help = help;
    });
  }
  for_each_process_counter(stats.process,
                           [&](std::string_view name, uint64_t v, std::string_view help) {
                             by_counter[name] = {{{"", v}}, help};
                           });
  std::set<std::string_view> started;
  for (const PrometheusName& name : kPrometheusNames) {
    if (auto found = by_counter.find(name.counter); found != by_counter.end()) {
      append_counter(out, started, name.counter, found->second.second, found->second.first);
      by_counter.erase(found);
    }
  }
  for (const auto& [counter, samples_help] : by_counter) {  // not in the table: its own name
    append_counter(out, started, counter, samples_help.second, samples_help.first);
  }
}

void append_rule_family(std::string& out, const RelayStats& stats, std::string_view family,
                        std::string_view help, uint64_t RuleCounters::*counter) {
  append_family(out, family, "counter", help);
  for (const RuleStats& rule : stats.rules) {
    append_sample(out, family, {{"rule", rule.name}}, rule.counters.*counter);
  }
}

// Copies per output by outcome: queued (the backend accepted it: sent or queued), dropped
// (refused at hand-over: no slot, send error), failed (accepted, then a later send or
// completion failed, or cancelled at a teardown). queued + dropped = every copy handed over.
void append_output_family(std::string& out, const RelayStats& stats) {
  constexpr std::string_view family = "mrelay_output_packets_total";
  append_family(out, family, "counter",
                "Copies for this output by outcome: queued (accepted by the egress backend), "
                "dropped (refused at hand-over), failed (accepted, not sent after all: "
                "EAGAIN, ENOBUFS, errno, or cancelled at a teardown).");
  for (const RuleStats& rule : stats.rules) {
    for (const OutputStats& output : rule.outputs) {
      const std::string label = output_label(output.output);
      for (auto [outcome, value] : {std::pair{"queued", output.counters.queued_packets},
                                    std::pair{"dropped", output.counters.dropped_packets},
                                    std::pair{"failed", output.counters.failed_packets}}) {
        append_sample(out, family,
                      {{"rule", rule.name}, {"output", label}, {"outcome", outcome}}, value);
      }
    }
  }
}

}  // namespace

std::string format_prometheus(const RelayStats& stats) {
  std::string out;
  out.reserve(4096 + 512 * stats.workers.size() + 512 * stats.rules.size());
  append_overview(out, stats);
  append_counters(out, stats);
  append_rule_family(out, stats, "mrelay_rule_matched_packets_total",
                     "Packets the rule table matched to this rule.",
                     &RuleCounters::matched_packets);
  append_rule_family(out, stats, "mrelay_rule_matched_bytes_total",
                     "UDP payload bytes of the packets matched to this rule.",
                     &RuleCounters::matched_bytes);
  append_output_family(out, stats);
  return out;
}

std::string rule_to_json(const Rule& rule) {
  return dump_line(rule_object(rule));
}

std::string rules_to_json(const std::vector<Rule>& rules) {
  json array = json::array();
  for (const Rule& rule : rules) {
    array.push_back(rule_object(rule));
  }
  return json{{"rules", std::move(array)}}.dump(2, ' ', false, json::error_handler_t::replace) +
         "\n";
}

std::string error_reply(const Error& error) {
  return dump_line(json{{"ok", false}, {"error", error.to_string()}, {"field", error.where}});
}

std::string handle_request(std::string_view line, ControlTarget& target, ControlRole role) {
  if (line.size() > kMaxRequestBytes) {
    return error_reply(Error{
        "request", "request too large (limit " + std::to_string(kMaxRequestBytes) + " bytes)"});
  }
  json request;
  try {
    request = json::parse(line);
  } catch (const json::exception& error) {
    std::string what = error.what();
    if (const size_t end = what.find("] ");
        !what.empty() && what.front() == '[' && end != std::string::npos) {
      what = what.substr(end + 2);
    }
    return error_reply(Error{"request", "malformed JSON: " + what});
  }
  try {
    auto reply = dispatch(request, target, role);
    if (!reply) {
      return error_reply(reply.error());
    }
    return dump_line(*reply);
  } catch (const json::exception& error) {
    // A type the dispatcher did not expect somewhere: still an error reply, never a crash.
    return error_reply(Error{"request", std::string("invalid request: ") + error.what()});
  }
}

}  // namespace mrelay
