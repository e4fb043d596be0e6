// How a cell starts, watches and reads each kind of forwarder: one launcher per kind behind
// one small interface, the way the relay has one egress backend per send mechanism.
//
//   const Launcher& launcher = launcher_for(params.forwarder);
//   if (auto why = launcher.unsupported_reason(params)) { record["status"] = "unsupported"; }
//   auto sink = launcher.sink_plan(params, topology);            // where the sinks listen
//   auto argv = launcher.command(LaunchContext{params, env, topology, files, run_s});
//   ... start argv on topology.relay (none for direct), poll launcher.ready(...) ...
//   launcher.at_window_edge(host, process);                       // mrelay: SIGUSR1
//   launcher.read_report(report, observation, record);            // after the stop
//
// The kinds (launch_*.cc): mrelay (the relay under test), kernel references (mrelay-kfwd by
// multicast routing, `kernel`, or nftables, `kernel-nft`), socat (a userspace copy loop), and
// direct (no forwarder: the sink on the relay's ingress link, the rig's ceiling).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"
#include "reference/capabilities.h"
#include "rig/environment.h"
#include "rig/host.h"
#include "rig/inventory.h"
#include "rig/metrics.h"
#include "rig/spec.h"

namespace mrelay::harness {

// Addresses of the measurement traffic (inside the rig's namespaces only).
inline constexpr const char* kInputGroup = "239.1.1.1";
inline constexpr int kInputPort = 5000;
inline constexpr const char* kOutputGroup = "239.2.0.1";
inline constexpr int kOutputPort = 6000;
// The same plan in IPv6 cells (ff3e::/16 is transient, global scope: ff3e::/96 is the
// source-specific range, where any-source joins work on Linux as well).
inline constexpr const char* kInputGroup6 = "ff3e::1";
inline constexpr const char* kOutputGroup6 = "ff3e::2";

// Generator TTL: the kernel reference and mrelay decrement it and drop TTL 1; 2 for every
// forwarder keeps the generator identical across them. The forwarders send with TTL 1, so no
// copy travels further than the sink's link.
inline constexpr int kGeneratorTtl = 2;

// Extra run time the sink and generator are allowed beyond warm-up + window (seconds); the
// kernel reference's mrelay-kfwd runs three times that long, so it outlives both.
inline constexpr double kChildSlackS = 5.0;

/// The cell's input and output groups by its family: "239.1.1.1" / "ff3e::1", ...
[[nodiscard]] const char* input_group(const CellParams& params);
[[nodiscard]] const char* output_group(const CellParams& params);
/// "239.1.1.1:5000", "[ff3e::2]:6000": a group and port as the rig's programs take them.
[[nodiscard]] std::string input_endpoint(const CellParams& params);
[[nodiscard]] std::string output_endpoint(const CellParams& params);

/// Files a forwarder writes. `out` and `err` are on this machine (the forwarder's stdout and
/// stderr, wherever it runs); `relay_final` and `ready` are paths on the forwarder's host.
struct ForwarderFiles {
  std::string out;
  std::string err;
  std::string relay_final;  // mrelay --stats-json
  std::string ready;        // mrelay-kfwd --ready-file
  std::string config;       // mrelay --config (IPv6 cells: the rule as a config file)
};

/// Where the sinks listen for what the forwarder sends: one sink process per site.
struct SinkPlan {
  std::string group;  // GROUP:PORT
  std::vector<SinkSite> sites;
};

/// What a launcher needs to build the forwarder's command line.
struct LaunchContext {
  const CellParams& params;
  const RigEnvironment& env;
  const RigTopology& topology;
  const ForwarderFiles& files;
  double run_s = 0;  // warm-up + window + tail: how long the generator sends
};

/// What the forwarder left behind once stopped, and when the window's edges were sampled.
struct ForwarderReport {
  const ForwarderFiles& files;
  std::chrono::steady_clock::time_point window_start;
  std::chrono::steady_clock::time_point window_end;
};

class Launcher {
 public:
  virtual ~Launcher() = default;

  /// Why this forwarder cannot do the cell on any machine ("unsupported"), or nothing.
  [[nodiscard]] virtual std::optional<std::string> unsupported_reason(
      const CellParams& params) const;
  /// The capability (capability::k*) the cell's forwarder needs from this machine; empty
  /// for none.
  [[nodiscard]] virtual std::string_view required_capability(const CellParams& params) const;

  /// Copies of each packet the sinks receive: the fanout (1 for direct).
  [[nodiscard]] virtual uint32_t outputs(const CellParams& params) const;
  /// Where the sink listens: by default on each relay output's peer for the output group;
  /// fails when the topology has fewer outputs than the cell's fanout.
  [[nodiscard]] virtual Result<SinkPlan> sink_plan(const CellParams& params,
                                                   const RigTopology& topology) const;

  /// The forwarder's command line, run in the relay namespace; empty for no forwarder.
  [[nodiscard]] virtual Result<std::vector<std::string>> command(
      const LaunchContext& context) const = 0;
  /// True once the forwarder can forward (polled until a deadline). By default: its
  /// host's network namespace joined the input group (IGMP, or MLD in IPv6 cells).
  [[nodiscard]] virtual bool ready(const CellParams& params, Host& host,
                                   const HostProcess& process, const ForwarderFiles& files) const;
  /// True when the forwarding runs in the forwarder's own process, so its CPU time, syscalls
  /// and context switches are the forwarding's; false for the kernel references, whose
  /// forwarding runs in softirq on the forwarder's core (measured on the core instead).
  [[nodiscard]] virtual bool forwards_in_process() const;

  /// Once the forwarder is ready, before the traffic: placement it needs beyond its own
  /// (returned for the record's "ingress_napi"; null when there was nothing to do). An error
  /// fails the cell.
  [[nodiscard]] virtual Result<nlohmann::json> after_ready(const LaunchContext& context,
                                                           Host& host) const;
  /// At each edge of the measuring window, just before the rig samples its counters.
  virtual void at_window_edge(Host& host, const HostProcess& process) const;
  /// After the stop: what the forwarder reported itself, into the observation and the record.
  virtual void read_report(const ForwarderReport& report, WindowObservation& observation,
                           nlohmann::json& record) const;
};

/// The launcher of each forwarder kind (static instances).
[[nodiscard]] const Launcher& launcher_for(Forwarder forwarder);

/// Why this machine cannot run a cell (its forwarder, egress backend or egress qdisc needs a
/// capability it lacks), or nothing when it can.
[[nodiscard]] std::optional<std::string> unavailable_reason(const CellParams& params,
                                                            const Capabilities& caps);

// The launchers, one per file (launch_*.cc).
[[nodiscard]] const Launcher& mrelay_launcher();
[[nodiscard]] const Launcher& kernel_launcher();
[[nodiscard]] const Launcher& socat_launcher();
[[nodiscard]] const Launcher& direct_launcher();

}  // namespace mrelay::harness
