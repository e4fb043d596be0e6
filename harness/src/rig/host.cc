// Hosts of the rig: namespaces of ours and machines over SSH. See rig/host.h.
#include "rig/host.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "rig/proc.h"

namespace mrelay::harness {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// How long a started program may take to write its PID file on its host: the ssh master is
// already up, so this is one round trip plus a fork on a loaded host.
constexpr auto kPidFileTimeout = std::chrono::seconds(10);
// Short commands over the master connection (signals, reads, clean-up).
constexpr auto kCommandTimeout = std::chrono::seconds(20);

std::string net_path_in(pid_t anchor, const std::string& path) {
  static const std::string kNet = "/proc/net/";
  if (anchor > 0 && path.rfind(kNet, 0) == 0) {
    return "/proc/" + std::to_string(anchor) + "/net/" + path.substr(kNet.size());
  }
  return path;
}

// Sums the first field of each line: schedstat's run time of each thread, ns.
uint64_t sum_first_fields(const std::string& lines_text) {
  std::istringstream lines(lines_text);
  std::string line;
  uint64_t total = 0;
  while (std::getline(lines, line)) {
    try {
      total += line.empty() ? 0 : std::stoull(line);
    } catch (const std::exception&) {
      // a malformed line: leave this thread out
    }
  }
  return total;
}

}  // namespace

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

std::string shell_command(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& arg : argv) {
    line += (line.empty() ? "" : " ") + shell_quote(arg);
  }
  return line;
}

std::map<std::string, std::string> split_file_blocks(const std::string& output,
                                                     const std::string& marker) {
  std::map<std::string, std::string> files;
  std::string* current = nullptr;
  size_t begin = 0;
  while (begin < output.size()) {
    size_t end = output.find('\n', begin);
    end = end == std::string::npos ? output.size() : end + 1;
    const std::string line = output.substr(begin, end - begin);
    begin = end;
    if (line.rfind(marker + "! ", 0) == 0) {
      current = nullptr;  // missing on the host
    } else if (line.rfind(marker + " ", 0) == 0) {
      std::string path = line.substr(marker.size() + 1);
      while (!path.empty() && path.back() == '\n') {
        path.pop_back();
      }
      current = &files[path];
    } else if (current != nullptr) {
      *current += line;
    }
  }
  return files;
}

std::optional<uint64_t> Host::context_switches(const HostProcess& process) {
  auto result = run({"sh", "-c", "cat /proc/\"$1\"/task/*/status", "sh",
                     std::to_string(process.host_pid)},
                    kCommandTimeout);
  if (!result || !result->status.ok() || result->out.empty()) {
    return std::nullopt;
  }
  return sum_context_switches(result->out);
}

std::optional<uint64_t> Host::runtime_ns(const HostProcess& process) {
  auto result = run({"sh", "-c", "cat /proc/\"$1\"/task/*/schedstat", "sh",
                     std::to_string(process.host_pid)},
                    kCommandTimeout);
  if (!result || !result->status.ok() || result->out.empty()) {
    return std::nullopt;
  }
  return sum_first_fields(result->out);
}

std::optional<std::string> Host::read_file(const std::string& path) {
  auto files = read_files({path});
  if (!files || files->count(path) == 0) {
    return std::nullopt;
  }
  return files->at(path);
}

bool Host::exists(const std::string& path) { return read_file(path).has_value(); }

// ---- NamespaceHost ----

NamespaceHost::NamespaceHost(std::string netns, std::string bin_dir, std::string work_dir)
    : netns_(std::move(netns)), bin_dir_(std::move(bin_dir)), work_dir_(std::move(work_dir)) {}

NamespaceHost::~NamespaceHost() { cleanup(); }

Result<void> NamespaceHost::start_anchor(double lifetime_s) {
  auto anchor = spawn(SpawnOptions{{"sleep", std::to_string(static_cast<long>(lifetime_s) + 1)},
                                   netns_, "", ""});
  if (!anchor) {
    return fail("spawn anchor in " + netns_, anchor.error().to_string());
  }
  anchor_ = *anchor;
  return {};
}

Result<HostProcess> NamespaceHost::start(const std::vector<std::string>& argv,
                                         const std::string& label, const std::string& stdout_path,
                                         const std::string& stderr_path) {
  auto pid = spawn(SpawnOptions{argv, netns_, stdout_path, stderr_path});
  if (!pid) {
    return tl::unexpected(pid.error());
  }
  started_.push_back(*pid);
  return HostProcess{*pid, *pid, label};
}

bool NamespaceHost::alive(const HostProcess& process) { return process_alive(process.local_pid); }

ExitStatus NamespaceHost::wait(const HostProcess& process, milliseconds timeout,
                               bool honour_interrupt) {
  return wait_for_exit(process.local_pid, timeout, honour_interrupt);
}

bool NamespaceHost::signal(const HostProcess& process, int signal) {
  return process.local_pid > 0 && ::kill(process.local_pid, signal) == 0;
}

ExitStatus NamespaceHost::stop(const HostProcess& process, int signal, milliseconds grace) {
  return stop_process(process.local_pid, signal, grace);
}

Result<std::map<std::string, std::string>> NamespaceHost::read_files(
    const std::vector<std::string>& paths) {
  std::map<std::string, std::string> files;
  for (const std::string& path : paths) {
    if (auto text = read_text_file(net_path_in(anchor_, path))) {
      files[path] = std::move(*text);
    }
  }
  return files;
}

Result<CaptureResult> NamespaceHost::run(const std::vector<std::string>& argv,
                                         milliseconds timeout) {
  return run_capture(argv, timeout, netns_);
}

std::optional<uint64_t> NamespaceHost::context_switches(const HostProcess& process) {
  return proc_context_switches(process.local_pid);
}

std::optional<uint64_t> NamespaceHost::runtime_ns(const HostProcess& process) {
  return process_runtime_ns(process.local_pid);
}

void NamespaceHost::cleanup() {
  for (auto it = started_.rbegin(); it != started_.rend(); ++it) {
    if (process_alive(*it)) {
      (void)stop_process(*it, SIGKILL, milliseconds(2000));
    }
  }
  started_.clear();
  if (anchor_ > 0 && process_alive(anchor_)) {
    (void)stop_process(anchor_, SIGKILL, milliseconds(2000));
  }
  anchor_ = -1;
}

// ---- SshHost ----

SshHost::SshHost(SshTarget target)
    : target_(std::move(target)),
      work_dir_("/tmp/mrelay-rig-" + target_.run_id + "-" + target_.name),
      marker_("MRELAY_RIG_RUN=" + target_.run_id) {}

SshHost::~SshHost() { cleanup(); }

std::vector<std::string> SshHost::ssh_prefix() const {
  std::vector<std::string> argv = {"ssh"};
  if (!target_.config_file.empty()) {
    argv.insert(argv.end(), {"-F", target_.config_file});
  }
  // BatchMode: never ask for a password mid-run. One master connection per host carries every
  // command of the run (ControlPersist keeps it between cells; cleanup() closes it).
  argv.insert(argv.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o",
                           "ServerAliveInterval=5", "-o", "ControlMaster=auto", "-o",
                           "ControlPath=" + target_.control_dir + "/%C", "-o",
                           "ControlPersist=300", "-T", target_.destination});
  return argv;
}

Result<HostProcess> SshHost::start(const std::vector<std::string>& argv, const std::string& label,
                                   const std::string& stdout_path,
                                   const std::string& stderr_path) {
  const std::string pid_file = work_dir_ + "/" + label + ".pid";
  // exec keeps the shell's PID, so the PID file names the program itself.
  const std::string script = "mkdir -p " + shell_quote(work_dir_) + " && echo $$ > " +
                             shell_quote(pid_file) + " && exec env " + marker_ + " " +
                             shell_command(argv);
  std::vector<std::string> ssh = ssh_prefix();
  ssh.push_back(shell_command({"sh", "-c", script}));
  contacted_ = true;
  auto client = spawn(SpawnOptions{ssh, "", stdout_path, stderr_path});
  if (!client) {
    return fail("ssh " + target_.destination, client.error().to_string());
  }
  clients_.push_back(*client);
  HostProcess process{*client, -1, label};
  const auto deadline = Clock::now() + kPidFileTimeout;
  while (Clock::now() < deadline && !interrupted()) {
    if (auto pid = host_pid_of(label)) {
      process.host_pid = *pid;
      return process;
    }
    if (!process_alive(*client)) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  (void)stop_process(*client, SIGKILL, milliseconds(2000));
  if (interrupted()) {
    return fail("start " + label + " on " + target_.name, "interrupted");
  }
  return fail("start " + label + " on " + target_.name + " (" + target_.destination + ")",
              "no PID file within " + std::to_string(kPidFileTimeout.count()) +
                  " s: " + file_tail(stderr_path, 400));
}

Result<pid_t> SshHost::host_pid_of(const std::string& label) {
  auto text = read_file(work_dir_ + "/" + label + ".pid");
  if (!text || text->empty()) {
    return fail(label, "no PID file yet");
  }
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (const std::exception&) {
    return fail(label, "PID file holds '" + text_tail(*text, 40) + "'");
  }
}

bool SshHost::alive(const HostProcess& process) {
  // The ssh client ends when the program does (no terminal: the session's exit is the
  // program's).
  return process_alive(process.local_pid);
}

ExitStatus SshHost::wait(const HostProcess& process, milliseconds timeout, bool honour_interrupt) {
  return wait_for_exit(process.local_pid, timeout, honour_interrupt);
}

bool SshHost::signal(const HostProcess& process, int signal) {
  if (process.host_pid <= 0) {
    return false;
  }
  auto result = run({"kill", "-" + std::to_string(signal), std::to_string(process.host_pid)},
                    kCommandTimeout);
  return result && result->status.ok();
}

ExitStatus SshHost::stop(const HostProcess& process, int signal, milliseconds grace) {
  if (!process_alive(process.local_pid)) {
    return wait_for_exit(process.local_pid, milliseconds(100));
  }
  (void)this->signal(process, signal);
  ExitStatus status = wait_for_exit(process.local_pid, grace);
  if (status.timed_out) {
    (void)this->signal(process, SIGKILL);
    status = wait_for_exit(process.local_pid, milliseconds(3000));
  }
  if (status.timed_out) {  // the connection hangs: end our client, cleanup() ends the program
    status = stop_process(process.local_pid, SIGKILL, milliseconds(1000));
  }
  return status;
}

Result<std::map<std::string, std::string>> SshHost::read_files(
    const std::vector<std::string>& paths) {
  const std::string marker = "@@mrelay-file-" + target_.run_id;
  std::string script = "for f; do if [ -r \"$f\" ]; then echo '" + marker +
                       " '\"$f\"; cat \"$f\"; echo; else echo '" + marker +
                       "! '\"$f\"; fi; done";
  std::vector<std::string> argv = ssh_prefix();
  std::vector<std::string> command = {"sh", "-c", script, "sh"};
  command.insert(command.end(), paths.begin(), paths.end());
  argv.push_back(shell_command(command));
  contacted_ = true;
  auto result = run_capture(argv, kCommandTimeout);
  if (!result) {
    return tl::unexpected(result.error());
  }
  if (!result->status.ok()) {
    return fail("read files on " + target_.name,
                result->status.describe() + ": " + text_tail(result->err, 300));
  }
  auto files = split_file_blocks(result->out, marker);
  for (auto& [path, text] : files) {
    if (!text.empty() && text.back() == '\n') {
      text.pop_back();  // the echo after cat
    }
  }
  return files;
}

Result<CaptureResult> SshHost::run(const std::vector<std::string>& argv, milliseconds timeout) {
  std::vector<std::string> ssh = ssh_prefix();
  ssh.push_back(shell_command(argv));
  contacted_ = true;
  return run_capture(ssh, timeout);
}

void SshHost::cleanup() {
  if (cleaned_ || !contacted_) {
    return;
  }
  cleaned_ = true;
  // Only a PID whose environment still carries this run's mark is killed: a PID file left by a
  // program that ended long ago may name an unrelated process by now.
  const std::string script = "for f in " + shell_quote(work_dir_) +
                             "/*.pid; do [ -r \"$f\" ] || continue; p=$(cat \"$f\"); "
                             "if tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx '" +
                             marker_ + "'; then kill -KILL $p; fi; done; rm -rf " +
                             shell_quote(work_dir_);
  auto result = run({"sh", "-c", script}, kCommandTimeout);
  if (!result || !result->status.ok()) {
    std::fprintf(stderr, "mrelay-bench: warning: clean-up on %s (%s) failed: %s\n",
                 target_.name.c_str(), target_.destination.c_str(),
                 result ? text_tail(result->err, 300).c_str()
                        : result.error().to_string().c_str());
  }
  for (pid_t client : clients_) {
    if (process_alive(client)) {
      (void)stop_process(client, SIGKILL, milliseconds(2000));
    }
  }
  clients_.clear();
  std::vector<std::string> close = ssh_prefix();
  close.insert(close.end() - 1, {"-O", "exit"});
  (void)run_capture(close, std::chrono::seconds(5));
}

}  // namespace mrelay::harness
