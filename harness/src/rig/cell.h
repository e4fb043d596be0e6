// One measurement ("cell") on the namespace rig: bring up the topology, start the sink, the
// forwarder (mrelay, a kernel reference through mrelay-kfwd -- multicast routing or nftables
// --, socat, or none for `direct`) and the
// generator, sample every counter at the edges of the measuring window, stop everything by
// PID, tear the rig down, and return one JSON record with the metrics of docs/metrics.md.
//
//   BenchEnvironment env = default_environment("build/bin");
//   CellParams params; params.forwarder = Forwarder::mrelay; params.rate_pps = 50000;
//   nlohmann::json record = run_cell(params, env, /*rep=*/1);
//   record["status"] == "ok" | "unsupported" | "skipped" | "error"
//
// "unsupported": the forwarder cannot do this cell anywhere (socat with fanout, ipmr beyond
// 32 VIFs); "skipped": this machine lacks a capability the cell needs (env.capabilities),
// with the reason; "error": it should have run and did not.
//
// Placement (stated in every record): the forwarder is pinned to env.relay_cpu (mrelay
// --cpus, socat via taskset; the kernel references' forwarding is steered there with RPS),
// the generator and sink to env.load_cpu. `direct` gets the same two cores: RPS steers the
// sink's receive work (the stack's softirq) to env.relay_cpu, as a forwarder's core carries
// the forwarding and, through veth, the sink's receive work.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "reference/capabilities.h"
#include "rig/ndr.h"
#include "rig/spec.h"

namespace mrelay::harness {

struct BenchEnvironment {
  std::string bin_dir;     // holds mrelay, mrelay-gen, mrelay-sink, mrelay-kfwd
  std::string netns_tool;  // the mrelay-netns script
  std::string repo_dir;    // for `git rev-parse HEAD`
  std::string work_dir;    // per-cell child output files go below it
  std::string socat = "socat";
  int relay_cpu = 1;  // core of the forwarder (1 on a 2-core machine)
  int load_cpu = 0;   // core of generator and sink
  // SCHED_FIFO priority of the user-space forwarders (mrelay --rt-priority, socat via chrt -f),
  // 0 = normal scheduling. Kernel forwarding runs in softirq on its core, ahead of any task;
  // without this a relay sharing its core with other work (builds on a shared VM) waits behind
  // it at every wake-up and loses packets it had the CPU to forward.
  int forwarder_rt_priority = 10;
  // SCHED_FIFO priority of the generator (this value) and the sink (one above, so a generator
  // at full speed cannot starve the sink on their shared core); 0 = normal scheduling. On a VM
  // whose load core also runs other work (builds), a normal-priority paced generator fell 5-10 %
  // short of its rate at 10k pps and the NDR search took that for a failed trial: the search
  // measured the generator, not the forwarder.
  int load_rt_priority = 10;
  // RPS on the relay ingress to the forwarder's core for every forwarder (true) or only for
  // kernel forwarding (false, the rule before placement was made fair). Without it the ingress
  // softirq of mrelay (AF_PACKET ring copy, the IP stack's look at the frame) and socat runs on the
  // generator's core, which slows the generator and hides that work from the forwarder's core.
  bool ingress_rps_all = true;
  // What this machine can do (probe_capabilities(), once per run): cells needing a missing
  // capability are skipped with the reason. Empty = not probed: every cell is tried.
  Capabilities capabilities;
  std::string nft = "nft";  // the nft program for the kernel-nft reference
  bool keep_files = false;  // keep child outputs (logs) after the cell
  bool verbose = false;     // print each step to stderr
};

/// Paths from the binary directory (MRELAY_BIN_DIR), the netns dir compiled in (or
/// MRELAY_NETNS_DIR), and cores from the number online (1 core: everything on core 0).
[[nodiscard]] BenchEnvironment default_environment(const std::string& bin_dir);

/// The placement block recorded with every result.
[[nodiscard]] nlohmann::json placement_json(const BenchEnvironment& env);

/// Runs one cell at params.rate_pps (params.ndr is ignored here). Never throws; failures give
/// a record with "status":"error" and a "reason" naming the step.
[[nodiscard]] nlohmann::json run_cell(const CellParams& params, const BenchEnvironment& env,
                                      int rep);

/// The no-drop rate of a cell: a saturation run (rate 0) supplies --max-rate when the options
/// have none, then find_ndr(). The record is the confirming trial's, plus ndr_pps and "ndr"
/// (every trial, note).
[[nodiscard]] nlohmann::json run_ndr_cell(const CellParams& params, const NdrOptions& options,
                                          const BenchEnvironment& env, int rep);

/// `mrelay-netns gc`: removes stale mrl- namespaces of this project only. Returns its output.
[[nodiscard]] Result<std::string> run_netns_gc(const BenchEnvironment& env);

}  // namespace mrelay::harness
