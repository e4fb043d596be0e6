// Where a role of the rig runs: a host that can start programs, signal and wait for them,
// read files (under /proc above all) and run short commands. Two kinds behind one interface,
// so one cell drives both the namespace rig and machines reached over SSH:
//
//   NamespaceHost tester("mrl-b42-0-src0", "/tmp/cell");   // a namespace of ours, this machine
//   SshHost dut({"dut", "root@10.0.0.2", ...});             // OpenSSH client, ControlMaster
//   auto handle = host.start({"mrelay-sink", ...}, "sink", "/tmp/cell/sink.json", "...err");
//   auto files = host.read_files({"/proc/stat", "/proc/net/snmp"});   // one round trip
//   host.signal(*handle, SIGUSR1);
//   ExitStatus status = host.stop(*handle, SIGTERM, std::chrono::seconds(3));
//   host.cleanup();   // every process started there, by PID; its work directory
//
// A program's stdout and stderr always land in local files (over SSH they are the ssh
// client's), so the rig collects every program's JSON the same way. Paths under /proc/net/
// are the host's network namespace (a namespace host reads them through an idle process in
// the namespace). Nothing is installed on a remote host: the programs must already be in its
// bin_dir, and every process started there is killed by the PID it wrote on start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "mrelay/error.h"

namespace mrelay::harness {

/// A process started on a host. `local_pid` is our child (the program itself on a namespace
/// host, its ssh client on an SSH host); `host_pid` is the program's PID on its host.
struct HostProcess {
  pid_t local_pid = -1;
  pid_t host_pid = -1;
  std::string label;
};

class Host {
 public:
  virtual ~Host() = default;

  /// The host's name in the inventory ("tester", "dut", ...; the namespace for a namespace).
  [[nodiscard]] virtual const std::string& name() const = 0;
  /// Where its programs are (mrelay, mrelay-gen, ...).
  [[nodiscard]] virtual const std::string& bin_dir() const = 0;
  /// A directory on the host for the files programs write there (ready files, stats).
  [[nodiscard]] virtual const std::string& work_dir() const = 0;
  /// True when the host's processes are this machine's (perf counters attach directly).
  [[nodiscard]] virtual bool is_local() const = 0;
  /// "netns NAME" or "ssh DESTINATION": for messages and the record.
  [[nodiscard]] virtual std::string describe() const = 0;

  /// Starts `argv` on the host. `label` names its PID file (unique per run on the host).
  [[nodiscard]] virtual Result<HostProcess> start(const std::vector<std::string>& argv,
                                                  const std::string& label,
                                                  const std::string& stdout_path,
                                                  const std::string& stderr_path) = 0;
  [[nodiscard]] virtual bool alive(const HostProcess& process) = 0;
  [[nodiscard]] virtual ExitStatus wait(const HostProcess& process,
                                        std::chrono::milliseconds timeout,
                                        bool honour_interrupt) = 0;
  /// Sends `signal`; true when it was delivered.
  virtual bool signal(const HostProcess& process, int signal) = 0;
  /// `signal`, up to `grace` for the exit, then SIGKILL: never returns with it running.
  virtual ExitStatus stop(const HostProcess& process, int signal,
                          std::chrono::milliseconds grace) = 0;

  /// The text of each path that could be read (missing ones are absent), in one round trip.
  [[nodiscard]] virtual Result<std::map<std::string, std::string>> read_files(
      const std::vector<std::string>& paths) = 0;
  /// Runs a short command on the host to completion.
  [[nodiscard]] virtual Result<CaptureResult> run(const std::vector<std::string>& argv,
                                                  std::chrono::milliseconds timeout) = 0;
  /// Voluntary + involuntary context switches of every thread of a process on the host.
  [[nodiscard]] virtual std::optional<uint64_t> context_switches(const HostProcess& process);
  /// CPU time every thread of a process on the host has run, ns (schedstat: exact).
  [[nodiscard]] virtual std::optional<uint64_t> runtime_ns(const HostProcess& process);

  /// Kills every process started on the host that is still running (by the PID it recorded),
  /// and removes the host's work directory. Safe to call twice.
  virtual void cleanup() = 0;

  /// read_files() of one path.
  [[nodiscard]] std::optional<std::string> read_file(const std::string& path);
  /// True once `path` exists on the host.
  [[nodiscard]] bool exists(const std::string& path);
};

/// A network namespace of ours on this machine (`ip netns` name); /proc/net/ paths are read
/// through an idle process started in the namespace.
class NamespaceHost final : public Host {
 public:
  NamespaceHost(std::string netns, std::string bin_dir, std::string work_dir);
  ~NamespaceHost() override;
  NamespaceHost(const NamespaceHost&) = delete;
  NamespaceHost& operator=(const NamespaceHost&) = delete;

  /// Starts the idle process whose /proc/PID/net shows the namespace; lives `lifetime_s`.
  [[nodiscard]] Result<void> start_anchor(double lifetime_s);

  [[nodiscard]] const std::string& name() const override { return netns_; }
  [[nodiscard]] const std::string& bin_dir() const override { return bin_dir_; }
  [[nodiscard]] const std::string& work_dir() const override { return work_dir_; }
  [[nodiscard]] bool is_local() const override { return true; }
  [[nodiscard]] std::string describe() const override { return "netns " + netns_; }
  [[nodiscard]] Result<HostProcess> start(const std::vector<std::string>& argv,
                                          const std::string& label,
                                          const std::string& stdout_path,
                                          const std::string& stderr_path) override;
  [[nodiscard]] bool alive(const HostProcess& process) override;
  [[nodiscard]] ExitStatus wait(const HostProcess& process, std::chrono::milliseconds timeout,
                                bool honour_interrupt) override;
  bool signal(const HostProcess& process, int signal) override;
  ExitStatus stop(const HostProcess& process, int signal,
                  std::chrono::milliseconds grace) override;
  [[nodiscard]] Result<std::map<std::string, std::string>> read_files(
      const std::vector<std::string>& paths) override;
  [[nodiscard]] Result<CaptureResult> run(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout) override;
  [[nodiscard]] std::optional<uint64_t> context_switches(const HostProcess& process) override;
  [[nodiscard]] std::optional<uint64_t> runtime_ns(const HostProcess& process) override;
  void cleanup() override;

 private:
  std::string netns_;
  std::string bin_dir_;
  std::string work_dir_;
  pid_t anchor_ = -1;
  std::vector<pid_t> started_;
};

/// How to reach a host with the OpenSSH client. User, port, jump hosts and keys are
/// OpenSSH's business (~/.ssh/config, or `config_file`), not ours.
struct SshTarget {
  std::string name;         // the inventory's name for the host
  std::string destination;  // as `ssh DESTINATION` takes it
  std::string config_file;  // ssh -F FILE; empty = the user's own configuration
  std::string bin_dir;      // where the programs are on the host
  std::string control_dir;  // a local directory for the ControlMaster socket (short path)
  std::string run_id;       // names the host's work directory and marks its processes
};

/// A host reached over SSH. One master connection (ControlMaster) carries every command; each
/// program runs as `sh -c 'echo $$ > WORK/LABEL.pid; exec env MRELAY_RIG_RUN=ID PROGRAM...'`,
/// so its PID is known and cleanup() kills exactly the processes this run started (a PID is
/// only killed while its environment still carries the run's mark).
class SshHost final : public Host {
 public:
  explicit SshHost(SshTarget target);
  ~SshHost() override;
  SshHost(const SshHost&) = delete;
  SshHost& operator=(const SshHost&) = delete;

  [[nodiscard]] const std::string& name() const override { return target_.name; }
  [[nodiscard]] const std::string& bin_dir() const override { return target_.bin_dir; }
  [[nodiscard]] const std::string& work_dir() const override { return work_dir_; }
  [[nodiscard]] bool is_local() const override { return false; }
  [[nodiscard]] std::string describe() const override { return "ssh " + target_.destination; }
  [[nodiscard]] Result<HostProcess> start(const std::vector<std::string>& argv,
                                          const std::string& label,
                                          const std::string& stdout_path,
                                          const std::string& stderr_path) override;
  [[nodiscard]] bool alive(const HostProcess& process) override;
  [[nodiscard]] ExitStatus wait(const HostProcess& process, std::chrono::milliseconds timeout,
                                bool honour_interrupt) override;
  bool signal(const HostProcess& process, int signal) override;
  ExitStatus stop(const HostProcess& process, int signal,
                  std::chrono::milliseconds grace) override;
  [[nodiscard]] Result<std::map<std::string, std::string>> read_files(
      const std::vector<std::string>& paths) override;
  [[nodiscard]] Result<CaptureResult> run(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout) override;
  void cleanup() override;

  /// The ssh client's argv up to and including the destination (tests check the options).
  [[nodiscard]] std::vector<std::string> ssh_prefix() const;

 private:
  [[nodiscard]] Result<pid_t> host_pid_of(const std::string& label);

  SshTarget target_;
  std::string work_dir_;
  std::string marker_;  // MRELAY_RIG_RUN=<run id>
  std::vector<pid_t> clients_;  // our ssh clients (local children)
  bool contacted_ = false;      // any command sent: only then is there anything to clean up
  bool cleaned_ = false;
};

/// `text` quoted for a POSIX shell: 'it'\''s'.
[[nodiscard]] std::string shell_quote(const std::string& text);
/// Every argument shell-quoted, joined by spaces: a command line for `ssh HOST COMMAND`.
[[nodiscard]] std::string shell_command(const std::vector<std::string>& argv);
/// Splits the output of a read_files script (blocks opened by "<marker> PATH" lines, a block
/// whose file is missing is "<marker>! PATH") into path -> text.
[[nodiscard]] std::map<std::string, std::string> split_file_blocks(const std::string& output,
                                                                   const std::string& marker);

}  // namespace mrelay::harness
