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
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mrelay {
namespace {

struct FlagSpec {
  std::string_view name;        // long form, "--batch"
  std::string_view short_name;  // "-h", or empty
  bool takes_value;
};

constexpr std::array kFlags = {
    FlagSpec{"--config", "", true},
    FlagSpec{"--check-config", "", true},
    FlagSpec{"--in", "", true},
    FlagSpec{"--out", "", true},
    FlagSpec{"--source", "", true},
    FlagSpec{"--ttl", "", true},
    FlagSpec{"--vlan", "", true},
    FlagSpec{"--ingress", "", true},
    FlagSpec{"--egress", "", true},
    FlagSpec{"--queue-depth", "", true},
    FlagSpec{"--batch", "", true},
    FlagSpec{"--sndbuf", "", true},
    FlagSpec{"--rcvbuf", "", true},
    FlagSpec{"--workers", "", true},
    FlagSpec{"--cpus", "", true},
    FlagSpec{"--pool-buffers", "", true},
    FlagSpec{"--buffer-size", "", true},
    FlagSpec{"--stats-interval", "", true},
    FlagSpec{"--stats-json", "", true},
    FlagSpec{"--control-socket", "", true},
    FlagSpec{"--state-file", "", true},
    FlagSpec{"--metrics-listen", "", true},
    FlagSpec{"--log-level", "", true},
    FlagSpec{"--help", "-h", false},
    FlagSpec{"--version", "-V", false},
    // Operations (privileges.h, supervisor.h).
    FlagSpec{"--user", "", true},
    FlagSpec{"--group", "", true},
    FlagSpec{"--supervise", "", false},
    FlagSpec{"--rt-priority", "", true},
    // TTL and loops (config.h): the quick form's per-output TTL options.
    FlagSpec{"--ttl-threshold", "", true},
    FlagSpec{"--allow-link-local", "", false},
    // Control-socket access (control_server.h).
    FlagSpec{"--control-group", "", true},
    FlagSpec{"--control-read-group", "", true},
};

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
  std::string_view name;  // always the long form
  std::string value;
};

// Bounds the flags check themselves (the rest go through validate_knobs()). Kept in step with
// the JSON ranges in config.cc so both print "must be in 1..255" / "must be in 1..254".
constexpr uint64_t kMaxTtl = 255;
constexpr uint64_t kMaxTtlThreshold = 254;
constexpr uint64_t kMaxVlan = 4094;  // 802.1Q: 4095 is reserved, 0 means no VLAN
constexpr uint64_t kMaxCpu = 1023;

const FlagSpec* find_flag(std::string_view name) {
  for (const FlagSpec& spec : kFlags) {
    if (name == spec.name || (!spec.short_name.empty() && name == spec.short_name)) {
      return &spec;
    }
  }
  return nullptr;
}

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

// Splits argv into (flag, value) pairs. Returns help/version as soon as it sees them.
Result<std::vector<Flag>> tokenize(int argc, const char* const* argv, Action& action) {
  std::vector<Flag> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i] == nullptr ? std::string_view() : argv[i];
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const size_t equals = arg.find('='); equals != std::string_view::npos) {
        name = arg.substr(0, equals);
        inline_value = arg.substr(equals + 1);
      }
    }
    const FlagSpec* spec = find_flag(name);
    if (spec == nullptr) {
      if (!arg.starts_with("-")) {
        return fail(quoted(arg), "unexpected argument (every value follows its flag; see --help)");
      }
      return fail(std::string(name), "unknown flag (see --help)");
    }
    if (!spec->takes_value) {
      if (inline_value) {
        return fail(std::string(spec->name), "takes no value");
      }
      if (spec->name == "--help" || spec->name == "--version") {
        action = spec->name == "--help" ? Action::help : Action::version;
        return flags;
      }
      flags.push_back(Flag{spec->name, std::string()});  // a switch (--supervise)
      continue;
    }
    std::string value;
    if (inline_value) {
      value = std::string(*inline_value);
    } else {
      // A following "--flag" means the value was forgotten, not that it is the value.
      if (i + 1 >= argc || argv[i + 1] == nullptr ||
          std::string_view(argv[i + 1]).starts_with("--")) {
        return fail(std::string(spec->name), "missing value");
      }
      value = argv[++i];
    }
    flags.push_back(Flag{spec->name, std::move(value)});
  }
  return flags;
}

// The quick form's flags (--in, --out, --source, --ttl, --ttl-threshold, --allow-link-local,
// --vlan), gathered in command-line order before they become one rule.
struct QuickForm {
  std::optional<Output> input;
  std::vector<Output> outputs;
  SourceList source;  // --source, repeatable
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

Result<in_addr> parse_quick_source(std::string_view flag, const std::string& text) {
  in_addr source{};
  if (inet_pton(AF_INET, text.c_str(), &source) != 1) {
    return fail(std::string(flag), quoted(text) + " is not an IPv4 address (a.b.c.d)");
  }
  const uint32_t host = ntohl(source.s_addr);
  if (IN_MULTICAST(host) || host == INADDR_ANY || host == INADDR_BROADCAST) {
    return fail(std::string(flag), text + " is not a unicast source address");
  }
  return source;
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
    auto source = parse_quick_source(name, flag.value);
    if (!source) {
      return tl::unexpected(source.error());
    }
    if (quick.source.contains(*source)) {
      return fail("--source", flag.value + " is given twice");
    }
    quick.source.push_back(*source);
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
        {!quick.outputs.empty(), "--out"},        {!quick.source.empty(), "--source"},
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
  Rule rule;
  rule.name = "cli";
  rule.input_interface = quick.input->interface;
  rule.group = quick.input->address;
  rule.group6 = quick.input->address6;
  rule.port = quick.input->port;
  rule.source = quick.source;
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
  auto flags = tokenize(argc, argv, early_action);
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

// The --help text, one section per function below, read top to bottom. One flag per entry:
// the first line, then continuation lines, kept under 100 columns; defaults come from Config.
// Usage lines and what the relay does.
std::string usage_synopsis() {
  std::string text;
  text += "usage: mrelay --config FILE [flags]\n";
  text += "       mrelay --in IFACE:GROUP:PORT --out IFACE:ADDR:PORT [--out ...] [flags]\n";
  text += "       mrelay --check-config FILE\n\n";
  text += "Relays multicast UDP received on one interface to one or many outputs.\n";
  text += "Flags override the config file's values; --flag VALUE and --flag=VALUE both work.\n\n";
  return text;
}

// The rules: the config file and the quick form.
std::string usage_rules() {
  std::string text;
  text += "Rules:\n";
  text += "  --config FILE           JSON config (rules and knobs). Default: none\n";
  text += "  --check-config FILE     load and validate FILE (interfaces too), report, exit\n";
  text += "  --in IFACE:GROUP:PORT   quick form input: multicast group and UDP port; builds one\n";
  text += "                          rule named \"cli\" (appended to --config's rules). IPv6 in\n";
  text += "                          brackets: --in eth0:[ff3e::1]:5000\n";
  text += "  --out IFACE:ADDR:PORT   quick form output: multicast group or unicast host;\n";
  text += "                          repeatable, one per output; IPv6: IFACE:[ff3e::2]:6000\n";
  text += "  --source ADDR           quick form: only packets from this source, joined source-\n"
          "                          specifically (IGMPv3); repeat for up to " +
          std::to_string(kMaxRuleSources) + " sources. Default: any\n";
  text += "  --ttl N                 quick form: fixed TTL of every copy, 1..255. Default: none,\n";
  text += "                          each copy leaves with the received TTL - 1 (as from a\n";
  text += "                          router; earlier versions: a fixed TTL of 1). A fixed\n";
  text += "                          TTL restarts the count at this relay: loops through other\n";
  text += "                          hosts then no longer die out\n";
  text += "  --ttl-threshold N       quick form: forward only packets received with TTL > N,\n";
  text += "                          1..254. Default: " + std::to_string(kDefaultTtlThreshold) +
          " (a packet received with TTL <= 1 is\n";
  text += "                          never forwarded, whatever the threshold)\n";
  text += "  --allow-link-local      quick form: allow 224.0.0.0/24, ff01::/16 and ff02::/16\n";
  text += "                          groups (never forwarded otherwise; refused at load).\n";
  text += "                          Default: refused\n";
  text += "  --vlan N                quick form, packet ingress: take the frames of 802.1Q VLAN\n";
  text += "                          N (1..4094) on a trunk. Default: untagged frames only\n";
  text += "  Rules whose outputs feed each other's inputs (same group and port, any interface)\n";
  text += "  are refused at load, reload and add_rule: a forwarding loop on this host.\n\n";
  return text;
}

// The data plane's knobs, with their defaults.
std::string usage_data_plane(const Config& defaults) {
  const std::string d_ingress(to_string(defaults.ingress));
  const std::string d_backend(to_string(defaults.egress.backend));
  std::string text;
  text += "Data plane:\n";
  text += "  --ingress MODE          packet (AF_PACKET) | udp (joined UDP socket).\n";
  text += "                          Default: " + d_ingress + "\n";
  text +=
      "  --egress BACKEND        send | sendmmsg | uring | packet | gso. Default: " + d_backend +
      "\n";
  text += "                          packet: multicast outputs as self-built frames through one\n";
  text +=
      "                          AF_PACKET socket, one sendmmsg per loop turn for all outputs\n";
  text += "                          (needs CAP_NET_RAW; unicast outputs use their UDP socket).\n";
  text += "                          gso: sendmmsg where each run of equal-sized copies to one\n";
  text += "                          output is one UDP_SEGMENT send (Linux >= 4.18).\n";
  text += "  --queue-depth N         io_uring submission queue entries, power of two 1..32768.\n";
  text +=
      "                          Default: " + std::to_string(defaults.egress.queue_depth) + "\n";
  text += "  --batch N               packets per output per sendmmsg / io_uring submit,\n";
  text +=
      "                          1..1024. Default: " + std::to_string(defaults.egress.batch) + "\n";
  text += "  --sndbuf BYTES          SO_SNDBUF of egress sockets in bytes, 0 = kernel default,\n";
  text += "                          max 1G; suffixes K/M/G = KiB/MiB/GiB (4M).\n";
  text += "                          Default: " + size_text(defaults.egress.sndbuf) + "\n";
  text += "  --rcvbuf BYTES          SO_RCVBUF / ring size of ingress sockets, same units.\n";
  text += "                          Default: " + size_text(defaults.rcvbuf) + "\n";
  text += "  --workers N             event loops (threads) sharing ingress, 1..64. Default: " +
          std::to_string(defaults.workers) + "\n";
  text += "  --cpus LIST             pin worker i to LIST[i % size], e.g. 1 or 0,1 or 0-3.\n";
  text += "                          Default: no pinning\n";
  text += "  --rt-priority N         SCHED_FIFO priority 1..99 of the workers, 0 = normal; keeps\n";
  text += "                          a pinned worker from waiting behind other tasks on its core\n";
  text += "                          (needs CAP_SYS_NICE). Default: 0\n";
  text += "  --pool-buffers N        packet buffers per worker, 64..1048576, lowered to fit " +
          std::to_string(kMaxPoolBytes >> 20) + " MiB.\n";
  text += "                          Default: " + std::to_string(defaults.pool_buffers) + "\n";
  text += "  --buffer-size BYTES     bytes per packet buffer, " + std::to_string(kMinBufferSize) +
          ".." + std::to_string(kMaxBufferSize) + "; 0 = the largest\n";
  text += "                          ingress MTU + " + std::to_string(kBufferFrameOverhead) +
          " (MTU 9000: 9088). Default: 0\n\n";
  return text;
}

// Stats output.
std::string usage_output(const Config& defaults) {
  std::string text;
  text += "Output:\n";
  text += "  --stats-interval MS     a stats line every MS milliseconds, 0 = off, max 3600000.\n";
  text += "                          Default: " + std::to_string(defaults.stats_interval_ms) + "\n";
  text += "  --stats-json FILE       final stats as JSON to FILE instead of stdout, written\n";
  text += "                          to a temporary file and renamed; a symlink or other\n";
  text += "                          non-regular file at FILE is refused. Default: stdout\n";
  return text;
}

// The control plane and the signals.
std::string usage_control() {
  std::string text;
  text += "\nControl (docs/operations.md):\n";
  text += "  --control-socket PATH   Unix socket for mrelayctl (JSON lines: add_rule,\n";
  text += "                          remove_rule, list_rules, stats, set_log_level, ping,\n";
  text += "                          version), created 0660. Every peer is checked\n";
  text += "                          (SO_PEERCRED): root and the relay's own uid have full\n";
  text += "                          access, anyone else is refused unless in a group below.\n";
  text += "                          Default: none\n";
  text += "  --control-group GROUP   members (name or gid) get full control access; the\n";
  text += "                          socket file gets this group. Default: none\n";
  text += "  --control-read-group GROUP\n";
  text += "                          members get read-only access (ping, version,\n";
  text += "                          list_rules, stats); the socket becomes 0666 so they can\n";
  text += "                          connect (every peer is still checked). Default: none\n";
  text += "  --state-file PATH       rules added/removed at run time are saved here and\n";
  text += "                          restored at the next start (temporary file + rename;\n";
  text += "                          symlinks are never followed). Default: none\n";
  text += "  --metrics-listen ADDR   127.0.0.1:PORT: Prometheus text on HTTP GET /metrics,\n";
  text += "                          loopback addresses only; a busy port is logged and\n";
  text += "                          retried (1 s doubling to 30 s). Default: none\n";
  text += "  --log-level LEVEL       error | warn | info | debug. Default: info\n";
  text += "Signals: SIGHUP re-reads --config (valid: rules applied as a diff; invalid: logged,\n";
  text += "         nothing changes); SIGUSR1 prints a stats line; SIGTERM/SIGINT drain, print\n";
  text += "         the final counters and exit 0. Signals that arrive during start-up wait\n";
  text += "         and are handled once the relay runs.\n\nOperations:\n";
  return text;
}

// Operations: privileges and the supervisor.
std::string usage_operations() {
  std::string text;
  text += "  --user NAME             after opening every socket, switch to this user (name or\n";
  text += "                          uid) and keep only the capabilities the data plane uses:\n";
  text += "                          CAP_NET_RAW for packet ingress or egress, CAP_SYS_NICE for\n";
  text += "                          --rt-priority, none otherwise. Default: keep the identity\n";
  text += "                          (the capabilities are reduced all the same)\n";
  text += "  --group NAME            group for --user. Default: the user's primary group\n";
  text += "  --supervise             run the relay as a child process and restart it when it\n";
  text += "                          dies abnormally (100 ms doubling to 5 s backoff); signals\n";
  text += "                          are forwarded; exits with the child's code on a stop\n";
  text += "  -h, --help              this text\n";
  text += "  -V, --version           print the version\n";
  return text;
}

}  // namespace

std::string usage_text() {
  const Config defaults;
  return usage_synopsis() + usage_rules() + usage_data_plane(defaults) + usage_output(defaults) +
         usage_control() + usage_operations();
}

}  // namespace mrelay
