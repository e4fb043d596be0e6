// Relay configuration: JSON parsing (shape and value checks) and whole-config validation.
//
//   auto cfg = mrelay::load_config_file("relay.json");
//   if (!cfg) { std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str()); return 2; }
//   // -> "relay.json: rules[0].outputs[1].gruop: unknown key"
//   auto ok = mrelay::validate_config(*cfg, mrelay::system_interfaces());
//
// Every error names the JSON path of the offending field. Unknown keys are errors (a typo in a
// knob must not silently fall back to a default that changes the measurement). `//` and
// `/* */` comments are accepted so a config can carry its own reasoning.
#include "mrelay/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>

namespace mrelay {
namespace {

using nlohmann::json;

// Inclusive bounds for an integer knob. One table so the JSON reader, validate_knobs() and
// the command line (through validate_knobs) all print the same message for the same knob.
struct Range {
  uint64_t min;
  uint64_t max;
  bool power_of_two = false;
};

// io_uring accepts up to 32768 SQ entries; a power of two because the ring is sized that way.
constexpr Range kQueueDepthRange{1, 32768, true};
// More than 1024 packets per batch only adds latency; sendmmsg's UIO_MAXIOV is 1024.
constexpr Range kBatchRange{1, 1024};
// Socket buffers in bytes; 1 GiB is far above any sane net.core.[rw]mem_max.
constexpr Range kSocketBufferRange{0, 1u << 30};
// Workers beyond 64 exceed the cores of any machine this rig sizes.
constexpr Range kWorkersRange{1, 64};
// CPU numbers: CPU_SETSIZE is 1024.
constexpr Range kCpuRange{0, 1023};
// SCHED_FIFO priorities Linux accepts; 0 = off.
constexpr Range kRtPriorityRange{0, 99};
// Buffers per worker: below 64 a single batch can exhaust the pool; 1 Mi buffers x 2 KiB is
// already 2 GiB per worker.
constexpr Range kPoolBuffersRange{64, 1u << 20};
constexpr Range kBufferSizeRange{0, kMaxBufferSize};
// Periodic stats in ms; more than an hour between lines is almost certainly a unit mistake.
constexpr Range kStatsIntervalRange{0, 3'600'000};
constexpr Range kTtlRange{1, 255};
// A threshold of 255 would forward nothing (no TTL is above it); 0 would let a TTL-1 packet
// through, whose copy would leave with TTL 0.
constexpr Range kTtlThresholdRange{1, 254};
// 802.1Q VLAN ids: 0 means "priority tag only" and 4095 is reserved (IEEE 802.1Q 9.6).
constexpr Range kVlanRange{1, 4094};
constexpr Range kPortRange{1, 65535};

// A config with thousands of rules is well under 1 MiB; 16 MiB stops a mistaken path such as
// /dev/zero from eating memory.
constexpr size_t kMaxConfigFileBytes = 16u << 20;

// Linux interface names are at most IFNAMSIZ - 1 characters.
constexpr size_t kMaxInterfaceName = IFNAMSIZ - 1;

std::string range_message(const Range& range) {
  std::string text = range.power_of_two ? "must be a power of two in " : "must be in ";
  text += std::to_string(range.min) + ".." + std::to_string(range.max);
  return text;
}

bool in_range(uint64_t value, const Range& range) {
  if (value < range.min || value > range.max) {
    return false;
  }
  return !range.power_of_two || (value & (value - 1)) == 0;
}

Result<void> check_range(const std::string& where, uint64_t value, const Range& range) {
  if (!in_range(value, range)) {
    return fail(where, range_message(range) + " (got " + std::to_string(value) + ")");
  }
  return {};
}


// buffer_size: 0 (from the ingress MTU) or kMinBufferSize..kMaxBufferSize bytes.
Result<void> check_buffer_size(uint32_t size) {
  if (size != 0 && (size < kMinBufferSize || size > kMaxBufferSize)) {
    return fail("buffer_size", "must be 0 (from the largest ingress MTU) or " +
                                   std::to_string(kMinBufferSize) + ".." +
                                   std::to_string(kMaxBufferSize) + " bytes (got " +
                                   std::to_string(size) + ")");
  }
  return {};
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string address_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

std::string address6_text(const in6_addr& address) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &address, text, sizeof text);
  return text;
}

// An address of either family as one comparable key: IPv4 as its IPv4-mapped IPv6 form
// (::ffff:a.b.c.d), so an IPv4 and an IPv6 address never compare equal by accident.
using AddressKey = std::array<uint8_t, 16>;
AddressKey address_key(in_addr v4, const std::optional<in6_addr>& v6) {
  AddressKey key{};
  if (v6) {
    std::memcpy(key.data(), v6->s6_addr, key.size());
  } else {
    key[10] = 0xff;
    key[11] = 0xff;
    std::memcpy(key.data() + 12, &v4.s_addr, 4);
  }
  return key;
}

bool is_multicast(in_addr address) {
  return IN_MULTICAST(ntohl(address.s_addr));
}

// 224.0.0.0/24, the local network control block (RFC 5771): never forwarded by routers.
bool is_link_local_multicast(in_addr address) {
  return (ntohl(address.s_addr) & 0xffffff00u) == 0xe0000000u;
}

bool is_any_or_broadcast(in_addr address) {
  return address.s_addr == htonl(INADDR_ANY) || address.s_addr == htonl(INADDR_BROADCAST);
}

// --- value checks shared by the JSON reader and validate_config() -------------------------

Result<void> check_interface_name(const std::string& where, const std::string& name) {
  if (name.empty()) {
    return fail(where, "must not be empty");
  }
  if (name.size() > kMaxInterfaceName) {
    return fail(where, "interface name '" + name + "' is longer than " +
                           std::to_string(kMaxInterfaceName) + " characters");
  }
  return {};
}

Result<void> check_input_group(const std::string& where, in_addr group) {
  if (!is_multicast(group)) {
    return fail(where, address_text(group) + " is not a multicast group (224.0.0.0/4)");
  }
  return {};
}

Result<void> check_link_local(const std::string& where, in_addr group, bool allowed) {
  if (is_link_local_multicast(group) && !allowed) {
    return fail(where, address_text(group) +
                           " is link-local multicast (224.0.0.0/24), which routers never forward; "
                           "set \"allow_link_local\": true on the rule (--allow-link-local) to "
                           "relay it anyway");
  }
  return {};
}

Result<void> check_source(const std::string& where, in_addr source) {
  if (is_multicast(source) || is_any_or_broadcast(source)) {
    return fail(where, address_text(source) + " is not a unicast source address");
  }
  return {};
}

// A rule's include list: 1..kMaxRuleSources unicast addresses, none twice (an empty list
// given explicitly is refused: leaving "source" out is how a rule takes any source).
Result<void> check_sources(const std::string& where, const SourceList& sources) {
  if (sources.empty()) {
    return fail(where, "empty source list (leave \"source\" out to take any source)");
  }
  if (sources.size() > kMaxRuleSources) {
    return fail(where, std::to_string(sources.size()) + " sources; at most " +
                           std::to_string(kMaxRuleSources) +
                           " per rule (the kernel's per-socket filter limit, igmp_max_msf)");
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string entry = sources.size() == 1 ? where : index_path(where, i);
    if (auto ok = check_source(entry, sources[i]); !ok) {
      return ok;
    }
    for (size_t k = 0; k < i; ++k) {
      if (sources[k].s_addr == sources[i].s_addr) {
        return fail(entry, address_text(sources[i]) + " is listed twice");
      }
    }
  }
  return {};
}

// IPv6 multicast: ff00::/8; the scope is the low nibble of the second byte (RFC 4291).
Result<void> check_input_group6(const std::string& where, const in6_addr& group) {
  if (group.s6_addr[0] != 0xff) {
    return fail(where, address6_text(group) + " is not an IPv6 multicast group (ff00::/8)");
  }
  const uint8_t scope = group.s6_addr[1] & 0x0f;
  if (scope == 0 || scope == 0xf) {
    return fail(where, address6_text(group) + " has a reserved scope (" + std::to_string(scope) +
                           ")");
  }
  return {};
}

// Interface-local (scope 1, ff01::/16) and link-local (scope 2, ff02::/16) groups never leave
// their link: refused unless the rule says allow_link_local.
Result<void> check_link_local6(const std::string& where, const in6_addr& group, bool allowed) {
  const uint8_t scope = group.s6_addr[1] & 0x0f;
  if (group.s6_addr[0] != 0xff || (scope != 1 && scope != 2) || allowed) {
    return {};
  }
  return fail(where, address6_text(group) +
                         (scope == 1 ? " is interface-local multicast (ff01::/16)"
                                     : " is link-local multicast (ff02::/16)") +
                         ", which routers never forward; set \"allow_link_local\": true on the "
                         "rule to relay it anyway");
}

Result<void> check_output_address6(const std::string& where, const in6_addr& address) {
  if (IN6_IS_ADDR_UNSPECIFIED(&address)) {
    return fail(where, ":: is not a valid destination (use a multicast group or unicast host)");
  }
  if (address.s6_addr[0] == 0xff) {
    return check_input_group6(where, address);  // a group: the same form and scope checks
  }
  return {};
}

Result<void> check_output_address(const std::string& where, in_addr address) {
  if (is_any_or_broadcast(address)) {
    return fail(where, address_text(address) +
                           " is not a valid destination (use a multicast group or unicast host)");
  }
  return {};
}

// --- JSON readers: type check, then value check; `path` names the field ------------------

Result<void> check_keys(const json& object, const std::string& path,
                        std::initializer_list<std::string_view> allowed) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (std::string_view key : allowed) {
      known = known || item.key() == key;
    }
    if (!known) {
      return fail(join(path, item.key()), "unknown key");
    }
  }
  return {};
}

Result<void> expect_object(const json& value, const std::string& path) {
  if (!value.is_object()) {
    return fail(path.empty() ? "(top level)" : path,
                std::string("must be an object, got ") + value.type_name());
  }
  return {};
}

Result<void> expect_array(const json& value, const std::string& path) {
  if (!value.is_array()) {
    return fail(path, std::string("must be an array, got ") + value.type_name());
  }
  return {};
}

Result<uint64_t> read_uint(const json& value, const std::string& path, const Range& range) {
  if (!value.is_number_integer()) {
    return fail(path, std::string("must be an integer, got ") + value.type_name());
  }
  if (value.is_number_unsigned()) {
    const auto number = value.get<uint64_t>();
    if (auto ok = check_range(path, number, range); !ok) {
      return tl::unexpected(ok.error());
    }
    return number;
  }
  const auto number = value.get<int64_t>();
  if (number < 0) {
    return fail(path, range_message(range) + " (got " + std::to_string(number) + ")");
  }
  if (auto ok = check_range(path, static_cast<uint64_t>(number), range); !ok) {
    return tl::unexpected(ok.error());
  }
  return static_cast<uint64_t>(number);
}

Result<std::string> read_string(const json& value, const std::string& path) {
  if (!value.is_string()) {
    return fail(path, std::string("must be a string, got ") + value.type_name());
  }
  return value.get<std::string>();
}

Result<in_addr> read_ipv4(const json& value, const std::string& path) {
  auto text = read_string(value, path);
  if (!text) {
    return tl::unexpected(text.error());
  }
  in_addr address{};
  if (inet_pton(AF_INET, text->c_str(), &address) != 1) {
    return fail(path, "'" + *text + "' is not an IPv4 address (a.b.c.d)");
  }
  return address;
}

// An IPv4 address, or an IPv6 one when the text has a colon ("ff3e::1").
struct AnyAddress {
  in_addr v4{};
  std::optional<in6_addr> v6;
};
Result<AnyAddress> read_address(const json& value, const std::string& path) {
  auto text = read_string(value, path);
  if (!text) {
    return tl::unexpected(text.error());
  }
  AnyAddress address;
  if (text->find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text->c_str(), &address.v4) != 1) {
      return fail(path, "'" + *text + "' is not an IPv4 address (a.b.c.d)");
    }
    return address;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text->c_str(), &v6) != 1) {
    return fail(path, "'" + *text + "' is not an IPv6 address");
  }
  address.v6 = v6;
  return address;
}

Result<std::string> read_interface(const json& value, const std::string& path) {
  auto name = read_string(value, path);
  if (!name) {
    return name;
  }
  if (auto ok = check_interface_name(path, *name); !ok) {
    return tl::unexpected(ok.error());
  }
  return name;
}

const json* find_key(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<const json*> require_key(const json& object, const std::string& path, std::string_view key) {
  const json* value = find_key(object, key);
  if (value == nullptr) {
    return fail(join(path, key), "required key missing");
  }
  return value;
}

// Propagates an error out of the enclosing function returning a Result.
#define MRELAY_TRY(expr)                                \
  do {                                                  \
    auto mrelay_try_result = (expr);                    \
    if (!mrelay_try_result) {                           \
      return tl::unexpected(mrelay_try_result.error()); \
    }                                                   \
  } while (false)

// Reads `expr` (a Result<T>) into `target`, converting with static_cast.
#define MRELAY_ASSIGN(target, expr)                                           \
  do {                                                                        \
    auto mrelay_assign_result = (expr);                                       \
    if (!mrelay_assign_result) {                                              \
      return tl::unexpected(mrelay_assign_result.error());                    \
    }                                                                         \
    target = static_cast<decltype(target)>(std::move(*mrelay_assign_result)); \
  } while (false)

Result<Output> read_output(const json& value, const std::string& path) {
  MRELAY_TRY(expect_object(value, path));
  MRELAY_TRY(check_keys(value, path, {"interface", "group", "port", "ttl", "ttl_threshold"}));
  Output output;
  const json* field = nullptr;
  MRELAY_ASSIGN(field, require_key(value, path, "interface"));
  MRELAY_ASSIGN(output.interface, read_interface(*field, join(path, "interface")));
  MRELAY_ASSIGN(field, require_key(value, path, "group"));
  AnyAddress address;
  MRELAY_ASSIGN(address, read_address(*field, join(path, "group")));
  output.address = address.v4;
  output.address6 = address.v6;
  MRELAY_TRY(address.v6 ? check_output_address6(join(path, "group"), *address.v6)
                        : check_output_address(join(path, "group"), address.v4));
  MRELAY_ASSIGN(field, require_key(value, path, "port"));
  MRELAY_ASSIGN(output.port, read_uint(*field, join(path, "port"), kPortRange));
  if (const json* ttl = find_key(value, "ttl")) {
    uint8_t fixed = 0;
    MRELAY_ASSIGN(fixed, read_uint(*ttl, join(path, "ttl"), kTtlRange));
    output.ttl = fixed;
  }
  if (const json* threshold = find_key(value, "ttl_threshold")) {
    MRELAY_ASSIGN(output.ttl_threshold,
                  read_uint(*threshold, join(path, "ttl_threshold"), kTtlThresholdRange));
  }
  return output;
}

// An IPv6 group's sources: as check_sources(), unicast (not ::, not multicast).
Result<void> check_sources6(const std::string& where, const std::vector<in6_addr>& sources) {
  if (sources.empty()) {
    return fail(where, "empty source list (leave \"source\" out to take any source)");
  }
  if (sources.size() > kMaxRuleSources) {
    return fail(where, std::to_string(sources.size()) + " sources; at most " +
                           std::to_string(kMaxRuleSources) + " per rule");
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string entry = sources.size() == 1 ? where : index_path(where, i);
    if (IN6_IS_ADDR_UNSPECIFIED(&sources[i]) || sources[i].s6_addr[0] == 0xff) {
      return fail(entry, address6_text(sources[i]) + " is not a unicast source address");
    }
    for (size_t k = 0; k < i; ++k) {
      if (std::memcmp(&sources[k], &sources[i], sizeof sources[i]) == 0) {
        return fail(entry, address6_text(sources[i]) + " is listed twice");
      }
    }
  }
  return {};
}

Result<in6_addr> read_ipv6(const json& value, const std::string& path) {
  auto text = read_string(value, path);
  if (!text) {
    return tl::unexpected(text.error());
  }
  in6_addr address{};
  if (inet_pton(AF_INET6, text->c_str(), &address) != 1) {
    return fail(path, "'" + *text + "' is not an IPv6 address (the group is IPv6)");
  }
  return address;
}

// "source" of an IPv6 group: one IPv6 address or a list of them.
Result<std::vector<in6_addr>> read_sources6(const json& value, const std::string& where) {
  std::vector<in6_addr> sources;
  const size_t count = value.is_array() ? value.size() : 1;
  for (size_t i = 0; i < count; ++i) {
    in6_addr address{};
    MRELAY_ASSIGN(address, read_ipv6(value.is_array() ? value[i] : value,
                                     value.is_array() ? index_path(where, i) : where));
    sources.push_back(address);
  }
  MRELAY_TRY(check_sources6(where, sources));
  return sources;
}

// "source": one address or a list of them (include mode; errors name the entry).
Result<SourceList> read_sources(const json& value, const std::string& where) {
  SourceList sources;
  if (!value.is_array()) {
    in_addr address{};
    MRELAY_ASSIGN(address, read_ipv4(value, where));
    sources.push_back(address);
  } else {
    for (size_t i = 0; i < value.size(); ++i) {
      in_addr address{};
      MRELAY_ASSIGN(address, read_ipv4(value[i], index_path(where, i)));
      sources.push_back(address);
    }
  }
  MRELAY_TRY(check_sources(where, sources));
  return sources;
}

Result<Rule> read_rule(const json& value, const std::string& path, size_t index) {
  MRELAY_TRY(expect_object(value, path));
  MRELAY_TRY(check_keys(value, path, {"name", "input", "outputs", "allow_link_local"}));
  Rule rule;
  rule.name = "rule" + std::to_string(index);
  if (const json* name = find_key(value, "name")) {
    MRELAY_ASSIGN(rule.name, read_string(*name, join(path, "name")));
    if (rule.name.empty()) {
      return fail(join(path, "name"), "must not be empty");
    }
  }

  if (const json* allow = find_key(value, "allow_link_local")) {
    if (!allow->is_boolean()) {
      return fail(join(path, "allow_link_local"),
                  std::string("must be true or false, got ") + allow->type_name());
    }
    rule.allow_link_local = allow->get<bool>();
  }

  const json* input = nullptr;
  MRELAY_ASSIGN(input, require_key(value, path, "input"));
  const std::string input_path = join(path, "input");
  MRELAY_TRY(expect_object(*input, input_path));
  MRELAY_TRY(check_keys(*input, input_path, {"interface", "group", "port", "source", "vlan"}));
  const json* field = nullptr;
  MRELAY_ASSIGN(field, require_key(*input, input_path, "interface"));
  MRELAY_ASSIGN(rule.input_interface, read_interface(*field, join(input_path, "interface")));
  MRELAY_ASSIGN(field, require_key(*input, input_path, "group"));
  AnyAddress group;
  MRELAY_ASSIGN(group, read_address(*field, join(input_path, "group")));
  rule.group = group.v4;
  rule.group6 = group.v6;
  MRELAY_TRY(group.v6 ? check_input_group6(join(input_path, "group"), *group.v6)
                      : check_input_group(join(input_path, "group"), group.v4));
  MRELAY_ASSIGN(field, require_key(*input, input_path, "port"));
  MRELAY_ASSIGN(rule.port, read_uint(*field, join(input_path, "port"), kPortRange));
  if (const json* source = find_key(*input, "source")) {
    if (rule.group6) {
      MRELAY_ASSIGN(rule.source6, read_sources6(*source, join(input_path, "source")));
    } else {
      MRELAY_ASSIGN(rule.source, read_sources(*source, join(input_path, "source")));
    }
  }
  if (const json* vlan = find_key(*input, "vlan")) {
    MRELAY_ASSIGN(rule.vlan, read_uint(*vlan, join(input_path, "vlan"), kVlanRange));
  }

  const json* outputs = nullptr;
  MRELAY_ASSIGN(outputs, require_key(value, path, "outputs"));
  const std::string outputs_path = join(path, "outputs");
  MRELAY_TRY(expect_array(*outputs, outputs_path));
  rule.outputs.reserve(outputs->size());
  for (size_t i = 0; i < outputs->size(); ++i) {
    Output output;
    MRELAY_ASSIGN(output, read_output((*outputs)[i], index_path(outputs_path, i)));
    rule.outputs.push_back(std::move(output));
  }
  return rule;
}

Result<void> read_egress(const json& egress, EgressConfig& out) {
  MRELAY_TRY(expect_object(egress, "egress"));
  MRELAY_TRY(check_keys(egress, "egress", {"backend", "queue_depth", "batch", "sndbuf"}));
  if (const json* backend = find_key(egress, "backend")) {
    std::string name;
    MRELAY_ASSIGN(name, read_string(*backend, "egress.backend"));
    MRELAY_ASSIGN(out.backend, parse_choice("egress.backend", name, kEgressBackends));
  }
  if (const json* depth = find_key(egress, "queue_depth")) {
    MRELAY_ASSIGN(out.queue_depth, read_uint(*depth, "egress.queue_depth", kQueueDepthRange));
  }
  if (const json* batch = find_key(egress, "batch")) {
    MRELAY_ASSIGN(out.batch, read_uint(*batch, "egress.batch", kBatchRange));
  }
  if (const json* sndbuf = find_key(egress, "sndbuf")) {
    MRELAY_ASSIGN(out.sndbuf, read_uint(*sndbuf, "egress.sndbuf", kSocketBufferRange));
  }
  return {};
}

// The numeric knobs at the top level, each within its range.
Result<void> read_knobs(const json& root, Config& config) {
  if (const json* rcvbuf = find_key(root, "rcvbuf")) {
    MRELAY_ASSIGN(config.rcvbuf, read_uint(*rcvbuf, "rcvbuf", kSocketBufferRange));
  }
  if (const json* workers = find_key(root, "workers")) {
    MRELAY_ASSIGN(config.workers, read_uint(*workers, "workers", kWorkersRange));
  }
  if (const json* cpus = find_key(root, "cpus")) {
    MRELAY_TRY(expect_array(*cpus, "cpus"));
    for (size_t i = 0; i < cpus->size(); ++i) {
      int cpu = 0;
      MRELAY_ASSIGN(cpu, read_uint((*cpus)[i], index_path("cpus", i), kCpuRange));
      config.cpus.push_back(cpu);
    }
  }
  if (const json* priority = find_key(root, "rt_priority")) {
    MRELAY_ASSIGN(config.rt_priority, read_uint(*priority, "rt_priority", kRtPriorityRange));
  }
  if (const json* pool = find_key(root, "pool_buffers")) {
    MRELAY_ASSIGN(config.pool_buffers, read_uint(*pool, "pool_buffers", kPoolBuffersRange));
  }
  if (const json* size = find_key(root, "buffer_size")) {
    MRELAY_ASSIGN(config.buffer_size, read_uint(*size, "buffer_size", kBufferSizeRange));
    MRELAY_TRY(check_buffer_size(config.buffer_size));
  }
  if (const json* interval = find_key(root, "stats_interval_ms")) {
    MRELAY_ASSIGN(config.stats_interval_ms,
                  read_uint(*interval, "stats_interval_ms", kStatsIntervalRange));
  }
  return {};
}

// The string settings at the top level (paths, names, addresses), by key.
Result<void> read_texts(const json& root, Config& config) {
  for (auto [key, target] :
       {std::pair{"stats_json", &config.stats_json_path}, std::pair{"user", &config.user},
        std::pair{"group", &config.group}, std::pair{"control_socket", &config.control_socket},
        std::pair{"state_file", &config.state_file},
        std::pair{"metrics_listen", &config.metrics_listen},
        std::pair{"control_group", &config.control_group},
        std::pair{"control_read_group", &config.control_read_group}}) {
    if (const json* value = find_key(root, key)) {
      std::string text;
      MRELAY_ASSIGN(text, read_string(*value, key));
      *target = std::move(text);
    }
  }
  return {};
}

Result<Config> read_config(const json& root) {
  MRELAY_TRY(expect_object(root, ""));
  MRELAY_TRY(
      check_keys(root, "",
                 {"ingress", "egress", "rcvbuf", "workers", "cpus", "rt_priority", "pool_buffers", "buffer_size",
                  "stats_interval_ms", "stats_json", "user", "group", "control_socket",
                  "state_file", "metrics_listen", "control_group", "control_read_group", "rules"}));
  Config config;
  if (const json* ingress = find_key(root, "ingress")) {
    std::string mode;
    MRELAY_ASSIGN(mode, read_string(*ingress, "ingress"));
    MRELAY_ASSIGN(config.ingress, parse_choice("ingress", mode, kIngressModes));
  }
  if (const json* egress = find_key(root, "egress")) {
    MRELAY_TRY(read_egress(*egress, config.egress));
  }
  MRELAY_TRY(read_knobs(root, config));
  MRELAY_TRY(read_texts(root, config));
  const json* rules = nullptr;
  MRELAY_ASSIGN(rules, require_key(root, "", "rules"));
  MRELAY_TRY(expect_array(*rules, "rules"));
  config.rules.reserve(rules->size());
  for (size_t i = 0; i < rules->size(); ++i) {
    Rule rule;
    MRELAY_ASSIGN(rule, read_rule((*rules)[i], index_path("rules", i), i));
    config.rules.push_back(std::move(rule));
  }
  return config;
}

// nlohmann's what() starts with "[json.exception.parse_error.101] "; users need the rest.
std::string strip_exception_id(const char* what) {
  std::string_view text(what);
  if (!text.empty() && text.front() == '[') {
    const size_t end = text.find("] ");
    if (end != std::string_view::npos) {
      text.remove_prefix(end + 2);
    }
  }
  return std::string(text);
}

// --- forwarding loops among one host's rules ------------------------------------------

// Rule r feeds rule s when one of r's outputs sends to s's input group and port. The
// interface does not matter: a veth pair, a bridge or a switch can carry a copy from any
// output interface back to any input interface of the same host. The source filter does not
// matter either: copies leave with this host's address, which a rule may well name.
std::string feed_text(const Rule& from, const Output& output, const Rule& to) {
  return "rule '" + from.name + "' sends " + output_address_text(output) + ":" +
         std::to_string(output.port) + ", the input of rule '" + to.name + "'";
}

// A loop error names at most this many steps before the closing one: enough to show any loop
// a person wrote; a generated ring of thousands of rules would make a megabyte message.
constexpr size_t kLoopStepsNamed = 6;

using RulesByInput = std::multimap<std::pair<AddressKey, uint16_t>, size_t>;

// One rule on the depth-first search's path, and how far its outputs have been followed.
struct LoopStep {
  size_t rule;
  size_t output = 0;  // next output of `rule` to follow
  RulesByInput::const_iterator next{}, end{};
  bool started = false;  // next/end set for `output`
};

// The error for a loop: from `target` along the path back to the last step's output. A very
// long loop is shortened in the middle; its first steps and the closing one name the rules.
tl::unexpected<Error> loop_error(const std::vector<Rule>& rules, const std::vector<LoopStep>& path,
                                 size_t target) {
  const LoopStep& step = path.back();
  const Rule& rule = rules[step.rule];
  const Output& output = rule.outputs[step.output];
  std::string text = "forwarding loop on this host: ";
  size_t first = 0;
  while (path[first].rule != target) {
    ++first;
  }
  const size_t steps = path.size() - first;  // rules on the loop
  for (size_t k = first; k + 1 < path.size(); ++k) {
    if (k - first == kLoopStepsNamed && steps > kLoopStepsNamed + 2) {
      text += "... (" + std::to_string(steps - kLoopStepsNamed - 1) + " more steps); ";
      k = path.size() - 2;
      continue;
    }
    const Rule& from = rules[path[k].rule];
    text += feed_text(from, from.outputs[path[k].output], rules[path[k + 1].rule]) + "; ";
  }
  text += feed_text(rule, output, rules[target]);
  text += target == step.rule ? " itself" : "";
  text +=
      " (a copy that comes back in, through a veth pair, a bridge or a switch, is "
      "relayed again and again); give one of these outputs another group or port";
  return fail(
      "rules[" + std::to_string(step.rule) + "].outputs[" + std::to_string(step.output) + "]",
      text);
}

Result<void> check_no_loop(const std::vector<Rule>& rules) {
  // Rules by input (group, port), so each output finds the rules it feeds directly.
  RulesByInput by_input;
  for (size_t i = 0; i < rules.size(); ++i) {
    by_input.emplace(std::pair{address_key(rules[i].group, rules[i].group6), rules[i].port}, i);
  }
  // Iterative depth-first search (a long chain of rules must not exhaust the stack). A rule
  // met again while it is still on the path closes a loop.
  enum class Mark : uint8_t { unseen, on_path, done };
  std::vector<Mark> mark(rules.size(), Mark::unseen);
  std::vector<LoopStep> path;
  for (size_t root = 0; root < rules.size(); ++root) {
    if (mark[root] != Mark::unseen) {
      continue;
    }
    path.push_back(LoopStep{root});
    mark[root] = Mark::on_path;
    while (!path.empty()) {
      LoopStep& step = path.back();
      const Rule& rule = rules[step.rule];
      if (step.output == rule.outputs.size()) {
        mark[step.rule] = Mark::done;
        path.pop_back();
        continue;
      }
      const Output& output = rule.outputs[step.output];
      if (!step.started) {
        std::tie(step.next, step.end) =
            by_input.equal_range(std::pair{address_key(output.address, output.address6), output.port});
        step.started = true;
      }
      if (step.next == step.end) {
        ++step.output;
        step.started = false;
        continue;
      }
      const size_t target = (step.next++)->second;
      if (target == step.rule && output.interface != rule.input_interface) {
        // A rule that relays its group unchanged to another interface (eth1 -> eth2, the
        // plain router case) only feeds itself if the network brings the copy back; the
        // TTL decrement ends that, as it does for a kernel router. Not refused.
        continue;
      }
      if (mark[target] == Mark::on_path) {
        return loop_error(rules, path, target);
      }
      if (mark[target] == Mark::unseen) {
        mark[target] = Mark::on_path;
        path.push_back(LoopStep{target});  // may move `step`: not used after this
      }
    }
  }
  return {};
}

}  // namespace

std::string_view to_string(IngressMode mode) {
  switch (mode) {
    case IngressMode::packet:
      return "packet";
    case IngressMode::udp:
      return "udp";
    case IngressMode::xdp:
      return "xdp";
  }
  return "unknown";
}

std::string_view to_string(EgressBackend backend) { return egress_backend_name(backend); }

Result<Config> parse_config_json(std::string_view text) {
  // Exceptions stay inside this boundary: the caller gets a Result either way.
  try {
    const json root = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/true,
                                  /*ignore_comments=*/true);
    return read_config(root);
  } catch (const json::parse_error& error) {
    return fail("", "invalid JSON: " + strip_exception_id(error.what()));
  } catch (const json::exception& error) {
    return fail("", "invalid config: " + strip_exception_id(error.what()));
  }
}

Result<Rule> parse_rule_json(std::string_view text, const std::string& path) {
  try {
    const json root = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/true,
                                  /*ignore_comments=*/true);
    return read_rule(root, path, 0);
  } catch (const json::exception& error) {
    return fail(path, "invalid JSON: " + strip_exception_id(error.what()));
  }
}

Result<std::string> read_text_file(const std::string& path, std::string_view what,
                                   size_t max_bytes) {
  // POSIX read, not ifstream: a directory or an unreadable file then reports its errno
  // (EISDIR, EACCES) instead of looking like an empty, "invalid JSON" file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(path, "cannot open " + std::string(what), errno);
  }
  std::string text;
  char chunk[65536];
  while (true) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      const int saved = errno;
      ::close(fd);
      return fail(path, "cannot read " + std::string(what), saved);
    }
    if (got == 0) {
      break;
    }
    text.append(chunk, static_cast<size_t>(got));
    if (text.size() > max_bytes) {
      ::close(fd);
      return fail(path,
                  std::string(what) + " larger than " + std::to_string(max_bytes >> 20) + " MiB");
    }
  }
  ::close(fd);
  return text;
}

Result<Config> load_config_file(const std::string& path) {
  auto text = read_text_file(path, "config file", kMaxConfigFileBytes);
  if (!text) {
    return tl::unexpected(text.error());
  }
  auto config = parse_config_json(*text);
  if (!config) {
    Error error = config.error();
    error.where = error.where.empty() ? path : path + ": " + error.where;
    return tl::unexpected(std::move(error));
  }
  return config;
}

InterfaceLookup system_interfaces() {
  return [](const std::string& name) -> unsigned { return if_nametoindex(name.c_str()); };
}

Result<LoopbackEndpoint> parse_metrics_listen(std::string_view text, const std::string& where) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return fail(where, "expected ADDR:PORT (e.g. 127.0.0.1:9477), got '" + std::string(text) + "'");
  }
  const std::string host(text.substr(0, colon));
  LoopbackEndpoint endpoint;
  if (inet_pton(AF_INET, host.c_str(), &endpoint.address) != 1) {
    return fail(where, "'" + host + "' is not an IPv4 address (a.b.c.d)");
  }
  if ((ntohl(endpoint.address.s_addr) >> 24) != 127) {
    return fail(where, "'" + host +
                           "' is not a loopback address: metrics are served on 127.0.0.0/8 only "
                           "(put a proxy in front to expose them)");
  }
  const std::string_view port_text = text.substr(colon + 1);
  uint64_t port = 0;
  bool digits = port_text.size() <= 5;
  for (char c : port_text) {
    digits = digits && c >= '0' && c <= '9';
    port = port * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!digits || port > 65535) {
    return fail(where, "port '" + std::string(port_text) + "' is not a number in 0..65535");
  }
  endpoint.port = static_cast<uint16_t>(port);
  return endpoint;
}

Result<void> validate_knobs(const Config& config) {
  if (!config.metrics_listen.empty()) {
    MRELAY_TRY(parse_metrics_listen(config.metrics_listen, "metrics_listen"));
  }
  MRELAY_TRY(check_range("egress.queue_depth", config.egress.queue_depth, kQueueDepthRange));
  MRELAY_TRY(check_range("egress.batch", config.egress.batch, kBatchRange));
  MRELAY_TRY(check_range("egress.sndbuf", config.egress.sndbuf, kSocketBufferRange));
  MRELAY_TRY(check_range("rcvbuf", config.rcvbuf, kSocketBufferRange));
  MRELAY_TRY(check_range("workers", config.workers, kWorkersRange));
  if (config.ingress == IngressMode::xdp && config.workers > 1) {
    // One AF_XDP socket per interface queue, and PACKET_FANOUT has no AF_XDP counterpart.
    return fail("workers", "--ingress xdp reads with one worker (got " +
                               std::to_string(config.workers) +
                               "): use --workers 1, or --ingress packet to spread with fanout");
  }
  for (size_t i = 0; i < config.cpus.size(); ++i) {
    const int cpu = config.cpus[i];
    if (cpu < 0) {
      return fail(index_path("cpus", i),
                  range_message(kCpuRange) + " (got " + std::to_string(cpu) + ")");
    }
    MRELAY_TRY(check_range(index_path("cpus", i), static_cast<uint64_t>(cpu), kCpuRange));
  }
  MRELAY_TRY(check_range("rt_priority", config.rt_priority, kRtPriorityRange));
  MRELAY_TRY(check_range("pool_buffers", config.pool_buffers, kPoolBuffersRange));
  MRELAY_TRY(check_buffer_size(config.buffer_size));
  MRELAY_TRY(check_range("stats_interval_ms", config.stats_interval_ms, kStatsIntervalRange));
  return {};
}

namespace {

Result<void> check_interface_exists(const std::string& where, const std::string& name,
                                    const InterfaceLookup& lookup) {
  MRELAY_TRY(check_interface_name(where, name));
  if (lookup(name) == 0) {
    return fail(where, "no such interface '" + name + "'");
  }
  return {};
}

// One rule's input: interface, group, port, source, VLAN (errors under `input_path`).
Result<void> check_rule_input(const Rule& rule, const std::string& input_path, IngressMode ingress,
                              const InterfaceLookup& lookup) {
  MRELAY_TRY(check_interface_exists(join(input_path, "interface"), rule.input_interface, lookup));
  if (rule.group6) {
    MRELAY_TRY(check_input_group6(join(input_path, "group"), *rule.group6));
    MRELAY_TRY(check_link_local6(join(input_path, "group"), *rule.group6, rule.allow_link_local));
    if (rule.source) {
      return fail(join(input_path, "source"),
                  address_text(*rule.source) + " is an IPv4 source for an IPv6 group");
    }
    if (!rule.source6.empty()) {
      MRELAY_TRY(check_sources6(join(input_path, "source"), rule.source6));
    }
  } else {
    if (!rule.source6.empty()) {
      return fail(join(input_path, "source"),
                  address6_text(rule.source6.front()) + " is an IPv6 source for an IPv4 group");
    }
    MRELAY_TRY(check_input_group(join(input_path, "group"), rule.group));
    MRELAY_TRY(check_link_local(join(input_path, "group"), rule.group, rule.allow_link_local));
  }
  MRELAY_TRY(check_range(join(input_path, "port"), rule.port, kPortRange));
  if (rule.source) {
    MRELAY_TRY(check_sources(join(input_path, "source"), rule.source));
  }
  if (rule.vlan != 0) {
    MRELAY_TRY(check_range(join(input_path, "vlan"), rule.vlan, kVlanRange));
    if (ingress == IngressMode::xdp) {
      return fail(join(input_path, "vlan"),
                  "needs packet ingress (the xdp ingress leaves tagged frames to the kernel; use "
                  "--ingress packet, or the VLAN's own interface, e.g. eth0." +
                      std::to_string(rule.vlan) + ", without \"vlan\")");
    }
    if (ingress != IngressMode::packet) {
      return fail(join(input_path, "vlan"),
                  "needs packet ingress (a UDP socket never sees the 802.1Q tag; use the "
                  "VLAN's own interface, e.g. eth0." +
                      std::to_string(rule.vlan) + ", without \"vlan\")");
    }
  }
  return {};
}

// One rule's outputs: each valid, none equal to the input, no two alike.
Result<void> check_rule_outputs(const Rule& rule, const std::string& outputs_path,
                                const InterfaceLookup& lookup) {
  if (rule.outputs.empty()) {
    return fail(outputs_path, "at least one output is required");
  }
  using OutputKey = std::tuple<std::string, AddressKey, uint16_t>;
  std::map<OutputKey, size_t> outputs;
  for (size_t k = 0; k < rule.outputs.size(); ++k) {
    const Output& output = rule.outputs[k];
    const std::string output_path = index_path(outputs_path, k);
    MRELAY_TRY(check_interface_exists(join(output_path, "interface"), output.interface, lookup));
    if (output.address6) {
      MRELAY_TRY(check_output_address6(join(output_path, "group"), *output.address6));
      MRELAY_TRY(
          check_link_local6(join(output_path, "group"), *output.address6, rule.allow_link_local));
    } else {
      MRELAY_TRY(check_output_address(join(output_path, "group"), output.address));
      MRELAY_TRY(
          check_link_local(join(output_path, "group"), output.address, rule.allow_link_local));
    }
    MRELAY_TRY(check_range(join(output_path, "port"), output.port, kPortRange));
    if (output.ttl) {
      MRELAY_TRY(check_range(join(output_path, "ttl"), *output.ttl, kTtlRange));
    }
    MRELAY_TRY(
        check_range(join(output_path, "ttl_threshold"), output.ttl_threshold, kTtlThresholdRange));
    const AddressKey address = address_key(output.address, output.address6);
    if (output.interface == rule.input_interface &&
        address == address_key(rule.group, rule.group6) &&
        output.port == rule.port) {
      return fail(output_path,
                  "same interface, address and port as the rule's input (the relay would "
                  "feed its own output back in)");
    }
    const OutputKey output_key{output.interface, address, output.port};
    if (auto [it, inserted] = outputs.emplace(output_key, k); !inserted) {
      return fail(output_path, "duplicate of outputs[" + std::to_string(it->second) +
                                   "] (every packet would be sent twice)");
    }
  }
  return {};
}

// Every (interface, VLAN, group, port, source) a rule takes belongs to one rule only; a rule
// with several sources claims one key per source. `inputs` maps each key to its first rule.
using InputKey = std::tuple<std::string, uint16_t, AddressKey, uint16_t, bool, AddressKey>;
Result<void> check_unique_input(const Rule& rule, size_t index, const std::string& input_path,
                                std::map<InputKey, size_t>& inputs) {
  std::vector<InputKey> keys;
  std::vector<std::string> source_texts;  // per key, for the message
  const AddressKey group = address_key(rule.group, rule.group6);
  if (!has_sources(rule)) {
    keys.emplace_back(rule.input_interface, rule.vlan, group, rule.port, false, AddressKey{});
    source_texts.emplace_back();
  }
  for (const in_addr& source : rule.source) {
    keys.emplace_back(rule.input_interface, rule.vlan, group, rule.port, true,
                      address_key(source, std::nullopt));
    source_texts.push_back(address_text(source));
  }
  for (const in6_addr& source : rule.source6) {
    keys.emplace_back(rule.input_interface, rule.vlan, group, rule.port, true,
                      address_key(in_addr{}, source));
    source_texts.push_back(address6_text(source));
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    const InputKey& key = keys[k];
    if (auto [it, inserted] = inputs.emplace(key, index); !inserted && it->second != index) {
      std::string message = "same interface, group, port and source";
      if (std::get<4>(key)) {
        message += " (" + source_texts[k] + ")";
      }
      message += " as rules[" + std::to_string(it->second) + "]";
      if (rule.vlan != 0) {
        message += " on VLAN " + std::to_string(rule.vlan);
      }
      return fail(input_path, message);
    }
  }
  return {};
}

}  // namespace

Result<void> validate_config(const Config& config, const InterfaceLookup& lookup) {
  if (config.rules.empty()) {
    return fail("rules", "at least one rule is required");
  }
  if (!lookup) {
    return fail("validate_config", "no interface lookup given");
  }
  MRELAY_TRY(validate_knobs(config));
  // Value of the maps: index of the first rule that used the key, for the message.
  std::map<std::string, size_t> names;
  std::map<InputKey, size_t> inputs;
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const Rule& rule = config.rules[i];
    const std::string path = index_path("rules", i);
    if (rule.name.empty()) {
      return fail(join(path, "name"), "must not be empty");
    }
    if (auto [it, inserted] = names.emplace(rule.name, i); !inserted) {
      return fail(join(path, "name"), "duplicate rule name '" + rule.name + "' (also rules[" +
                                          std::to_string(it->second) + "])");
    }
    const std::string input_path = join(path, "input");
    MRELAY_TRY(check_rule_input(rule, input_path, config.ingress, lookup));
    MRELAY_TRY(check_unique_input(rule, i, input_path, inputs));
    MRELAY_TRY(check_rule_outputs(rule, join(path, "outputs"), lookup));
  }
  return check_no_loop(config.rules);
}

std::string input_group_text(const Rule& rule) {
  return rule.group6 ? address6_text(*rule.group6) : address_text(rule.group);
}

std::string output_address_text(const Output& output) {
  return output.address6 ? address6_text(*output.address6) : address_text(output.address);
}

bool uses_ipv6(const Rule& rule) {
  return rule.group6.has_value() ||
         std::any_of(rule.outputs.begin(), rule.outputs.end(),
                     [](const Output& output) { return output.address6.has_value(); });
}

std::vector<std::string> source_texts(const Rule& rule) {
  std::vector<std::string> texts;
  for (const in_addr& source : rule.source) {
    texts.push_back(address_text(source));
  }
  for (const in6_addr& source : rule.source6) {
    texts.push_back(address6_text(source));
  }
  return texts;
}

std::string describe_rule(const Rule& rule) {
  std::string text = rule.name + ": " + rule.input_interface;
  if (rule.vlan != 0) {
    text += " VLAN " + std::to_string(rule.vlan);
  }
  text += " " + input_group_text(rule) + ":" + std::to_string(rule.port);
  const std::vector<std::string> sources = source_texts(rule);
  if (sources.empty()) {
    text += " from any source (*,G)";
  } else {
    text += " from ";
    for (size_t i = 0; i < sources.size(); ++i) {
      text += (i == 0 ? "" : ", ") + sources[i];
    }
    text += " (source-specific)";
  }
  text += " -> " + std::to_string(rule.outputs.size()) +
          (rule.outputs.size() == 1 ? " output" : " outputs");
  return text;
}

namespace {

// IFACE:ADDR:PORT or IFACE:[ADDR6]:PORT cut into its three parts (the brackets dropped);
// false when it has neither shape. Unbracketed, the split is at the last two colons, so the
// interface part may itself contain one.
struct EndpointParts {
  std::string_view interface;
  std::string_view address;
  std::string_view port;
  bool bracketed = false;
};
bool split_endpoint(std::string_view text, EndpointParts& parts) {
  const size_t port_colon = text.rfind(':');
  if (port_colon == std::string_view::npos || port_colon == 0) {
    return false;
  }
  parts.port = text.substr(port_colon + 1);
  const bool has_bracket = text.find('[') != std::string_view::npos;
  if (has_bracket && text[port_colon - 1] != ']') {
    return false;  // "eth0:[ff3e::1]" (no port), "eth0:[ff3e::1]x:5000"
  }
  if (has_bracket) {
    const size_t open = text.rfind('[', port_colon);
    if (open == std::string_view::npos || open == 0 || text[open - 1] != ':') {
      return false;
    }
    parts.interface = text.substr(0, open - 1);
    parts.address = text.substr(open + 1, port_colon - open - 2);
    parts.bracketed = true;
    return true;
  }
  const size_t address_colon = text.rfind(':', port_colon - 1);
  if (address_colon == std::string_view::npos) {
    return false;
  }
  parts.interface = text.substr(0, address_colon);
  parts.address = text.substr(address_colon + 1, port_colon - address_colon - 1);
  return true;
}

Result<uint16_t> parse_port_text(std::string_view port_text, const std::string& where) {
  uint64_t port = 0;
  bool digits = !port_text.empty() && port_text.size() <= 10;
  for (char c : port_text) {
    digits = digits && c >= '0' && c <= '9';
  }
  if (!digits) {
    return fail(where, "port '" + std::string(port_text) + "' is not a number");
  }
  for (char c : port_text) {
    port = port * 10 + static_cast<uint64_t>(c - '0');
  }
  MRELAY_TRY(check_range(where, port, kPortRange));
  return static_cast<uint16_t>(port);
}

}  // namespace

Result<Output> parse_endpoint(std::string_view text, std::string_view flag) {
  const std::string where(flag);
  EndpointParts parts;
  if (!split_endpoint(text, parts)) {
    return fail(where,
                "expected IFACE:ADDR:PORT or IFACE:[IPV6]:PORT, got '" + std::string(text) + "'");
  }
  Output output;
  output.interface = std::string(parts.interface);
  MRELAY_TRY(check_interface_name(where, output.interface));

  const std::string address(parts.address);
  if (parts.bracketed) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) {
      return fail(where, "'[" + address + "]' is not an IPv6 address");
    }
    MRELAY_TRY(check_output_address6(where, v6));
    output.address6 = v6;
  } else if (inet_pton(AF_INET, address.c_str(), &output.address) != 1) {
    return fail(where, "'" + address +
                           "' is not an IPv4 address (a.b.c.d); an IPv6 address goes in brackets, "
                           "IFACE:[ff3e::1]:PORT");
  } else {
    MRELAY_TRY(check_output_address(where, output.address));
  }
  MRELAY_ASSIGN(output.port, parse_port_text(parts.port, where));
  return output;
}

#undef MRELAY_ASSIGN
#undef MRELAY_TRY

}  // namespace mrelay
