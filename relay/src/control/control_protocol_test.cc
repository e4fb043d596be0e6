// The control protocol's dispatcher against a fake target: every error names its field and
// leaves the running rules untouched; the replies and formats of the successful commands; and
// the control socket itself (permissions, stale files, limits, clients that misbehave).
#include "control/control_protocol.h"

#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/log.h"
#include "control/control_server.h"
#include "testing/test_rules.h"

namespace mrelay {
namespace {

using nlohmann::json;

using testing::fake_lookup;  // test_rules.h
using testing::rule_named;

class FakeTarget : public ControlTarget {
 public:
  FakeTarget() { config.rules = {rule_named("a", "239.1.1.1")}; }
  const Config& running_config() const override { return config; }
  InterfaceLookup interfaces() const override { return fake_lookup; }
  Result<void> apply_rules(const Config& candidate, const std::string& origin) override {
    last_origin = origin;
    if (refuse) {
      return fail("rules[1].outputs[0]: socket(AF_INET, SOCK_DGRAM)", "refused", EMFILE);
    }
    config = candidate;
    ++applied;
    return {};
  }
  RelayStats stats() override {
    RelayStats stats;
    stats.header.uptime_s = 2.5;
    WorkerStats worker;
    worker.worker = 0;
    worker.counters.rx_packets = 7;
    stats.workers.push_back(worker);
    RuleStats rule;
    rule.name = "a";
    rule.sources = source_texts(config.rules[0]);
    rule.counters.matched_packets = 5;
    rule.outputs.push_back({config.rules[0].outputs[0], OutputCounters{4, 1}});
    stats.rules.push_back(rule);
    return stats;
  }

  void note_refused_request(std::string_view cmd) override { refused.emplace_back(cmd); }

  Config config;
  int applied = 0;
  bool refuse = false;
  std::string last_origin;
  std::vector<std::string> refused;  // commands refused to a read-only connection
};

json reply_of(FakeTarget& target, std::string_view line) {
  return json::parse(handle_request(line, target));
}

std::vector<std::string> rule_names(const Config& config) {
  std::vector<std::string> names;
  for (const Rule& rule : config.rules) {
    names.push_back(rule.name);
  }
  return names;
}

constexpr const char* kRuleB =
    R"({"name":"b","input":{"interface":"eth0","group":"239.1.1.2","port":5000},)"
    R"("outputs":[{"interface":"eth1","group":"239.2.2.3","port":6001}]})";

struct ErrorCase {
  const char* label;
  std::string request;
  const char* field;    // expected "field" of the reply
  const char* message;  // a substring of "error"
};

// Long: one table of bad requests, each with the field its error must name.
TEST(ControlProtocol, ErrorsNameTheFieldAndChangeNothing) {
  const std::string too_large = R"({"cmd":"ping","pad":")" + std::string(70000, 'x') + "\"}";
  const std::vector<ErrorCase> cases = {
      {"not json", "hello", "request", "malformed JSON"},
      {"truncated json", R"({"cmd":"add_rule","rule":{"name":)", "request", "malformed JSON"},
      {"not an object", "[1,2]", "request", "must be a JSON object"},
      {"no cmd", "{}", "cmd", "required key missing"},
      {"cmd not a string", R"({"cmd":5})", "cmd", "must be a string"},
      {"unknown cmd", R"({"cmd":"launch"})", "cmd", "unknown command 'launch'"},
      {"unknown key", R"({"cmd":"ping","extra":1})", "extra", "unknown key"},
      {"too large", too_large, "request", "too large"},
      {"add: no rule", R"({"cmd":"add_rule"})", "rule", "required key missing"},
      {"add: rule not object", R"({"cmd":"add_rule","rule":3})", "rule", "must be an object"},
      {"add: no name",
       R"({"cmd":"add_rule","rule":{"input":{"interface":"eth0","group":"239.1.1.2","port":1},)"
       R"("outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.name", "required for add_rule"},
      {"add: unicast group",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"10.0.0.1",)"
       R"("port":1},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.input.group", "not a multicast group"},
      {"add: typo in output",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"239.1.1.2",)"
       R"("port":1},"outputs":[{"interface":"eth1","gruop":"239.2.2.3","port":2}]}})",
       "rule.outputs[0].gruop", "unknown key"},
      {"add: port out of range",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"239.1.1.2",)"
       R"("port":70000},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.input.port", "must be in 1..65535"},
      {"add: no such interface",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth9","group":"239.1.1.2",)"
       R"("port":1},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.input.interface", "no such interface 'eth9'"},
      {"add: duplicate name",
       R"({"cmd":"add_rule","rule":{"name":"a","input":{"interface":"eth0","group":"239.1.1.2",)"
       R"("port":1},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.name", "duplicate rule name 'a'"},
      {"add: same input as a",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"239.1.1.1",)"
       R"("port":5000},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.input", "same interface, group, port and source as rules[0]"},
      {"add: no outputs",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"239.1.1.2",)"
       R"("port":1},"outputs":[]}})",
       "rule.outputs", "at least one output"},
      // Rule a (test_rules.h) is eth0 239.1.1.1:5000 -> eth1 239.2.2.2:6000: b would send its
      // copies back into a's input, a loop on this host (on any interface).
      {"add: loop with a",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth1","group":"239.2.2.2",)"
       R"("port":6000},"outputs":[{"interface":"eth0","group":"239.1.1.1","port":5000}]}})",
       "rule.outputs[0]",
       "forwarding loop on this host: rule 'a' sends 239.2.2.2:6000, the input of rule 'b'; "
       "rule 'b' sends 239.1.1.1:5000, the input of rule 'a'"},
      {"add: link-local input",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"224.0.0.5",)"
       R"("port":1},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2}]}})",
       "rule.input.group", "link-local"},
      {"add: threshold out of range",
       R"({"cmd":"add_rule","rule":{"name":"b","input":{"interface":"eth0","group":"239.1.1.2",)"
       R"("port":1},"outputs":[{"interface":"eth1","group":"239.2.2.3","port":2,)"
       R"("ttl_threshold":255}]}})",
       "rule.outputs[0].ttl_threshold", "must be in 1..254"},
      {"remove: unknown", R"({"cmd":"remove_rule","name":"zz"})", "name", "no rule named 'zz'"},
      {"remove: not a string", R"({"cmd":"remove_rule","name":1})", "name", "must be a string"},
      {"remove: last rule", R"({"cmd":"remove_rule","name":"a"})", "name", "last rule"},
      {"log level", R"({"cmd":"set_log_level","level":"loud"})", "level", "not one of"},
      {"stats format", R"({"cmd":"stats","format":"xml"})", "format", "not one of json"},
  };
  for (const ErrorCase& c : cases) {
    FakeTarget target;
    const LogLevel level_before = log_level();
    const json reply = reply_of(target, c.request);
    EXPECT_EQ(reply["ok"], false) << c.label;
    EXPECT_EQ(reply["field"], c.field) << c.label << ": " << reply.dump();
    EXPECT_NE(reply["error"].get<std::string>().find(c.message), std::string::npos)
        << c.label << ": " << reply.dump();
    EXPECT_EQ(target.applied, 0) << c.label;
    EXPECT_EQ(rule_names(target.config), std::vector<std::string>{"a"}) << c.label;
    EXPECT_EQ(log_level(), level_before) << c.label;
  }
}

TEST(ControlProtocol, FailedApplyReportsAndKeepsRules) {
  FakeTarget target;
  target.refuse = true;
  const json reply = reply_of(target, std::string(R"({"cmd":"add_rule","rule":)") + kRuleB + "}");
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply["error"].get<std::string>().find("refused"), std::string::npos);
  EXPECT_EQ(rule_names(target.config), std::vector<std::string>{"a"});
}

TEST(ControlProtocol, AddListRemove) {
  FakeTarget target;
  EXPECT_EQ(reply_of(target, R"({"cmd":"ping"})"), json::parse(R"({"ok":true,"pong":true})"));
  EXPECT_EQ(reply_of(target, R"({"cmd":"version"})")["version"], MRELAY_VERSION);

  json reply = reply_of(target, std::string(R"({"cmd":"add_rule","rule":)") + kRuleB + "}");
  EXPECT_EQ(reply["ok"], true) << reply.dump();
  EXPECT_EQ(reply["added"], "b");
  EXPECT_EQ(target.last_origin, "add_rule b");
  EXPECT_EQ(rule_names(target.config), (std::vector<std::string>{"a", "b"}));

  reply = reply_of(target, R"({"cmd":"list_rules"})");
  ASSERT_EQ(reply["rules"].size(), 2u);
  json expected = json::parse(kRuleB);
  // Defaults are spelled out; no "ttl" (no fixed TTL: copies carry the received TTL - 1).
  expected["outputs"][0]["ttl_threshold"] = 1;
  EXPECT_EQ(reply["rules"][1], expected);
  // list_rules speaks the config schema: its output adds back unchanged.
  FakeTarget other;
  other.config.rules.clear();
  other.config.rules.push_back(rule_named("x", "239.7.7.7"));
  const json again = reply_of(other, json{{"cmd", "add_rule"}, {"rule", reply["rules"][1]}}.dump());
  EXPECT_EQ(again["ok"], true) << again.dump();

  reply = reply_of(target, R"({"cmd":"remove_rule","name":"a"})");
  EXPECT_EQ(reply["removed"], "a");
  EXPECT_EQ(rule_names(target.config), std::vector<std::string>{"b"});
}

// A rule with several sources: list_rules shows them as the config's list, the list adds
// back unchanged, and the stats reply names them per rule.
TEST(ControlProtocol, RuleSourcesShowInListRulesAndStats) {
  FakeTarget target;
  json rule = json::parse(kRuleB);
  rule["input"]["source"] = {"10.0.0.1", "10.0.0.2"};
  json reply = reply_of(target, json{{"cmd", "add_rule"}, {"rule", rule}}.dump());
  ASSERT_EQ(reply["ok"], true) << reply.dump();
  reply = reply_of(target, R"({"cmd":"list_rules"})");
  ASSERT_EQ(reply["rules"].size(), 2u);
  EXPECT_EQ(reply["rules"][1]["input"]["source"], json({"10.0.0.1", "10.0.0.2"}));
  FakeTarget other;
  const json again = reply_of(other, json{{"cmd", "add_rule"}, {"rule", reply["rules"][1]}}.dump());
  EXPECT_EQ(again["ok"], true) << again.dump();

  std::swap(target.config.rules[0], target.config.rules[1]);  // stats() reports rules[0]
  const json stats = reply_of(target, R"({"cmd":"stats"})")["stats"];
  EXPECT_EQ(stats["rules"][0]["sources"], json({"10.0.0.1", "10.0.0.2"}));
  std::swap(target.config.rules[0], target.config.rules[1]);
  EXPECT_EQ(reply_of(target, R"({"cmd":"stats"})")["stats"]["rules"][0]["sources"],
            json::array());  // rule a: any source
}

// An IPv6 rule's sources: add_rule takes them, list_rules gives them back in the config's
// form, and that form adds back unchanged (the state file writes the same).
TEST(ControlProtocol, Ipv6RuleSourcesRoundTrip) {
  FakeTarget target;
  json rule = json::parse(kRuleB);
  rule["input"]["group"] = "ff3e::1";
  rule["input"]["source"] = {"2001:db8::1", "2001:db8::2"};
  rule["outputs"][0]["group"] = "ff3e::2";
  json reply = reply_of(target, json{{"cmd", "add_rule"}, {"rule", rule}}.dump());
  ASSERT_EQ(reply["ok"], true) << reply.dump();
  reply = reply_of(target, R"({"cmd":"list_rules"})");
  ASSERT_EQ(reply["rules"].size(), 2u);
  EXPECT_EQ(reply["rules"][1]["input"]["group"], "ff3e::1");
  EXPECT_EQ(reply["rules"][1]["input"]["source"], json({"2001:db8::1", "2001:db8::2"}));
  FakeTarget other;
  const json again = reply_of(other, json{{"cmd", "add_rule"}, {"rule", reply["rules"][1]}}.dump());
  ASSERT_EQ(again["ok"], true) << again.dump();
  ASSERT_EQ(other.config.rules.size(), 2u);
  EXPECT_EQ(source_texts(other.config.rules[1]),
            (std::vector<std::string>{"2001:db8::1", "2001:db8::2"}));
}

TEST(ControlProtocol, SetLogLevel) {
  FakeTarget target;
  EXPECT_EQ(reply_of(target, R"({"cmd":"set_log_level","level":"debug"})")["level"], "debug");
  EXPECT_EQ(log_level(), LogLevel::debug);
  EXPECT_EQ(reply_of(target, R"({"cmd":"set_log_level","level":"info"})")["ok"], true);
  EXPECT_EQ(log_level(), LogLevel::info);
}

TEST(ControlProtocol, StatsJsonAndPrometheus) {
  FakeTarget target;
  const json stats = reply_of(target, R"({"cmd":"stats"})")["stats"];
  EXPECT_EQ(stats["total"]["rx_packets"], 7);
  EXPECT_EQ(stats["workers"][0]["rx_packets"], 7);
  EXPECT_EQ(stats["rules"][0]["name"], "a");
  EXPECT_EQ(stats["rules"][0]["matched_packets"], 5);
  EXPECT_EQ(stats["rules"][0]["outputs"][0]["output"], "eth1:239.2.2.2:6000");
  EXPECT_EQ(stats["rules"][0]["outputs"][0]["queued_packets"], 4);
  EXPECT_EQ(stats["rules"][0]["outputs"][0]["dropped_packets"], 1);

  const std::string text =
      reply_of(target, R"({"cmd":"stats","format":"prometheus"})")["prometheus"];
  for (const char* expected : {
           "# TYPE mrelay_received_packets_total counter\n",
           "mrelay_received_packets_total{worker=\"0\"} 7\n",
           "# HELP mrelay_kernel_dropped_packets_total ",
           "mrelay_packets_dropped_total{worker=\"0\",reason=\"enobufs\"} 0\n",
           "mrelay_rule_matched_packets_total{rule=\"a\"} 5\n",
           "mrelay_output_packets_total{rule=\"a\",output=\"eth1:239.2.2.2:6000\",outcome=\"queued\"} 4\n",
           "mrelay_output_packets_total{rule=\"a\",output=\"eth1:239.2.2.2:6000\",outcome=\"dropped\"} 1\n",
           "# TYPE mrelay_uptime_seconds gauge\nmrelay_uptime_seconds 2.500\n",
           "# TYPE mrelay_start_time_seconds gauge\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
  // Every sample line is NAME{labels} VALUE or NAME VALUE; every family has HELP and TYPE.
  size_t families = 0;
  size_t helps = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    families += line.rfind("# TYPE ", 0) == 0;
    helps += line.rfind("# HELP ", 0) == 0;
  }
  EXPECT_EQ(families, helps);
  EXPECT_GT(families, 20u);
}

// The text format wants each family's samples in one block under one HELP/TYPE; causes are
// label values of one family, never part of a name.
TEST(ControlProtocol, PrometheusFamiliesAreBlocksWithoutCausesInNames) {
  FakeTarget target;
  const std::string text = format_prometheus(target.stats());
  std::set<std::string> closed;
  std::string current;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_FALSE(closed.count(family)) << family << " appears in two blocks";
      closed.insert(current);
      current = family;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name, current) << "sample outside its family's block: " << line;
    for (const char* cause : {"enobufs", "eagain", "truncated", "not_udp", "martian"}) {
      EXPECT_EQ(name.find(cause), std::string::npos) << "a cause in a metric name: " << name;
    }
  }
}

TEST(ControlProtocol, EveryCounterHasAPrometheusFamily) {
  WorkerCounters workers{};
  for_each_counter(workers, [](std::string_view counter, uint64_t, std::string_view) {
    EXPECT_TRUE(prometheus_series(counter).has_value()) << counter;
  });
  ProcessCounters process{};
  for_each_process_counter(process, [](std::string_view counter, uint64_t, std::string_view) {
    EXPECT_TRUE(prometheus_series(counter).has_value()) << counter;
  });
  const auto enobufs = prometheus_series("drop_enobufs");
  ASSERT_TRUE(enobufs.has_value());
  EXPECT_EQ(enobufs->family, "mrelay_packets_dropped_total");
  EXPECT_EQ(enobufs->label, "reason");
  EXPECT_EQ(enobufs->value, "enobufs");
  EXPECT_FALSE(prometheus_series("not_a_counter").has_value());
}

TEST(ControlProtocol, PrometheusEscapesLabels) {
  RelayStats stats;
  RuleStats rule;
  rule.name = "we\"ird\\name";
  stats.rules.push_back(rule);
  EXPECT_NE(format_prometheus(stats).find(R"(rule="we\"ird\\name")"), std::string::npos);
}

// ---- the socket --------------------------------------------------------------------------

std::string temp_path(const char* name) {
  return "/tmp/mrelay-control-test-" + std::to_string(::getpid()) + "-" + name;
}

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return UniqueFd();
  }
  return fd;
}

// Runs the server for `ms` milliseconds (poll + service), answering with the fake target.
void pump(ControlServer& server, FakeTarget& target, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    server.append_pollfds(fds);
    ::poll(fds.data(), fds.size(), 5);
    server.service(
        fds,
        [&](std::string_view line, ControlRole role) { return handle_request(line, target, role); },
        [] { return std::string("metrics\n"); });
  }
}

// Services the server until `done()` holds or `ms` passed: on a loaded machine a fixed pump
// time can end before the server saw every client's bytes.
template <typename Done>
void pump_until(ControlServer& server, FakeTarget& target, Done done, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    pump(server, target, 10);
  }
}

// Reads what is there within `ms` (non-blocking after the wait).
std::string read_some(int fd, int ms) {
  std::string text;
  pollfd pfd{fd, POLLIN, 0};
  while (::poll(&pfd, 1, ms) > 0) {
    char chunk[4096];
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN)) {
      text += "<EOF>";  // closed (ECONNRESET when the server left our bytes unread)
      break;
    }
    if (got < 0) {
      break;
    }
    text.append(chunk, static_cast<size_t>(got));
    ms = 20;
  }
  return text;
}

TEST(ControlServer, SocketIs0660AndRemovedOnExit) {
  const std::string path = temp_path("mode");
  {
    ControlServer server;
    ASSERT_TRUE(server.open_unix(path));
    struct stat info {};
    ASSERT_EQ(::lstat(path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0660u);
    // A second daemon on the same path is refused while the first listens.
    ControlServer second;
    auto refused = second.open_unix(path);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("another process is listening"), std::string::npos);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(ControlServer, StaleSocketReplacedOtherFilesRefused) {
  const std::string path = temp_path("stale");
  {
    // A socket file nobody listens on (a crashed daemon's).
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  ControlServer server;
  EXPECT_TRUE(server.open_unix(path));

  const std::string regular = temp_path("regular");
  std::ofstream(regular) << "keep me";
  ControlServer other;
  auto refused = other.open_unix(regular);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not a socket"), std::string::npos);
  std::ifstream kept(regular);
  std::string content;
  std::getline(kept, content);
  EXPECT_EQ(content, "keep me");
  ::unlink(regular.c_str());
}

TEST(ControlServer, MisbehavingClientsDoNotBlockOthers) {
  const std::string path = temp_path("clients");
  ControlServer server;
  ASSERT_TRUE(server.open_unix(path));
  FakeTarget target;

  UniqueFd half = connect_to(path);  // sends half a request and hangs
  ASSERT_TRUE(half);
  ASSERT_GT(::send(half.get(), R"({"cmd":"pi)", 10, 0), 0);
  UniqueFd leaver = connect_to(path);  // disconnects mid-request
  ASSERT_GT(::send(leaver.get(), R"({"cmd":"list_)", 13, 0), 0);
  UniqueFd big = connect_to(path);  // a line longer than the limit
  const std::string huge(kMaxRequestBytes + 100, 'x');
  UniqueFd good = connect_to(path);
  pump_until(
      server, target, [&] { return server.client_count() == 4; }, 5000);
  ASSERT_EQ(server.client_count(), 4u);
  leaver.reset();
  (void)!::send(big.get(), huge.data(), huge.size(), MSG_NOSIGNAL);
  ASSERT_GT(::send(good.get(), "{\"cmd\":\"ping\"}\n{\"cmd\":\"version\"}\n", 33, 0), 0);
  // leaver and big gone; then a little more so good's two lines are surely answered.
  pump_until(
      server, target, [&] { return server.client_count() == 2; }, 5000);
  pump(server, target, 100);

  const std::string replies = read_some(good.get(), 500);
  EXPECT_NE(replies.find("\"pong\":true"), std::string::npos) << replies;
  EXPECT_NE(replies.find("\"version\""), std::string::npos) << replies;
  const std::string refused = read_some(big.get(), 500);
  EXPECT_NE(refused.find("request too large"), std::string::npos) << refused.substr(0, 200);
  EXPECT_NE(refused.find("<EOF>"), std::string::npos);  // and closed
  EXPECT_EQ(read_some(half.get(), 50), "");             // still waiting for its newline
  EXPECT_EQ(server.client_count(), 2u);                 // half and good; leaver, big gone

  // The half request completes later and is answered.
  ASSERT_GT(::send(half.get(), "ng\"}\n", 5, 0), 0);
  pump(server, target, 50);
  EXPECT_NE(read_some(half.get(), 500).find("pong"), std::string::npos);
}

TEST(ControlServer, ClientsBeyondTheLimitGetAnError) {
  const std::string path = temp_path("limit");
  ControlServer server;
  ASSERT_TRUE(server.open_unix(path));
  FakeTarget target;
  std::vector<UniqueFd> clients;
  for (size_t i = 0; i < ControlServer::kMaxControlClients + 3; ++i) {
    clients.push_back(connect_to(path));
    ASSERT_TRUE(clients.back());
  }
  pump(server, target, 100);
  EXPECT_EQ(server.client_count(), ControlServer::kMaxControlClients);
  const std::string extra = read_some(clients.back().get(), 500);
  EXPECT_NE(extra.find("too many clients"), std::string::npos) << extra;
}

TEST(ControlServer, MetricsHttpLoopbackOnly) {
  ControlServer refused;
  auto error = refused.open_http("0.0.0.0:9477");
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().where, "--metrics-listen");
  EXPECT_NE(error.error().message.find("not a loopback address"), std::string::npos);
  EXPECT_FALSE(refused.open_http("127.0.0.1:notaport"));

  ControlServer server;
  ASSERT_TRUE(server.open_http("127.0.0.1:0"));  // port 0: the kernel picks a free one
  ASSERT_NE(server.http_port(), 0);
  FakeTarget target;
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server.http_port());
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(::send(client.get(), request.data(), request.size(), 0), 0);
  pump(server, target, 100);
  const std::string response = read_some(client.get(), 500);
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(response.find("\r\n\r\nmetrics\n"), std::string::npos);
}

// ---- budgets and deadlines ---------------------------------------------------------------

UniqueFd connect_http(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return UniqueFd();
  }
  return fd;
}

// A local user holding 64 idle connections to the metrics port must not lock the operator out
// of the control socket: the two have separate client budgets.
TEST(ControlServer, IdleHttpClientsDoNotLockOutControl) {
  const std::string path = temp_path("budget");
  ControlServer server;
  ASSERT_TRUE(server.open_unix(path));
  ASSERT_TRUE(server.open_http("127.0.0.1:0"));
  FakeTarget target;
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(connect_http(server.http_port()));
    ASSERT_TRUE(idle.back());
  }
  pump(server, target, 100);  // every queued connection is accepted or refused
  UniqueFd control = connect_to(path);
  ASSERT_TRUE(control);
  ASSERT_GT(::send(control.get(), "{\"cmd\":\"ping\"}\n", 15, 0), 0);
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (reply.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pump(server, target, 10);
    reply += read_some(control.get(), 10);
  }
  EXPECT_NE(reply.find("\"pong\":true"), std::string::npos) << reply;
}

// A slow-loris client that sends one byte at a time and never completes a request must be
// cut off once its deadline passes, however regularly its bytes arrive.
TEST(ControlServer, SlowLorisControlClientIsCutOff) {
  const std::string path = temp_path("loris");
  ControlServer server(ControlServer::Limits{.idle_ms = 300});
  ASSERT_TRUE(server.open_unix(path));
  FakeTarget target;
  UniqueFd loris = connect_to(path);
  ASSERT_TRUE(loris);
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    closed = ::send(loris.get(), "{", 1, MSG_NOSIGNAL) < 0;  // EPIPE once the server closed
    pump(server, target, 50);
    closed = closed || read_some(loris.get(), 0).find("<EOF>") != std::string::npos;
  }
  EXPECT_TRUE(closed) << "a client trickling bytes held its slot for 5 s (deadline 300 ms)";
  EXPECT_EQ(server.client_count(), 0u);
}

// A slow-loris HTTP client (a request head trickling in) is cut at its deadline, counted
// once per close.
TEST(ControlServer, SlowLorisHttpClientIsCutOff) {
  ControlServer server(ControlServer::Limits{.http_ms = 300});
  ProcessCounters counters;
  server.set_counters(&counters);
  ASSERT_TRUE(server.open_http("127.0.0.1:0"));
  FakeTarget target;
  UniqueFd loris = connect_http(server.http_port());
  ASSERT_TRUE(loris);
  ASSERT_GT(::send(loris.get(), "GET /metrics HTTP/1.1\r\n", 23, 0), 0);
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    closed = ::send(loris.get(), "X", 1, MSG_NOSIGNAL) < 0;
    pump(server, target, 50);
    closed = closed || read_some(loris.get(), 0).find("<EOF>") != std::string::npos;
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(server.client_count(), 0u);
  EXPECT_EQ(counters.client_deadline_closes, 1u);
}

// A control client that completes requests keeps its slot: each answered request moves its
// deadline (bytes alone do not). Requests ~50 ms apart against a 1 s deadline, until the
// client has outlived two deadlines. The server answers a request at the earliest when it
// was sent, so a close is only right once 1 s passed since the previous request was sent:
// were the machine to stall that long, the test skips instead of judging.
TEST(ControlServer, RequestsMoveTheDeadline) {
  constexpr int kIdleMs = 1000;
  const std::string path = temp_path("alive");
  ControlServer server(ControlServer::Limits{.idle_ms = kIdleMs});
  ASSERT_TRUE(server.open_unix(path));
  FakeTarget target;
  UniqueFd client = connect_to(path);
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  auto previous_sent = start;  // the connect: the first deadline counts from the accept
  bool outlived = false;
  while (!outlived) {
    outlived = std::chrono::steady_clock::now() - start > std::chrono::milliseconds(2 * kIdleMs);
    const auto sent = std::chrono::steady_clock::now();
    std::string reply;
    if (::send(client.get(), "{\"cmd\":\"ping\"}\n", 15, MSG_NOSIGNAL) == 15) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (reply.find('\n') == std::string::npos && reply.find("<EOF>") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline) {
        pump(server, target, 10);
        reply += read_some(client.get(), 10);
      }
    }
    if (reply.find("pong") == std::string::npos) {
      if (sent - previous_sent >= std::chrono::milliseconds(kIdleMs)) {
        GTEST_SKIP() << "the machine stalled past the deadline between two requests";
      }
      FAIL() << "closed within its deadline: " << reply;
    }
    previous_sent = sent;
    pump(server, target, 50);
  }
}

// Peer roles, table-driven: root and the relay's uid are full; then the groups.
TEST(ControlServer, PeerRoles) {
  struct Case {
    const char* label;
    uid_t uid;
    std::vector<gid_t> groups;
    ControlServer::PeerPolicy policy;
    std::optional<ControlRole> role;
  };
  const ControlServer::PeerPolicy none;
  const ControlServer::PeerPolicy both{.control_group = 100, .read_group = 200};
  const std::vector<Case> cases = {
      {"root", 0, {0}, none, ControlRole::full},
      {"the relay's own uid", 65534, {65534}, none, ControlRole::full},
      {"a stranger sharing the relay's group", 4242, {65534}, none, std::nullopt},
      {"control group, primary", 5000, {100}, both, ControlRole::full},
      {"control group, supplementary", 5000, {5000, 7, 100}, both, ControlRole::full},
      {"read group", 5000, {5000, 200}, both, ControlRole::read_only},
      {"both groups: full wins", 5000, {200, 100}, both, ControlRole::full},
      {"neither group", 5000, {5000, 300}, both, std::nullopt},
      {"read group only configured",
       5000,
       {200},
       {.control_group = std::nullopt, .read_group = 200},
       ControlRole::read_only},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(role_for_peer(c.uid, c.groups, 65534, c.policy), c.role) << c.label;
  }
}

// The server applies the policy to real peers: a child process that switches to another uid
// (root only) is refused with an error naming it, and counted.
TEST(ControlServer, PeerOutsideThePolicyIsRefused) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to connect as another uid";
  }
  const std::string path = temp_path("peer");
  ControlServer server;
  ProcessCounters counters;
  server.set_counters(&counters);
  ASSERT_TRUE(server.open_unix(path, 0666));
  FakeTarget target;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string reply = "setuid failed";
    if (::setgroups(0, nullptr) == 0 && ::setresgid(4242, 4242, 4242) == 0 &&
        ::setresuid(4242, 4242, 4242) == 0) {
      UniqueFd fd = connect_to(path);
      reply = fd ? read_some(fd.get(), 3000) : "connect failed";
    }
    (void)!::write(pipe_fds[1], reply.data(), reply.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  pump_until(
      server, target, [&] { return counters.control_peer_refused > 0; }, 5000);
  std::string reply;
  char chunk[512];
  ssize_t got;
  while ((got = ::read(pipe_fds[0], chunk, sizeof chunk)) > 0) {
    reply.append(chunk, static_cast<size_t>(got));
  }
  ::close(pipe_fds[0]);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(counters.control_peer_refused, 1u);
  EXPECT_NE(reply.find("uid 4242"), std::string::npos) << reply;
  EXPECT_NE(reply.find("not root"), std::string::npos) << reply;
  EXPECT_EQ(server.client_count(), 0u);
}

// A read-only connection: reading commands work, changing ones are refused by name, noted,
// and change nothing.
TEST(ControlProtocol, ReadOnlyRoleRefusesChanges) {
  FakeTarget target;
  for (const char* line : {R"({"cmd":"ping"})", R"({"cmd":"version"})", R"({"cmd":"list_rules"})",
                           R"({"cmd":"stats"})"}) {
    EXPECT_TRUE(json::parse(handle_request(line, target, ControlRole::read_only))["ok"]) << line;
  }
  const std::string add = std::string(R"({"cmd":"add_rule","rule":)") + kRuleB + "}";
  for (const std::string& line : {add, std::string(R"({"cmd":"remove_rule","name":"a"})"),
                                  std::string(R"({"cmd":"set_log_level","level":"debug"})")}) {
    const json reply = json::parse(handle_request(line, target, ControlRole::read_only));
    EXPECT_FALSE(reply["ok"]) << line;
    EXPECT_EQ(reply["field"], "cmd");
    EXPECT_NE(reply["error"].get<std::string>().find("read-only"), std::string::npos);
  }
  EXPECT_EQ(target.refused, (std::vector<std::string>{"add_rule", "remove_rule", "set_log_level"}));
  EXPECT_EQ(rule_names(target.config), std::vector<std::string>{"a"});
  EXPECT_EQ(target.applied, 0);
}

// Process counters reach the stats object and Prometheus (one sample each, no worker label).
TEST(ControlProtocol, ProcessCountersInStatsAndPrometheus) {
  FakeTarget target;
  RelayStats stats = target.stats();
  stats.process.control_peer_refused = 3;
  stats.process.metrics_bind_retries = 2;
  const json object = json::parse(format_stats_object(stats));
  EXPECT_EQ(object["process"]["control_peer_refused"], 3);
  EXPECT_EQ(object["process"]["metrics_bind_retries"], 2);
  const std::string text = format_prometheus(stats);
  EXPECT_NE(text.find("# TYPE mrelay_control_refused_total counter\n"
                      "mrelay_control_refused_total{reason=\"peer\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mrelay_metrics_bind_retries_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("mrelay_output_packets_total{rule=\"a\",output=\"eth1:239.2.2.2:6000\","
                      "outcome=\"failed\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace mrelay

namespace mrelay {
namespace {

// docs/operations.md, "Prometheus", lists every family the exposition has.
TEST(ControlProtocol, OperationsDocListsEveryPrometheusFamily) {
  std::ifstream in(std::string(MRELAY_SOURCE_DIR) + "/docs/operations.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  RelayStats stats;
  stats.workers.push_back({});
  RuleStats rule;
  rule.name = "a";
  rule.outputs.push_back({});
  stats.rules.push_back(rule);
  std::istringstream lines(format_prometheus(stats));
  int families = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_NE(doc.str().find("`" + family + "`"), std::string::npos)
          << family << " is not in docs/operations.md";
      ++families;
    }
  }
  EXPECT_GT(families, 20);
}

}  // namespace
}  // namespace mrelay
