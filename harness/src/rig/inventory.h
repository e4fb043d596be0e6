// The rig across machines: an inventory names hosts (reached with OpenSSH) and the role each
// plays, and the links between them; the address plan, groups and routes are derived from it
// as they are for the namespace rig (netns/topologies.md). docs/multi-host.md describes the
// file; a cell runs on it through the same steps as on namespaces (rig/cell.cc).
//
//   auto inventory = load_inventory("rig.json", options);   // checked: errors name the field
//   auto rig = inventory->connect(env);                      // SSH masters, versions, fingerprints
//   RigTopology topology = *rig->topology_for(fanout);       // tester, dut, sinks, interfaces
//
// Roles: `tester` (generator and sink on one host, so one clock times latency, as in RFC
// 2544's tester <-> DUT set-up), `dut` (the forwarder), and optional `sink` hosts that
// receive some outputs (loss and rates; their latency needs synchronised clocks and is not
// used). Test traffic only leaves on veth or loopback interfaces unless the inventory (or
// `--send-on-real-interface HOST:IF`) allows that interface by name.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/error.h"
#include "rig/host.h"

namespace mrelay::harness {

enum class HostRole { tester, dut, sink };

struct InventoryHost {
  std::string name;
  HostRole role = HostRole::tester;
  std::string ssh;      // destination for `ssh`
  std::string bin_dir;  // programs on that host; default: the controller's bin dir
  std::optional<int> cpu;  // tester: generator and sink core; dut: forwarder core
};

/// One output link: the DUT's interface and the host/interface at its far end.
struct OutputLink {
  std::string dut_interface;
  std::string host;
  std::string interface;
};

struct Inventory {
  std::map<std::string, InventoryHost> hosts;
  std::string ssh_config;  // ssh -F FILE for every host; empty = the user's own configuration
  std::string tester_interface;  // ingress link: tester side
  std::string dut_ingress;       // ingress link: DUT side
  std::vector<OutputLink> outputs;
  // "HOST:IF" of interfaces that are neither veth nor loopback and may carry test traffic.
  std::vector<std::string> real_interfaces;

  [[nodiscard]] const InventoryHost& tester() const;
  [[nodiscard]] const InventoryHost& dut() const;
};

/// Parses and checks an inventory document; errors name the field ("hosts.dut.role").
[[nodiscard]] Result<Inventory> parse_inventory(const nlohmann::json& document,
                                                const std::string& default_bin_dir);
/// parse_inventory() of a file.
[[nodiscard]] Result<Inventory> load_inventory(const std::string& path,
                                               const std::string& default_bin_dir);

/// Addresses of the plan (as the namespace rig's): ingress link 10.77.0.1 (tester) and
/// 10.77.0.2 (DUT); output j 10.80.j.1 (DUT) and 10.80.j.2 (far end); all /24.
struct LinkAddress {
  std::string host;
  std::string interface;
  std::string cidr;
};
[[nodiscard]] std::vector<LinkAddress> address_plan(const Inventory& inventory);

/// Where the test traffic of a cell with `fanout` outputs goes, one line per link, printed
/// before any traffic starts.
[[nodiscard]] std::string traffic_plan(const Inventory& inventory, uint32_t fanout, int ttl);

/// Why HOST:IF (`key`) may not carry test traffic, from its `ip -d -j link show` object:
/// anything but a veth or loopback, unless `allowed` by name. Nothing when it may.
[[nodiscard]] std::optional<std::string> refuse_interface(const std::string& key,
                                                          const nlohmann::json& link,
                                                          bool allowed);

/// One sink process: a host, the interfaces it listens on, and its core (none: the rig's
/// load core).
struct SinkSite {
  Host* host = nullptr;
  std::vector<std::string> interfaces;
  std::optional<int> cpu;
};

/// The hosts and interfaces of one cell, whichever rig it runs on (namespaces of this
/// machine, or the hosts of an inventory): the generator's host and interface, the
/// forwarder's host with its ingress and egress interfaces, and the sinks (the first is the
/// tester's, where latency is timed). Cores override the environment's when set.
struct RigTopology {
  Host* source = nullptr;
  std::string source_interface;
  Host* relay = nullptr;
  std::string relay_ingress;
  std::vector<std::string> relay_egress;
  std::vector<SinkSite> sinks;
  std::optional<int> relay_cpu;
  std::optional<int> load_cpu;
};

/// An inventory in use: one SshHost per host, connected, with its fingerprint. Its
/// destructor cleans up every host (processes by PID, addresses, work directories).
class InventoryRig {
 public:
  /// Opens one SSH master per host, checks that each host's programs report `version`, reads
  /// every host's fingerprint and checks that every interface may carry test traffic.
  [[nodiscard]] static Result<std::unique_ptr<InventoryRig>> connect(Inventory inventory,
                                                                     const std::string& version);
  ~InventoryRig();
  InventoryRig(const InventoryRig&) = delete;
  InventoryRig& operator=(const InventoryRig&) = delete;

  [[nodiscard]] const Inventory& inventory() const { return inventory_; }
  [[nodiscard]] Host* dut_host() const { return hosts_.at(inventory_.dut().name).get(); }
  /// {"HOST": {"role", "ssh", "fingerprint"}} for the results header; `dut_fingerprint` is
  /// the one the gate and the sizing table key on.
  [[nodiscard]] nlohmann::json hosts_json() const;
  [[nodiscard]] const nlohmann::json& dut_fingerprint() const;

  /// Addresses of the plan on every interface, links up, the egress qdisc (empty: none) on
  /// the DUT's outputs, and UDP segmentation on the tester's ingress interface on or off (off:
  /// the fast tester's GSO runs are cut into datagrams before the device, as the namespace
  /// rig's --source-tx-udp-segmentation off); undone by unconfigure() and by the destructor.
  [[nodiscard]] Result<void> configure(const std::string& egress_qdisc,
                                       bool tester_segmentation_off);
  void unconfigure();

  /// The hosts and interfaces of a cell with `outputs` outputs.
  [[nodiscard]] Result<RigTopology> topology_for(uint32_t outputs);
  /// True when HOST:IF is allowed to carry test traffic although it is not a veth.
  [[nodiscard]] bool allows_real_interface(const std::string& host,
                                           const std::string& interface) const;
  /// Every host: kill what this run started there; remove work directories.
  void cleanup();

 private:
  explicit InventoryRig(Inventory inventory);
  [[nodiscard]] Result<void> check_host(const InventoryHost& host, const std::string& version);
  [[nodiscard]] Result<void> check_interfaces();
  [[nodiscard]] Result<void> set_tester_segmentation(bool on);

  Inventory inventory_;
  std::string control_dir_;
  std::map<std::string, std::unique_ptr<SshHost>> hosts_;
  std::map<std::string, nlohmann::json> fingerprints_;
  std::vector<LinkAddress> configured_;
  std::string qdisc_on_;  // the qdisc spec applied to the DUT's outputs, if any
  bool segmentation_off_ = false;  // we turned tx-udp-segmentation off on the tester's link
};

/// The fingerprint of a host read through it: CPU model, cores, kernel, memory,
/// virtualisation, and for each interface its driver, speed and MTU (ethtool -i, sysfs).
[[nodiscard]] nlohmann::json host_fingerprint(Host& host,
                                              const std::vector<std::string>& interfaces);

}  // namespace mrelay::harness
