// The edges of a cell's measuring window, read through the hosts the roles run on (namespaces
// of this machine or hosts over SSH): each host's files are read in one round trip per edge.
// What is sampled is rig/window.h's WindowSample; add_window_deltas() turns two into the
// observation.
//
//   HostSampleTargets targets;
//   targets.cpu["gen"] = {tester, gen};  targets.snmp["src"] = tester;
//   targets.relay_core = dut;  targets.relay_cpu = 1;
//   WindowSample start = sample_hosts(targets);
//
// A forwarder on a remote host has its perf counters counted there, by mrelay-perfstat over
// the window (RemotePerfstat); on this machine the rig attaches them itself (WindowCounters).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "rig/host.h"
#include "rig/window.h"
#include "rig/window_counters.h"

namespace mrelay::harness {

struct HostSampleTargets {
  struct Process {
    Host* host = nullptr;
    HostProcess process;
  };
  std::map<std::string, Process> cpu;  // "gen", "sink", "relay"
  std::map<std::string, Host*> snmp;   // "src", "relay", "sink": the host's namespace
  Host* relay_core = nullptr;          // the host whose core `relay_cpu` forwards
  int relay_cpu = 0;
  std::optional<Process> switches;  // context switches from /proc (when perf has none)
};

/// Reads every target now: one read_files() per host.
[[nodiscard]] WindowSample sample_hosts(const HostSampleTargets& targets);

/// mrelay-perfstat's JSON (its "events") as the reading of the rig's own counters.
[[nodiscard]] WindowCounters::Reading reading_from_perfstat(const nlohmann::json& perfstat);

/// mrelay-perfstat on the forwarder's host for the window.
class RemotePerfstat {
 public:
  /// Starts counting the process now, for `window_s` seconds (stdout into `out_path`).
  [[nodiscard]] static Result<RemotePerfstat> start(Host& host, const HostProcess& forwarder,
                                                    double window_s, const std::string& label,
                                                    const std::string& out_path,
                                                    const std::string& err_path);
  /// Waits for it (bounded) and reads its JSON; the reason when there is none.
  [[nodiscard]] Result<WindowCounters::Reading> finish();

 private:
  RemotePerfstat(Host& host, HostProcess process, std::string out_path, std::string err_path,
                 double window_s)
      : host_(&host),
        process_(std::move(process)),
        out_path_(std::move(out_path)),
        err_path_(std::move(err_path)),
        window_s_(window_s) {}
  Host* host_;
  HostProcess process_;
  std::string out_path_;
  std::string err_path_;
  double window_s_;
};

}  // namespace mrelay::harness
