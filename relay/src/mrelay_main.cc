// mrelay: the multicast relay daemon.
//
//   mrelay --in veth0:239.1.1.1:5000 --out veth1:239.2.2.2:6000 --out veth2:239.2.2.3:6000
//   mrelay --config relay.json --egress sendmmsg --batch 32 --stats-interval 1000
//   mrelay --config relay.json --control-socket /run/mrelay/control.sock --state-file state.json
//   kill -USR1 <pid>   # one stats line on stdout;  kill -TERM <pid>  # drain, final line, exit 0
//   kill -HUP <pid>    # re-read relay.json: rules applied as a diff, or rejected with a reason
//
// Exit codes: 0 clean stop, 1 runtime/set-up failure (sockets, permissions), 2 bad command
// line or configuration (the message names the flag or field).
#include <cstdio>

#include "log.h"
#include "mrelay/command_line.h"
#include "mrelay/config.h"
#include "relay.h"

#ifndef MRELAY_VERSION
#define MRELAY_VERSION "dev"
#endif

int main(int argc, char** argv) {
  auto command = mrelay::parse_command_line(argc, argv);
  if (!command) {
    std::fprintf(stderr, "mrelay: %s\n(see mrelay --help)\n", command.error().to_string().c_str());
    return 2;
  }
  switch (command->action) {
    case mrelay::Action::help:
      std::fputs(mrelay::usage_text().c_str(), stdout);
      return 0;
    case mrelay::Action::version:
      std::printf("mrelay %s\n", MRELAY_VERSION);
      return 0;
    case mrelay::Action::check_config:
    case mrelay::Action::run:
      break;
  }
  if (auto valid = mrelay::validate_config(command->config, mrelay::system_interfaces()); !valid) {
    std::fprintf(stderr, "mrelay: %s\n", valid.error().to_string().c_str());
    return 2;
  }
  if (command->action == mrelay::Action::check_config) {
    std::fprintf(stderr, "mrelay: configuration OK (%zu rules)\n", command->config.rules.size());
    return 0;
  }
  if (!command->log_level.empty()) {
    auto level = mrelay::parse_log_level(command->log_level, "--log-level");
    if (!level) {
      std::fprintf(stderr, "mrelay: %s\n", level.error().to_string().c_str());
      return 2;
    }
    mrelay::set_log_level(*level);
  }
  // Rules added/removed at run time (--state-file) come back on top of the file's rules.
  std::vector<mrelay::Rule> file_rules = command->config.rules;
  const mrelay::Config config = mrelay::restore_state(command->config, mrelay::system_interfaces());
  auto relay = mrelay::Relay::create(config);
  if (!relay) {
    std::fprintf(stderr, "mrelay: %s\n", relay.error().to_string().c_str());
    return 1;
  }
  mrelay::ConfigSource reload;
  if (!command->config_path.empty()) {
    // SIGHUP re-reads the file and re-applies this command line's flags on top, as at start.
    reload = [argc, argv]() -> mrelay::Result<mrelay::Config> {
      auto again = mrelay::parse_command_line(argc, argv);
      if (!again) {
        return tl::unexpected(again.error());
      }
      return std::move(again->config);
    };
  }
  (*relay)->set_config_source(std::move(reload), std::move(file_rules));
  return (*relay)->run();
}
