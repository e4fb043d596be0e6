// One measurement ("cell") on the namespace rig: bring up the topology, start the sink, the
// forwarder (mrelay, a kernel reference through mrelay-kfwd -- multicast routing or nftables
// --, socat, or none for `direct`) and the
// generator, sample every counter at the edges of the measuring window, stop everything by
// PID, tear the rig down, and return one JSON record with the metrics of docs/metrics.md.
//
//   RigEnvironment env = default_environment("build/bin");
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
// the forwarding and, through veth, the sink's receive work. An mrelay cell with several workers
// pins worker i to relay_worker_cpus(env, workers)[i] and spreads the ingress RPS over those
// cores; its placement says which worker shares the load core.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "rig/environment.h"
#include "rig/ndr.h"
#include "rig/spec.h"

namespace mrelay::harness {

/// Runs one cell at params.rate_pps (params.ndr is ignored here). Never throws; failures give
/// a record with "status":"error" and a "reason" naming the step.
[[nodiscard]] nlohmann::json run_cell(const CellParams& params, const RigEnvironment& env, int rep);

/// The no-drop rate of a cell: a saturation run (rate 0) supplies --max-rate when the options
/// have none, then find_ndr(). The record is the confirming trial's, plus ndr_pps and "ndr"
/// (every trial, note).
[[nodiscard]] nlohmann::json run_ndr_cell(const CellParams& params, const NdrOptions& options,
                                          const RigEnvironment& env, int rep);

/// `mrelay-netns gc`: removes stale mrl- namespaces of this project only. Returns its output.
[[nodiscard]] Result<std::string> run_netns_gc(const RigEnvironment& env);

}  // namespace mrelay::harness
