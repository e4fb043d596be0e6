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
#include <cstring>
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
  size_t keys6 = 0;
  for (const Rule& rule : rules) {
    keys += rule.group6 ? 0 : std::max<size_t>(1, rule.source.size());
    keys6 += rule.group6 ? std::max<size_t>(1, rule.source6.size()) : 0;
  }
  if (keys6 != 0) {
    slots6_.resize(std::bit_ceil(std::max(kMinSlots, keys6 * 2)));
    mask6_ = slots6_.size() - 1;
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
    if (rule.group6) {
      bool installed6 = false;
      if (rule.source6.empty()) {
        installed6 = insert6(static_cast<int32_t>(index), ifindex, rule, nullptr);
      }
      for (const in6_addr& source : rule.source6) {
        installed6 = insert6(static_cast<int32_t>(index), ifindex, rule, &source) || installed6;
      }
      rule_count_ += installed6 ? 1 : 0;
      continue;
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

namespace {

size_t slot6_hash(unsigned ifindex, uint16_t vlan, const in6_addr& group, uint16_t port,
                  const in6_addr* source) noexcept {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over the key's bytes
  for (uint8_t byte : group.s6_addr) {
    hash = (hash ^ byte) * 1099511628211ull;
  }
  if (source != nullptr) {
    for (uint8_t byte : source->s6_addr) {
      hash = (hash ^ byte) * 1099511628211ull;
    }
  }
  hash = (hash ^ ifindex) * 1099511628211ull;
  hash = (hash ^ vlan) * 1099511628211ull;
  return static_cast<size_t>((hash ^ port) * 1099511628211ull);
}

bool same_address6(const in6_addr& a, const in6_addr& b) noexcept {
  return std::memcmp(a.s6_addr, b.s6_addr, sizeof a.s6_addr) == 0;
}

// `source` nullptr: the any-source key.
bool slot6_matches(const auto& slot, unsigned ifindex, uint16_t vlan, const in6_addr& group,
                   uint16_t port, const in6_addr* source) noexcept {
  return slot.ifindex == ifindex && slot.vlan == vlan && slot.port == port &&
         slot.any_source == (source == nullptr) && same_address6(slot.group, group) &&
         (source == nullptr || same_address6(slot.source, *source));
}

}  // namespace

bool RuleTable::insert6(int32_t index, unsigned ifindex, const Rule& rule, const in6_addr* source) {
  const uint16_t vlan = rule.vlan & kVlanIdMask;
  size_t at = slot6_hash(ifindex, vlan, *rule.group6, rule.port, source) & mask6_;
  while (slots6_[at].ifindex != 0) {
    if (slot6_matches(slots6_[at], ifindex, vlan, *rule.group6, rule.port, source)) {
      return false;  // validate_config() rejects these; the first rule keeps the key
    }
    at = (at + 1) & mask6_;
  }
  slots6_[at] = Slot6{.ifindex = ifindex,
                      .port = rule.port,
                      .vlan = vlan,
                      .rule = index,
                      .any_source = source == nullptr,
                      .group = *rule.group6,
                      .source = source != nullptr ? *source : in6_addr{}};
  has_source_rules6_ = has_source_rules6_ || source != nullptr;
  return true;
}

int32_t RuleTable::probe6(unsigned ifindex, uint16_t vlan, const in6_addr& group, uint16_t port,
                          const in6_addr* source) const noexcept {
  size_t at = slot6_hash(ifindex, vlan, group, port, source) & mask6_;
  while (slots6_[at].ifindex != 0) {
    if (slot6_matches(slots6_[at], ifindex, vlan, group, port, source)) {
      return slots6_[at].rule;
    }
    at = (at + 1) & mask6_;
  }
  return -1;
}

int32_t RuleTable::find6(unsigned ifindex, const in6_addr& group, uint16_t port,
                         const in6_addr& source, uint16_t vlan) const noexcept {
  if (slots6_.empty() || ifindex == 0 || vlan > kVlanIdMask) {
    return -1;
  }
  if (has_source_rules6_) {
    const int32_t exact = probe6(ifindex, vlan, group, port, &source);
    if (exact >= 0) {
      return exact;
    }
  }
  return probe6(ifindex, vlan, group, port, nullptr);
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
