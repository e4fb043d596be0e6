// Rule lookup: open-addressing hash over (ifindex, group, port, source).
//
//   mrelay::RuleTable table(config.rules, mrelay::system_interfaces());
//   int32_t rule = table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr);
//   if (rule < 0) { ++counters.unmatched_no_rule; }
//
// The constructor allocates; find() only reads slots_ (no allocation, no exceptions), so it is
// safe on the data plane. Linear probing at load <= 0.5 keeps the expected probe length near
// one slot, and every probe sequence ends at an empty slot.
#include "mrelay/rule_table.h"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace mrelay {
namespace {

// Smallest table: 8 slots keep tiny configs from wrapping around on every probe.
constexpr size_t kMinSlots = 8;

// splitmix64's finaliser: spreads the (highly regular) group/port bits over the index bits.
inline uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t slot_hash(unsigned ifindex, uint32_t group, uint16_t port, bool any_source,
                          uint32_t source) noexcept {
  const uint64_t location = (static_cast<uint64_t>(ifindex) << 32) | group;
  const uint64_t filter = (static_cast<uint64_t>(port) << 33) |
                          (static_cast<uint64_t>(any_source) << 32) | (any_source ? 0 : source);
  return mix(location ^ mix(filter));
}

}  // namespace

RuleTable::RuleTable(const std::vector<Rule>& rules, const InterfaceLookup& lookup) {
  const size_t wanted = std::max(kMinSlots, rules.size() * 2);
  slots_.resize(std::bit_ceil(wanted));
  mask_ = slots_.size() - 1;

  for (size_t index = 0; index < rules.size(); ++index) {
    const Rule& rule = rules[index];
    const unsigned ifindex = lookup ? lookup(rule.input_interface) : 0;
    if (ifindex == 0) {
      continue;  // missing interface: the rule can never match
    }
    const bool any_source = !rule.source.has_value();
    const uint32_t source = any_source ? 0 : rule.source->s_addr;
    size_t at = slot_hash(ifindex, rule.group.s_addr, rule.port, any_source, source) & mask_;
    bool duplicate = false;
    while (slots_[at].ifindex != 0) {
      const Slot& slot = slots_[at];
      if (slot.ifindex == ifindex && slot.group == rule.group.s_addr && slot.port == rule.port &&
          slot.any_source == any_source && slot.source == source) {
        duplicate = true;  // validate_config() rejects these; the first rule keeps the key
        break;
      }
      at = (at + 1) & mask_;
    }
    if (duplicate) {
      continue;
    }
    slots_[at] = Slot{ifindex,   rule.group.s_addr, source,
                      rule.port, any_source,        static_cast<int32_t>(index)};
    ++rule_count_;
    has_source_rules_ = has_source_rules_ || !any_source;
  }
}

int32_t RuleTable::probe(unsigned ifindex, uint32_t group, uint16_t port, bool any_source,
                         uint32_t source) const noexcept {
  size_t at = slot_hash(ifindex, group, port, any_source, source) & mask_;
  while (true) {
    const Slot& slot = slots_[at];
    if (slot.ifindex == 0) {
      return -1;
    }
    if (slot.ifindex == ifindex && slot.group == group && slot.port == port &&
        slot.any_source == any_source && slot.source == source) {
      return slot.rule;
    }
    at = (at + 1) & mask_;
  }
}

int32_t RuleTable::find(unsigned ifindex, uint32_t group, uint16_t port, uint32_t source,
                        uint16_t /*vlan*/) const noexcept {
  if (ifindex == 0 || slots_.empty()) {
    return -1;  // a default-constructed table, or a packet with no interface
  }
  if (has_source_rules_) {
    const int32_t exact = probe(ifindex, group, port, /*any_source=*/false, source);
    if (exact >= 0) {
      return exact;
    }
  }
  return probe(ifindex, group, port, /*any_source=*/true, 0);
}

}  // namespace mrelay
