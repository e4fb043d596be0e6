// Rule lookup for the data plane: (ingress ifindex, VLAN, group, port, source) -> rule index.
// Built once from a validated Config (allocation happens here); find() never allocates.
//
//   mrelay::RuleTable table(config.rules, mrelay::system_interfaces());
//   int32_t rule = table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr,
//                             view.vlan_id);
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <vector>

#include "mrelay/config.h"

namespace mrelay {

class RuleTable {
 public:
  RuleTable() = default;
  /// Resolves interface names with `lookup`; rules whose interface is missing never match.
  RuleTable(const std::vector<Rule>& rules, const InterfaceLookup& lookup);

  /// Index into the rules vector given at construction, or -1 when nothing matches.
  /// A rule with sources matches only those sources and wins over an any-source rule
  /// for the same (ifindex, vlan, group, port). `vlan` is the frame's VLAN id, 0 untagged:
  /// a rule matches only its own VLAN. Addresses in network byte order, port host order.
  [[nodiscard]] int32_t find(unsigned ifindex, uint32_t group, uint16_t port, uint32_t source,
                             uint16_t vlan = 0) const noexcept;

  /// IPv6 rules (Rule::group6, Rule::source6): (ifindex, group, port, source, vlan) -> rule,
  /// or -1; as find(), a rule naming the source wins over an any-source rule. `vlan`: the
  /// frame's VLAN id on packet ingress, 0 untagged (and on udp ingress).
  [[nodiscard]] int32_t find6(unsigned ifindex, const in6_addr& group, uint16_t port,
                              const in6_addr& source, uint16_t vlan = 0) const noexcept;

  [[nodiscard]] size_t size() const noexcept { return rule_count_; }

 private:
  // One (ifindex, vlan, group, port, source) entry. A rule with a source and an any-source
  // rule for the same (ifindex, vlan, group, port) live in different slots; find() probes the
  // exact source first. 20 bytes, so a probe sequence usually stays inside one cache line.
  struct Slot {
    uint32_t ifindex = 0;    // 0 = empty slot (no interface has index 0)
    uint32_t group = 0;      // network byte order
    uint32_t source = 0;     // network byte order; ignored when any_source
    uint16_t port = 0;       // host byte order
    uint16_t vlan : 12 = 0;  // 802.1Q id, 0 = untagged
    uint16_t any_source : 1 = 1;
    int32_t rule = -1;
  };

  // Installs one key of rule `index`; false when an earlier rule holds it.
  bool insert(int32_t index, unsigned ifindex, const Rule& rule, bool any_source,
              uint32_t source);
  [[nodiscard]] int32_t probe(unsigned ifindex, uint16_t vlan, uint32_t group, uint16_t port,
                              bool any_source, uint32_t source) const noexcept;

  struct Slot6 {
    uint32_t ifindex = 0;  // 0 = empty
    uint16_t port = 0;
    uint16_t vlan = 0;
    int32_t rule = -1;
    bool any_source = true;
    in6_addr group{};
    in6_addr source{};  // :: when any_source
  };
  // Installs one key of rule `index`; false when an earlier rule holds it.
  bool insert6(int32_t index, unsigned ifindex, const Rule& rule, const in6_addr* source);
  [[nodiscard]] int32_t probe6(unsigned ifindex, uint16_t vlan, const in6_addr& group,
                               uint16_t port, const in6_addr* source) const noexcept;
  std::vector<Slot6> slots6_;  // the same scheme for IPv6 rules; empty without any
  size_t mask6_ = 0;
  bool has_source_rules6_ = false;

  std::vector<Slot> slots_;  // open addressing, linear probing, power-of-two size, load <= 0.5
  size_t mask_ = 0;          // slots_.size() - 1
  size_t rule_count_ = 0;    // rules installed (their interface resolved)
  bool has_source_rules_ = false;  // lets find() skip the exact-source probe when none exist
};

}  // namespace mrelay
