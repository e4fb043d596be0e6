// Relay configuration: rules, ingress/egress knobs, workers. One struct filled from a JSON
// file and/or command-line flags (flags override the file), then validated as a whole.
//
//   auto cfg = mrelay::load_config_file("relay.json");          // parse + shape checks
//   if (cfg) { auto ok = mrelay::validate_config(*cfg, mrelay::system_interfaces()); }
//
// JSON form (every key optional except rules; unknown keys are errors):
//   {
//     "ingress": "packet",                       // "packet" | "udp"
//     "egress": {"backend": "gso", "queue_depth": 1024, "batch": 64, "sndbuf": 4194304},
//     "rcvbuf": 4194304, "workers": 1, "cpus": [1], "pool_buffers": 8192, "buffer_size": 0,
//     "stats_interval_ms": 0, "user": "nobody", "group": "nogroup",
//     "control_socket": "/run/mrelay/control.sock", "state_file": "/var/lib/mrelay/state.json",
//     "metrics_listen": "127.0.0.1:9477", "control_group": "mrelay-admin",
//     "control_read_group": "mrelay-monitor",
//     "rules": [
//       {"name": "cam1",
//        "input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000,
//                  "source": "10.9.9.9",             // optional: source-specific join
//                                                    // (or a list: ["10.9.9.9", "10.9.9.10"])
//                  "vlan": 100},                     // optional: 802.1Q id on a trunk
//        "outputs": [{"interface": "veth1", "group": "239.2.2.2", "port": 6000,
//                     "ttl_threshold": 1,          // optional: forward only input TTL > 1
//                     "ttl": 8}],                  // optional: fixed TTL instead of TTL - 1
//        "allow_link_local": false}               // optional: 224.0.0.0/24 groups allowed
//     ]
//   }
//
// TTL: every copy leaves with the received packet's TTL minus one, as from a router, and a
// packet received with TTL <= 1 is never forwarded; so a loop through other hosts dies out.
// One host's rules may not form a loop at all (validate_config).
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"

namespace mrelay {

// packet: AF_PACKET frames (TPACKET_V2 ring); udp: joined UDP sockets; xdp: AF_XDP frames
// steered by an XDP program (multicast UDP only; one worker, one receive queue).
enum class IngressMode : uint8_t { packet, udp, xdp };
// The egress backends, one file each under relay/src/dataplane/egress/. packet: multicast
// outputs as self-built frames through one AF_PACKET socket; gso: sendmmsg with UDP_SEGMENT.
enum class EgressBackend : uint8_t { send, sendmmsg, uring, packet, gso };

// Every mode and backend, in the order --help and error messages list them.
inline constexpr std::array kIngressModes = {IngressMode::packet, IngressMode::udp,
                                             IngressMode::xdp};

/// Whether an ingress mode takes whole Ethernet frames off an interface (packet, xdp): one
/// endpoint per interface, the relay parses IP and UDP itself, and joins groups with
/// membership sockets. udp mode's sockets get datagrams from the kernel's stack instead.
[[nodiscard]] constexpr bool takes_frames(IngressMode mode) {
  return mode != IngressMode::udp;
}
inline constexpr std::array kEgressBackends = {EgressBackend::send, EgressBackend::sendmmsg,
                                               EgressBackend::uring, EgressBackend::packet,
                                               EgressBackend::gso};

// The egress backend unless --egress / "egress.backend" names another: stated here once, and
// read by everything that needs a backend before one runs. gso: the fastest backend measured
// on the rig at every fanout and packet size tried (reports/perf/README.md, "UDP GSO
// egress"); it needs no privilege and serves unicast outputs too. Where the kernel or a device
// cannot segment, the egress selector falls back (relay/src/dataplane/egress/egress_selector.h).
inline constexpr EgressBackend kDefaultEgressBackend = EgressBackend::gso;

/// The backend's name as flags, JSON and --help spell it. constexpr, so a default that must
/// be a string elsewhere (the rig's `mrelay-bench cell --egress`) is spelled from the constant.
[[nodiscard]] constexpr std::string_view egress_backend_name(EgressBackend backend) {
  switch (backend) {
    case EgressBackend::send:
      return "send";
    case EgressBackend::sendmmsg:
      return "sendmmsg";
    case EgressBackend::uring:
      return "uring";
    case EgressBackend::packet:
      return "packet";
    case EgressBackend::gso:
      return "gso";
  }
  return "unknown";
}

// Where the daemon's control socket lives under systemd (the unit's RuntimeDirectory=mrelay)
// and where mrelayctl looks unless told otherwise: one path, so the two always meet.
inline constexpr std::string_view kDefaultControlSocket = "/run/mrelay/control.sock";

[[nodiscard]] std::string_view to_string(IngressMode mode);
[[nodiscard]] std::string_view to_string(EgressBackend backend);

/// `text` as one of `choices`, by their to_string() names. The error names `where` and lists
/// them all: "'io_uring' is not one of send, sendmmsg, uring, packet, gso". The JSON reader
/// and the command line both use it, so a key and its flag say the same thing.
template <typename Enum, size_t N>
[[nodiscard]] Result<Enum> parse_choice(std::string_view where, std::string_view text,
                                        const std::array<Enum, N>& choices) {
  std::string names;
  for (Enum choice : choices) {
    if (text == to_string(choice)) {
      return choice;
    }
    names += names.empty() ? "" : ", ";
    names += to_string(choice);
  }
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "'" + std::string(...).
  std::string message = "'";
  message += text;
  message += "' is not one of ";
  message += names;
  return fail(std::string(where), std::move(message));
}

// The knobs' defaults, each stated once: the structs below, the egress, --help, the rig and
// dist/mrelay.json (checked by relay/src/config/defaults_test.cc) all take them from here.
//
// io_uring submission queue entries. 1024: a depth of 128 capped the copies in flight and
// with them the egress rate; 1024 removed the ceiling (reports/nov2025/index.md). Power of
// two, 1..32768.
inline constexpr uint32_t kDefaultQueueDepth = 1024;
// Packets gathered per output before one sendmmsg / one io_uring submit. 64 amortises the
// syscall over enough packets that syscalls/pkt stays far below 0.05 at load. 1..1024.
inline constexpr uint32_t kDefaultEgressBatch = 64;
// SO_SNDBUF in bytes for every egress socket, 0 = kernel default (~208 KiB). 4 MiB absorbs
// batched bursts into a rate-limited transmit queue, where the default buffer overflowed
// (reports/nov2025/index.md).
inline constexpr uint32_t kDefaultSndbuf = 4u << 20;
// SO_RCVBUF (or packet ring size) in bytes for ingress sockets, 0 = kernel default. On veth
// the receive buffer decides loss; 4 MiB rides out scheduling gaps of a few ms at 500k pps.
inline constexpr uint32_t kDefaultRcvbuf = 4u << 20;
// Packet buffers per worker, allocated at start, each of the pool's buffer size (below);
// 8192 covers a full batch per output in flight at fanout 64.
inline constexpr uint32_t kDefaultPoolBuffers = 8192;

// Packet buffer size (JSON "buffer_size", --buffer-size): 0, the default, sizes the buffers for
// the largest MTU among the ingress interfaces at start (buffer_size_for_mtu); a number fixes
// it, kMinBufferSize..kMaxBufferSize bytes. A buffer holds one datagram, or on the packet
// recvmmsg path one whole frame behind its virtio_net_hdr, so it needs the MTU plus
// kBufferFrameOverhead: 10 (virtio_net_hdr) + 14 (Ethernet) + 8 (two VLAN tags).
inline constexpr uint32_t kBufferFrameOverhead = 32;
inline constexpr uint32_t kMinBufferSize = 2048;  // MTU 1500 with room, as before
// The largest MTU a buffer is sized for: loopback's 65536, which carries 64 KiB datagrams.
inline constexpr uint32_t kMaxBufferMtu = 65536;

/// The buffer size for an ingress MTU: MTU + kBufferFrameOverhead rounded up to 64 bytes (a
/// cache line), at least kMinBufferSize; MTUs above kMaxBufferMtu count as kMaxBufferMtu.
/// 1500 -> 2048, 9000 -> 9088, 65536 -> 65600.
[[nodiscard]] constexpr uint32_t buffer_size_for_mtu(uint32_t mtu) {
  const uint32_t capped = mtu > kMaxBufferMtu ? kMaxBufferMtu : mtu;
  const uint32_t size = (capped + kBufferFrameOverhead + 63) / 64 * 64;
  return size < kMinBufferSize ? kMinBufferSize : size;
}
inline constexpr uint32_t kMaxBufferSize = buffer_size_for_mtu(kMaxBufferMtu);

// The most memory one worker's pool may take: pool_buffers is lowered to fit when
// pool_buffers x buffer size would exceed it (logged at start). 128 MiB holds the default 8192
// buffers up to MTU 9000 (74 MiB at 9088 bytes) and 2046 buffers of 64 KiB datagrams.
inline constexpr uint64_t kMaxPoolBytes = 128ull << 20;
inline constexpr uint32_t kDefaultWorkers = 1;

// Default per-output TTL threshold: forward packets received with TTL > 1, i.e. every packet
// whose copy can leave with a TTL of at least 1 (the kernel's multicast VIFs also default to 1).
inline constexpr uint8_t kDefaultTtlThreshold = 1;

/// One destination of a rule. `address` may be a multicast group or a unicast host.
struct Output {
  std::string interface;
  in_addr address{};  // network byte order
  uint16_t port = 0;  // host byte order
  // Fixed TTL of every copy (JSON "ttl", --ttl), 1..255. Unset (the default): the received
  // packet's TTL - 1, as a router forwards, which is what makes a loop through other hosts
  // die out. A fixed TTL restarts the count at every pass through this relay, so set it only
  // where no loop is possible (or to 1, the last hop).
  std::optional<uint8_t> ttl;
  // Forward only packets received with a TTL above this (JSON "ttl_threshold",
  // --ttl-threshold), 1..254: the kernel's per-VIF threshold, to keep scoped traffic in.
  uint8_t ttl_threshold = kDefaultTtlThreshold;
  // An IPv6 destination instead (then `address` is 0.0.0.0): an AF_INET6 output socket
  // (docs/operations.md, "IPv6").
  std::optional<in6_addr> address6{};
};

/// At most this many sources per rule: the kernel's default per-socket source filter limit
/// (net.ipv4.igmp_max_msf = 10); a UDP ingress socket holds every source of its group and port.
inline constexpr size_t kMaxRuleSources = 10;

/// The sources a rule takes, in include mode: the relay joins (S,G) for each
/// (MCAST_JOIN_SOURCE_GROUP, IGMPv3) and takes only packets from them; empty = any source, a
/// (*,G) join. Exclude mode is not supported. A vector with two conveniences for code that
/// shows a rule's filter: `if (rule.source)` (any source named?) and `*rule.source` (the first).
struct SourceList : std::vector<in_addr> {
  using std::vector<in_addr>::vector;
  [[nodiscard]] explicit operator bool() const noexcept { return !empty(); }
  [[nodiscard]] const in_addr& operator*() const noexcept { return front(); }
  [[nodiscard]] bool contains(in_addr address) const noexcept {
    for (const in_addr& source : *this) {
      if (source.s_addr == address.s_addr) {
        return true;
      }
    }
    return false;
  }
};

/// input {interface, [vlan], group, port, optional sources} -> outputs (any number, 64+ works).
struct Rule {
  std::string name;  // unique; defaults to "rule<N>" when the config gives none
  std::string input_interface;
  // 802.1Q VLAN id (1..4094) of the frames this rule takes on a trunk; 0 = untagged frames
  // only (a frame tagged with VLAN 0, priority only, counts as untagged). Packet ingress only:
  // a UDP socket never sees the tag (use the VLAN interface, eth0.100, instead).
  uint16_t vlan = 0;
  in_addr group{};  // network byte order; must be multicast
  // An IPv6 input group (ff00::/8) instead (then `group` is 0.0.0.0): either ingress (udp: an
  // AF_INET6 socket, MLD join; packet: the frames parsed, an MLD join beside them); sources in
  // source6 (docs/operations.md, "IPv6").
  std::optional<in6_addr> group6{};
  uint16_t port = 0;
  SourceList source;  // only packets from these sources match (include mode); empty = any
  // The same for an IPv6 group: IPv6 sources (MCAST_JOIN_SOURCE_GROUP, MLDv2), at most
  // kMaxRuleSources; `source` stays empty then.
  std::vector<in6_addr> source6;
  std::vector<Output> outputs;
  // Link-local groups (224.0.0.0/24: routing protocols, mDNS, IGMP; IPv6 scopes 1 and 2,
  // ff01::/16 interface-local and ff02::/16 link-local) belong to one link and no router
  // forwards them; a rule whose input or output group is one is refused unless this says so
  // (JSON "allow_link_local", --allow-link-local).
  bool allow_link_local = false;
};

struct EgressConfig {
  EgressBackend backend = kDefaultEgressBackend;
  uint32_t queue_depth = kDefaultQueueDepth;
  uint32_t batch = kDefaultEgressBatch;
  uint32_t sndbuf = kDefaultSndbuf;
};

struct Config {
  std::vector<Rule> rules;
  IngressMode ingress = IngressMode::packet;
  EgressConfig egress;
  uint32_t rcvbuf = kDefaultRcvbuf;
  uint32_t workers = kDefaultWorkers;  // event loops; >1 share ingress with PACKET_FANOUT
  std::vector<int> cpus;  // pin worker i to cpus[i % size]; empty = no pinning
  // SCHED_FIFO priority of the worker threads, 1..99; 0 = normal scheduling. A pinned worker
  // that shares its core with ordinary CPU-bound tasks waits for them at every wake-up, which
  // on a loaded machine costs milliseconds of latency and heavy loss at saturation
  // (reports/perf/README.md, "What was wrong"); the kernel's own forwarding runs in softirq,
  // which pre-empts them. A real-time worker gets the core the same way. The loop sleeps in
  // poll() when idle, so it does not starve the core at light load. Needs CAP_SYS_NICE.
  uint32_t rt_priority = 0;
  uint32_t pool_buffers = kDefaultPoolBuffers;
  uint32_t buffer_size = 0;  // bytes per packet buffer; 0 = from the largest ingress MTU
  uint32_t stats_interval_ms = 0;  // 0 = no periodic stats lines
  std::string stats_json_path;     // final stats go here instead of stdout when set
  // Privilege drop after set-up (relay/src/ops/privileges.h): switch to this user (name or uid)
  // once every socket is open; empty = keep the current identity. `group` empty = the
  // user's primary group. Capabilities are reduced to what the data plane needs either way.
  std::string user;
  std::string group;
  // Control plane (docs/operations.md). Empty = off. Not changeable by a reload.
  std::string control_socket;  // Unix socket path for mrelayctl (created 0660)
  std::string state_file;      // rules changed at run time are saved here and restored at start
  std::string metrics_listen;  // "127.0.0.1:PORT": HTTP GET /metrics (loopback only)
  // Who may use the control socket besides root and the relay's own uid (control_server.h):
  // members of control_group (name or gid) get full access, members of control_read_group
  // read-only access (ping, version, list_rules, stats). Empty = nobody else.
  std::string control_group;
  std::string control_read_group;
};

/// Parses one rule object (the config's "rules" entry schema) from JSON text; errors name
/// the field under `path` ("rule.input.group"). Used by the control socket's add_rule.
[[nodiscard]] Result<Rule> parse_rule_json(std::string_view text, const std::string& path);

/// Reads a whole text file of at most `max_bytes` (a config, the state file); errors name the
/// path and say what the file is ("cannot open config file", errno kept).
[[nodiscard]] Result<std::string> read_text_file(const std::string& path, std::string_view what,
                                                 size_t max_bytes);

/// Parses JSON text; shape and value checks only (no interface lookups).
[[nodiscard]] Result<Config> parse_config_json(std::string_view text);
/// Reads and parses a file; errors name the file and the field.
[[nodiscard]] Result<Config> load_config_file(const std::string& path);

/// Returns the interface index for a name, or 0 when it does not exist. Injected so tests
/// need no real interfaces.
using InterfaceLookup = std::function<unsigned(const std::string&)>;
[[nodiscard]] InterfaceLookup system_interfaces();

/// Whole-config checks: at least one rule, multicast input groups, ports != 0, interfaces
/// exist, rule names unique, no duplicate input, no output equal to its input, TTL ranges,
/// link-local groups only with allow_link_local, no forwarding loop among the rules (an
/// output whose group and port are another rule's input group and port, on any interface,
/// feeds that rule: the host may loop the copy back through a veth pair or a switch; a rule
/// relaying its own group to another interface is not a loop here -- the TTL ends that one),
/// knob ranges.
/// Errors name the field: "rules[1].outputs[0].interface: no such interface 'veth9'"; a loop
/// error names the output that closes it and every rule on it by name.
[[nodiscard]] Result<void> validate_config(const Config& config, const InterfaceLookup& lookup);

/// The knob range checks alone (everything except rules): queue_depth, batch, sndbuf, rcvbuf,
/// workers, cpus, pool_buffers, buffer_size, stats_interval_ms. validate_config() calls it; the command
/// line calls it too so a flag and a JSON key give the same message. `where` is the JSON path
/// ("egress.batch", "cpus[2]").
[[nodiscard]] Result<void> validate_knobs(const Config& config);

/// Where the metrics HTTP endpoint listens: "ADDR:PORT" with ADDR in 127.0.0.0/8 (metrics are
/// never exposed beyond the host by the relay itself); PORT 0 lets the kernel choose.
struct LoopbackEndpoint {
  in_addr address{};  // network byte order
  uint16_t port = 0;  // host byte order
};
[[nodiscard]] Result<LoopbackEndpoint> parse_metrics_listen(std::string_view text,
                                                            const std::string& where);

/// The rule's input group and an output's address as text, either family.
[[nodiscard]] std::string input_group_text(const Rule& rule);
[[nodiscard]] std::string output_address_text(const Output& output);
/// Whether the rule takes only named sources (source or source6 not empty).
[[nodiscard]] inline bool has_sources(const Rule& rule) {
  return !rule.source.empty() || !rule.source6.empty();
}
/// The rule's sources as text, either family, in order; empty = any source.
[[nodiscard]] std::vector<std::string> source_texts(const Rule& rule);
/// Whether the rule's input or any output is IPv6.
[[nodiscard]] bool uses_ipv6(const Rule& rule);

/// One line for a rule's input, as --check-config and the start-up log print it:
/// "cam1: veth0 239.1.1.1:5000 from 10.0.0.1, 10.0.0.2 (source-specific) -> 2 outputs",
/// "... from any source (*,G) -> 1 output"; " VLAN 100" after the interface when tagged.
[[nodiscard]] std::string describe_rule(const Rule& rule);

/// Parses "IFACE:GROUP:PORT" (the quick-form --in / --out). Errors name `flag`.
[[nodiscard]] Result<Output> parse_endpoint(std::string_view text, std::string_view flag);

}  // namespace mrelay
