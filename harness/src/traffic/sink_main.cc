// mrelay-sink: multicast receiver for the measurement rig. Checks every payload, accounts each
// stream's sequence numbers and records one-way latency (same host, CLOCK_MONOTONIC).
//
//   mrelay-sink --interface snk0 --group 239.1.1.1:5000 --group 239.1.1.2:5000
//               --duration 10 --idle-exit 1 --ready-file /tmp/run/sink.ready --json
//
// One UDP socket per distinct port, bound to INADDR_ANY:port, joined to every group on every
// --interface. A socket may hold only net.ipv4.igmp_max_memberships (default 20) groups;
// when a join fails with ENOBUFS another socket is opened on the same port and the join
// retried there. IP_MULTICAST_ALL is off on every socket, so each datagram is delivered to
// exactly the socket that joined its group (no double counting across overflow sockets).
// A stream is (arriving ifindex, destination group, port, payload stream id), so a group
// fanned out to several interfaces gives one stream per interface.
//
// --count-only is the fast tester's sink: no socket, no join; a TPACKET_V3 ring on the
// interfaces gets the first kCaptureBytes of every IPv4/UDP or IPv6/UDP datagram's frame (a UDP GSO
// super-frame whole; the kernel copies it in its receive softirq), and the sink walks whole
// blocks of frames per wake-up, accounting stream and sequence from each datagram's payload
// header (traffic/frame_counter.h). Same
// received/lost/reordered/duplicated as the full mode; no checksum over the payload and no
// latency. The frames still go up the stack, which drops them: nobody joined the group.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/mman.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/program_util.h"
#include "mrelay/cli.h"
#include "mrelay/payload.h"
#include "traffic/frame_counter.h"
#include "traffic/histogram.h"
#include "traffic/stream_tracker.h"

namespace {

using mrelay::Result;
using mrelay::harness::GroupAddress;
using mrelay::harness::GroupPort;
using mrelay::harness::IpAddress;
using mrelay::harness::monotonic_ns;

// Datagrams per recvmmsg call: amortises the syscall over a typical veth NAPI burst (64).
constexpr unsigned kRecvBatch = 64;
// Receive buffer per datagram: the largest UDP payload over IPv4 fits, so nothing truncates.
constexpr size_t kSlotBytes = 65536;
// recvmmsg calls per ready socket per loop turn, so one busy socket cannot starve the others
// or the exit checks.
constexpr unsigned kMaxCallsPerTurn = 16;
// epoll_wait timeout (ms): bounds how late the duration and idle-exit checks can fire.
constexpr int kPollIntervalMs = 20;
// --count-only ring: 32 blocks of 1 MiB. A block holds ~4,000 captured frames (128 bytes +
// the ring's per-frame header), so the ring buffers ~130,000 frames: 0.1 s at 1.3 Mpps, far
// more than the sink's scheduling gaps on its shared core.
constexpr uint32_t kRingBlockBytes = 1u << 20;
constexpr uint32_t kRingBlocks = 32;
// tp_frame_size only matters for the ring's bookkeeping in V3 (frames are packed).
constexpr uint32_t kRingFrameBytes = 2048;
// A block the kernel is filling is handed over after this long even when not full (ms): bounds
// how late the last frames of a run are seen (idle exit) at low rates.
constexpr uint32_t kRingBlockTimeoutMs = 2;

struct Options {
  std::vector<std::string> interfaces;
  std::vector<GroupPort> groups;
  std::vector<IpAddress> sources;  // --source: source-specific joins instead of any-source
  double duration_s = 10;
  double idle_exit_s = 0;
  uint64_t expect = 0;
  uint64_t rcvbuf = 4 * 1024 * 1024;
  std::optional<uint64_t> cpu;
  std::string ready_file;
  bool count_only = false;
  bool json = false;
};

constexpr const char* kDescription =
    "Receives multicast test payloads, checks them and reports per-stream loss, reordering, "
    "duplication, corruption and latency percentiles. SIGINT/SIGTERM stop early; the report "
    "is still printed.";

// Long: the option table, one entry per flag in the order --help lists them.
void describe(mrelay::cli::Parser& parser, Options& options) {
  using mrelay::cli::store_double;
  using mrelay::cli::store_parsed;
  using mrelay::cli::store_uint;
  parser.usage("[OPTIONS] --interface IFACE... --group GROUP:PORT...");
  parser.repeated("--interface", "IFACE", "interface to join the groups on (at least one)",
                  mrelay::cli::append_text(options.interfaces));
  parser.repeated("--group", "GROUP:PORT",
                  "multicast group (at least one): 239.1.1.1:5000 or, IPv6, [ff3e::1]:5000 "
                  "(families may mix); every group is joined on every interface (IGMP / MLD); "
                  "more groups than net.ipv4.igmp_max_memberships (20 by default) per port are "
                  "spread over extra sockets automatically",
                  [&options](std::string_view flag, std::string_view text) -> Result<void> {
                    auto endpoint = mrelay::harness::parse_group_port(flag, text);
                    if (!endpoint) {
                      return tl::unexpected(endpoint.error());
                    }
                    if (std::find(options.groups.begin(), options.groups.end(), *endpoint) ==
                        options.groups.end()) {
                      options.groups.push_back(*endpoint);
                    }
                    return {};
                  });
  parser.repeated("--source", "ADDR",
                  "join source-specifically (MCAST_JOIN_SOURCE_GROUP): only datagrams from "
                  "ADDR; each group is joined for every source of its family, and every group "
                  "needs one",
                  mrelay::cli::append_parsed(options.sources, mrelay::harness::parse_ip_address))
      .with_default("any source");
  parser.value("--duration", "SECONDS", "maximum run time",
               store_double(options.duration_s, 0.001, 1e6))
      .with_unit("s")
      .with_default("10");
  parser.value("--idle-exit", "SECONDS",
               "exit once no datagram arrived for this long after the first measured one; 0 = "
               "off",
               store_double(options.idle_exit_s, 0, 1e6))
      .with_unit("s")
      .with_default("0");
  parser.value("--expect", "N",
               "exit once N measured (non-warm-up, valid) datagrams arrived; 0 = off",
               store_uint(options.expect, 0, UINT64_MAX))
      .with_default("0");
  parser.value("--rcvbuf", "BYTES", "socket receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF)",
               store_uint(options.rcvbuf, 0, INT32_MAX))
      .with_unit("bytes")
      .with_default("4194304");
  parser.value("--cpu", "N", "pin to CPU N",
               store_parsed(options.cpu, [](std::string_view f, std::string_view t) {
                 return mrelay::cli::parse_uint(f, t, 0, CPU_SETSIZE - 1);
               }))
      .with_default("not pinned");
  parser.value("--ready-file", "PATH",
               "created once every socket is bound and joined (removed first if present)",
               mrelay::cli::store_text(options.ready_file));
  parser.flag("--count-only",
              "the fast tester's sink: read the head of every frame from a TPACKET_V3 ring on "
              "the interfaces (needs CAP_NET_RAW) instead of joined sockets; counts and checks "
              "stream sequence numbers only (no payload checksum, no latency: "
              "latency_ns.count is 0). --rcvbuf does not apply",
              options.count_only);
  parser.flag("--json", "print one JSON object instead of text", options.json);
}

// With --source, every group needs a source of its family to be joined with.
Result<void> check_sources(const Options& options) {
  if (options.sources.empty()) {
    return {};
  }
  if (options.count_only) {
    return mrelay::fail("--source", "not with --count-only: the counting sink joins nothing and "
                                    "counts every source's datagrams");
  }
  for (const GroupPort& group : options.groups) {
    if (std::none_of(options.sources.begin(), options.sources.end(),
                     [&](const IpAddress& source) { return source.family == group.family; })) {
      return mrelay::fail("--source", "no " + std::string(group.ipv6() ? "IPv6" : "IPv4") +
                                          " source for --group " + group.text());
    }
  }
  return {};
}

// The checks across flags, after parsing.
Result<void> check_options(const Options& options) {
  if (options.interfaces.empty()) {
    return mrelay::fail("--interface", "at least one --interface IFACE is required");
  }
  if (options.groups.empty()) {
    return mrelay::fail("--group", "at least one --group GROUP:PORT is required");
  }
  return check_sources(options);
}

struct RxSocket {
  int fd = -1;
  int family = AF_INET;
  uint16_t port = 0;
  size_t memberships = 0;
  uint64_t kernel_drops = 0;  // latest SO_RXQ_OVFL value (cumulative per socket)
};

// The family's options: deliver only the groups this socket joined, not every group joined on
// the host (IP_MULTICAST_ALL / IPV6_MULTICAST_ALL), and say where each datagram arrived and
// to which group (IP_PKTINFO / IPV6_RECVPKTINFO). An IPv6 socket takes IPv6 only.
Result<void> set_family_options(int fd, int family) {
  const int on = 1;
  const int off = 0;
  if (family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
      return mrelay::fail_errno("setsockopt(IPV6_V6ONLY)");
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &off, sizeof off) != 0) {
      return mrelay::fail_errno("setsockopt(IPV6_MULTICAST_ALL)");
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) {
      return mrelay::fail_errno("setsockopt(IPV6_RECVPKTINFO)");
    }
    return {};
  }
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) != 0) {
    return mrelay::fail_errno("setsockopt(IP_MULTICAST_ALL)");
  }
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) {
    return mrelay::fail_errno("setsockopt(IP_PKTINFO)");
  }
  return {};
}

Result<RxSocket> open_rx_socket(int family, uint16_t port, uint64_t rcvbuf) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return mrelay::fail_errno(family == AF_INET6 ? "socket(AF_INET6, SOCK_DGRAM)"
                                                 : "socket(AF_INET, SOCK_DGRAM)");
  }
  auto fail_closing = [fd](const std::string& what) {
    auto error = mrelay::fail_errno(what);
    close(fd);
    return error;
  };
  const int on = 1;
  // Overflow sockets for more than igmp_max_memberships groups share the port.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    return fail_closing("setsockopt(SO_REUSEADDR)");
  }
  if (auto set = set_family_options(fd, family); !set) {
    close(fd);
    return tl::unexpected(set.error());
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) != 0) {
    return fail_closing("setsockopt(SO_RXQ_OVFL)");
  }
  if (rcvbuf != 0) {
    const int bytes = static_cast<int>(rcvbuf);
    // FORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); the plain option is capped by it.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) {
      return fail_closing("--rcvbuf: setsockopt(SO_RCVBUF)");
    }
  }
  sockaddr_storage address{};
  socklen_t length = 0;
  if (family == AF_INET6) {
    auto* any6 = reinterpret_cast<sockaddr_in6*>(&address);
    any6->sin6_family = AF_INET6;
    any6->sin6_addr = in6addr_any;
    any6->sin6_port = htons(port);
    length = sizeof(sockaddr_in6);
  } else {
    auto* any4 = reinterpret_cast<sockaddr_in*>(&address);
    any4->sin_family = AF_INET;
    any4->sin_addr.s_addr = htonl(INADDR_ANY);
    any4->sin_port = htons(port);
    length = sizeof(sockaddr_in);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    return fail_closing("--group: bind(" + std::string(family == AF_INET6 ? "[::]" : "0.0.0.0") +
                        ":" + std::to_string(port) + ")");
  }
  return RxSocket{.fd = fd, .family = family, .port = port};
}

// One membership: the group on the interface, from any source (MCAST_JOIN_GROUP) or from
// `source` (MCAST_JOIN_SOURCE_GROUP); IGMP or MLD by the group's family. 0 or -1 (errno).
int join(int fd, const GroupPort& group, unsigned ifindex, const IpAddress* source) {
  const int level = group.ipv6() ? IPPROTO_IPV6 : IPPROTO_IP;
  if (source == nullptr) {
    group_req request{};
    request.gr_interface = ifindex;
    group.to_sockaddr(request.gr_group);
    return setsockopt(fd, level, MCAST_JOIN_GROUP, &request, sizeof request);
  }
  group_source_req request{};
  request.gsr_interface = ifindex;
  group.to_sockaddr(request.gsr_group);
  GroupPort from{.family = source->family, .group = source->v4, .group6 = source->v6};
  from.to_sockaddr(request.gsr_source);
  return setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &request, sizeof request);
}

// The sources a group is joined with: nullptr alone for any-source, else its family's.
std::vector<const IpAddress*> join_sources(const Options& options, const GroupPort& group) {
  if (options.sources.empty()) {
    return {nullptr};
  }
  std::vector<const IpAddress*> sources;
  for (const IpAddress& source : options.sources) {
    if (source.family == group.family) {
      sources.push_back(&source);
    }
  }
  return sources;
}

// Sockets by (family, port); each port's newest socket takes new joins until it is full.
class SocketSet {
 public:
  explicit SocketSet(uint64_t rcvbuf) : rcvbuf_(rcvbuf) {}

  Result<RxSocket*> current(const GroupPort& group) {
    const auto key = std::pair(group.family, group.port);
    if (auto it = current_.find(key); it != current_.end()) {
      return &sockets[it->second];
    }
    return fresh(group);
  }
  Result<RxSocket*> fresh(const GroupPort& group) {
    auto opened = open_rx_socket(group.family, group.port, rcvbuf_);
    if (!opened) {
      return tl::unexpected(opened.error());
    }
    sockets.push_back(*opened);
    current_[std::pair(group.family, group.port)] = sockets.size() - 1;
    return &sockets.back();
  }
  void close_all() {
    for (const RxSocket& s : sockets) {
      close(s.fd);
    }
    sockets.clear();
  }

  std::vector<RxSocket> sockets;

 private:
  uint64_t rcvbuf_;
  std::map<std::pair<int, uint16_t>, size_t> current_;
};

// Joins one group on one interface (for each of its sources), on a fresh socket when the
// current one reached net.ipv4.igmp_max_memberships (ENOBUFS).
Result<void> join_on(const Options& options, SocketSet& set, const GroupPort& group,
                     unsigned ifindex, const std::string& interface) {
  for (const IpAddress* source : join_sources(options, group)) {
    auto target = set.current(group);
    if (!target) {
      return tl::unexpected(target.error());
    }
    int rc = join((*target)->fd, group, ifindex, source);
    if (rc != 0 && errno == ENOBUFS && (*target)->memberships > 0) {
      target = set.fresh(group);
      if (!target) {
        return tl::unexpected(target.error());
      }
      rc = join((*target)->fd, group, ifindex, source);
    }
    if (rc != 0) {
      return mrelay::fail_errno(
          "--group " + group.text() + " on --interface " + interface +
          (source ? " from --source " + source->text() + ": setsockopt(MCAST_JOIN_SOURCE_GROUP)"
                  : ": setsockopt(MCAST_JOIN_GROUP)"));
    }
    ++(*target)->memberships;
  }
  return {};
}

// Opens the sockets and joins every group on every interface.
Result<std::vector<RxSocket>> open_and_join(const Options& options,
                                            const std::vector<unsigned>& ifindexes) {
  SocketSet set(options.rcvbuf);
  for (const GroupPort& endpoint : options.groups) {
    for (size_t i = 0; i < ifindexes.size(); ++i) {
      if (auto joined = join_on(options, set, endpoint, ifindexes[i], options.interfaces[i]);
          !joined) {
        set.close_all();
        return tl::unexpected(joined.error());
      }
    }
  }
  return std::move(set.sockets);
}

Result<void> write_ready_file(const std::string& path) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << getpid() << "\n";
    if (!out) {
      return mrelay::fail("--ready-file", "cannot write '" + temporary + "'", errno);
    }
  }
  // rename() is atomic: a waiter never sees a half-written file.
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return mrelay::fail_errno("--ready-file: rename(" + temporary + ", " + path + ")");
  }
  return {};
}

// One /proc/net/udp{,6} file's drops by socket inode (the two files have the same columns).
void add_proc_udp_drops(const char* path, std::map<ino_t, uint64_t>& drops) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    std::vector<std::string> columns;
    while (fields >> field) {
      columns.push_back(field);
    }
    // sl local rem st tx:rx tr:when retr uid timeout inode ref pointer drops
    if (columns.size() >= 13) {
      drops[static_cast<ino_t>(std::stoull(columns[9]))] = std::stoull(columns[12]);
    }
  }
}

// Drops counted by the kernel for each socket from /proc/net/udp and udp6 (last column),
// matched by inode: covers drops after the last datagram we read, which SO_RXQ_OVFL cannot report.
std::map<ino_t, uint64_t> proc_udp_drops() {
  std::map<ino_t, uint64_t> drops;
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    add_proc_udp_drops(path, drops);
  }
  return drops;
}

struct Totals {
  uint64_t syscalls = 0;
  uint64_t first_rx_ns = 0;
  uint64_t last_rx_ns = 0;
  uint64_t last_any_rx_ns = 0;
  uint64_t measured = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
};

class Receiver {
 public:
  Receiver() : buffers_(kRecvBatch * kSlotBytes) {
    for (unsigned i = 0; i < kRecvBatch; ++i) {
      iovecs_[i] = {buffers_.data() + i * kSlotBytes, kSlotBytes};
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
    }
  }

  /// Reads up to kMaxCallsPerTurn batches from one socket. Never allocates except when a
  /// new stream appears (once per stream).
  void drain(RxSocket& socket, Totals& totals) {
    for (unsigned call = 0; call < kMaxCallsPerTurn; ++call) {
      for (unsigned i = 0; i < kRecvBatch; ++i) {
        messages_[i].msg_hdr.msg_control = control_[i];
        messages_[i].msg_hdr.msg_controllen = sizeof control_[i];
        messages_[i].msg_hdr.msg_flags = 0;
      }
      const int n = recvmmsg(socket.fd, messages_, kRecvBatch, MSG_DONTWAIT, nullptr);
      ++totals.syscalls;
      if (n <= 0) {
        return;  // EAGAIN (drained) or EINTR: the main loop comes back
      }
      const uint64_t rx_ns = monotonic_ns();
      totals.last_any_rx_ns = rx_ns;
      for (int i = 0; i < n; ++i) {
        handle(socket, messages_[i], rx_ns, totals);
      }
      if (static_cast<unsigned>(n) < kRecvBatch) {
        return;
      }
    }
  }

  mrelay::harness::StreamTracker tracker;
  mrelay::harness::Histogram latency;

 private:
  void handle(RxSocket& socket, const mmsghdr& message, uint64_t rx_ns, Totals& totals) {
    mrelay::harness::StreamKey key;
    key.port = socket.port;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message.msg_hdr); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&message.msg_hdr), c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        key.ifindex = static_cast<uint32_t>(info.ipi_ifindex);
        key.group = GroupAddress::from_v4(info.ipi_addr.s_addr);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        key.ifindex = info.ipi6_ifindex;
        key.group = GroupAddress::from_v6(info.ipi6_addr);
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t drops = 0;
        std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
        socket.kernel_drops = std::max<uint64_t>(socket.kernel_drops, drops);
      }
    }
    const auto* data = static_cast<const uint8_t*>(message.msg_hdr.msg_iov->iov_base);
    const mrelay::PayloadCheck check = mrelay::check_payload(data, message.msg_len);
    const auto outcome = tracker.on_packet(key, check, rx_ns);
    if (outcome == mrelay::harness::PacketOutcome::first_arrival ||
        outcome == mrelay::harness::PacketOutcome::duplicate) {
      if (totals.measured == 0) {
        totals.first_rx_ns = rx_ns;
      }
      ++totals.measured;
      totals.last_rx_ns = rx_ns;
    }
    if (outcome == mrelay::harness::PacketOutcome::first_arrival) {
      const uint64_t sent = check.fields.send_time_ns;
      latency.record(rx_ns > sent ? rx_ns - sent : 0);
    }
  }

  std::vector<uint8_t> buffers_;
  iovec iovecs_[kRecvBatch]{};
  mmsghdr messages_[kRecvBatch]{};
  // Room for IP_PKTINFO or IPV6_PKTINFO (the larger) and SO_RXQ_OVFL.
  alignas(cmsghdr) uint8_t control_[kRecvBatch][CMSG_SPACE(sizeof(in6_pktinfo)) +
                                                CMSG_SPACE(sizeof(uint32_t))]{};
};

// The ring's protocol: IPv4 or IPv6 frames when every group is of that family (the kernel
// then taps only that protocol, as before IPv6 existed here), every frame when they mix.
uint16_t ring_protocol(const std::vector<GroupPort>& groups) {
  const bool any6 = std::any_of(groups.begin(), groups.end(), [](auto& g) { return g.ipv6(); });
  const bool any4 = std::any_of(groups.begin(), groups.end(), [](auto& g) { return !g.ipv6(); });
  return any4 && any6 ? ETH_P_ALL : any6 ? ETH_P_IPV6 : ETH_P_IP;
}

// --count-only: the head of every IPv4/UDP or IPv6/UDP frame through a TPACKET_V3 ring, accounted by
// stream and sequence (traffic/frame_counter.h). The memory is mapped once; per frame nothing
// is allocated (a new stream allocates once, as in the full mode).
class RingReceiver {
 public:
  RingReceiver(std::vector<unsigned> ifindexes, std::vector<GroupPort> groups)
      : ifindexes_(std::move(ifindexes)), groups_(std::move(groups)) {}
  RingReceiver(const RingReceiver&) = delete;
  RingReceiver& operator=(const RingReceiver&) = delete;
  ~RingReceiver() {
    if (ring_ != nullptr) {
      munmap(ring_, static_cast<size_t>(kRingBlockBytes) * kRingBlocks);
    }
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  /// The socket, its filter and ring, bound to the one --interface or to all of them.
  Result<void> open() {
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: nothing queued yet
    if (fd_ < 0) {
      return mrelay::fail_errno("--count-only: socket(AF_PACKET) (needs CAP_NET_RAW)");
    }
    if (auto set = configure(); !set) {
      return set;
    }
    const size_t bytes = static_cast<size_t>(kRingBlockBytes) * kRingBlocks;
    void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (mapped == MAP_FAILED) {
      return mrelay::fail_errno("--count-only: mmap(ring)");
    }
    ring_ = static_cast<uint8_t*>(mapped);
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ring_protocol(groups_));
    address.sll_ifindex = ifindexes_.size() == 1 ? static_cast<int>(ifindexes_[0]) : 0;
    if (bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      return mrelay::fail_errno("--count-only: bind(AF_PACKET)");
    }
    return {};
  }

  /// Waits up to kPollIntervalMs for a block, then walks every block the kernel handed over.
  void drain(Totals& totals) {
    pollfd waiter{fd_, POLLIN, 0};
    if (!block_ready(next_block_)) {
      poll(&waiter, 1, kPollIntervalMs);
      ++totals.syscalls;
    }
    while (block_ready(next_block_)) {
      uint8_t* block = ring_ + static_cast<size_t>(next_block_) * kRingBlockBytes;
      const uint64_t rx_ns = monotonic_ns();
      const size_t frames = mrelay::harness::for_each_block_frame(
          block, [&](const mrelay::harness::RingFrame& frame) { handle(frame, rx_ns, totals); });
      if (frames > 0) {
        totals.last_any_rx_ns = rx_ns;
      }
      auto* desc = reinterpret_cast<tpacket_block_desc*>(block);
      __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      next_block_ = (next_block_ + 1) % kRingBlocks;
    }
  }

  /// Frames the kernel could not put into the ring (full) since the socket was opened.
  uint64_t kernel_drops() {
    tpacket_stats_v3 stats{};
    socklen_t length = sizeof stats;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0) {
      drops_ += stats.tp_drops;  // reading resets the kernel's counters
    }
    return drops_;
  }

  mrelay::harness::StreamTracker tracker;
  mrelay::harness::Histogram latency;  // stays empty: the counting sink takes no latency

 private:
  Result<void> configure() {
    const int version = TPACKET_V3;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
      return mrelay::fail_errno("--count-only: setsockopt(PACKET_VERSION, TPACKET_V3)");
    }
    // Frames this namespace sends (IGMP of other programs) are not test traffic.
    const int on = 1;
    (void)setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);
    // IPv4/UDP only; the head of a single datagram's frame, a whole run's (frame_counter.h).
    sock_fprog program{static_cast<unsigned short>(mrelay::harness::kSinkFilterLength),
                       const_cast<sock_filter*>(mrelay::harness::sink_filter())};
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
      return mrelay::fail_errno("--count-only: setsockopt(SO_ATTACH_FILTER)");
    }
    tpacket_req3 request{};
    request.tp_block_size = kRingBlockBytes;
    request.tp_block_nr = kRingBlocks;
    request.tp_frame_size = kRingFrameBytes;
    request.tp_frame_nr = kRingBlockBytes / kRingFrameBytes * kRingBlocks;
    request.tp_retire_blk_tov = kRingBlockTimeoutMs;
    if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &request, sizeof request) != 0) {
      return mrelay::fail_errno("--count-only: setsockopt(PACKET_RX_RING)");
    }
    return {};
  }

  bool block_ready(uint32_t index) const {
    const auto* desc =
        reinterpret_cast<const tpacket_block_desc*>(ring_ + static_cast<size_t>(index) * kRingBlockBytes);
    return (__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  }

  bool wanted(const mrelay::harness::TestFrame& frame) const {
    if (std::find(ifindexes_.begin(), ifindexes_.end(), frame.key.ifindex) == ifindexes_.end()) {
      return false;
    }
    return std::any_of(groups_.begin(), groups_.end(), [&](const GroupPort& g) {
      const GroupAddress group =
          g.ipv6() ? GroupAddress::from_v6(g.group6) : GroupAddress::from_v4(g.group.s_addr);
      return group == frame.key.group && g.port == frame.key.port;
    });
  }

  void handle(const mrelay::harness::RingFrame& frame, uint64_t rx_ns, Totals& totals) {
    mrelay::harness::for_each_datagram(
        frame.data, frame.captured, [&](mrelay::harness::TestFrame datagram) {
          datagram.key.ifindex = frame.ifindex;
          if (!wanted(datagram)) {
            return;  // another group or interface: not what this sink was asked to count
          }
          const auto outcome = tracker.on_packet(datagram.key, datagram.check, rx_ns);
          if (outcome == mrelay::harness::PacketOutcome::first_arrival ||
              outcome == mrelay::harness::PacketOutcome::duplicate) {
            if (totals.measured == 0) {
              totals.first_rx_ns = rx_ns;
            }
            ++totals.measured;
            totals.last_rx_ns = rx_ns;
          }
        });
  }

  std::vector<unsigned> ifindexes_;
  std::vector<GroupPort> groups_;
  int fd_ = -1;
  uint8_t* ring_ = nullptr;
  uint32_t next_block_ = 0;
  uint64_t drops_ = 0;
};

std::string interface_name(uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  if (ifindex != 0 && if_indextoname(ifindex, name) != nullptr) {
    return name;
  }
  return "if" + std::to_string(ifindex);
}

// An epoll instance watching every socket for input (event data = the socket's index), or -1
// after saying why.
int watch_sockets(const std::vector<RxSocket>& sockets) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    std::perror("mrelay-sink: epoll_create1");
    return -1;
  }
  for (size_t i = 0; i < sockets.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sockets[i].fd, &event) != 0) {
      std::perror("mrelay-sink: epoll_ctl(EPOLL_CTL_ADD)");
      return -1;
    }
  }
  return epoll_fd;
}

// Receives until the duration ends, --expect measured packets arrived, the sink has been idle
// for --idle-exit once measured packets came, or a stop signal.
Totals receive(const Options& options, std::vector<RxSocket>& sockets, int epoll_fd,
               Receiver& receiver) {
  Totals totals;
  totals.start_ns = monotonic_ns();
  const uint64_t deadline_ns = totals.start_ns + static_cast<uint64_t>(options.duration_s * 1e9);
  const auto idle_ns = static_cast<uint64_t>(options.idle_exit_s * 1e9);
  std::vector<epoll_event> events(sockets.size());
  while (!mrelay::harness::stop_requested()) {
    const int ready =
        epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), kPollIntervalMs);
    ++totals.syscalls;
    for (int i = 0; i < ready; ++i) {
      receiver.drain(sockets[events[i].data.u64], totals);
    }
    const uint64_t now = monotonic_ns();
    if (now >= deadline_ns) {
      break;
    }
    if (options.expect != 0 && totals.measured >= options.expect) {
      break;
    }
    if (idle_ns != 0 && totals.measured != 0 && now - totals.last_any_rx_ns >= idle_ns) {
      break;
    }
  }
  totals.end_ns = monotonic_ns();
  return totals;
}

// --count-only: the same exits as receive(), over the ring.
Totals receive_ring(const Options& options, RingReceiver& ring) {
  Totals totals;
  totals.start_ns = monotonic_ns();
  const uint64_t deadline_ns = totals.start_ns + static_cast<uint64_t>(options.duration_s * 1e9);
  const auto idle_ns = static_cast<uint64_t>(options.idle_exit_s * 1e9);
  while (!mrelay::harness::stop_requested()) {
    ring.drain(totals);
    const uint64_t now = monotonic_ns();
    if (now >= deadline_ns || (options.expect != 0 && totals.measured >= options.expect) ||
        (idle_ns != 0 && totals.measured != 0 && now - totals.last_any_rx_ns >= idle_ns)) {
      break;
    }
  }
  totals.end_ns = monotonic_ns();
  return totals;
}

// Sums over every stream of the run.
struct StreamSums {
  uint64_t received = 0;
  uint64_t warmup = 0;
  uint64_t lost = 0;
  uint64_t reordered = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;
};

// One object per stream, in interface, group, port and stream order; adds each to `sums`.
nlohmann::json streams_json(const mrelay::harness::StreamTracker& tracker, StreamSums& sums) {
  struct Row {
    mrelay::harness::StreamKey key;
    const mrelay::harness::StreamStats* stats;
  };
  std::vector<Row> rows;
  for (const auto& [key, stats] : tracker.streams()) {
    rows.push_back({key, &stats});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.key.ifindex, a.key.group, a.key.port, a.key.stream) <
           std::tie(b.key.ifindex, b.key.group, b.key.port, b.key.stream);
  });
  nlohmann::json streams = nlohmann::json::array();
  for (const Row& row : rows) {
    const auto& s = *row.stats;
    sums.received += s.received;
    sums.warmup += s.warmup_received;
    sums.lost += s.lost();
    sums.reordered += s.reordered;
    sums.duplicated += s.duplicated;
    sums.corrupted += s.corrupted;
    streams.push_back({{"interface", interface_name(row.key.ifindex)},
                       {"group", row.key.group.text()},
                       {"port", row.key.port},
                       {"stream", row.key.stream},
                       {"received", s.received},
                       {"warmup_received", s.warmup_received},
                       {"lost", s.lost()},
                       {"reordered", s.reordered},
                       {"duplicated", s.duplicated},
                       {"corrupted", s.corrupted},
                       {"first_seq", s.first_seq},
                       {"last_seq", s.last_seq},
                       {"max_gap", s.max_gap},
                       {"max_gap_ms", static_cast<double>(s.max_gap_ns) / 1e6},
                       {"max_gap_send_ms", static_cast<double>(s.max_gap_send_ns) / 1e6}});
  }
  return streams;
}

// Datagrams the kernel dropped on our sockets: SO_RXQ_OVFL's count, or /proc/net/udp's when
// that saw more.
uint64_t kernel_drops(const std::vector<RxSocket>& sockets) {
  uint64_t total = 0;
  const auto proc_drops = proc_udp_drops();
  for (const RxSocket& socket : sockets) {
    uint64_t drops = socket.kernel_drops;
    struct stat info {};
    if (fstat(socket.fd, &info) == 0) {
      if (auto it = proc_drops.find(info.st_ino); it != proc_drops.end()) {
        drops = std::max(drops, it->second);
      }
    }
    total += drops;
  }
  return total;
}

// What either mode counted, for the report.
struct Counted {
  const mrelay::harness::StreamTracker& tracker;
  const mrelay::harness::Histogram& latency;
  uint64_t kernel_drops = 0;
  size_t sockets = 0;
  const char* mode = "full";
};

nlohmann::json to_json(const Counted& counted, const Totals& totals) {
  StreamSums sums;
  sums.corrupted = counted.tracker.unattributed_corrupted();
  nlohmann::json streams = streams_json(counted.tracker, sums);
  const auto& h = counted.latency;
  return {{"program", "mrelay-sink"},
          {"mode", counted.mode},
          {"received", sums.received},
          {"warmup_received", sums.warmup},
          {"corrupted", sums.corrupted},
          {"lost", sums.lost},
          {"reordered", sums.reordered},
          {"duplicated", sums.duplicated},
          {"kernel_drops", counted.kernel_drops},
          {"untracked", counted.tracker.untracked_streams_packets()},
          {"sockets", counted.sockets},
          {"duration_s", static_cast<double>(totals.end_ns - totals.start_ns) / 1e9},
          {"first_rx_ns", totals.first_rx_ns},
          {"last_rx_ns", totals.last_rx_ns},
          {"syscalls", totals.syscalls},
          {"latency_ns",
           {{"count", h.count()},
            {"min", h.min()},
            {"mean", h.mean()},
            {"p50", h.percentile(50)},
            {"p90", h.percentile(90)},
            {"p99", h.percentile(99)},
            {"p999", h.percentile(99.9)},
            {"max", h.max()}}},
          {"streams", streams}};
}

void print_text(const nlohmann::json& j) {
  auto u = [&j](const char* name) { return j[name].get<unsigned long long>(); };
  std::printf(
      "mrelay-sink: received %llu (warm-up %llu) in %.3f s: lost %llu, reordered %llu, "
      "duplicated %llu, corrupted %llu, kernel drops %llu, %llu syscalls\n",
      u("received"), u("warmup_received"), j["duration_s"].get<double>(), u("lost"), u("reordered"),
      u("duplicated"), u("corrupted"), u("kernel_drops"), u("syscalls"));
  const auto& l = j["latency_ns"];
  std::printf("  latency ns: count %llu min %llu p50 %llu p90 %llu p99 %llu p99.9 %llu max %llu\n",
              l["count"].get<unsigned long long>(), l["min"].get<unsigned long long>(),
              l["p50"].get<unsigned long long>(), l["p90"].get<unsigned long long>(),
              l["p99"].get<unsigned long long>(), l["p999"].get<unsigned long long>(),
              l["max"].get<unsigned long long>());
  for (const auto& s : j["streams"]) {
    std::printf("  %s %s:%d stream %d: received %llu lost %llu seq %llu..%llu\n",
                s["interface"].get<std::string>().c_str(), s["group"].get<std::string>().c_str(),
                s["port"].get<int>(), s["stream"].get<int>(),
                s["received"].get<unsigned long long>(), s["lost"].get<unsigned long long>(),
                s["first_seq"].get<unsigned long long>(), s["last_seq"].get<unsigned long long>());
  }
}

void print_report(const Options& options, const nlohmann::json& j) {
  if (options.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    print_text(j);
  }
}

int ready_or_fail(const Options& options) {
  mrelay::harness::install_stop_handlers();
  if (!options.ready_file.empty()) {
    if (auto ready = write_ready_file(options.ready_file); !ready) {
      std::fprintf(stderr, "mrelay-sink: %s\n", ready.error().to_string().c_str());
      return 2;
    }
  }
  return 0;
}

// The full sink: joined UDP sockets, every payload checked and timed.
int run_full(const Options& options, const std::vector<unsigned>& ifindexes) {
  auto sockets = open_and_join(options, ifindexes);
  if (!sockets) {
    std::fprintf(stderr, "mrelay-sink: %s\n", sockets.error().to_string().c_str());
    return 2;
  }
  const int epoll_fd = watch_sockets(*sockets);
  if (epoll_fd < 0) {
    return 2;
  }
  if (const int failed = ready_or_fail(options); failed != 0) {
    return failed;
  }
  auto receiver = std::make_unique<Receiver>();
  const Totals totals = receive(options, *sockets, epoll_fd, *receiver);
  const nlohmann::json j =
      to_json(Counted{receiver->tracker, receiver->latency, kernel_drops(*sockets),
                      sockets->size(), "full"},
              totals);
  for (const RxSocket& socket : *sockets) {
    close(socket.fd);
  }
  close(epoll_fd);
  print_report(options, j);
  return 0;
}

// --count-only: the ring, sequence numbers only.
int run_count_only(const Options& options, const std::vector<unsigned>& ifindexes) {
  auto ring = std::make_unique<RingReceiver>(ifindexes, options.groups);
  if (auto opened = ring->open(); !opened) {
    std::fprintf(stderr, "mrelay-sink: %s\n", opened.error().to_string().c_str());
    return 2;
  }
  if (const int failed = ready_or_fail(options); failed != 0) {
    return failed;
  }
  const Totals totals = receive_ring(options, *ring);
  print_report(options,
               to_json(Counted{ring->tracker, ring->latency, ring->kernel_drops(), 0, "count"},
                       totals));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser("mrelay-sink", kDescription);
  Options parsed_options;
  describe(parser, parsed_options);
  if (auto code = mrelay::cli::finish(parser.parse(argc, argv))) {
    return *code;
  }
  if (auto checked = check_options(parsed_options); !checked) {
    return parser.usage_error(checked.error());
  }
  const Options* options = &parsed_options;
  if (!options->ready_file.empty()) {
    std::remove(options->ready_file.c_str());  // a stale file must not signal readiness
  }
  std::vector<unsigned> ifindexes;
  for (const std::string& name : options->interfaces) {
    const unsigned ifindex = if_nametoindex(name.c_str());
    if (ifindex == 0) {
      std::fprintf(stderr, "mrelay-sink: --interface: no interface named '%s'\n", name.c_str());
      return 2;
    }
    ifindexes.push_back(ifindex);
  }
  if (options->cpu) {
    if (auto pinned = mrelay::harness::pin_to_cpu(*options->cpu); !pinned) {
      std::fprintf(stderr, "mrelay-sink: %s\n", pinned.error().to_string().c_str());
      return 2;
    }
  }
  return options->count_only ? run_count_only(*options, ifindexes)
                             : run_full(*options, ifindexes);
}
