// Rule lookup: open-addressing hash over (ifindex, VLAN, group, port, source).
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
// 802.1Q VLAN ids are 12 bits.
constexpr uint16_t kVlanIdMask = 0x0fff;

// splitmix64's finaliser: spreads the (highly regular) group/port bits over the index bits.
inline uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t slot_hash(unsigned ifindex, uint16_t vlan, uint32_t group, uint16_t port,
                          bool any_source, uint32_t source) noexcept {
  const uint64_t location = (static_cast<uint64_t>(ifindex) << 32) | group;
  const uint64_t filter = (static_cast<uint64_t>(vlan) << 49) |
                          (static_cast<uint64_t>(port) << 33) |
                          (static_cast<uint64_t>(any_source) << 32) | (any_source ? 0 : source);
  return mix(location ^ mix(filter));
}

inline bool slot_matches(const auto& slot, unsigned ifindex, uint16_t vlan, uint32_t group,
                         uint16_t port, bool any_source, uint32_t source) noexcept {
  return slot.ifindex == ifindex && slot.vlan == vlan && slot.group == group && slot.port == port &&
         static_cast<bool>(slot.any_source) == any_source && slot.source == source;
}

}  // namespace

RuleTable::RuleTable(const std::vector<Rule>& rules, const InterfaceLookup& lookup) {
  // One slot per (rule, source): a rule naming several sources has one key for each.
  size_t keys = 0;
  for (const Rule& rule : rules) {
    keys += std::max<size_t>(1, rule.source.size());
  }
  const size_t wanted = std::max(kMinSlots, keys * 2);
  slots_.resize(std::bit_ceil(wanted));
  mask_ = slots_.size() - 1;

  for (size_t index = 0; index < rules.size(); ++index) {
    const Rule& rule = rules[index];
    const unsigned ifindex = lookup ? lookup(rule.input_interface) : 0;
    if (ifindex == 0) {
      continue;  // missing interface: the rule can never match
    }
    bool installed = false;
    if (rule.source.empty()) {
      installed = insert(static_cast<int32_t>(index), ifindex, rule, /*any_source=*/true, 0);
    }
    for (const in_addr& source : rule.source) {
      installed = insert(static_cast<int32_t>(index), ifindex, rule, false, source.s_addr) ||
                  installed;
    }
    rule_count_ += installed ? 1 : 0;
  }
}

bool RuleTable::insert(int32_t index, unsigned ifindex, const Rule& rule, bool any_source,
                       uint32_t source) {
  const uint16_t vlan = rule.vlan & kVlanIdMask;
  size_t at = slot_hash(ifindex, vlan, rule.group.s_addr, rule.port, any_source, source) & mask_;
  while (slots_[at].ifindex != 0) {
    if (slot_matches(slots_[at], ifindex, vlan, rule.group.s_addr, rule.port, any_source,
                     source)) {
      return false;  // validate_config() rejects these; the first rule keeps the key
    }
    at = (at + 1) & mask_;
  }
  Slot& slot = slots_[at];
  slot.ifindex = ifindex;
  slot.group = rule.group.s_addr;
  slot.source = source;
  slot.port = rule.port;
  slot.vlan = vlan;
  slot.any_source = any_source ? 1 : 0;
  slot.rule = index;
  has_source_rules_ = has_source_rules_ || !any_source;
  return true;
}

int32_t RuleTable::probe(unsigned ifindex, uint16_t vlan, uint32_t group, uint16_t port,
                         bool any_source, uint32_t source) const noexcept {
  size_t at = slot_hash(ifindex, vlan, group, port, any_source, source) & mask_;
  while (true) {
    const Slot& slot = slots_[at];
    if (slot.ifindex == 0) {
      return -1;
    }
    if (slot_matches(slot, ifindex, vlan, group, port, any_source, source)) {
      return slot.rule;
    }
    at = (at + 1) & mask_;
  }
}

int32_t RuleTable::find(unsigned ifindex, uint32_t group, uint16_t port, uint32_t source,
                        uint16_t vlan) const noexcept {
  if (ifindex == 0 || slots_.empty() || vlan > kVlanIdMask) {
    return -1;  // a default-constructed table, a packet with no interface, no such VLAN id
  }
  if (has_source_rules_) {
    const int32_t exact = probe(ifindex, vlan, group, port, /*any_source=*/false, source);
    if (exact >= 0) {
      return exact;
    }
  }
  return probe(ifindex, vlan, group, port, /*any_source=*/true, 0);
}

}  // namespace mrelay
