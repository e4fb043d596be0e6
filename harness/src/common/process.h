// Child processes for the bench: spawn a program inside a network namespace with its stdout
// and stderr captured to files, wait with a deadline, signal or kill it by PID.
//
//   mrelay::harness::SpawnOptions options;
//   options.argv = {"build/bin/mrelay-sink", "--json", ...};
//   options.netns = "mrl-ab12cd-sink0";
//   options.stdout_path = "/tmp/run/sink.json";
//   auto pid = mrelay::harness::spawn(options);
//   ...
//   auto status = mrelay::harness::wait_for_exit(*pid, std::chrono::seconds(5));
//   if (status.timed_out) { mrelay::harness::stop_process(*pid, SIGTERM, std::chrono::seconds(1));
//   }
//
// Only the PIDs returned by spawn() are ever signalled: no process is found by name.
// Children get PR_SET_PDEATHSIG(SIGKILL) so a crashed bench does not leave traffic running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "mrelay/error.h"

namespace mrelay::harness {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program (a path, or a name looked up in PATH)
  std::string netns;              // network namespace name (/run/netns/NAME); empty = ours
  std::string stdout_path;        // file that receives stdout; empty = /dev/null
  std::string stderr_path;        // file that receives stderr; empty = /dev/null
  // A new, empty network namespace of the child's own (unshare(CLONE_NEWNET)) instead of
  // `netns`: it holds only loopback, vanishes with the child and everything it made there,
  // so capability probes can add interfaces and qdiscs without naming or removing anything.
  bool scratch_netns = false;
};

/// Forks and execs. Errors name the namespace, file or system call that failed; a failed
/// exec shows up as exit code 127 with the reason in the child's stderr file.
[[nodiscard]] Result<pid_t> spawn(const SpawnOptions& options);

struct ExitStatus {
  bool timed_out = false;  // still running at the deadline (not reaped)
  bool exited = false;     // normal exit: `code` is valid
  int code = -1;
  int signal = 0;  // killed by this signal when not exited
  [[nodiscard]] bool ok() const { return exited && code == 0; }
  [[nodiscard]] std::string describe() const;
};

/// Waits up to `timeout` for `pid` to end and reaps it. Polls every 5 ms; with
/// `honour_interrupt` it also returns (timed_out) as soon as interrupted() is raised, so a
/// Ctrl-C reaches the caller's teardown promptly. Teardown waits pass false.
[[nodiscard]] ExitStatus wait_for_exit(pid_t pid, std::chrono::milliseconds timeout,
                                       bool honour_interrupt = false);

/// Sends `signal`, waits up to `grace`, then SIGKILLs and reaps. Never returns before the
/// child is gone (the SIGKILL wait is bounded to 5 s; a process stuck in D state is reported).
ExitStatus stop_process(pid_t pid, int signal, std::chrono::milliseconds grace);

struct CaptureResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

/// Runs a program to completion (killed after `timeout`) and returns its stdout and stderr.
[[nodiscard]] Result<CaptureResult> run_capture(const std::vector<std::string>& argv,
                                                std::chrono::milliseconds timeout,
                                                const std::string& netns = "");

/// run_capture() inside a scratch network namespace of the child's own (see
/// SpawnOptions::scratch_netns): for probes that create interfaces, qdiscs or rules.
[[nodiscard]] Result<CaptureResult> run_capture_in_scratch_netns(
    const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

/// Set by the bench's SIGINT/SIGTERM handler (async-signal-safe); interruptible waits check it
/// so a Ctrl-C reaches the teardown code within ~10 ms.
void set_interrupted();
[[nodiscard]] bool interrupted();

/// Whole file as a string; errors name the path.
[[nodiscard]] Result<std::string> read_text_file(const std::string& path);

/// The last `max_chars` of a text, "..." in front when cut: a child's output in a message.
[[nodiscard]] std::string text_tail(const std::string& text, size_t max_chars);

/// text_tail() of a file ("" when it cannot be read): a child's stderr file in a message.
[[nodiscard]] std::string file_tail(const std::string& path, size_t max_chars);

}  // namespace mrelay::harness
