// mrelayctl: the control client of a running mrelay (--control-socket).
//
//   mrelayctl --socket /run/mrelay/control.sock ping
//   mrelayctl list-rules                      # table;  --json for the daemon's reply as is
//   mrelayctl add-rule '{"name":"cam2","input":{...},"outputs":[...]}'
//   mrelayctl add-rule cam2.json              # the same, from a file ("-" = stdin)
//   mrelayctl remove-rule cam2
//   mrelayctl stats [--prometheus]
//   mrelayctl set-log-level debug
//   mrelayctl request '{"cmd":"ping"}'        # any request line, reply printed as is
//
// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error, 3 cannot connect or
// no reply (daemon not running, wrong --socket, timeout).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/cli.h"
#include "mrelay/config.h"

namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitDaemonError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;

// The path the systemd unit gives the daemon (its RuntimeDirectory), stated once in config.h.
constexpr const char* kDefaultSocket = mrelay::kDefaultControlSocket.data();
// How long to wait for a reply, in ms: a rule change waits for every worker to switch (the
// daemon allows itself 5 s), so 10 s covers it with margin.
constexpr int kDefaultTimeoutMs = 10'000;
// Largest reply accepted, in bytes (a stats reply with thousands of outputs is ~1 MiB).
constexpr size_t kMaxReplyBytes = 64u << 20;

struct Options {
  std::string socket_path;
  bool json_output = false;
  bool prometheus = false;
  int timeout_ms = kDefaultTimeoutMs;
  std::vector<std::string> words;  // subcommand and its arguments
};

// The command line: global options, then one table per command.
void describe(mrelay::cli::Parser& parser, Options& options) {
  parser.usage("[OPTIONS] COMMAND [ARGS]");
  parser.value("--socket", "PATH", "control socket", mrelay::cli::store_text(options.socket_path))
      .with_default(std::string("$MRELAY_CONTROL_SOCKET or ") + kDefaultSocket);
  parser.flag("--json", "print the daemon's JSON reply instead of a table", options.json_output);
  parser.value("--timeout", "MS", "wait at most this long for the reply",
               mrelay::cli::store_uint(options.timeout_ms, 1, 3'600'000))
      .with_unit("ms")
      .with_default(std::to_string(kDefaultTimeoutMs));
  parser.command("ping", "", "check the daemon answers");
  parser.command("version", "", "the daemon's version");
  parser.command("list-rules", "", "the running rules");
  parser.command("add-rule", "RULE",
                 "add a rule: JSON text ('{...}', the config file's rule schema, \"name\" "
                 "required), a file, or - for stdin");
  parser.command("remove-rule", "NAME", "remove the rule named NAME");
  parser.command("stats", "", "counters per worker, rule and output")
      .flag("--prometheus", "print the Prometheus text exposition format", options.prometheus);
  parser.command("set-log-level", "LEVEL", "error | warn | info | debug");
  parser.command("request", "JSON", "send one raw request line, print the reply");
  parser.section("Exit codes",
                 "  0 ok, 1 the daemon reported an error, 2 usage error, 3 cannot connect or no\n"
                 "  reply.");
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "mrelayctl: %s (see mrelayctl --help)\n", message.c_str());
  return kExitUsage;
}

// Sends one line, reads one line. Returns the reply, or an error message (exit 3).
bool exchange(const Options& options, const std::string& request, std::string& reply,
              std::string& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (options.socket_path.size() >= sizeof address.sun_path) {
    error = "socket path too long: " + options.socket_path;
    return false;
  }
  std::memcpy(address.sun_path, options.socket_path.c_str(), options.socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = "cannot connect to " + options.socket_path + ": " + std::strerror(errno) +
            " (is mrelay running with --control-socket?)";
    ::close(fd);
    return false;
  }
  const std::string line = request + "\n";
  size_t sent = 0;
  int send_errno = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      // The daemon may have refused the connection (peer check, no free slot): it wrote one
      // error line and closed before our request went out. That line is still readable.
      send_errno = n < 0 ? errno : EPIPE;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  std::string buffer;
  while (buffer.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd pfd{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) == 0) {
      error = "no reply within " + std::to_string(options.timeout_ms) + " ms";
      ::close(fd);
      return false;
    }
    char chunk[65536];
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      error = !buffer.empty()   ? "the reply was cut short"
              : send_errno != 0 ? std::string("send: ") + std::strerror(send_errno)
                                : "the daemon closed the connection without a reply";
      ::close(fd);
      return false;
    }
    buffer.append(chunk, static_cast<size_t>(got));
    if (buffer.size() > kMaxReplyBytes) {
      error = "reply larger than 64 MiB";
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  reply = buffer.substr(0, buffer.find('\n'));
  return true;
}

std::string number(const json& value) {
  if (value.is_number_unsigned()) {
    return std::to_string(value.get<uint64_t>());
  }
  if (value.is_number()) {
    return value.dump();
  }
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// Left-aligned columns, widths from the content.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line += std::string(widths[c] - row[c].size() + 2, ' ');
      }
    }
    std::printf("%s\n", line.c_str());
  }
}

void print_rules(const json& reply) {
  std::vector<std::vector<std::string>> rows{{"NAME", "INPUT", "SOURCE", "OUTPUTS"}};
  for (const json& rule : reply.value("rules", json::array())) {
    const json& input = rule["input"];
    std::string outputs;
    for (const json& output : rule["outputs"]) {
      // Appended piece by piece: GCC 12 gives a false -Wrestrict on "literal" + std::string.
      if (!outputs.empty()) {
        outputs += ' ';
      }
      outputs.append(output["interface"].get<std::string>()).append(":");
      outputs.append(output["group"].get<std::string>()).append(":");
      outputs.append(number(output["port"]));
      // Shown only when not the default: a fixed TTL, a threshold above 1.
      if (output.contains("ttl")) {
        outputs.append("/ttl").append(number(output["ttl"]));
      }
      if (output.value("ttl_threshold", 1) != 1) {
        outputs.append("/threshold").append(number(output["ttl_threshold"]));
      }
    }
    // A rule on a VLAN of a trunk shows as IFACE@vlanN.
    std::string where = input["interface"].get<std::string>();
    if (input.contains("vlan")) {
      where.append("@vlan").append(number(input["vlan"]));
    }
    rows.push_back({rule["name"].get<std::string>(),
                    where + ":" + input["group"].get<std::string>() + ":" + number(input["port"]),
                    input.value("source", std::string("any")), outputs});
  }
  print_table(rows);
}

void print_stats(const json& reply) {
  const json& stats = reply["stats"];
  std::printf("uptime %.1f s, ingress %s, egress %s\n\n", stats.value("uptime_s", 0.0),
              stats.value("ingress", std::string("?")).c_str(),
              stats.value("egress", std::string("?")).c_str());
  // The counters an operator looks at first; --json has all of them.
  const std::vector<std::string> columns = {"rx_packets",        "fwd_packets",
                                            "tx_packets",        "unmatched_no_rule",
                                            "exhausted_packets", "kernel_drops"};
  std::vector<std::vector<std::string>> rows{{"WORKER"}};
  for (const std::string& column : columns) {
    rows[0].push_back(column);
  }
  for (const json& worker : stats.value("workers", json::array())) {
    std::vector<std::string> row{number(worker["worker"])};
    for (const std::string& column : columns) {
      row.push_back(number(worker.value(column, json(0))));
    }
    rows.push_back(row);
  }
  std::vector<std::string> total{"total"};
  for (const std::string& column : columns) {
    total.push_back(number(stats["total"].value(column, json(0))));
  }
  rows.push_back(total);
  print_table(rows);
  std::printf("\n");
  std::vector<std::vector<std::string>> rule_rows{{"RULE", "MATCHED_PKTS", "MATCHED_BYTES",
                                                   "OUTPUT", "QUEUED_PKTS", "DROPPED_PKTS",
                                                   "FAILED_PKTS"}};
  for (const json& rule : stats.value("rules", json::array())) {
    bool first = true;
    for (const json& output : rule["outputs"]) {
      rule_rows.push_back(
          {first ? rule["name"].get<std::string>() : "",
           first ? number(rule["matched_packets"]) : "", first ? number(rule["matched_bytes"]) : "",
           output["output"].get<std::string>(), number(output["queued_packets"]),
           number(output["dropped_packets"]), number(output.value("failed_packets", json(0)))});
      first = false;
    }
  }
  print_table(rule_rows);
}

bool read_rule_argument(const std::string& argument, std::string& text, std::string& error) {
  if (!argument.empty() && argument.front() == '{') {
    text = argument;
    return true;
  }
  std::stringstream content;
  if (argument == "-") {
    content << std::cin.rdbuf();
  } else {
    std::ifstream file(argument);
    if (!file) {
      error = "add-rule: '" + argument + "' is neither JSON ({...}) nor a readable file";
      return false;
    }
    content << file.rdbuf();
  }
  text = content.str();
  return true;
}

// Reads the options and the command words into `options`. Returns the exit code when the
// process ends here (--help, a usage error).
std::optional<int> parse_options(int argc, char** argv, Options& options) {
  const char* from_env = std::getenv("MRELAY_CONTROL_SOCKET");
  options.socket_path = from_env != nullptr && *from_env != '\0' ? from_env : kDefaultSocket;
  mrelay::cli::Parser parser("mrelayctl",
                             "Talks to a running mrelay over its control socket (mrelay "
                             "--control-socket).");
  describe(parser, options);
  const mrelay::cli::Parsed parsed = parser.parse(argc, argv);
  if (std::optional<int> code = mrelay::cli::finish(parsed)) {
    return code;
  }
  if (parsed.command.empty()) {
    return usage_error("no command given");
  }
  options.words.push_back(parsed.command);
  options.words.insert(options.words.end(), parsed.positionals.begin(), parsed.positionals.end());
  return std::nullopt;
}

// The request line for the command in `options.words` (the daemon's JSON), or the exit code
// of a usage error.
std::optional<int> build_request(const Options& options, std::string& line) {
  const std::string& command = options.words[0];
  const size_t arguments = options.words.size() - 1;
  auto wrong_arguments = [&](size_t count, const char* what) -> bool {
    return arguments != count && (usage_error(command + ": expects " + what), true);
  };
  json request;
  if (command == "ping" || command == "version" || command == "list-rules") {
    if (wrong_arguments(0, "no arguments")) {
      return kExitUsage;
    }
    request = {{"cmd", command == "list-rules" ? "list_rules" : command}};
  } else if (command == "stats") {
    if (wrong_arguments(0, "no arguments (only --prometheus)")) {
      return kExitUsage;
    }
    request = {{"cmd", "stats"}};
    if (options.prometheus) {
      request["format"] = "prometheus";
    }
  } else if (command == "add-rule") {
    if (wrong_arguments(1, "one rule (JSON text, a file, or -)")) {
      return kExitUsage;
    }
    std::string text;
    std::string error;
    if (!read_rule_argument(options.words[1], text, error)) {
      return usage_error(error);
    }
    const json rule = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (rule.is_discarded()) {
      return usage_error("add-rule: the rule is not valid JSON");
    }
    request = {{"cmd", "add_rule"}, {"rule", rule}};
  } else if (command == "remove-rule") {
    if (wrong_arguments(1, "one rule name")) {
      return kExitUsage;
    }
    request = {{"cmd", "remove_rule"}, {"name", options.words[1]}};
  } else if (command == "set-log-level") {
    if (wrong_arguments(1, "one level (error, warn, info, debug)")) {
      return kExitUsage;
    }
    request = {{"cmd", "set_log_level"}, {"level", options.words[1]}};
  } else if (command == "request") {
    if (wrong_arguments(1, "one JSON request line")) {
      return kExitUsage;
    }
  } else {
    return usage_error("unknown command '" + command + "'");
  }
  line = command == "request" ? options.words[1] : request.dump();
  return std::nullopt;
}

// Prints the daemon's reply to `command` (a table, or the JSON with --json) and returns the
// exit code.
int print_reply(const Options& options, const std::string& command, const std::string& reply_text) {
  const json reply = json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object() || !reply.contains("ok")) {
    std::fprintf(stderr, "mrelayctl: unexpected reply: %s\n", reply_text.c_str());
    return kExitConnect;
  }
  const bool ok = reply["ok"] == true;
  if (options.json_output || command == "request") {
    std::printf("%s\n", reply_text.c_str());
    return ok ? kExitOk : kExitDaemonError;
  }
  if (!ok) {
    std::fprintf(stderr, "mrelayctl: %s: %s\n", command.c_str(),
                 reply.value("error", std::string("error")).c_str());
    return kExitDaemonError;
  }
  if (command == "ping") {
    std::printf("pong\n");
  } else if (command == "version") {
    std::printf("mrelay %s\n", reply.value("version", std::string("?")).c_str());
  } else if (command == "list-rules") {
    print_rules(reply);
  } else if (command == "add-rule") {
    std::printf("added rule %s\n", reply.value("added", std::string("?")).c_str());
  } else if (command == "remove-rule") {
    std::printf("removed rule %s\n", reply.value("removed", std::string("?")).c_str());
  } else if (command == "set-log-level") {
    std::printf("log level %s\n", reply.value("level", std::string("?")).c_str());
  } else if (options.prometheus) {
    std::fputs(reply.value("prometheus", std::string()).c_str(), stdout);
  } else {
    print_stats(reply);
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (std::optional<int> code = parse_options(argc, argv, options)) {
    return *code;
  }
  std::string line;
  if (std::optional<int> code = build_request(options, line)) {
    return *code;
  }
  std::string reply_text;
  std::string error;
  if (!exchange(options, line, reply_text, error)) {
    std::fprintf(stderr, "mrelayctl: %s\n", error.c_str());
    return kExitConnect;
  }
  return print_reply(options, options.words[0], reply_text);
}
