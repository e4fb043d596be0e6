// mrelay: the multicast relay daemon.
//
//   mrelay --in veth0:239.1.1.1:5000 --out veth1:239.2.2.2:6000 --out veth2:239.2.2.3:6000
//   mrelay --config relay.json --egress sendmmsg --batch 32 --stats-interval 1000
//   mrelay --config relay.json --control-socket /run/mrelay/control.sock --state-file state.json
//   kill -USR1 <pid>   # one stats line on stdout;  kill -TERM <pid>  # drain, final line, exit 0
//   kill -HUP <pid>    # re-read relay.json: rules applied as a diff, or rejected with a reason
//   mrelay --config relay.json --user nobody --supervise   # drop to nobody; restart on a crash
//
// Exit codes: 0 clean stop, 1 runtime/set-up failure (sockets, permissions), 2 bad command
// line or configuration (the message names the flag or field).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/log.h"
#include "control/relay.h"
#include "mrelay/cli.h"
#include "mrelay/command_line.h"
#include "mrelay/config.h"
#include "ops/privileges.h"
#include "ops/supervisor.h"

#ifndef MRELAY_VERSION
#define MRELAY_VERSION "dev"
#endif

namespace {

// The kernel's overflow uid, which distributions name "nobody": many services run as it.
constexpr uid_t kNobodyUid = 65534;

// Parses and validates the command line into `command`. Returns the exit code when the
// process ends here: --help, --version, --check-config, or an error (2).
std::optional<int> read_command(int argc, char** argv,
                                mrelay::Result<mrelay::CommandLine>& command) {
  command = mrelay::parse_command_line(argc, argv);
  if (!command) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + command.error().to_string() +
                                                        " (see mrelay --help)");
    return 2;
  }
  switch (command->action) {
    case mrelay::Action::help:
      std::fputs(mrelay::usage_text().c_str(), stdout);
      return 0;
    case mrelay::Action::version:
      std::printf("%s\n", mrelay::cli::version_line("mrelay").c_str());
      return 0;
    case mrelay::Action::check_config:
    case mrelay::Action::run:
      break;
  }
  if (auto valid = mrelay::validate_config(command->config, mrelay::system_interfaces()); !valid) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + valid.error().to_string());
    return 2;
  }
  if (command->action == mrelay::Action::check_config) {
    for (const mrelay::Rule& rule : command->config.rules) {
      mrelay::write_log_line(mrelay::LogLevel::info, "mrelay: rule " + mrelay::describe_rule(rule));
    }
    mrelay::write_log_line(mrelay::LogLevel::info,
                           "mrelay: configuration OK (" +
                               std::to_string(command->config.rules.size()) + " rules)");
    return 0;
  }
  return std::nullopt;
}

// --supervise: the parent supervises its children until a stop and returns the exit code.
// A (re)started child reads the command line and config file again, so a restart relays what
// is configured now, and goes on (nullopt) unless that fails.
std::optional<int> run_supervised(int argc, char** argv,
                                  mrelay::Result<mrelay::CommandLine>& command) {
  if (std::optional<int> code = mrelay::supervise(); code) {
    return *code;  // the supervisor parent, after a stop
  }
  command = mrelay::parse_command_line(argc, argv);
  if (!command) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + command.error().to_string());
    return mrelay::kConfigErrorExit;
  }
  if (auto valid = mrelay::validate_config(command->config, mrelay::system_interfaces()); !valid) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + valid.error().to_string());
    return mrelay::kConfigErrorExit;
  }
  return std::nullopt;
}

// --log-level; the exit code (2) when the level is not one.
std::optional<int> apply_log_level(const mrelay::CommandLine& command) {
  if (command.log_level.empty()) {
    return std::nullopt;
  }
  auto level = mrelay::parse_log_level(command.log_level, "--log-level");
  if (!level) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + level.error().to_string());
    return 2;
  }
  mrelay::set_log_level(*level);
  return std::nullopt;
}

// What SIGHUP reloads: the file again with this command line's flags on top, as at start;
// nothing without --config.
mrelay::ConfigSource reload_source(int argc, char** argv, const mrelay::CommandLine& command) {
  if (command.config_path.empty()) {
    return {};
  }
  return [argc, argv]() -> mrelay::Result<mrelay::Config> {
    auto again = mrelay::parse_command_line(argc, argv);
    if (!again) {
      return tl::unexpected(again.error());
    }
    return std::move(again->config);
  };
}

// The control socket was created by the privileged identity; hand it to the one the relay
// drops to (--user), so the relay can remove it on exit and, without --control-group, that
// user's group reaches it (0660; the peer check still decides, control_server.h).
void hand_control_socket_to_user(const mrelay::CommandLine& command, const mrelay::Config& config) {
  if (command.config.user.empty() || config.control_socket.empty()) {
    return;
  }
  auto who = mrelay::resolve_identity(command.config.user, command.config.group);
  if (!who) {
    return;  // drop_privileges() reports it
  }
  const gid_t group =
      config.control_group.empty() ? who->gid : static_cast<gid_t>(-1);  // keep its group
  if (::chown(config.control_socket.c_str(), who->uid, group) != 0) {
    mrelay::log_message(mrelay::LogLevel::warn,
                        "chown " + config.control_socket + ": " + std::strerror(errno));
  }
  if (who->uid == kNobodyUid) {
    mrelay::log_message(mrelay::LogLevel::warn,
                        "--user " + command.config.user +
                            ": the relay's own uid has full control access, and uid " +
                            std::to_string(who->uid) +
                            " is shared by other services; prefer a dedicated user");
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First thing: the relay's signals wait (blocked) until its loop reads them from a signalfd.
  // Start-up takes a while (sockets, rings, probes); a SIGHUP or SIGTERM arriving meanwhile
  // would otherwise kill the process with its default action. --supervise keeps this mask for
  // its children (supervisor.cc restores the mask it found).
  const sigset_t signals = mrelay::relay_signals();
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: pthread_sigmask failed");
    return 1;
  }
  mrelay::Result<mrelay::CommandLine> command;
  if (std::optional<int> code = read_command(argc, argv, command)) {
    return *code;
  }
  if (command->supervise) {
    if (std::optional<int> code = run_supervised(argc, argv, command)) {
      return *code;
    }
  }
  if (std::optional<int> code = apply_log_level(*command)) {
    return *code;
  }
  // Rules added/removed at run time (--state-file) come back on top of the file's rules.
  std::vector<mrelay::Rule> file_rules = command->config.rules;
  const mrelay::Config config = mrelay::restore_state(command->config, mrelay::system_interfaces());
  auto relay = mrelay::Relay::create(config);
  if (!relay) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + relay.error().to_string());
    return 1;
  }
  (*relay)->set_config_source(reload_source(argc, argv, *command), std::move(file_rules));
  hand_control_socket_to_user(*command, config);
  // Every socket is open and no thread runs yet: drop to --user and the capabilities the
  // data plane needs (ops/privileges.h), so the workers start with the reduced sets.
  auto dropped = mrelay::drop_privileges({.user = command->config.user,
                                          .group = command->config.group,
                                          .keep = mrelay::runtime_capabilities(command->config)});
  if (!dropped) {
    mrelay::write_log_line(mrelay::LogLevel::error, "mrelay: " + dropped.error().to_string());
    return 1;
  }
  mrelay::write_log_line(mrelay::LogLevel::info, "mrelay: " + *dropped);
  return (*relay)->run();
}
