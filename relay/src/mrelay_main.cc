// mrelay: the multicast relay daemon.
//
//   mrelay --in veth0:239.1.1.1:5000 --out veth1:239.2.2.2:6000 --out veth2:239.2.2.3:6000
//   mrelay --config relay.json --egress sendmmsg --batch 32 --stats-interval 1000
//   kill -USR1 <pid>   # one stats line on stdout;  kill -TERM <pid>  # drain, final line, exit 0
//   mrelay --config relay.json --user nobody --supervise   # drop to nobody; restart on a crash
//
// Exit codes: 0 clean stop, 1 runtime/set-up failure (sockets, permissions), 2 bad command
// line or configuration (the message names the flag or field).
#include <cstdio>
#include <optional>

#include "mrelay/command_line.h"
#include "mrelay/config.h"
#include "privileges.h"
#include "relay.h"
#include "supervisor.h"

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
  if (command->supervise) {
    if (std::optional<int> code = mrelay::supervise(); code) {
      return *code;  // the supervisor parent, after a stop
    }
    // The (re)started child: read the command line and config file again, so a restart
    // relays what is configured now.
    command = mrelay::parse_command_line(argc, argv);
    if (!command) {
      std::fprintf(stderr, "mrelay: %s\n", command.error().to_string().c_str());
      return mrelay::kConfigErrorExit;
    }
    if (auto valid = mrelay::validate_config(command->config, mrelay::system_interfaces());
        !valid) {
      std::fprintf(stderr, "mrelay: %s\n", valid.error().to_string().c_str());
      return mrelay::kConfigErrorExit;
    }
  }
  auto relay = mrelay::Relay::create(command->config);
  if (!relay) {
    std::fprintf(stderr, "mrelay: %s\n", relay.error().to_string().c_str());
    return 1;
  }
  // Every socket is open and no thread runs yet: drop to --user and the capabilities the
  // data plane needs (privileges.h), so the workers start with the reduced sets.
  auto dropped = mrelay::drop_privileges(
      {.user = command->config.user,
       .group = command->config.group,
       .keep = mrelay::runtime_capabilities(command->config.ingress)});
  if (!dropped) {
    std::fprintf(stderr, "mrelay: %s\n", dropped.error().to_string().c_str());
    return 1;
  }
  std::fprintf(stderr, "mrelay: %s\n", dropped->c_str());
  return (*relay)->run();
}
