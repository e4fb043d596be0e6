// Where and how the rig runs: the programs' directory, the namespace tool, the cores of the
// forwarder and of the load (generator and sink), their real-time priorities, RPS, and what
// this machine can do. One environment serves every cell of a run; its placement block is
// recorded with every result.
//
//   RigEnvironment env = default_environment("build/bin");
//   env.capabilities = probe_capabilities(env.nft, env.socat);
//   record["placement"] = placement_json(env);
//   mrelay-netns up ... --rps-cpus *ingress_rps_mask(params, env)
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reference/capabilities.h"
#include "rig/spec.h"

namespace mrelay::harness {

class InventoryRig;

struct RigEnvironment {
  std::string bin_dir;     // holds mrelay, mrelay-gen, mrelay-sink, mrelay-kfwd
  std::string netns_tool;  // the mrelay-netns script
  std::string repo_dir;    // for `git rev-parse HEAD`
  std::string work_dir;    // per-cell child output files go below it
  std::string socat = "socat";
  int relay_cpu = 1;  // core of the forwarder (1 on a 2-core machine)
  int load_cpu = 0;   // core of generator and sink
  int cores_online = 1;  // this machine's, for the workers' cores (relay_worker_cpus)
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
  // The hosts of an inventory (rig/inventory.h) when the rig runs across machines; null: the
  // namespace rig of this machine (mrelay-netns). Owned by the run, not the environment.
  InventoryRig* inventory = nullptr;
  bool keep_files = false;  // keep child outputs (logs) after the cell
  bool verbose = false;     // print each step to stderr
};

/// Paths from the binary directory (MRELAY_BIN_DIR), the netns dir compiled in (or
/// MRELAY_NETNS_DIR), and cores from the number online (1 core: everything on core 0).
[[nodiscard]] RigEnvironment default_environment(const std::string& bin_dir);

/// The placement block recorded with every result.
[[nodiscard]] nlohmann::json placement_json(const RigEnvironment& env);

/// The placement block of one cell: placement_json() and, for mrelay, its workers' cores
/// ("relay_workers", "relay_cpus", and "relay_workers_note" when a worker shares the load
/// core), with kernel_rps_cpus_mask the cell's own (ingress_rps_mask).
[[nodiscard]] nlohmann::json cell_placement_json(const RigEnvironment& env,
                                                 const CellParams& params);

/// The cores of the relay's workers (mrelay --cpus, worker i on entry i): the forwarder's cores
/// -- env.relay_cpu, then every other core but the load core -- and, on a machine with fewer
/// cores than workers, the load core next (shared with the generator and sink), then round
/// again. 2 cores, 2 workers: {1, 0}.
[[nodiscard]] std::vector<int> relay_worker_cpus(const RigEnvironment& env, uint32_t workers);

/// The RPS mask for the relay ingress of this cell, or nothing. Kernel references always get
/// it (their forwarding is the ingress softirq); mrelay, socat and direct get it with
/// ingress_rps_all, so every forwarder -- and direct's sink -- has the same two cores. An mrelay
/// cell with several workers gets the mask of all its workers' cores (relay_worker_cpus), so
/// the ingress softirq is spread over them as the workers are.
[[nodiscard]] std::optional<std::string> ingress_rps_mask(const CellParams& params,
                                                          const RigEnvironment& env);

/// mrelay-gen flags of the cell's tester: for the fast tester `--gso N`, runs of N datagrams
/// per send (N = 64, fewer when 64 datagrams of the size exceed one IPv4 datagram), when a
/// datagram fits the rig's 1500-byte MTU and the kernel has UDP GSO (probed); nothing
/// otherwise (the generator then sends one message per datagram, as the full tester's).
[[nodiscard]] std::vector<std::string> tester_generator_args(const CellParams& params,
                                                             const RigEnvironment& env);

/// mrelay-netns up flags of the cell's tester: for the fast tester
/// `--source-tx-udp-segmentation off`, so the generator's GSO runs reach the wire as datagrams.
[[nodiscard]] std::vector<std::string> tester_netns_args(const CellParams& params);

/// mrelay-netns up flags of the cell's links: `--family ipv6` for IPv6 cells (IPv6 on, ULA
/// addresses, link-local addresses waited for), `--mtu N` when the spec sets one, and
/// `--relay-tx-udp-segmentation off` for the software segmentation model (Segmentation).
[[nodiscard]] std::vector<std::string> link_netns_args(const CellParams& params);

/// mrelay-sink flags of the cell's tester: `--count-only` for the fast tester. Its ring reads
/// frames in the receive softirq, which runs where the full sink's socket delivery runs: on
/// the forwarder's core (behind a forwarder, veth delivers on the sending core; for direct,
/// RPS on the ingress puts it there, see ingress_rps_mask), so direct keeps the same CPU
/// budget as a forwarder with either tester.
[[nodiscard]] std::vector<std::string> tester_sink_args(const CellParams& params);

/// `chrt -f PRIORITY` in front of a command, or nothing for priority 0. chrt execs the
/// program, so the spawned pid is the program's own.
[[nodiscard]] std::vector<std::string> realtime_prefix(int priority);

/// The sink's real-time priority: one above the generator's, so a generator at full speed
/// cannot starve the sink on their shared core (0 when the load runs without one).
[[nodiscard]] int sink_rt_priority(const RigEnvironment& env);

}  // namespace mrelay::harness
