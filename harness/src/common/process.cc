// Child processes for the bench: see process.h. Uses fork+exec (not posix_spawn) because the
// child must join a network namespace (setns) and set PR_SET_PDEATHSIG before exec.
//
//   auto r = mrelay::harness::run_capture({"git", "-C", "/path/to/mrelay", "rev-parse", "HEAD"},
//                                         std::chrono::seconds(5));
#include "common/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace mrelay::harness {
namespace {

// How often waits poll the child. 5 ms keeps the cost negligible and the reaction to a child
// exiting (or to Ctrl-C) far below anything a measurement window notices.
constexpr auto kPollInterval = std::chrono::milliseconds(5);
// Upper bound on waiting for a SIGKILLed child to be reaped; only a process stuck in
// uninterruptible sleep takes longer, and then we report it rather than hang the sweep.
constexpr auto kKillWait = std::chrono::seconds(5);

volatile sig_atomic_t g_interrupted = 0;

int open_output(const std::string& path) {
  if (path.empty()) {
    return ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

// Everything below runs in the forked child: only async-signal-safe calls, then exec.
[[noreturn]] void exec_child(char* const* argv, int netns_fd, bool scratch_netns, int out_fd,
                             int err_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have blocked or ignored signals; children start with the defaults.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  // A new process group: a Ctrl-C in the terminal reaches only the bench, which then stops
  // its children in order (relay last, after its final stats).
  ::setpgid(0, 0);
  if (::dup2(out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0) {
    ::_exit(126);
  }
  int null_in = ::open("/dev/null", O_RDONLY);
  if (null_in >= 0) {
    ::dup2(null_in, STDIN_FILENO);
  }
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
    static const char kMessage[] = "spawn: setns(CLONE_NEWNET) failed\n";
    [[maybe_unused]] auto unused = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(126);
  }
  if (scratch_netns && ::unshare(CLONE_NEWNET) != 0) {
    static const char kMessage[] = "spawn: unshare(CLONE_NEWNET) failed\n";
    [[maybe_unused]] auto unused = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(126);
  }
  ::execvp(argv[0], argv);
  static const char kMessage[] = "spawn: execvp failed: ";
  [[maybe_unused]] auto unused1 = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  const char* reason = ::strerror(errno);
  [[maybe_unused]] auto unused2 = ::write(STDERR_FILENO, reason, ::strlen(reason));
  [[maybe_unused]] auto unused3 = ::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

ExitStatus decode(int raw) {
  ExitStatus status;
  if (WIFEXITED(raw)) {
    status.exited = true;
    status.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    status.signal = WTERMSIG(raw);
  }
  return status;
}

}  // namespace

void set_interrupted() {
  g_interrupted = 1;
}
bool interrupted() {
  return g_interrupted != 0;
}

std::string ExitStatus::describe() const {
  if (timed_out) {
    return "still running at its deadline";
  }
  if (exited) {
    return "exit code " + std::to_string(code);
  }
  return std::string("killed by signal ") + ::strsignal(signal);
}

Result<pid_t> spawn(const SpawnOptions& options) {
  if (options.argv.empty()) {
    return fail("spawn", "empty argv");
  }
  int netns_fd = -1;
  if (!options.netns.empty()) {
    const std::string path = "/run/netns/" + options.netns;
    netns_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      return fail_errno("open(" + path + ")");
    }
  }
  const int out_fd = open_output(options.stdout_path);
  const int err_fd = open_output(options.stderr_path);
  if (out_fd < 0 || err_fd < 0) {
    auto error =
        fail_errno("open(" + (out_fd < 0 ? options.stdout_path : options.stderr_path) + ")");
    for (int fd : {netns_fd, out_fd, err_fd}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return error;
  }
  // argv pointers built before fork: the child must not allocate.
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& arg : options.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    exec_child(argv.data(), netns_fd, options.scratch_netns, out_fd, err_fd);
  }
  const int fork_errno = errno;
  for (int fd : {netns_fd, out_fd, err_fd}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  if (pid < 0) {
    errno = fork_errno;
    return fail_errno("fork(" + options.argv[0] + ")");
  }
  return pid;
}

ExitStatus wait_for_exit(pid_t pid, std::chrono::milliseconds timeout, bool honour_interrupt) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int raw = 0;
    const pid_t done = ::waitpid(pid, &raw, WNOHANG);
    if (done == pid) {
      return decode(raw);
    }
    if (done < 0 && errno != EINTR) {
      // ECHILD: not our child or already reaped; report it as gone.
      ExitStatus gone;
      gone.exited = true;
      gone.code = -1;
      return gone;
    }
    if (std::chrono::steady_clock::now() >= deadline || (honour_interrupt && interrupted())) {
      ExitStatus running;
      running.timed_out = true;
      return running;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

ExitStatus stop_process(pid_t pid, int signal, std::chrono::milliseconds grace) {
  if (pid <= 0) {
    return ExitStatus{};
  }
  ::kill(pid, signal);
  ExitStatus status = wait_for_exit(pid, grace);
  if (!status.timed_out) {
    return status;
  }
  ::kill(pid, SIGKILL);
  return wait_for_exit(pid, kKillWait);
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail_errno("open(" + path + ")");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string text_tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

std::string file_tail(const std::string& path, size_t max_chars) {
  return text_tail(read_text_file(path).value_or(""), max_chars);
}

namespace {

Result<CaptureResult> capture(SpawnOptions options, std::chrono::milliseconds timeout) {
  char out_template[] = "/tmp/mrelay-bench-capture-XXXXXX";
  const int dir_ok = ::mkdtemp(out_template) != nullptr;
  if (!dir_ok) {
    return fail_errno("mkdtemp(/tmp/mrelay-bench-capture-*)");
  }
  const std::string dir = out_template;
  options.stdout_path = dir + "/out";
  options.stderr_path = dir + "/err";
  auto pid = spawn(options);
  if (!pid) {
    ::rmdir(dir.c_str());
    return tl::unexpected(pid.error());
  }
  CaptureResult result;
  result.status = wait_for_exit(*pid, timeout);
  if (result.status.timed_out) {
    result.status = stop_process(*pid, SIGTERM, std::chrono::seconds(1));
    result.status.timed_out = true;
  }
  result.out = read_text_file(options.stdout_path).value_or("");
  result.err = read_text_file(options.stderr_path).value_or("");
  ::unlink(options.stdout_path.c_str());
  ::unlink(options.stderr_path.c_str());
  ::rmdir(dir.c_str());
  return result;
}

}  // namespace

Result<CaptureResult> run_capture(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout, const std::string& netns) {
  SpawnOptions options;
  options.argv = argv;
  options.netns = netns;
  return capture(std::move(options), timeout);
}

Result<CaptureResult> run_capture_in_scratch_netns(const std::vector<std::string>& argv,
                                                   std::chrono::milliseconds timeout) {
  SpawnOptions options;
  options.argv = argv;
  options.scratch_netns = true;
  return capture(std::move(options), timeout);
}

}  // namespace mrelay::harness
