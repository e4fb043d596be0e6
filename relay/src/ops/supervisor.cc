// The --supervise parent; see supervisor.h.
#include "ops/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"

namespace mrelay {
namespace {

void log_line(const std::string& text) {
  write_log_line(LogLevel::info, "mrelay supervise: " + text);
}

sigset_t supervised_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) {
    sigaddset(&set, sig);
  }
  return set;
}

timespec to_timespec(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
}

}  // namespace

uint32_t next_restart_delay(uint32_t delay_ms, uint64_t ran_ms,
                            const SupervisorTiming& timing) noexcept {
  if (ran_ms >= timing.healthy_run_ms || delay_ms == 0) {
    return timing.first_delay_ms;
  }
  const uint64_t doubled = static_cast<uint64_t>(delay_ms) * 2;
  return doubled > timing.max_delay_ms ? timing.max_delay_ms : static_cast<uint32_t>(doubled);
}

bool should_restart(int status) noexcept {
  if (WIFSIGNALED(status)) {
    return true;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != kConfigErrorExit;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exited " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  }
  return "status " + std::to_string(status);
}

namespace {

// A stop (SIGTERM/SIGINT) forwarded to the child: no restart after it.
struct StopRequest {
  bool requested = false;
  int signal = 0;
};

// Forwards every signal to `child` until it is reaped, and returns its wait status. After a
// stop request the child has timing.stop_grace_ms to exit before SIGKILL.
int wait_for_child(pid_t child, const sigset_t& signals, const SupervisorTiming& timing,
                   StopRequest& stop) {
  int status = 0;
  uint64_t kill_deadline_ns = 0;
  for (;;) {
    siginfo_t info{};
    int sig = 0;
    if (kill_deadline_ns != 0) {
      const uint64_t now = monotonic_ns();
      const timespec wait = to_timespec(kill_deadline_ns > now ? kill_deadline_ns - now : 0);
      sig = ::sigtimedwait(&signals, &info, &wait);
      if (sig < 0 && errno == EAGAIN) {
        log_line("relay pid " + std::to_string(child) + " still running " +
                 std::to_string(timing.stop_grace_ms) + " ms after the stop: SIGKILL");
        ::kill(child, SIGKILL);
        kill_deadline_ns = 0;
        continue;
      }
    } else {
      sig = ::sigwaitinfo(&signals, &info);
    }
    if (sig < 0) {
      continue;  // EINTR
    }
    if (sig == SIGCHLD) {
      if (::waitpid(child, &status, WNOHANG) == child) {
        return status;
      }
      continue;
    }
    ::kill(child, sig);
    if (sig == SIGTERM || sig == SIGINT) {
      if (!stop.requested) {
        kill_deadline_ns = monotonic_ns() + uint64_t{timing.stop_grace_ms} * 1000000u;
      }
      stop.requested = true;
      stop.signal = sig;
    }
  }
}

// The backoff wait before a restart, which still serves stop requests (there is no child to
// forward them to). Returns true when one came.
bool stop_requested_during(uint32_t delay_ms, const sigset_t& signals) {
  const uint64_t until_ns = monotonic_ns() + uint64_t{delay_ms} * 1000000u;
  for (uint64_t now = monotonic_ns(); now < until_ns; now = monotonic_ns()) {
    const timespec wait = to_timespec(until_ns - now);
    siginfo_t info{};
    const int sig = ::sigtimedwait(&signals, &info, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      return true;
    }
  }
  return false;
}

// The supervisor's exit code for a child it will not restart.
int final_exit_code(int status, const StopRequest& stop) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  // A child killed by our own forwarded SIGTERM/SIGINT: the shell convention.
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : stop.signal);
}

}  // namespace

std::optional<int> supervise(const SupervisorTiming& timing) {
  const sigset_t signals = supervised_signals();
  sigset_t original;
  // Blocked before the first fork: a signal that arrives between fork and sigtimedwait waits
  // in the pending set instead of killing the parent with its default action.
  if (::sigprocmask(SIG_BLOCK, &signals, &original) != 0) {
    log_line(std::string("sigprocmask: ") + std::strerror(errno));
    return 1;
  }
  const pid_t parent = ::getpid();
  uint32_t delay_ms = 0;  // 0 = no restart yet
  uint32_t starts = 0;
  StopRequest stop;
  for (;;) {
    const pid_t child = ::fork();
    if (child < 0) {
      log_line(std::string("fork: ") + std::strerror(errno));
      return 1;
    }
    if (child == 0) {
      // The relay: its own signal handling from a clean mask; dies with the supervisor.
      ::sigprocmask(SIG_SETMASK, &original, nullptr);
      (void)::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
      if (::getppid() != parent) {
        _exit(1);  // the supervisor died before the prctl
      }
      return std::nullopt;
    }
    ++starts;
    const uint64_t started_ns = monotonic_ns();
    log_line("started relay pid " + std::to_string(child) + " (start " + std::to_string(starts) +
             ")");
    const int status = wait_for_child(child, signals, timing, stop);
    const uint64_t ran_ms = (monotonic_ns() - started_ns) / 1000000u;
    const std::string what = "relay pid " + std::to_string(child) + " " + describe_status(status) +
                             " after " + std::to_string(ran_ms) + " ms";
    if (stop.requested || !should_restart(status)) {
      log_line(what + (stop.requested ? " (stop requested): exiting" : ": not restarting"));
      return final_exit_code(status, stop);
    }
    delay_ms = next_restart_delay(delay_ms, ran_ms, timing);
    log_line(what + ": restarting in " + std::to_string(delay_ms) + " ms");
    if (stop_requested_during(delay_ms, signals)) {
      log_line("stop requested while waiting to restart: exiting");
      return 0;
    }
  }
}

}  // namespace mrelay
