// In-kernel multicast replication with nftables: the kernel reference that every modern kernel
// has (nf_tables with the netdev family, `dup` and `fwd`), also where multicast routing
// (CONFIG_IP_MROUTE, see kernel_forwarder.h) is not built in. It is what a user would set up
// instead of a userspace relay: one netdev ingress chain on the input interface that matches
// the group, rewrites it, and duplicates the frame to every output device.
//
//   NftForwarderPlan plan;
//   plan.input_interface = "rin0";
//   plan.outputs = {{"rout0", "aa:bb:cc:00:00:01"}, {"rout1", "aa:bb:cc:00:00:02"}};
//   plan.group = group; plan.port = 5000;            // match 239.1.1.1:5000 ...
//   plan.rewrite_group = out_group; plan.rewrite_port = 6000;   // ... send as 239.2.0.1:6000
//   auto fwd = NftForwarder::install(plan, "nft");   // nft -f with render_nft_ruleset(plan)
//   auto counts = fwd->counts();                     // the match rule's counter
//   fwd->remove();                                   // or the destructor
//
// What the ruleset does to each matching frame, in this order (render_nft_ruleset):
//   1. matches IPv4 to the group and UDP port (and the source, when given) with TTL > 1 and
//      counts it; TTL <= 1 is left to the host, as the kernel's multicast routing does;
//   2. rewrites the group and port (checksums follow: nft updates the IPv4 header checksum
//      and the UDP pseudo-header checksum) and the destination MAC (01:00:5e + the low 23
//      bits of the group);
//   3. decrements the TTL: nftables (1.0.x) cannot compute `ttl - 1` in a set statement, so a
//      verdict map jumps on the TTL to one of 254 one-line chains that each store TTL - 1 (one
//      hash lookup per packet);
//   4. for every output: sets the source MAC to that device's and `dup`s the frame there; the
//      last output takes the original with `fwd`, so nothing continues up the input's stack.
// An IPv6 plan (group6 set) does the same with ip6 daddr, the hop limit instead of the TTL and
// the 33:33 + low 32 bits destination MAC; nft updates the UDP checksum over the pseudo-header
// (mandatory in IPv6) when it rewrites the group.
// Outputs are spread over several rules of kNftOutputsPerRule each: the kernel caps the
// expressions of one rule (NFT_RULE_MAXEXPRS = 128) and every output costs four.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrelay/error.h"

namespace mrelay {

/// Outputs per rule of the fanout chain: 4 expressions each (source MAC immediate + payload
/// write, device immediate + dup) keeps a rule at 64 of the kernel's 128.
inline constexpr size_t kNftOutputsPerRule = 16;
/// The table mrelay-kfwd --method nft creates in its namespace (and removes on exit).
inline constexpr const char* kNftTable = "mrelay_kfwd";

struct NftOutput {
  std::string interface;
  std::string mac;  // "aa:bb:cc:dd:ee:ff": the frame's source MAC on this output
};

struct NftForwarderPlan {
  std::string input_interface;
  std::vector<NftOutput> outputs;
  in_addr group{};                       // matched destination group
  uint16_t port = 0;                     // matched UDP destination port (host order)
  std::optional<in_addr> source;         // matched source address; none = any source
  std::optional<in_addr> rewrite_group;  // none = copies keep the input group
  std::optional<uint16_t> rewrite_port;  // none = copies keep the input port
  // IPv6: when set, the plan matches this group instead of `group` (no `source` then) and
  // rewrites to rewrite_group6 (none = copies keep the group).
  std::optional<in6_addr> group6;
  std::optional<in6_addr> rewrite_group6;
};

/// The whole `nft -f` input for a plan: one netdev table (kNftTable). Pure; no I/O.
[[nodiscard]] std::string render_nft_ruleset(const NftForwarderPlan& plan);

/// "01:00:5e:xx:xx:xx" for an IPv4 group (RFC 1112 mapping of the low 23 bits).
[[nodiscard]] std::string multicast_mac(in_addr group);
/// "33:33:xx:xx:xx:xx" for an IPv6 group (RFC 2464: the low 32 bits).
[[nodiscard]] std::string multicast_mac6(const in6_addr& group);

/// The hardware address of an interface of this network namespace (SIOCGIFHWADDR).
[[nodiscard]] Result<std::string> interface_mac(const std::string& interface);

struct NftCounts {
  uint64_t packets = 0;  // frames that matched (group, port, TTL > 1)
  uint64_t bytes = 0;
};

/// Owns the installed table: removes it on remove() or destruction.
class NftForwarder {
 public:
  /// Refuses when the table exists already (another instance in this namespace); errors from
  /// nft carry its message (for example a kernel without nft_dup_netdev).
  [[nodiscard]] static Result<NftForwarder> install(const NftForwarderPlan& plan,
                                                    const std::string& nft_program);

  NftForwarder(NftForwarder&& other) noexcept;
  NftForwarder& operator=(NftForwarder&& other) noexcept;
  NftForwarder(const NftForwarder&) = delete;
  NftForwarder& operator=(const NftForwarder&) = delete;
  ~NftForwarder();

  /// The counter of the match rule (nft -j list chain).
  [[nodiscard]] Result<NftCounts> counts() const;
  /// Deletes the table now (the destructor does it otherwise).
  [[nodiscard]] Result<void> remove();

 private:
  explicit NftForwarder(std::string nft_program) : nft_(std::move(nft_program)) {}

  std::string nft_;  // empty once removed (or moved from)
};

/// The counter of the rule holding `counter` in `nft -j list chain ...` output.
[[nodiscard]] Result<NftCounts> parse_nft_counter(const std::string& nft_json);

}  // namespace mrelay
