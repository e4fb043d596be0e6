// --supervise: the relay's data plane is one process; a supervisor parent forks it and
// restarts it when it dies abnormally (killed by a signal, or a non-zero exit other than a
// configuration error), with a short bounded backoff. The restarted child reads the command
// line and the config file again, so its rules are the configured ones (and, once the control
// socket's --state-file exists, the run-time rules saved there).
//
//   if (command->supervise) {
//     if (std::optional<int> code = mrelay::supervise(); code) { return *code; }  // parent
//     // child: continue as the relay (re-parse argv, open sockets, drop privileges, run)
//   }
//
// The parent forwards SIGTERM, SIGINT, SIGHUP and SIGUSR1 to the child. After SIGTERM/SIGINT
// it restarts nothing and exits with the child's exit code (128 + signal if the child was
// killed); a child that ignores the stop for kStopGraceMs gets SIGKILL. The child gets
// SIGTERM if the parent dies (PR_SET_PDEATHSIG). The parent keeps the privileges it was
// started with (it must open sockets again in each new child) but runs no data-plane code.
//
// Under systemd, Restart=on-failure in dist/mrelay.service.in does the same job for the unit;
// --supervise is for running without a service manager (and for the fault tests).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mrelay {

struct SupervisorTiming {
  // Delay before the first restart, in ms: long enough that a crash loop cannot burn a core,
  // short enough that a killed relay loses ~0.1 s of traffic plus its own start-up.
  uint32_t first_delay_ms = 100;
  // Cap of the doubling restart delay, in ms: a relay that keeps failing (interface gone)
  // is retried every 5 s.
  uint32_t max_delay_ms = 5000;
  // A child that ran this long (ms) before dying counts as healthy: the delay starts over.
  uint32_t healthy_run_ms = 10000;
  // After forwarding SIGTERM/SIGINT, how long (ms) the child may drain before SIGKILL. The
  // relay drains in-flight sends for up to 1 s.
  uint32_t stop_grace_ms = 10000;
};

/// Exit code a child uses for a configuration / command-line error: not restarted (the same
/// config would fail again), the supervisor exits with it.
constexpr int kConfigErrorExit = 2;

/// The next restart delay after one of `delay_ms`, given how long the child ran: doubles up to
/// max_delay_ms, or starts over at first_delay_ms after a healthy run. Pure, for tests.
[[nodiscard]] uint32_t next_restart_delay(uint32_t delay_ms, uint64_t ran_ms,
                                          const SupervisorTiming& timing) noexcept;

/// Whether a child that ended with wait status `status` should be restarted, when no stop was
/// requested: killed by a signal, or exited non-zero other than kConfigErrorExit.
[[nodiscard]] bool should_restart(int status) noexcept;

/// Human text for a wait status: "exited 0", "killed by signal 9 (Killed)".
[[nodiscard]] std::string describe_status(int status);

/// Forks and supervises. Returns std::nullopt in the child, which continues as the relay,
/// or the parent's exit code once it stops. Logs to stderr with the prefix "mrelay supervise:".
[[nodiscard]] std::optional<int> supervise(const SupervisorTiming& timing = {});

}  // namespace mrelay
