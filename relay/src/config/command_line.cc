// mrelay's command line: flag parsing, the quick form (--in/--out) and overrides over --config.
//
//   auto cli = mrelay::parse_command_line(argc, argv);
//   if (!cli) { std::fprintf(stderr, "mrelay: %s\n", cli.error().to_string().c_str()); return 2; }
//   if (cli->action == mrelay::Action::help) { std::fputs(mrelay::usage_text().c_str(), stdout); }
//
//   mrelay --config relay.json --egress sendmmsg --batch=32 --sndbuf 4M --cpus 0-3
//   mrelay --in veth0:239.1.1.1:5000 --out veth1:239.2.2.2:6000 --out veth2:10.0.0.2:6000
//
// The file is loaded first, whatever the flag order, then every other flag is applied on top
// in command-line order (a repeated scalar flag: the last one wins). Range errors come from
// validate_knobs() (the same messages as the JSON keys) with `where` renamed to the flag.
#include "mrelay/command_line.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mrelay/cli.h"

namespace mrelay {
namespace {

// validate_knobs() reports JSON paths; a knob set by a flag is reported under the flag.
struct KnobFlag {
  std::string_view json_path;  // prefix match, so "cpus" covers "cpus[3]"
  std::string_view flag;
};
constexpr std::array kKnobFlags = {
    KnobFlag{"egress.queue_depth", "--queue-depth"},
    KnobFlag{"egress.batch", "--batch"},
    KnobFlag{"egress.sndbuf", "--sndbuf"},
    KnobFlag{"rcvbuf", "--rcvbuf"},
    KnobFlag{"workers", "--workers"},
    KnobFlag{"cpus", "--cpus"},
    KnobFlag{"rt_priority", "--rt-priority"},
    KnobFlag{"pool_buffers", "--pool-buffers"},
    KnobFlag{"buffer_size", "--buffer-size"},
    KnobFlag{"stats_interval_ms", "--stats-interval"},
    KnobFlag{"metrics_listen", "--metrics-listen"},
};

struct Flag {
  std::string_view name;  // always the long form (the parser's table owns the text)
  std::string value;
};

// mrelay's option table (the --help text), recording each flag given into `flags`.
void describe_flags(cli::Parser& parser, std::vector<Flag>& flags);

// Bounds the flags check themselves (the rest go through validate_knobs()). Kept in step with
// the JSON ranges in config.cc so both print "must be in 1..255" / "must be in 1..254".
constexpr uint64_t kMaxTtl = 255;
constexpr uint64_t kMaxTtlThreshold = 254;
constexpr uint64_t kMaxVlan = 4094;  // 802.1Q: 4095 is reserved, 0 means no VLAN
constexpr uint64_t kMaxCpu = 1023;

// Built with append, not operator+: GCC 12 gives a false -Wrestrict on "'" + std::string(...).
std::string quoted(std::string_view text) {
  std::string result;
  result.reserve(text.size() + 2);
  result += '\'';
  result.append(text);
  result += '\'';
  return result;
}

Result<uint64_t> parse_number(std::string_view flag, std::string_view text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ptr != end || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
    return fail(std::string(flag), quoted(text) + " is not a number");
  }
  if (ec == std::errc::result_out_of_range) {
    return fail(std::string(flag), quoted(text) + " is too large");
  }
  return value;
}

Result<uint32_t> parse_u32(std::string_view flag, std::string_view text) {
  auto value = parse_number(flag, text);
  if (!value) {
    return tl::unexpected(value.error());
  }
  if (*value > std::numeric_limits<uint32_t>::max()) {
    return fail(std::string(flag), quoted(text) + " is too large");
  }
  return static_cast<uint32_t>(*value);
}

// "4194304", "4096K", "4M", "1G" (binary units: K = KiB, M = MiB, G = GiB; "KiB" also works).
Result<uint32_t> parse_bytes(std::string_view flag, std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  std::string_view suffix = text.substr(digits);
  uint64_t multiplier = 1;
  if (!suffix.empty()) {
    const char unit = suffix.front();
    if (unit == 'K' || unit == 'k') {
      multiplier = 1ull << 10;
    } else if (unit == 'M' || unit == 'm') {
      multiplier = 1ull << 20;
    } else if (unit == 'G' || unit == 'g') {
      multiplier = 1ull << 30;
    } else {
      multiplier = 0;
    }
    suffix.remove_prefix(1);
    if (multiplier == 0 || !(suffix.empty() || suffix == "iB" || suffix == "B")) {
      return fail(std::string(flag),
                  quoted(text) + " is not a size in bytes (e.g. 212992, 512K, 4M, 1G)");
    }
  }
  auto number = parse_number(flag, text.substr(0, digits));
  if (!number) {
    return fail(std::string(flag),
                quoted(text) + " is not a size in bytes (e.g. 212992, 512K, 4M, 1G)");
  }
  if (*number > std::numeric_limits<uint32_t>::max() / multiplier) {
    return fail(std::string(flag), quoted(text) + " is too large");
  }
  return static_cast<uint32_t>(*number * multiplier);
}

// "1", "0,1", "0-3", "0-3,8,10-11".
Result<std::vector<int>> parse_cpu_list(std::string_view flag, std::string_view text) {
  const std::string bad_list = quoted(text) + " is not a CPU list (e.g. 1, 0,1 or 0-3)";
  std::vector<int> cpus;
  if (text.empty()) {
    return fail(std::string(flag), bad_list);
  }
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t dash = item.find('-');
    auto first = parse_number(flag, item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parse_number(flag, item.substr(dash + 1));
    if (!first || !last || *last < *first) {
      return fail(std::string(flag), bad_list);
    }
    if (*last > kMaxCpu) {
      return fail(std::string(flag), "must be in 0.." + std::to_string(kMaxCpu) + " (got " +
                                         std::to_string(*last) + ")");
    }
    for (uint64_t cpu = *first; cpu <= *last; ++cpu) {
      cpus.push_back(static_cast<int>(cpu));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return cpus;
}

// Splits argv into (flag, value) pairs with mrelay's option table (describe_flags below).
// Returns help/version as soon as it sees them.
Result<std::vector<Flag>> tokenize(const cli::Parser& parser, std::vector<Flag>& flags, int argc,
                                   const char* const* argv, Action& action) {
  const cli::Parsed parsed = parser.parse(argc, argv);
  if (parsed.action == cli::Parsed::Action::error) {
    return tl::unexpected(parsed.error);
  }
  if (parsed.action != cli::Parsed::Action::run) {
    action = parsed.action == cli::Parsed::Action::help ? Action::help : Action::version;
    return flags;
  }
  if (!parsed.positionals.empty()) {
    return fail(quoted(parsed.positionals.front()),
                "unexpected argument (every value follows its flag; see --help)");
  }
  return flags;
}

// The quick form's flags (--in, --out, --source, --ttl, --ttl-threshold, --allow-link-local,
// --vlan), gathered in command-line order before they become one rule.
struct QuickForm {
  std::optional<Output> input;
  std::vector<Output> outputs;
  SourceList source;              // --source, repeatable: IPv4 sources
  std::vector<in6_addr> source6;  // ... and IPv6 ones (for an IPv6 group)
  std::optional<uint8_t> ttl;
  std::optional<uint8_t> threshold;
  bool link_local = false;
  std::optional<uint16_t> vlan;
};

// A number flag in 1..max: "must be in 1..255 (got 0)".
Result<uint64_t> parse_in_range(std::string_view flag, std::string_view text, uint64_t max) {
  auto number = parse_number(flag, text);
  if (!number) {
    return tl::unexpected(number.error());
  }
  if (*number < 1 || *number > max) {
    return fail(std::string(flag),
                "must be in 1.." + std::to_string(max) + " (got " + std::to_string(*number) + ")");
  }
  return *number;
}

// --config / --check-config: at most one, and the file is loaded before any other flag is
// applied, so flags override it wherever they stand.
Result<void> load_config_flag(const std::vector<Flag>& flags, CommandLine& result) {
  for (const Flag& flag : flags) {
    if (flag.name != "--config" && flag.name != "--check-config") {
      continue;
    }
    if (!result.config_path.empty()) {
      return fail(std::string(flag.name), "only one --config or --check-config may be given");
    }
    if (flag.value.empty()) {
      return fail(std::string(flag.name), "missing value");
    }
    result.config_path = flag.value;
    result.action = flag.name == "--check-config" ? Action::check_config : Action::run;
  }
  if (result.config_path.empty()) {
    return {};
  }
  auto config = load_config_file(result.config_path);
  if (!config) {
    return tl::unexpected(config.error());
  }
  result.config = std::move(*config);
  return {};
}

// --in IFACE:GROUP:PORT or IFACE:[GROUP6]:PORT: an endpoint whose address is a group.
Result<Output> parse_quick_input(std::string_view flag, std::string_view text) {
  auto input = parse_endpoint(text, flag);
  if (!input) {
    return tl::unexpected(input.error());
  }
  if (input->address6 && input->address6->s6_addr[0] != 0xff) {
    return fail(std::string(flag),
                output_address_text(*input) + " is not an IPv6 multicast group (ff00::/8)");
  }
  if (!input->address6 && !IN_MULTICAST(ntohl(input->address.s_addr))) {
    return fail(std::string(flag),
                output_address_text(*input) + " is not a multicast group (224.0.0.0/4)");
  }
  return input;
}

// --source ADDR: an IPv4 or IPv6 unicast address, added to the quick form's sources of its
// family (once each).
Result<void> add_quick_source(std::string_view flag, const std::string& text, QuickForm& quick) {
  in_addr source{};
  in6_addr source6{};
  if (inet_pton(AF_INET6, text.c_str(), &source6) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&source6) || source6.s6_addr[0] == 0xff) {
      return fail(std::string(flag), text + " is not a unicast source address");
    }
    const bool twice = std::any_of(quick.source6.begin(), quick.source6.end(), [&](const in6_addr& a) {
      return std::memcmp(&a, &source6, sizeof a) == 0;
    });
    if (twice) {
      return fail(std::string(flag), text + " is given twice");
    }
    quick.source6.push_back(source6);
    return {};
  }
  if (inet_pton(AF_INET, text.c_str(), &source) != 1) {
    return fail(std::string(flag),
                quoted(text) + " is not an IPv4 (a.b.c.d) or IPv6 (e.g. fd00::1) address");
  }
  const uint32_t host = ntohl(source.s_addr);
  if (IN_MULTICAST(host) || host == INADDR_ANY || host == INADDR_BROADCAST) {
    return fail(std::string(flag), text + " is not a unicast source address");
  }
  if (quick.source.contains(source)) {
    return fail(std::string(flag), text + " is given twice");
  }
  quick.source.push_back(source);
  return {};
}

// Applies one quick-form flag to `quick`. Returns false when `flag` is not one.
Result<bool> apply_quick_flag(const Flag& flag, QuickForm& quick) {
  const std::string_view name = flag.name;
  if (name == "--in") {
    if (quick.input) {
      return fail("--in", "given twice; the quick form has one input (use --config for more)");
    }
    auto input = parse_quick_input(name, flag.value);
    if (!input) {
      return tl::unexpected(input.error());
    }
    quick.input = std::move(*input);
  } else if (name == "--out") {
    auto output = parse_endpoint(flag.value, name);
    if (!output) {
      return tl::unexpected(output.error());
    }
    quick.outputs.push_back(std::move(*output));
  } else if (name == "--source") {
    if (auto added = add_quick_source(name, flag.value, quick); !added) {
      return tl::unexpected(added.error());
    }
  } else if (name == "--ttl" || name == "--ttl-threshold") {
    auto ttl = parse_in_range(name, flag.value, name == "--ttl" ? kMaxTtl : kMaxTtlThreshold);
    if (!ttl) {
      return tl::unexpected(ttl.error());
    }
    (name == "--ttl" ? quick.ttl : quick.threshold) = static_cast<uint8_t>(*ttl);
  } else if (name == "--allow-link-local") {
    quick.link_local = true;
  } else if (name == "--vlan") {
    auto vlan = parse_in_range(name, flag.value, kMaxVlan);
    if (!vlan) {
      return tl::unexpected(vlan.error());
    }
    quick.vlan = static_cast<uint16_t>(*vlan);
  } else {
    return false;
  }
  return true;
}

// The flags whose value is a non-empty string, and where it goes.
std::string* text_target(std::string_view name, CommandLine& result) {
  Config& config = result.config;
  const std::pair<std::string_view, std::string*> targets[] = {
      {"--stats-json", &config.stats_json_path},
      {"--user", &config.user},
      {"--group", &config.group},
      {"--control-socket", &config.control_socket},
      {"--state-file", &config.state_file},
      {"--metrics-listen", &config.metrics_listen},
      {"--control-group", &config.control_group},
      {"--control-read-group", &config.control_read_group},
      {"--log-level", &result.log_level},
  };
  for (const auto& [flag, target] : targets) {
    if (name == flag) {
      return target;
    }
  }
  return nullptr;
}

// The flags whose value is a plain number (ranges: validate_knobs()), and where it goes.
uint32_t* number_target(std::string_view name, Config& config) {
  const std::pair<std::string_view, uint32_t*> targets[] = {
      {"--queue-depth", &config.egress.queue_depth},
      {"--batch", &config.egress.batch},
      {"--workers", &config.workers},
      {"--rt-priority", &config.rt_priority},
      {"--pool-buffers", &config.pool_buffers},
      {"--buffer-size", &config.buffer_size},
      {"--stats-interval", &config.stats_interval_ms},
  };
  for (const auto& [flag, target] : targets) {
    if (name == flag) {
      return target;
    }
  }
  return nullptr;
}

// Applies one flag that is not part of the quick form to the config or the command line.
Result<void> apply_setting_flag(const Flag& flag, CommandLine& result) {
  const std::string_view name = flag.name;
  Config& config = result.config;
  if (name == "--config" || name == "--check-config") {
    return {};  // loaded first (load_config_flag)
  }
  if (name == "--supervise") {
    result.supervise = true;
  } else if (name == "--ingress") {
    auto mode = parse_choice(name, flag.value, kIngressModes);
    if (!mode) {
      return tl::unexpected(mode.error());
    }
    config.ingress = *mode;
  } else if (name == "--egress") {
    auto backend = parse_choice(name, flag.value, kEgressBackends);
    if (!backend) {
      return tl::unexpected(backend.error());
    }
    config.egress.backend = *backend;
  } else if (name == "--sndbuf" || name == "--rcvbuf") {
    auto bytes = parse_bytes(name, flag.value);
    if (!bytes) {
      return tl::unexpected(bytes.error());
    }
    (name == "--sndbuf" ? config.egress.sndbuf : config.rcvbuf) = *bytes;
  } else if (name == "--cpus") {
    auto cpus = parse_cpu_list(name, flag.value);
    if (!cpus) {
      return tl::unexpected(cpus.error());
    }
    config.cpus = std::move(*cpus);
  } else if (std::string* text = text_target(name, result)) {
    if (flag.value.empty()) {
      return fail(std::string(name), "missing value");
    }
    *text = flag.value;
  } else if (uint32_t* number = number_target(name, config)) {
    auto value = parse_u32(name, flag.value);
    if (!value) {
      return tl::unexpected(value.error());
    }
    *number = *value;
  } else {
    return fail(std::string(name), "flag is declared but not handled");  // a bug in this file
  }
  return {};
}

// validate_knobs() names the JSON path; a knob the command line set is named by its flag.
Error under_flag(Error error, const std::vector<std::string_view>& given) {
  for (const KnobFlag& knob : kKnobFlags) {
    const bool flag_given = std::find(given.begin(), given.end(), knob.flag) != given.end();
    if (flag_given && std::string_view(error.where).starts_with(knob.json_path)) {
      error.where = std::string(knob.flag);
    }
  }
  return error;
}

// The rule the quick form makes ("cli"), or none without --in; its other flags need --in.
Result<std::optional<Rule>> quick_form_rule(QuickForm quick) {
  if (quick.input && quick.outputs.empty()) {
    return fail("--in", "needs at least one --out IFACE:ADDR:PORT");
  }
  if (!quick.input) {
    const std::pair<bool, const char*> needs_input[] = {
        {!quick.outputs.empty(), "--out"},
        {!quick.source.empty() || !quick.source6.empty(), "--source"},
        {quick.ttl.has_value(), "--ttl"},         {quick.threshold.has_value(), "--ttl-threshold"},
        {quick.link_local, "--allow-link-local"}, {quick.vlan.has_value(), "--vlan"},
    };
    for (const auto& [given, flag] : needs_input) {
      if (given) {
        return fail(flag, std::string_view(flag) == "--out"
                              ? "needs --in IFACE:GROUP:PORT"
                              : "applies to the quick form only; needs --in and --out");
      }
    }
    return std::optional<Rule>();
  }
  // A source of the other family than the group can never match: say so by the flag's name.
  if (quick.input->address6 ? !quick.source.empty() : !quick.source6.empty()) {
    const bool ipv6 = quick.input->address6.has_value();
    return fail("--source", std::string(ipv6 ? "an IPv4" : "an IPv6") + " source for the " +
                                (ipv6 ? "IPv6" : "IPv4") + " group of --in " +
                                output_address_text(*quick.input));
  }
  Rule rule;
  rule.name = "cli";
  rule.input_interface = quick.input->interface;
  rule.group = quick.input->address;
  rule.group6 = quick.input->address6;
  rule.port = quick.input->port;
  rule.source = quick.source;
  rule.source6 = std::move(quick.source6);
  rule.vlan = quick.vlan.value_or(0);
  rule.outputs = std::move(quick.outputs);
  rule.allow_link_local = quick.link_local;
  for (Output& output : rule.outputs) {
    output.ttl = quick.ttl;
    output.ttl_threshold = quick.threshold.value_or(output.ttl_threshold);
  }
  return std::optional<Rule>(std::move(rule));
}

}  // namespace

Result<CommandLine> parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  Action early_action = Action::run;
  std::vector<Flag> recorded;
  cli::Parser parser("mrelay", "");
  describe_flags(parser, recorded);
  auto flags = tokenize(parser, recorded, argc, argv, early_action);
  if (!flags) {
    return tl::unexpected(flags.error());
  }
  if (early_action != Action::run) {
    result.action = early_action;
    return result;
  }
  if (auto loaded = load_config_flag(*flags, result); !loaded) {
    return tl::unexpected(loaded.error());
  }
  // Every other flag in command-line order: the first bad one is the error.
  QuickForm quick;
  std::vector<std::string_view> given;  // flags seen, for naming knob errors
  for (const Flag& flag : *flags) {
    given.push_back(flag.name);
    auto is_quick = apply_quick_flag(flag, quick);
    if (!is_quick) {
      return tl::unexpected(is_quick.error());
    }
    if (!*is_quick) {
      if (auto applied = apply_setting_flag(flag, result); !applied) {
        return tl::unexpected(applied.error());
      }
    }
  }
  if (auto knobs = validate_knobs(result.config); !knobs) {
    return tl::unexpected(under_flag(knobs.error(), given));
  }
  auto rule = quick_form_rule(std::move(quick));
  if (!rule) {
    return tl::unexpected(rule.error());
  }
  if (*rule) {
    result.config.rules.push_back(std::move(**rule));
  } else if (result.action == Action::run && result.config_path.empty()) {
    return fail("--config", "no rules: give --config FILE, or --in IFACE:GROUP:PORT with --out");
  }
  return result;
}

namespace {

// "4 MiB", "512 KiB", "0 (kernel default)": the units the flags accept.
std::string size_text(uint32_t bytes) {
  if (bytes == 0) {
    return std::string("0 (kernel default)");
  }
  if (bytes % (1u << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes % (1u << 10) == 0) {
    return std::to_string(bytes >> 10) + " KiB";
  }
  return std::to_string(bytes) + " bytes";
}

// The --help text comes from the option table, one group per function below, read top to
// bottom; defaults come from Config. Every handler only records (flag, value): the file is
// loaded first and the flags applied on top in order (parse_command_line).
cli::Handler record(std::vector<Flag>& flags) {
  return [&flags](std::string_view flag, std::string_view value) -> Result<void> {
    flags.push_back(Flag{flag, std::string(value)});
    return {};
  };
}

// One value option: name, metavar, help, default shown.
cli::Option value_option(std::vector<Flag>& flags, std::string name, std::string metavar,
                         std::string help, std::string default_text = "", std::string unit = "") {
  cli::Option option;
  option.name = std::move(name);
  option.metavar = std::move(metavar);
  option.help = std::move(help);
  option.unit = std::move(unit);
  option.default_text = std::move(default_text);
  option.handle = record(flags);
  return option;
}

cli::Option switch_option(std::vector<Flag>& flags, std::string name, std::string help,
                          std::string default_text = "") {
  cli::Option option = value_option(flags, std::move(name), "", std::move(help),
                                    std::move(default_text));
  option.kind = cli::Kind::flag;
  return option;
}

// The rules: the config file and the quick form.
void describe_rules(cli::Parser& parser, std::vector<Flag>& flags) {
  parser.group("Rules",
               "  Rules whose outputs feed each other's inputs (same group and port, any\n"
               "  interface) are refused at load, reload and add_rule: a forwarding loop on\n"
               "  this host.\n");
  parser.option(value_option(flags, "--config", "FILE", "JSON config (rules and knobs)", "none"));
  parser.option(value_option(flags, "--check-config", "FILE",
                             "load and validate FILE (interfaces too), report, exit"));
  parser.option(value_option(flags, "--in", "IFACE:GROUP:PORT",
                             "quick form input: multicast group and UDP port; builds one rule "
                             "named \"cli\" (appended to --config's rules). IPv6 in brackets: "
                             "--in eth0:[ff3e::1]:5000"));
  cli::Option out = value_option(flags, "--out", "IFACE:ADDR:PORT",
                                 "quick form output: multicast group or unicast host, one per "
                                 "output; IPv6: IFACE:[ff3e::2]:6000");
  out.kind = cli::Kind::repeated;
  parser.option(std::move(out));
  cli::Option source = value_option(
      flags, "--source", "ADDR",
      "quick form: only packets from this source (IPv4, or IPv6 for an IPv6 group), joined "
      "source-specifically (IGMPv3/MLDv2); up to " +
          std::to_string(kMaxRuleSources) + " sources",
      "any");
  source.kind = cli::Kind::repeated;
  parser.option(std::move(source));
  parser.option(value_option(
      flags, "--ttl", "N",
      "quick form: fixed TTL of every copy, 1..255. Without it each copy leaves with the "
      "received TTL - 1 (as from a router; earlier versions: a fixed TTL of 1). A fixed TTL "
      "restarts the count at this relay: loops through other hosts then no longer die out",
      "none"));
  parser.option(value_option(flags, "--ttl-threshold", "N",
                             "quick form: forward only packets received with TTL > N, 1..254 (a "
                             "packet received with TTL <= 1 is never forwarded, whatever the "
                             "threshold)",
                             std::to_string(kDefaultTtlThreshold)));
  parser.option(switch_option(flags, "--allow-link-local",
                              "quick form: allow 224.0.0.0/24, ff01::/16 and ff02::/16 groups "
                              "(never forwarded otherwise; refused at load)",
                              "refused"));
  parser.option(value_option(flags, "--vlan", "N",
                             "quick form, packet ingress: take the frames of 802.1Q VLAN N "
                             "(1..4094) on a trunk",
                             "untagged frames only"));
}

// The data plane's knobs, with their defaults.
void describe_data_plane(cli::Parser& parser, std::vector<Flag>& flags, const Config& defaults) {
  parser.group("Data plane");
  parser.option(value_option(flags, "--ingress", "MODE",
                             "packet (AF_PACKET) | udp (joined UDP socket) | xdp (AF_XDP, "
                             "one worker, attaches an XDP program while running)",
                             std::string(to_string(defaults.ingress))));
  parser.option(value_option(
      flags, "--egress", "BACKEND",
      "send | sendmmsg | uring | packet | gso. packet: multicast outputs as self-built frames "
      "through one AF_PACKET socket, one sendmmsg per loop turn for all outputs (needs "
      "CAP_NET_RAW; unicast outputs use their UDP socket). gso: sendmmsg where each run of "
      "equal-sized copies to one output is one UDP_SEGMENT send (Linux >= 4.18)",
      std::string(to_string(defaults.egress.backend))));
  parser.option(value_option(flags, "--queue-depth", "N",
                             "io_uring submission queue entries, power of two 1..32768",
                             std::to_string(defaults.egress.queue_depth)));
  parser.option(value_option(flags, "--batch", "N",
                             "packets per output per sendmmsg / io_uring submit, 1..1024",
                             std::to_string(defaults.egress.batch)));
  parser.option(value_option(flags, "--sndbuf", "BYTES",
                             "SO_SNDBUF of egress sockets, 0 = kernel default, max 1G; suffixes "
                             "K/M/G = KiB/MiB/GiB (4M)",
                             size_text(defaults.egress.sndbuf), "bytes"));
  parser.option(value_option(flags, "--rcvbuf", "BYTES",
                             "SO_RCVBUF / ring size of ingress sockets, same units",
                             size_text(defaults.rcvbuf), "bytes"));
  parser.option(value_option(flags, "--workers", "N", "event loops (threads) sharing ingress, 1..64",
                             std::to_string(defaults.workers)));
  parser.option(value_option(flags, "--cpus", "LIST",
                             "pin worker i to LIST[i % size], e.g. 1 or 0,1 or 0-3", "no pinning"));
  parser.option(value_option(flags, "--rt-priority", "N",
                             "SCHED_FIFO priority 1..99 of the workers, 0 = normal; keeps a pinned "
                             "worker from waiting behind other tasks on its core (needs "
                             "CAP_SYS_NICE)",
                             "0"));
  parser.option(value_option(flags, "--pool-buffers", "N",
                             "packet buffers per worker, 64..1048576, lowered to fit " +
                                 std::to_string(kMaxPoolBytes >> 20) + " MiB",
                             std::to_string(defaults.pool_buffers)));
  parser.option(value_option(flags, "--buffer-size", "BYTES",
                             "bytes per packet buffer, " + std::to_string(kMinBufferSize) + ".." +
                                 std::to_string(kMaxBufferSize) +
                                 "; 0 = the largest ingress MTU + " +
                                 std::to_string(kBufferFrameOverhead) + " (MTU 9000: 9088)",
                             "0", "bytes"));
}

// Stats output.
void describe_output(cli::Parser& parser, std::vector<Flag>& flags, const Config& defaults) {
  parser.group("Output");
  parser.option(value_option(flags, "--stats-interval", "MS",
                             "a stats line every MS milliseconds, 0 = off, max 3600000",
                             std::to_string(defaults.stats_interval_ms), "ms"));
  parser.option(value_option(flags, "--stats-json", "FILE",
                             "final stats as JSON to FILE instead of stdout, written to a "
                             "temporary file and renamed; a symlink or other non-regular file at "
                             "FILE is refused",
                             "stdout"));
}

// The control plane and the signals.
void describe_control(cli::Parser& parser, std::vector<Flag>& flags) {
  parser.group("Control (docs/operations.md)",
               "  Signals: SIGHUP re-reads --config (valid: rules applied as a diff; invalid:\n"
               "  logged, nothing changes); SIGUSR1 prints a stats line; SIGTERM/SIGINT drain,\n"
               "  print the final counters and exit 0. Signals that arrive during start-up\n"
               "  wait and are handled once the relay runs.\n");
  parser.option(value_option(flags, "--control-socket", "PATH",
                             "Unix socket for mrelayctl (JSON lines: add_rule, remove_rule, "
                             "list_rules, stats, set_log_level, ping, version), created 0660. "
                             "Every peer is checked (SO_PEERCRED): root and the relay's own uid "
                             "have full access, anyone else is refused unless in a group below",
                             "none"));
  parser.option(value_option(flags, "--control-group", "GROUP",
                             "members (name or gid) get full control access; the socket file "
                             "gets this group",
                             "none"));
  parser.option(value_option(flags, "--control-read-group", "GROUP",
                             "members get read-only access (ping, version, list_rules, stats); "
                             "the socket becomes 0666 so they can connect (every peer is still "
                             "checked)",
                             "none"));
  parser.option(value_option(flags, "--state-file", "PATH",
                             "rules added/removed at run time are saved here and restored at the "
                             "next start (temporary file + rename; symlinks are never followed)",
                             "none"));
  parser.option(value_option(flags, "--metrics-listen", "ADDR",
                             "127.0.0.1:PORT: Prometheus text on HTTP GET /metrics, loopback "
                             "addresses only; a busy port is logged and retried (1 s doubling to "
                             "30 s)",
                             "none"));
  parser.option(value_option(flags, "--log-level", "LEVEL", "error | warn | info | debug", "info"));
}

// Operations: privileges and the supervisor.
void describe_operations(cli::Parser& parser, std::vector<Flag>& flags) {
  parser.group("Operations");
  parser.option(value_option(flags, "--user", "NAME",
                             "after opening every socket, switch to this user (name or uid) and "
                             "keep only the capabilities the data plane uses: CAP_NET_RAW for "
                             "packet ingress or egress, CAP_SYS_NICE for --rt-priority, none "
                             "otherwise (the capabilities are reduced all the same)",
                             "keep the identity"));
  parser.option(value_option(flags, "--group", "NAME", "group for --user",
                             "the user's primary group"));
  parser.option(switch_option(flags, "--supervise",
                              "run the relay as a child process and restart it when it dies "
                              "abnormally (100 ms doubling to 5 s backoff); signals are "
                              "forwarded; exits with the child's code on a stop"));
}

void describe_flags(cli::Parser& parser, std::vector<Flag>& flags) {
  const Config defaults;
  parser.usage("--config FILE [OPTIONS]");
  parser.usage("--in IFACE:GROUP:PORT --out IFACE:ADDR:PORT [--out ...] [OPTIONS]");
  parser.usage("--check-config FILE");
  parser.describe(
      "Relays multicast UDP received on one interface to one or many outputs. Flags override "
      "the config file's values; --flag VALUE and --flag=VALUE both work.");
  describe_rules(parser, flags);
  describe_data_plane(parser, flags, defaults);
  describe_output(parser, flags, defaults);
  describe_control(parser, flags);
  describe_operations(parser, flags);
}

}  // namespace

std::string usage_text() {
  std::vector<Flag> flags;
  cli::Parser parser("mrelay", "");
  describe_flags(parser, flags);
  return parser.help_text();
}

}  // namespace mrelay
