// Tests of parse_command_line / usage_text: every flag parsed, both value forms, flags
// overriding the file, the quick form, and errors that name the flag.
//
//   ./mrelay_core_test --gtest_filter='CommandLine*'
#include "mrelay/command_line.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace mrelay {
namespace {

Result<CommandLine> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"mrelay"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The quick form every knob test needs so the command line is complete.
#define QUICK "--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000"

class TempConfig {
 public:
  explicit TempConfig(const std::string& text) {
    char pattern[] = "/tmp/mrelay_cli_test_XXXXXX";
    const int fd = mkstemp(pattern);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    path_ = pattern;
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  const char* path() const { return path_.c_str(); }

 private:
  std::string path_;
};

constexpr const char* kFileConfig = R"({
  "ingress": "udp",
  "egress": {"backend": "send", "queue_depth": 256, "batch": 8, "sndbuf": 65536},
  "rcvbuf": 131072, "workers": 2, "cpus": [5], "pool_buffers": 1024,
  "rules": [{"name": "cam1",
             "input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000},
             "outputs": [{"interface": "veth1", "group": "239.2.2.2", "port": 6000}]}]
})";

TEST(CommandLine, SourceRepeatsForSeveralSources) {
  auto cli = parse({"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000", "--source",
                    "10.9.9.9", "--source", "10.9.9.8"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const SourceList& sources = cli->config.rules.at(0).source;
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].s_addr, inet_addr("10.9.9.9"));
  EXPECT_EQ(sources[1].s_addr, inet_addr("10.9.9.8"));
}

TEST(CommandLine, SourceTakesIpv6AddressesForAnIpv6Group) {
  auto cli = parse({"--in", "veth0:[ff3e::1]:5000", "--out", "veth1:[ff3e::2]:6000", "--source",
                    "fd00::9", "--source", "fd00::8"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const Rule& rule = cli->config.rules.at(0);
  EXPECT_TRUE(rule.source.empty());
  ASSERT_EQ(rule.source6.size(), 2u);
  in6_addr first{};
  ::inet_pton(AF_INET6, "fd00::9", &first);
  EXPECT_EQ(std::memcmp(&rule.source6[0], &first, sizeof first), 0);
}

TEST(CommandLine, QuickFormBuildsOneRule) {
  auto cli = parse({"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000", "--out",
                    "veth2:10.0.0.2:7000", "--source", "10.9.9.9", "--ttl", "4"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  EXPECT_EQ(cli->action, Action::run);
  EXPECT_TRUE(cli->config_path.empty());
  ASSERT_EQ(cli->config.rules.size(), 1u);
  const Rule& rule = cli->config.rules[0];
  EXPECT_EQ(rule.name, "cli");
  EXPECT_EQ(rule.input_interface, "veth0");
  EXPECT_EQ(rule.group.s_addr, inet_addr("239.1.1.1"));
  EXPECT_EQ(rule.port, 5000);
  ASSERT_EQ(rule.source.size(), 1u);
  EXPECT_EQ(rule.source[0].s_addr, inet_addr("10.9.9.9"));
  ASSERT_EQ(rule.outputs.size(), 2u);
  EXPECT_EQ(rule.outputs[1].interface, "veth2");
  EXPECT_EQ(rule.outputs[1].address.s_addr, inet_addr("10.0.0.2"));
  EXPECT_EQ(rule.outputs[1].port, 7000);
  EXPECT_EQ(rule.outputs[0].ttl, 4);
  EXPECT_EQ(rule.outputs[1].ttl, 4);
  EXPECT_EQ(rule.outputs[1].ttl_threshold, kDefaultTtlThreshold);
  EXPECT_FALSE(rule.allow_link_local);
}

TEST(CommandLine, QuickFormTtlThresholdAndLinkLocal) {
  auto cli = parse({"--in", "veth0:224.0.0.251:5353", "--out", "veth1:224.0.0.251:5353", "--out",
                    "veth2:239.2.2.2:6000", "--ttl-threshold=3", "--allow-link-local"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const Rule& rule = cli->config.rules.at(0);
  EXPECT_TRUE(rule.allow_link_local);
  for (const Output& output : rule.outputs) {
    EXPECT_EQ(output.ttl_threshold, 3);
    EXPECT_FALSE(output.ttl.has_value());  // no --ttl: the received TTL - 1
  }
}

// IPv6 in the quick form: the address in brackets, --in a group, --out a group or a host;
// the rule it builds is validated like a config file's (scopes included).
TEST(CommandLine, QuickFormIpv6InBrackets) {
  auto cli = parse({"--in", "veth0:[ff3e::1]:5000", "--out", "veth1:[ff3e::2]:6000", "--out",
                    "veth2:[2001:db8::7]:7000", "--out", "veth1:239.2.2.2:6001"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const Rule& rule = cli->config.rules.at(0);
  ASSERT_TRUE(rule.group6.has_value());
  EXPECT_EQ(input_group_text(rule), "ff3e::1");
  EXPECT_EQ(rule.group.s_addr, 0u);
  EXPECT_EQ(rule.port, 5000);
  ASSERT_EQ(rule.outputs.size(), 3u);
  EXPECT_EQ(output_address_text(rule.outputs[0]), "ff3e::2");
  EXPECT_EQ(rule.outputs[0].port, 6000);
  EXPECT_EQ(output_address_text(rule.outputs[1]), "2001:db8::7");
  EXPECT_FALSE(rule.outputs[2].address6.has_value());  // families may mix across outputs
  const InterfaceLookup lookup = [](const std::string&) { return 4u; };
  auto valid = validate_config(cli->config, lookup);
  EXPECT_TRUE(valid.has_value()) << valid.error().to_string();
}

TEST(CommandLine, QuickFormIpv6Scopes) {
  const InterfaceLookup lookup = [](const std::string&) { return 4u; };
  for (const char* group : {"veth0:[ff02::1:3]:5355", "veth0:[ff01::5]:5355"}) {
    auto refused = parse({"--in", group, "--out", "veth1:[ff3e::2]:6000"});
    ASSERT_TRUE(refused.has_value()) << refused.error().to_string();
    auto valid = validate_config(refused->config, lookup);
    ASSERT_FALSE(valid.has_value()) << group;
    EXPECT_NE(valid.error().to_string().find("allow_link_local"), std::string::npos)
        << valid.error().to_string();
    auto allowed = parse({"--in", group, "--out", "veth1:[ff3e::2]:6000", "--allow-link-local"});
    ASSERT_TRUE(allowed.has_value());
    EXPECT_TRUE(validate_config(allowed->config, lookup).has_value()) << group;
  }
}

TEST(CommandLine, QuickFormIpv6Errors) {
  struct Case {
    std::vector<const char*> args;
    const char* flag;
    const char* message;
  };
  const Case cases[] = {
      {{"--in", "veth0:[2001:db8::1]:5000", "--out", "veth1:[ff3e::2]:6000"},
       "--in",
       "not an IPv6 multicast group"},
      {{"--in", "veth0:[ff3e::zz]:5000", "--out", "veth1:[ff3e::2]:6000"},
       "--in",
       "not an IPv6 address"},
      {{"--in", "veth0:[239.1.1.1]:5000", "--out", "veth1:[ff3e::2]:6000"},
       "--in",
       "not an IPv6 address"},
      {{"--in", "veth0:ff3e::1:5000", "--out", "veth1:[ff3e::2]:6000"}, "--in", "goes in brackets"},
      {{"--in", "veth0:[ff3e::1]", "--out", "veth1:[ff3e::2]:6000"}, "--in", "IFACE:[IPV6]:PORT"},
      {{"--in", "[ff3e::1]:5000", "--out", "veth1:[ff3e::2]:6000"}, "--in", "IFACE:[IPV6]:PORT"},
      {{"--in", "veth0:[ff3e::1]:0", "--out", "veth1:[ff3e::2]:6000"}, "--in", "1..65535"},
      {{"--in", "veth0:[ff3e::1]:5000", "--out", "veth1:[::]:6000"},
       "--out",
       "not a valid destination"},
      {{"--in", "veth0:[ff30::1]:5000", "--out", "veth1:[ff3e::2]:6000"}, "--in", "reserved scope"},
  };
  for (const Case& c : cases) {
    std::vector<const char*> argv = {"mrelay"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto cli = parse_command_line(static_cast<int>(argv.size()), argv.data());
    ASSERT_FALSE(cli.has_value()) << c.args[1];
    EXPECT_EQ(cli.error().where, c.flag) << c.args[1];
    EXPECT_NE(cli.error().to_string().find(c.message), std::string::npos)
        << c.args[1] << " -> " << cli.error().to_string();
  }
}

TEST(CommandLine, EveryKnobFlagBothForms) {
  auto cli = parse({QUICK,
                    "--ingress",
                    "udp",
                    "--egress=sendmmsg",
                    "--queue-depth",
                    "128",
                    "--batch=32",
                    "--sndbuf",
                    "4M",
                    "--rcvbuf=512K",
                    "--workers",
                    "3",
                    "--cpus",
                    "0-2,7",
                    "--pool-buffers=4096",
                    "--stats-interval",
                    "500",
                    "--stats-json",
                    "/tmp/s.json",
                    "--rt-priority",
                    "10"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const Config& c = cli->config;
  EXPECT_EQ(c.ingress, IngressMode::udp);
  EXPECT_EQ(c.egress.backend, EgressBackend::sendmmsg);
  EXPECT_EQ(c.egress.queue_depth, 128u);
  EXPECT_EQ(c.egress.batch, 32u);
  EXPECT_EQ(c.egress.sndbuf, 4u << 20);
  EXPECT_EQ(c.rcvbuf, 512u << 10);
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.cpus, (std::vector<int>{0, 1, 2, 7}));
  EXPECT_EQ(c.pool_buffers, 4096u);
  EXPECT_EQ(c.rt_priority, 10u);
  EXPECT_EQ(c.stats_interval_ms, 500u);
  EXPECT_EQ(c.stats_json_path, "/tmp/s.json");
  // Without --ttl no fixed TTL: copies carry the received TTL - 1.
  EXPECT_FALSE(c.rules.at(0).outputs.at(0).ttl.has_value());
}

TEST(CommandLine, QuickFormVlan) {
  auto cli = parse({QUICK, "--vlan", "100"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  EXPECT_EQ(cli->config.rules.at(0).vlan, 100);
  auto untagged = parse({QUICK});
  ASSERT_TRUE(untagged.has_value()) << untagged.error().to_string();
  EXPECT_EQ(untagged->config.rules.at(0).vlan, 0);
}

TEST(CommandLine, DefaultsWithoutKnobFlags) {
  auto cli = parse({QUICK});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  const Config defaults;
  EXPECT_EQ(cli->config.egress.backend, defaults.egress.backend);
  EXPECT_EQ(cli->config.egress.queue_depth, defaults.egress.queue_depth);
  EXPECT_EQ(cli->config.egress.sndbuf, defaults.egress.sndbuf);
  EXPECT_TRUE(cli->config.rules.at(0).source.empty());
}

TEST(CommandLine, ByteSuffixesAndSingleCpu) {
  struct SizeCase {
    const char* text;
    uint32_t bytes;
  };
  for (const SizeCase& s : std::vector<SizeCase>{
           {"0", 0}, {"212992", 212992}, {"4k", 4096}, {"1G", 1u << 30}, {"2MiB", 2u << 20}}) {
    auto cli = parse({QUICK, "--sndbuf", s.text});
    ASSERT_TRUE(cli.has_value()) << s.text << ": " << cli.error().to_string();
    EXPECT_EQ(cli->config.egress.sndbuf, s.bytes) << s.text;
  }
  auto cli = parse({QUICK, "--cpus", "1"});
  ASSERT_TRUE(cli.has_value());
  EXPECT_EQ(cli->config.cpus, (std::vector<int>{1}));
}

TEST(CommandLine, FlagsOverrideTheFileWhereverTheyAre) {
  TempConfig file(kFileConfig);
  // --batch before --config: the file still loads first, the flag still wins.
  auto cli = parse({"--batch", "16", "--config", file.path(), "--egress", "uring"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  EXPECT_EQ(cli->action, Action::run);
  EXPECT_EQ(cli->config_path, file.path());
  const Config& c = cli->config;
  EXPECT_EQ(c.egress.batch, 16u);                     // flag
  EXPECT_EQ(c.egress.backend, EgressBackend::uring);  // flag
  EXPECT_EQ(c.egress.queue_depth, 256u);              // file
  EXPECT_EQ(c.egress.sndbuf, 65536u);                 // file
  EXPECT_EQ(c.ingress, IngressMode::udp);             // file
  EXPECT_EQ(c.cpus, (std::vector<int>{5}));           // file
  ASSERT_EQ(c.rules.size(), 1u);
  EXPECT_EQ(c.rules[0].name, "cam1");
}

TEST(CommandLine, QuickFormIsAppendedToTheFile) {
  TempConfig file(kFileConfig);
  auto cli = parse(
      {"--config", file.path(), "--in", "veth3:239.7.7.7:5000", "--out", "veth1:239.8.8.8:6000"});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  ASSERT_EQ(cli->config.rules.size(), 2u);
  EXPECT_EQ(cli->config.rules[0].name, "cam1");
  EXPECT_EQ(cli->config.rules[1].name, "cli");
  EXPECT_EQ(cli->config.rules[1].input_interface, "veth3");
}

TEST(CommandLine, CheckConfigAction) {
  TempConfig file(kFileConfig);
  auto cli = parse({"--check-config", file.path()});
  ASSERT_TRUE(cli.has_value()) << cli.error().to_string();
  EXPECT_EQ(cli->action, Action::check_config);
  EXPECT_EQ(cli->config_path, file.path());
  EXPECT_EQ(cli->config.rules.size(), 1u);
  auto bad = parse({"--check-config", "/nonexistent/relay.json"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().where, "/nonexistent/relay.json");
}

TEST(CommandLine, FileErrorsNameTheFileAndField) {
  TempConfig file(R"({"rules": [], "egress": {"batch": 0}})");
  auto cli = parse({"--config", file.path()});
  ASSERT_FALSE(cli.has_value());
  EXPECT_EQ(cli.error().where, std::string(file.path()) + ": egress.batch");
}

TEST(CommandLine, HelpAndVersion) {
  auto help = parse({"--help"});
  ASSERT_TRUE(help.has_value());
  EXPECT_EQ(help->action, Action::help);
  auto short_help = parse({"--batch", "16", "-h"});
  ASSERT_TRUE(short_help.has_value());
  EXPECT_EQ(short_help->action, Action::help);
  auto version = parse({"-V"});
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->action, Action::version);
  EXPECT_EQ(parse({"--version"})->action, Action::version);
}

TEST(CommandLine, UsageNamesEveryFlagWithItsDefault) {
  const std::string text = usage_text();
  for (const char* flag : {"--config",
                           "--check-config",
                           "--in",
                           "--out",
                           "--source",
                           "--ttl",
                           "--vlan",
                           "--ingress",
                           "--egress",
                           "--queue-depth",
                           "--batch",
                           "--sndbuf",
                           "--rcvbuf",
                           "--workers",
                           "--cpus",
                           "--pool-buffers",
                           "--stats-interval",
                           "--stats-json",
                           "--rt-priority",
                           "--help",
                           "--version",
                           "--ttl-threshold",
                           "--allow-link-local"}) {
    EXPECT_NE(text.find(std::string(" ") + flag + " "), std::string::npos) << flag;
  }
  EXPECT_NE(text.find("default: 1024)"), std::string::npos);         // queue depth
  EXPECT_NE(text.find("(bytes, default: 4 MiB)"), std::string::npos);  // sndbuf
  EXPECT_NE(text.find("default: gso)"), std::string::npos);
  EXPECT_NE(text.find("(AF_XDP, one worker"), std::string::npos);  // --ingress: every mode
  EXPECT_TRUE(text.starts_with("Usage: mrelay --config FILE [OPTIONS]\n")) << text;
  EXPECT_NE(text.find("\nOptions:\n"), std::string::npos);
}

struct BadCase {
  std::vector<const char*> args;
  std::string where;
  std::string message_contains;
};

void expect_errors(const std::vector<BadCase>& cases);

TEST(CommandLine, ErrorsNameTheFlag) {
  const std::vector<BadCase> cases = {
      {{QUICK, "--batch", "abc"}, "--batch", "'abc' is not a number"},
      {{QUICK, "--batch", "0"}, "--batch", "must be in 1..1024 (got 0)"},
      {{QUICK, "--batch=2000"}, "--batch", "must be in 1..1024"},
      {{QUICK, "--batch", "-1"}, "--batch", "not a number"},
      {{QUICK, "--batch", "99999999999"}, "--batch", "too large"},
      {{QUICK, "--queue-depth", "100"}, "--queue-depth", "power of two in 1..32768"},
      {{QUICK, "--egress", "foo"}, "--egress", "'foo' is not one of send, sendmmsg, uring, packet"},
      {{QUICK, "--ingress", "raw"}, "--ingress", "'raw' is not one of packet, udp, xdp"},
      {{QUICK, "--ingress", "xdp", "--workers", "2"}, "--workers", "reads with one worker"},
      {{QUICK, "--bogus"}, "--bogus", "unknown flag"},
      {{QUICK, "--bogus=1"}, "--bogus", "unknown flag"},
      {{QUICK, "-x"}, "-x", "unknown flag"},
      {{QUICK, "stray"}, "'stray'", "unexpected argument"},
      {{QUICK, "--batch"}, "--batch", "needs a value (N)"},
      {{"--batch", "--egress", "send", QUICK}, "--batch", "needs a value (N)"},
      {{QUICK, "--help=yes"}, "--help", "takes no value"},
      {{"--in", "veth0:239.1.1.1", "--out", "veth1:239.2.2.2:6000"},
       "--in",
       "expected IFACE:ADDR:PORT"},
      {{"--in", "veth0:10.1.1.1:5000", "--out", "veth1:239.2.2.2:6000"},
       "--in",
       "not a multicast group"},
      {{"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:0"},
       "--out",
       "must be in 1..65535"},
      {{"--in", "veth0:239.1.1.1:5000"}, "--in", "needs at least one --out"},
      {{"--out", "veth1:239.2.2.2:6000"}, "--out", "needs --in"},
      {{QUICK, "--in", "veth2:239.1.1.2:5000"}, "--in", "given twice"},
      {{QUICK, "--source", "10.1"}, "--source", "not an IPv4 (a.b.c.d) or IPv6"},
      {{QUICK, "--source", "239.1.1.1"}, "--source", "not a unicast source"},
      {{QUICK, "--source", "10.9.9.9", "--source", "10.9.9.9"}, "--source", "given twice"},
      {{QUICK, "--vlan", "0"}, "--vlan", "must be in 1..4094"},
      {{QUICK, "--vlan", "4095"}, "--vlan", "must be in 1..4094"},
      {{"--vlan", "100"}, "--vlan", "quick form only"},
      {{QUICK, "--ttl", "0"}, "--ttl", "must be in 1..255"},
      {{QUICK, "--ttl", "256"}, "--ttl", "must be in 1..255"},
      {{"--config", "/nonexistent/x.json", "--ttl", "3"}, "/nonexistent/x.json", "cannot open"},
      {{QUICK, "--sndbuf", "4X"}, "--sndbuf", "not a size in bytes"},
      {{QUICK, "--sndbuf", "M"}, "--sndbuf", "not a size in bytes"},
      {{QUICK, "--sndbuf", "2G"}, "--sndbuf", "must be in 0..1073741824"},
      {{QUICK, "--rcvbuf", "8G"}, "--rcvbuf", "too large"},
      {{QUICK, "--workers", "0"}, "--workers", "must be in 1..64"},
      {{QUICK, "--pool-buffers", "10"}, "--pool-buffers", "must be in 64..1048576"},
      {{QUICK, "--buffer-size", "100"}, "--buffer-size", "2048..65600 bytes (got 100)"},
      {{QUICK, "--rt-priority", "100"}, "--rt-priority", "must be in 0..99"},
      {{QUICK, "--stats-interval", "1h"}, "--stats-interval", "not a number"},
      {{QUICK, "--cpus", "3-1"}, "--cpus", "not a CPU list"},
      {{QUICK, "--cpus", "1,,2"}, "--cpus", "not a CPU list"},
      {{QUICK, "--cpus", "0-5000"}, "--cpus", "must be in 0..1023"},
      {{QUICK, "--stats-json="}, "--stats-json", "missing value"},
      {{"--ttl", "3"}, "--ttl", "quick form only"},
      {{QUICK, "--ttl-threshold", "0"}, "--ttl-threshold", "must be in 1..254"},
      {{QUICK, "--ttl-threshold", "255"}, "--ttl-threshold", "must be in 1..254"},
      {{QUICK, "--ttl-threshold", "x"}, "--ttl-threshold", "not a number"},
      {{"--ttl-threshold", "3"}, "--ttl-threshold", "quick form only"},
      {{"--allow-link-local"}, "--allow-link-local", "quick form only"},
      {{QUICK, "--allow-link-local=yes"}, "--allow-link-local", "takes no value"},
      {{}, "--config", "no rules"},
      {{"--egress", "send"}, "--config", "no rules"},
  };
  expect_errors(cases);
}

TEST(CommandLine, Ipv6SourceErrorsNameTheFlag) {
  expect_errors({
      {{QUICK, "--source", "ff02::1"}, "--source", "not a unicast source"},
      {{QUICK, "--source", "fd00::1"}, "--source", "an IPv6 source for the IPv4 group of --in"},
      {{"--in", "veth0:[ff3e::1]:5000", "--out", "veth1:[ff3e::2]:6000", "--source", "10.9.9.9"},
       "--source",
       "an IPv4 source for the IPv6 group of --in"},
      {{"--in", "veth0:[ff3e::1]:5000", "--out", "veth1:[ff3e::2]:6000", "--source", "fd00::1",
        "--source", "fd00::1"},
       "--source",
       "given twice"},
  });
}

// Each case is refused, naming its `where` and saying `message_contains`.
void expect_errors(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    std::vector<const char*> argv = {"mrelay"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string joined;
    for (const char* arg : c.args) {
      joined += std::string(arg) + " ";
    }
    auto cli = parse_command_line(static_cast<int>(argv.size()), argv.data());
    ASSERT_FALSE(cli.has_value()) << "accepted: " << joined;
    EXPECT_EQ(cli.error().where, c.where) << joined << "-> " << cli.error().to_string();
    EXPECT_NE(cli.error().message.find(c.message_contains), std::string::npos)
        << joined << "-> " << cli.error().to_string();
  }
}

// Control-socket access: both groups by flag or key (flags win), each naming itself when empty.
TEST(CommandLine, ControlGroups) {
  auto cli = parse({QUICK, "--control-group", "mrelay-admin", "--control-read-group=4243"});
  ASSERT_TRUE(cli) << cli.error().to_string();
  EXPECT_EQ(cli->config.control_group, "mrelay-admin");
  EXPECT_EQ(cli->config.control_read_group, "4243");
  TempConfig file(R"({"control_group":"ops","control_read_group":"monitor","rules":[]})");
  auto from_file = parse({"--config", file.path(), QUICK, "--control-group", "admin"});
  ASSERT_TRUE(from_file) << from_file.error().to_string();
  EXPECT_EQ(from_file->config.control_group, "admin");
  EXPECT_EQ(from_file->config.control_read_group, "monitor");
  auto empty = parse({QUICK, "--control-read-group="});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().where, "--control-read-group");
}

}  // namespace
}  // namespace mrelay
