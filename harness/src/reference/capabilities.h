// What this machine's kernel (and its installed tools) can do for the rig, found out once per
// run by trying each thing, so that a missing feature skips the cells that need it with the
// reason instead of failing them. Kernels differ between machines (cloud images, containers,
// CI runners built without CONFIG_IP_MROUTE, netem or pktgen), and so do users' kernels.
//
//   Capabilities caps = probe_capabilities();
//   std::fputs(caps.missing_report().c_str(), stderr);   // "kernel multicast forwarding ..."
//   results["machine"]["capabilities"] = caps.to_json();
//
// Probes that need a namespace run in a scratch network namespace of a child process's own
// (unshare), which disappears with the child: nothing is named, nothing is left behind, and
// the host's interfaces are never touched. Each probe is bounded in time.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mrelay::harness {

/// Names of the probed capabilities (keys of Capabilities::to_json()).
namespace capability {
inline constexpr std::string_view kIpmr = "ipmr";                // MRT_INIT: CONFIG_IP_MROUTE
inline constexpr std::string_view kNftDup = "nft_netdev_dup";    // nf_tables netdev dup + fwd
inline constexpr std::string_view kTbf = "tbf";                  // sch_tbf
inline constexpr std::string_view kNetem = "netem";              // sch_netem
inline constexpr std::string_view kRps = "rps";                  // CONFIG_RPS (rps_cpus)
inline constexpr std::string_view kIoUring = "io_uring";         // rings and IORING_OP_SEND
inline constexpr std::string_view kUdpGso = "udp_gso";           // UDP_SEGMENT
inline constexpr std::string_view kTracepoints = "tracepoints";  // raw_syscalls:sys_enter
inline constexpr std::string_view kPmu = "pmu";                  // cycles, instructions
inline constexpr std::string_view kSocat = "socat";              // the socat program
inline constexpr std::string_view kIp6mr = "ip6mr";              // MRT6_INIT: CONFIG_IPV6_MROUTE
inline constexpr std::string_view kAfXdp = "af_xdp";  // AF_XDP + XDP program (mrelay --ingress xdp)
// mrelay's AF_PACKET ingress takes an IPv6 group (the relay build under test, not the kernel)
inline constexpr std::string_view kMrelayPacketIpv6 = "mrelay_packet_ipv6";
}  // namespace capability

struct Capability {
  std::string name;   // one of capability::k*
  std::string title;  // "kernel multicast forwarding (ipmr)"
  bool present = false;
  std::string detail;   // what the probe saw: the error, or what is there
  std::string without;  // what the run does without it ("the kernel (ipmr) reference is ...")
};

class Capabilities {
 public:
  std::vector<Capability> items;

  [[nodiscard]] bool has(std::string_view name) const;
  [[nodiscard]] const Capability* find(std::string_view name) const;
  /// {"ipmr": {"present": false, "title": ..., "detail": ..., "without": ...}, ...}
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] static Capabilities from_json(const nlohmann::json& json);
  /// One line per missing capability: "<title>: not available (<detail>); <without>".
  [[nodiscard]] std::string missing_report() const;
  /// A table of every capability, present or not (mrelay-bench probe).
  [[nodiscard]] std::string full_report() const;
};

/// "<title>: not in this kernel (...)" / "<title>: not available (<detail>)".
[[nodiscard]] std::string missing_capability_text(const Capability& c);

/// Runs every probe (well under a few seconds in all). `nft` and `socat` are the programs
/// the references would run; `mrelay` the relay under test (empty: its probes are left out).
[[nodiscard]] Capabilities probe_capabilities(const std::string& nft = "nft",
                                              const std::string& socat = "socat",
                                              const std::string& mrelay = "");

/// The first word of a tc qdisc spec ("tbf rate 300mbit ..." -> "tbf"): the capability a
/// cell's egress qdisc needs when it is one the probes know (capability::kTbf, kNetem).
[[nodiscard]] std::string qdisc_kind(const std::string& spec);

}  // namespace mrelay::harness
