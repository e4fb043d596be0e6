// Rule lookup for the data plane: (ingress ifindex, group, port, source) -> rule index.
// Built once from a validated Config (allocation happens here); find() never allocates.
//
//   mrelay::RuleTable table(config.rules, mrelay::system_interfaces());
//   int32_t rule = table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr);
#pragma once

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
  /// A rule with a source matches only that source and wins over an any-source rule
  /// for the same (ifindex, group, port). Addresses in network byte order, port host order.
  [[nodiscard]] int32_t find(unsigned ifindex, uint32_t group, uint16_t port,
                             uint32_t source) const noexcept;

  [[nodiscard]] size_t size() const noexcept { return rule_count_; }

 private:
  struct Slot {
    uint64_t key = 0;  // (ifindex, group, port) packed; 0 = empty
    uint32_t source = 0;  // 0 = any source
    int32_t rule = -1;
  };
  std::vector<Slot> slots_;  // open addressing, power-of-two size, load <= 0.5
  size_t rule_count_ = 0;
};

}  // namespace mrelay
