// mrelay-gen: multicast UDP traffic generator for the measurement rig.
//
//   mrelay-gen --interface src0 --group 239.1.1.1:5000 --group 239.1.1.2:5000
//              --streams 4 --size 1400 --rate 100000 --batch 32 --duration 5 --warmup 1 --json
//
// Streams are interleaved round-robin (stream i goes to group i % groups), each with its own
// sequence from 0. Each payload is stamped once when its batch slot is filled (hashing the
// whole payload) and only its time is rewritten, O(1), just before the send call. Pacing is a
// token bucket on CLOCK_MONOTONIC whose burst is at most --batch packets (with --bursts,
// exactly --batch packets back to back, one sendmmsg, every time). `sent` counts what
// the kernel accepted; a packet whose send failed is not retried (its sequence number is used,
// so the sink sees a gap) and is counted under its errno. --flows N sends whole batches from N
// sockets in turn, each with its own source port: N flows per group for a receiver that
// spreads flows by their hash (mrelay's workers share packet ingress with PACKET_FANOUT_HASH).
//
// --gso N is the fast tester's generator: runs of up to N consecutive datagrams to one group
// leave as ONE send with UDP_SEGMENT (the batch's slots are contiguous, so a run is one
// iovec), and the kernel cuts the run into datagrams once per send instead of building each
// datagram through the stack. Every datagram keeps its own header, stream and sequence
// number. For fast-tester cells the rig turns tx-udp-segmentation off on the generator's veth
// (mrelay-netns up --source-tx-udp-segmentation off), so the kernel segments in software
// before the device and the wire carries ordinary datagrams, not one super-packet. Why not an
// AF_PACKET TX ring (TPACKET_V2, PACKET_QDISC_BYPASS), the other way to hand the kernel many
// datagrams per call: measured on the same veth with the same stamping, the ring reached about
// a third of --gso 64's rate (tpacket_snd still builds an skb per frame and the send waits
// for the ring to drain), so it was not kept.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/program_util.h"
#include "mrelay/cli.h"
#include "mrelay/payload.h"

namespace {

using mrelay::Result;
using mrelay::harness::GroupPort;
using mrelay::harness::monotonic_ns;

// Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). (IPv6 allows 65527; one limit for
// both keeps --size's range independent of the group.)
constexpr uint64_t kMaxPayload = 65507;
// sendmmsg takes at most UIO_MAXIOV (1024) messages per call.
constexpr uint64_t kMaxBatch = 1024;
// Datagrams per UDP_SEGMENT send: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels (128
// since 6.x); 64 works on every kernel with UDP GSO.
constexpr uint64_t kMaxGsoSegments = 64;
// UDP header bytes: a GSO run's total (segments x size + 8) must stay one IP datagram: within
// 65535 - 20 bytes over IPv4, within 65535 (the payload length field, the 40-byte fixed header
// not included) over IPv6.
constexpr uint64_t kUdpHeaderBytes = 8;
constexpr uint64_t kMaxUdpLengthIpv4 = 65535 - 20;
constexpr uint64_t kMaxUdpLengthIpv6 = 65535;
// The pacer sleeps until this long before a token is due and spins the rest: a sleep wakes
// a few to tens of us late even with 1 ns timer slack, and with --batch 1 the bucket holds a
// single token, so every late wake-up would be rate lost for good (measured: --rate 10000
// --batch 1 reached 4.3k pps when sleeping to the exact due time with default slack).
constexpr uint64_t kSpinThresholdNs = 20'000;
// If this many sends in a row fail with an errno other than ENOBUFS/EAGAIN, the set-up is
// wrong (no route, interface down): stop instead of spinning until --duration or forever.
constexpr uint64_t kFailuresBeforeGivingUp = 1000;
// Pause after ENOBUFS/EAGAIN (ns): long enough for a NIC/qdisc to drain a few packets, short
// enough not to idle the link (at 1 Gb/s, 20 us is ~1.7 full-size frames).
constexpr uint64_t kQueueFullBackoffNs = 20'000;

struct Options {
  std::string interface;
  std::vector<GroupPort> groups;
  int family = AF_INET;  // of every group: one socket sends one family
  uint64_t streams = 0;  // 0 = one per group
  // Sockets (each its own source port) the batches take in turn: flows a receiver hashing the
  // 5-tuple (PACKET_FANOUT_HASH, RSS, RPS) can tell apart. One socket sends one flow per group.
  uint64_t flows = 1;
  uint64_t size = 512;
  double rate = 0;  // packets/s over all streams; 0 = unpaced
  uint64_t batch = 32;
  bool bursts = false;  // wait for --batch tokens and send them back to back
  bool real_interface = false;  // --send-on-real-interface: the user allows a NIC
  std::optional<double> duration_s;
  std::optional<uint64_t> count;
  double warmup_s = 0;
  // Multicast TTL (IPv4) or hop limit (IPv6). 64 (Linux's default unicast TTL): relays, like
  // routers, forward only packets received with TTL > 1 and decrement it, so a chain of relays
  // needs one per hop.
  uint64_t ttl = 64;
  uint64_t sndbuf = 0;
  uint64_t gso = 1;  // datagrams per UDP_SEGMENT send; 1 = one message per datagram
  std::optional<uint64_t> cpu;
  bool json = false;
};

constexpr const char* kDescription =
    "Sends multicast UDP test payloads (see relay/include/mrelay/payload.h) and reports what "
    "the kernel accepted. SIGINT/SIGTERM stop early; the report is still printed.";

// Long: the option table, one entry per flag in the order --help lists them.
void describe(mrelay::cli::Parser& parser, Options& options) {
  using mrelay::cli::parse_double;
  using mrelay::cli::parse_uint;
  using mrelay::cli::store_double;
  using mrelay::cli::store_parsed;
  using mrelay::cli::store_uint;
  parser.usage("[OPTIONS] --interface IFACE --group GROUP:PORT --count N");
  parser.usage("[OPTIONS] --interface IFACE --group GROUP:PORT --duration S");
  parser.value("--interface", "IFACE",
               "egress interface (IP(V6)_MULTICAST_IF + SO_BINDTODEVICE); required, and must be "
               "loopback or a veth, so test traffic never reaches a real network",
               mrelay::cli::store_text(options.interface));
  parser.flag("--send-on-real-interface",
              "allow --interface to be a real NIC: the traffic leaves this machine (for a rig "
              "across hosts; keep --ttl low)",
              options.real_interface);
  parser.repeated("--group", "GROUP:PORT",
                  "destination multicast group (at least one): 239.1.1.1:5000 or, IPv6, "
                  "[ff3e::1]:5000 (all groups of one family); the kernel picks the source "
                  "address (the interface's, a ULA or global one before its link-local address)",
                  mrelay::cli::append_parsed(options.groups, mrelay::harness::parse_group_port));
  parser.value("--streams", "N", "streams, stream i -> group i % groups, 1..65536",
               store_uint(options.streams, 1, 65536))
      .with_default("one per group");
  parser.value("--flows", "N",
               "sockets, each its own source port, sending whole batches in turn: N flows per "
               "group for a receiver that spreads flows by their hash, 1..64",
               store_uint(options.flows, 1, 64))
      .with_default("1");
  parser.value("--size", "BYTES", "UDP payload size, 32..65507",
               store_uint(options.size, mrelay::kPayloadHeaderSize, kMaxPayload))
      .with_unit("bytes")
      .with_default("512");
  parser.value("--rate", "PPS",
               "total rate over all streams, token bucket with a burst of --batch; 0 = as fast "
               "as possible",
               store_double(options.rate, 0, 1e9))
      .with_unit("packets/s")
      .with_default("0");
  parser.value("--batch", "N", "packets per sendmmsg call, 1..1024; 1 = one sendto per packet",
               store_uint(options.batch, 1, kMaxBatch))
      .with_default("32");
  parser.flag("--bursts",
              "with --rate: always send whole --batch bursts back to back (one sendmmsg), paced "
              "so the average is --rate; without it a paced sender mostly sends one packet at a "
              "time. Gives a relay runs of datagrams to batch (GSO)",
              options.bursts);
  parser.value("--duration", "SECONDS",
               "stop after this long (at least one of --duration/--count; with both, whichever "
               "comes first)",
               store_parsed(options.duration_s, [](std::string_view f, std::string_view t) {
                 return parse_double(f, t, 0.001, 1e6);
               }))
      .with_unit("s");
  parser.value("--count", "N", "stop after N packets were accepted by the kernel (warm-up included)",
               store_parsed(options.count, [](std::string_view f, std::string_view t) {
                 return parse_uint(f, t, 1, UINT64_MAX);
               }));
  parser.value("--warmup", "SECONDS",
               "packets sent during the first SECONDS carry the warm-up flag and are excluded "
               "from the measured counts",
               store_double(options.warmup_s, 0, 1e6))
      .with_unit("s")
      .with_default("0");
  parser.value("--ttl", "N",
               "multicast TTL, 1..255; a relay or router forwards only TTL > 1 and decrements it "
               "per hop",
               store_uint(options.ttl, 1, 255))
      .with_default("64");
  parser.value("--hop-limit", "N",
               "the same for IPv6 groups (IPV6_MULTICAST_HOPS); --ttl and --hop-limit set one "
               "value, whichever the groups' family uses",
               store_uint(options.ttl, 1, 255))
      .with_default("64");
  parser.value("--sndbuf", "BYTES",
               "socket send buffer (SO_SNDBUFFORCE, else SO_SNDBUF); 0 = kernel default",
               store_uint(options.sndbuf, 0, INT32_MAX))
      .with_unit("bytes")
      .with_default("0");
  parser.value("--gso", "N",
               "the fast tester: up to N consecutive datagrams of a batch to the same group go "
               "out as one UDP_SEGMENT send (2..64, at most 65507 / --size over IPv4, 65527 / "
               "--size over IPv6; each datagram still "
               "has its own header and sequence number); the interface should have "
               "tx-udp-segmentation off so the kernel sends separate datagrams (mrelay-netns up "
               "--source-tx-udp-segmentation off); --size must fit the MTU. 1 = off",
               store_uint(options.gso, 1, kMaxGsoSegments))
      .with_default("1");
  parser.value("--cpu", "N", "pin to CPU N",
               store_parsed(options.cpu, [](std::string_view f, std::string_view t) {
                 return parse_uint(f, t, 0, CPU_SETSIZE - 1);
               }))
      .with_default("not pinned");
  parser.flag("--json", "print one JSON object instead of text", options.json);
}

// The checks across flags, after parsing.
Result<void> check_options(Options& options) {
  if (options.groups.empty()) {
    return mrelay::fail("--group", "at least one --group GROUP:PORT is required");
  }
  auto family = mrelay::harness::common_family("--group", options.groups);
  if (!family) {
    return tl::unexpected(family.error());
  }
  options.family = *family;
  if (options.interface.empty()) {
    return mrelay::fail("--interface", "required: the egress interface (e.g. a rig veth)");
  }
  if (!options.duration_s && !options.count) {
    return mrelay::fail("--duration", "give --duration SECONDS and/or --count N");
  }
  if (options.streams == 0) {
    options.streams = options.groups.size();
  }
  const uint64_t max_udp = options.family == AF_INET6 ? kMaxUdpLengthIpv6 : kMaxUdpLengthIpv4;
  if (options.gso > 1 && options.gso * options.size + kUdpHeaderBytes > max_udp) {
    return mrelay::fail("--gso", std::to_string(options.gso) + " datagrams of --size " +
                                     std::to_string(options.size) + " bytes exceed one " +
                                     (options.family == AF_INET6 ? "IPv6" : "IPv4") +
                                     " datagram (at most " +
                                     std::to_string((max_udp - kUdpHeaderBytes) / options.size) +
                                     ")");
  }
  return {};
}

// IP(V6)_MULTICAST_IF, IP(V6)_RECVERR and the TTL / hop limit, by the groups' family.
// UDP hides a local qdisc drop (NET_XMIT_DROP) from the sender and reports success unless
// IP_RECVERR (IPV6_RECVERR) is on; with it the send fails with ENOBUFS and `sent` stays honest.
Result<void> set_family_options(int fd, const Options& options, unsigned ifindex) {
  const int on = 1;
  const int hops = static_cast<int>(options.ttl);
  if (options.family == AF_INET6) {
    const int index = static_cast<int>(ifindex);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) != 0) {
      return mrelay::fail_errno("--interface: setsockopt(IPV6_MULTICAST_IF)");
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on) != 0) {
      return mrelay::fail_errno("setsockopt(IPV6_RECVERR)");
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0) {
      return mrelay::fail_errno("--hop-limit: setsockopt(IPV6_MULTICAST_HOPS)");
    }
    return {};
  }
  ip_mreqn mreqn{};
  mreqn.imr_ifindex = static_cast<int>(ifindex);
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreqn, sizeof mreqn) != 0) {
    return mrelay::fail_errno("--interface: setsockopt(IP_MULTICAST_IF)");
  }
  if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on) != 0) {
    return mrelay::fail_errno("setsockopt(IP_RECVERR)");
  }
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof hops) != 0) {
    return mrelay::fail_errno("--ttl: setsockopt(IP_MULTICAST_TTL)");
  }
  return {};
}

Result<int> open_socket(const Options& options) {
  const bool six = options.family == AF_INET6;
  const int fd = socket(options.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return mrelay::fail_errno(six ? "socket(AF_INET6, SOCK_DGRAM)" : "socket(AF_INET, SOCK_DGRAM)");
  }
  auto fail_closing = [fd](const std::string& what) {
    auto error = mrelay::fail_errno(what);
    close(fd);
    return error;
  };
  const unsigned ifindex = if_nametoindex(options.interface.c_str());
  if (ifindex == 0) {
    close(fd);
    return mrelay::fail("--interface", "no interface named '" + options.interface + "'", errno);
  }
  if (!options.real_interface && !mrelay::harness::is_test_interface(options.interface)) {
    close(fd);
    return mrelay::fail("--interface", "'" + options.interface +
                                           "' is neither loopback nor a veth: test traffic "
                                           "stays on the rig's own links unless "
                                           "--send-on-real-interface allows it");
  }
  if (auto set = set_family_options(fd, options, ifindex); !set) {
    close(fd);
    return tl::unexpected(set.error());
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, options.interface.c_str(),
                 static_cast<socklen_t>(options.interface.size())) != 0) {
    return fail_closing("--interface: setsockopt(SO_BINDTODEVICE)");
  }
  if (options.sndbuf != 0) {
    const int bytes = static_cast<int>(options.sndbuf);
    // FORCE ignores net.core.wmem_max (needs CAP_NET_ADMIN); the plain option is capped by it.
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
      return fail_closing("--sndbuf: setsockopt(SO_SNDBUF)");
    }
  }
  return fd;
}

struct StreamState {
  uint64_t next_seq = 0;
  uint64_t sent = 0;
  std::optional<uint64_t> measured_first_seq;
  uint64_t measured_last_seq = 0;
};

struct Report {
  uint64_t sent = 0;
  uint64_t errors = 0;
  std::array<uint64_t, 256> errors_by_errno{};  // errno values are < 256 on Linux
  uint64_t warmup_sent = 0;
  uint64_t measured_sent = 0;
  uint64_t measure_start_ns = 0;
  uint64_t measure_end_ns = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t syscalls = 0;
  // Time spent inside the send calls: sent / send_ns is how fast a burst leaves (a bursty
  // source's peak rate, which decides how much of a burst a drained queue takes meanwhile).
  uint64_t send_ns = 0;
  // Paced runs: when the batch after the last measured one was due. n paced batches span n
  // pacing intervals, not n - 1: without this a bursty source (one burst per interval) would
  // report n/(n - 1) times its rate.
  uint64_t paced_end_ns = 0;
  std::vector<StreamState> streams;
};

// Token bucket: `tokens` packets may go now; refills at `rate` per second up to `burst`.
// With `whole`, nothing goes until all `wanted` packets may go at once.
// At most one send per this interval (ns): above 1 / interval packets/s (50k) the pacer
// waits for rate x interval tokens and sends them as one run. Releasing every single token at
// once made each send one datagram at high rates: one syscall per packet capped the paced
// fast tester at about half of what it sends unpaced (an NDR search then measured the
// generator). Below 50 kpps every packet still leaves on its own tick.
constexpr double kMinSendIntervalNs = 20'000;
// Tokens a late generator may catch up with (ns of traffic at the rate), beyond one batch:
// on a shared core the generator is preempted for tens of µs (the sink, softirq); with only a
// batch of credit (45 µs at 700 kpps) every such gap was lost for good and a paced run fell
// 3-5 % short of its rate.
constexpr double kCatchUpNs = 100'000;

class Pacer {
 public:
  Pacer(double rate, uint64_t burst, uint64_t now_ns, bool whole = false)
      : rate_per_ns_(rate / 1e9),
        burst_(whole ? static_cast<double>(burst)
                     : std::max(static_cast<double>(burst), rate / 1e9 * kCatchUpNs)),
        tokens_(1.0),
        last_ns_(now_ns),
        whole_(whole),
        min_run_(std::clamp(std::floor(rate / 1e9 * kMinSendIntervalNs), 1.0,
                            std::max(1.0, static_cast<double>(burst)))) {}

  /// Packets allowed now, at most `wanted`; 0 means wait until wait_until_ns().
  uint64_t take(uint64_t wanted, uint64_t now_ns) {
    if (rate_per_ns_ <= 0) {
      return wanted;
    }
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ns - last_ns_) * rate_per_ns_);
    last_ns_ = now_ns;
    needed_ = whole_ ? static_cast<double>(wanted)
                     : std::min(min_run_, static_cast<double>(std::max<uint64_t>(wanted, 1)));
    if (tokens_ < needed_) {
      return 0;
    }
    const auto allowed = std::min<uint64_t>(wanted, static_cast<uint64_t>(tokens_));
    tokens_ -= static_cast<double>(allowed);
    return allowed;
  }
  [[nodiscard]] uint64_t wait_until_ns() const {
    return last_ns_ + static_cast<uint64_t>(std::ceil((needed_ - tokens_) / rate_per_ns_));
  }

 private:
  double rate_per_ns_;
  double burst_;
  double tokens_;
  uint64_t last_ns_;
  bool whole_;
  double min_run_;       // packets per send at the least (see kMinSendIntervalNs)
  double needed_ = 1.0;  // tokens the last take() waited for
};

void sleep_until(uint64_t when_ns) {
  timespec until{};
  until.tv_sec = static_cast<time_t>(when_ns / 1'000'000'000ULL);
  until.tv_nsec = static_cast<long>(when_ns % 1'000'000'000ULL);
  // EINTR (a stop signal) just returns early; the caller re-checks the stop flag.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
}

// The send buffers of one batch: a payload slot, an iovec and a message per packet, and
// which stream and sequence number each slot carries. Built once; the messages point into
// the slots, so it is never copied or moved.
struct SendBatch {
  explicit SendBatch(const Options& options) { prepare(options); }
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  uint8_t* slot(size_t i) { return buffers.data() + i * size; }

  void prepare(const Options& options) {
    size = options.size;
    buffers.resize(options.batch * options.size);
    destinations.resize(options.groups.size());
    name_length = 0;
    iovecs.resize(options.batch);
    messages.resize(options.batch);
    slot_stream.resize(options.batch);
    slot_seq.resize(options.batch);
    for (size_t g = 0; g < options.groups.size(); ++g) {
      name_length = options.groups[g].to_sockaddr(destinations[g]);
    }
    for (size_t i = 0; i < options.batch; ++i) {
      iovecs[i] = {buffers.data() + i * size, size};
      messages[i].msg_hdr.msg_iov = &iovecs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_namelen = name_length;
    }
    if (options.gso > 1) {
      prepare_runs(options);
    }
  }

  // --gso: one message per run of slots; each carries UDP_SEGMENT = the datagram size.
  void prepare_runs(const Options& options) {
    gso = options.gso;
    runs.resize(options.batch);
    run_iovecs.resize(options.batch);
    run_count.resize(options.batch);
    run_control.resize(options.batch);
    for (size_t i = 0; i < options.batch; ++i) {
      msghdr& header = runs[i].msg_hdr;
      header.msg_iov = &run_iovecs[i];
      header.msg_iovlen = 1;
      header.msg_namelen = name_length;
      header.msg_control = run_control[i].bytes;
      header.msg_controllen = sizeof run_control[i].bytes;
      cmsghdr* c = CMSG_FIRSTHDR(&header);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(size);
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
  }

  // Groups slots [begin, n) into runs of at most `gso` consecutive slots to one destination;
  // returns the number of runs (messages).
  size_t plan_runs(size_t begin, size_t n) {
    size_t count = 0;
    for (size_t first = begin; first < n; ++count) {
      void* destination = messages[first].msg_hdr.msg_name;
      size_t length = 1;
      while (first + length < n && length < gso &&
             messages[first + length].msg_hdr.msg_name == destination) {
        ++length;
      }
      runs[count].msg_hdr.msg_name = destination;
      run_iovecs[count] = {slot(first), length * size};
      run_count[count] = static_cast<uint32_t>(length);
      first += length;
    }
    return count;
  }

  struct RunControl {
    alignas(cmsghdr) uint8_t bytes[CMSG_SPACE(sizeof(uint16_t))];
  };

  size_t size = 0;
  std::vector<uint8_t> buffers;
  std::vector<sockaddr_storage> destinations;  // one per group, IPv4 or IPv6
  socklen_t name_length = sizeof(sockaddr_in);  // of every destination (one family)
  std::vector<iovec> iovecs;
  std::vector<mmsghdr> messages;
  std::vector<uint32_t> slot_stream;
  std::vector<uint64_t> slot_seq;
  // --gso only: the runs of the last plan_runs() and how many slots each holds.
  size_t gso = 1;
  std::vector<mmsghdr> runs;
  std::vector<iovec> run_iovecs;
  std::vector<uint32_t> run_count;
  std::vector<RunControl> run_control;
};

// Fills the first n slots: streams in turn, each its next sequence number, warm-up flagged.
// The send time is stamped just before the send (send_batch).
void stamp_batch(const Options& options, SendBatch& batch, size_t n, bool warmup,
                 uint64_t& next_stream, Report& report) {
  for (size_t i = 0; i < n; ++i) {
    const auto stream = static_cast<uint32_t>(next_stream);
    next_stream = next_stream + 1 == options.streams ? 0 : next_stream + 1;
    StreamState& state = report.streams[stream];
    batch.slot_stream[i] = stream;
    batch.slot_seq[i] = state.next_seq++;
    mrelay::stamp_payload(batch.slot(i), batch.size,
                          {.stream = static_cast<uint16_t>(stream),
                           .flags = warmup ? mrelay::kPayloadFlagWarmup : uint16_t{0},
                           .sequence = batch.slot_seq[i],
                           .send_time_ns = 0});
    batch.messages[i].msg_hdr.msg_name = &batch.destinations[stream % batch.destinations.size()];
  }
}

// Accounts the messages the kernel accepted: per stream, warm-up or measured, and the edges of
// the measuring window (the first measured send's time, the last accepted one's).
void count_accepted(const SendBatch& batch, size_t begin, size_t accepted, bool warmup,
                    uint64_t send_ns, uint64_t after_ns, Report& report) {
  for (size_t i = begin; i < begin + accepted; ++i) {
    StreamState& state = report.streams[batch.slot_stream[i]];
    ++state.sent;
    if (warmup) {
      ++report.warmup_sent;
      continue;
    }
    if (report.measured_sent == 0) {
      report.measure_start_ns = send_ns;
    }
    ++report.measured_sent;
    report.measure_end_ns = after_ns;
    if (!state.measured_first_seq) {
      state.measured_first_seq = batch.slot_seq[i];
    }
    state.measured_last_seq = batch.slot_seq[i];
  }
  report.sent += accepted;
}

// Sends the first n slots (sendto for batch 1, else sendmmsg, resuming after a partial send),
// stamping the send time just before each call. A failed message is counted against its
// errno and skipped; a stop signal ends the batch; too many failures in a row end the run.
Result<void> send_batch(const Options& options, int fd, SendBatch& batch, size_t n, bool warmup,
                        uint64_t& failures_in_a_row, Report& report) {
  size_t begin = 0;
  while (begin < n) {
    const uint64_t send_ns = monotonic_ns();
    for (size_t i = begin; i < n; ++i) {
      mrelay::restamp_time(batch.slot(i), batch.size, send_ns);
    }
    int accepted = 0;
    if (options.batch == 1) {
      const ssize_t r = sendto(fd, batch.buffers.data(), batch.size, 0,
                               static_cast<const sockaddr*>(batch.messages[0].msg_hdr.msg_name),
                               batch.name_length);
      accepted = r < 0 ? -1 : 1;
    } else {
      accepted = sendmmsg(fd, &batch.messages[begin], static_cast<unsigned>(n - begin), 0);
    }
    const uint64_t after_ns = monotonic_ns();
    report.send_ns += after_ns - send_ns;
    ++report.syscalls;
    if (accepted < 0) {
      const int error = errno;
      if (error == EINTR) {
        if (mrelay::harness::stop_requested()) {
          return {};
        }
        continue;
      }
      // The first unsent message failed: count it against its errno and move past it.
      ++report.errors;
      ++report.errors_by_errno[static_cast<size_t>(error) % report.errors_by_errno.size()];
      ++begin;
      if (error == ENOBUFS || error == EAGAIN) {
        // A full queue drains at line rate: back off briefly instead of spinning on it.
        sleep_until(monotonic_ns() + kQueueFullBackoffNs);
        continue;
      }
      if (++failures_in_a_row >= kFailuresBeforeGivingUp) {
        return mrelay::fail(options.batch == 1 ? "sendto" : "sendmmsg",
                            std::to_string(failures_in_a_row) +
                                " sends in a row failed; check --interface and routes",
                            error);
      }
      continue;
    }
    failures_in_a_row = 0;
    count_accepted(batch, begin, static_cast<size_t>(accepted), warmup, send_ns, after_ns, report);
    begin += static_cast<size_t>(accepted);
  }
  return {};
}

// --gso: sends the first n slots as runs, one UDP_SEGMENT message per run, stamping the send
// time just before each call. A refused run counts each of its datagrams against the errno.
Result<void> send_batch_gso(const Options& /*options*/, int fd, SendBatch& batch, size_t n,
                            bool warmup, uint64_t& failures_in_a_row, Report& report) {
  size_t begin = 0;
  while (begin < n) {
    const size_t runs = batch.plan_runs(begin, n);
    const uint64_t send_ns = monotonic_ns();
    for (size_t i = begin; i < n; ++i) {
      mrelay::restamp_time(batch.slot(i), batch.size, send_ns);
    }
    const int accepted = sendmmsg(fd, batch.runs.data(), static_cast<unsigned>(runs), 0);
    const uint64_t after_ns = monotonic_ns();
    report.send_ns += after_ns - send_ns;
    ++report.syscalls;
    if (accepted < 0) {
      const int error = errno;
      if (error == EINTR) {
        if (mrelay::harness::stop_requested()) {
          return {};
        }
        continue;
      }
      if (error == EINVAL && report.sent == 0) {
        return mrelay::fail("--gso", "the kernel refused a UDP_SEGMENT send: --size must fit "
                                     "the interface MTU (and the kernel must have UDP GSO)",
                            error);
      }
      const uint32_t lost = batch.run_count[0];
      report.errors += lost;
      report.errors_by_errno[static_cast<size_t>(error) % report.errors_by_errno.size()] += lost;
      begin += lost;
      if (error == ENOBUFS || error == EAGAIN) {
        sleep_until(monotonic_ns() + kQueueFullBackoffNs);
        continue;
      }
      if (++failures_in_a_row >= kFailuresBeforeGivingUp) {
        return mrelay::fail("sendmmsg", std::to_string(failures_in_a_row) +
                                            " sends in a row failed; check --interface and routes",
                            error);
      }
      continue;
    }
    failures_in_a_row = 0;
    size_t slots = 0;
    for (int r = 0; r < accepted; ++r) {
      slots += batch.run_count[static_cast<size_t>(r)];
    }
    count_accepted(batch, begin, slots, warmup, send_ns, after_ns, report);
    begin += slots;
  }
  return {};
}

// The send loop: paced batches until the count, the duration or a stop signal.
Result<Report> run(const Options& options, const std::vector<int>& fds) {
  SendBatch batch(options);
  Report report;
  report.streams.resize(options.streams);
  const uint64_t start_ns = monotonic_ns();
  report.start_ns = start_ns;
  const uint64_t deadline_ns =
      options.duration_s ? start_ns + static_cast<uint64_t>(*options.duration_s * 1e9) : UINT64_MAX;
  const uint64_t warmup_end_ns = start_ns + static_cast<uint64_t>(options.warmup_s * 1e9);
  const uint64_t count = options.count.value_or(UINT64_MAX);
  Pacer pacer(options.rate, options.batch, start_ns, options.bursts);
  uint64_t next_stream = 0;
  uint64_t failures_in_a_row = 0;
  size_t next_flow = 0;  // --flows: whole batches on each socket in turn

  while (!mrelay::harness::stop_requested() && report.sent < count) {
    uint64_t now = monotonic_ns();
    if (now >= deadline_ns) {
      break;
    }
    const uint64_t n = pacer.take(std::min<uint64_t>(options.batch, count - report.sent), now);
    if (n == 0) {
      const uint64_t wake = std::min(pacer.wait_until_ns(), deadline_ns);
      if (wake > now + kSpinThresholdNs) {
        sleep_until(wake - kSpinThresholdNs);
      }
      continue;
    }
    const bool warmup = now < warmup_end_ns;
    stamp_batch(options, batch, n, warmup, next_stream, report);
    auto send = options.gso > 1 ? send_batch_gso : send_batch;
    const int fd = fds[next_flow];
    next_flow = next_flow + 1 == fds.size() ? 0 : next_flow + 1;
    if (auto sent = send(options, fd, batch, n, warmup, failures_in_a_row, report); !sent) {
      return tl::unexpected(sent.error());
    }
    if (!warmup && options.rate > 0) {
      // `now` is when the pacer released this batch; the next was due n intervals later.
      report.paced_end_ns = now + static_cast<uint64_t>(n * 1e9 / options.rate);
    }
  }
  report.end_ns = monotonic_ns();
  report.measure_end_ns = std::max(report.measure_end_ns, report.paced_end_ns);
  return report;
}

nlohmann::json to_json(const Options& options, const Report& report) {
  const double window_s =
      static_cast<double>(report.measure_end_ns - report.measure_start_ns) / 1e9;
  nlohmann::json errors_by_errno = nlohmann::json::object();
  for (size_t e = 0; e < report.errors_by_errno.size(); ++e) {
    if (report.errors_by_errno[e] != 0) {
      errors_by_errno[mrelay::harness::errno_name(static_cast<int>(e))] = report.errors_by_errno[e];
    }
  }
  nlohmann::json streams = nlohmann::json::array();
  for (size_t s = 0; s < report.streams.size(); ++s) {
    const StreamState& state = report.streams[s];
    const GroupPort& endpoint = options.groups[s % options.groups.size()];
    nlohmann::json stream = {{"stream", s},
                             {"group", endpoint.group_text()},
                             {"port", endpoint.port},
                             {"sent", state.sent}};
    // null when the stream sent nothing in the measuring window.
    stream["measured_first_seq"] =
        state.measured_first_seq ? nlohmann::json(*state.measured_first_seq) : nlohmann::json();
    stream["measured_last_seq"] =
        state.measured_first_seq ? nlohmann::json(state.measured_last_seq) : nlohmann::json();
    streams.push_back(std::move(stream));
  }
  return {
      {"program", "mrelay-gen"},
      {"sent", report.sent},
      {"errors", report.errors},
      {"errors_by_errno", errors_by_errno},
      {"warmup_sent", report.warmup_sent},
      {"measured_sent", report.measured_sent},
      {"measure_start_ns", report.measure_start_ns},
      {"measure_end_ns", report.measure_end_ns},
      {"duration_s", static_cast<double>(report.end_ns - report.start_ns) / 1e9},
      {"achieved_pps", window_s > 0 ? static_cast<double>(report.measured_sent) / window_s : 0.0},
      {"offered_rate_pps", options.rate},
      {"size", options.size},
      {"batch", options.batch},
      {"gso", options.gso},
      {"bursts", options.bursts},
      {"send_s", static_cast<double>(report.send_ns) / 1e9},
      {"send_pps", report.send_ns > 0 ? static_cast<double>(report.sent) * 1e9 /
                                            static_cast<double>(report.send_ns)
                                      : 0.0},
      {"streams", streams},
      {"syscalls", report.syscalls}};
}

void print_text(const nlohmann::json& j) {
  std::printf("mrelay-gen: sent %llu packets of %llu bytes in %.3f s (batch %llu, %llu syscalls)\n",
              j["sent"].get<unsigned long long>(), j["size"].get<unsigned long long>(),
              j["duration_s"].get<double>(), j["batch"].get<unsigned long long>(),
              j["syscalls"].get<unsigned long long>());
  std::printf("  warm-up %llu, measured %llu at %.0f pps (offered rate %s)\n",
              j["warmup_sent"].get<unsigned long long>(),
              j["measured_sent"].get<unsigned long long>(), j["achieved_pps"].get<double>(),
              j["offered_rate_pps"].get<double>() == 0
                  ? "unpaced"
                  : (std::to_string(j["offered_rate_pps"].get<double>()) + " pps").c_str());
  std::printf("  errors %llu %s\n", j["errors"].get<unsigned long long>(),
              j["errors_by_errno"].dump().c_str());
  for (const auto& stream : j["streams"]) {
    std::printf("  stream %d -> %s:%d sent %llu\n", stream["stream"].get<int>(),
                stream["group"].get<std::string>().c_str(), stream["port"].get<int>(),
                stream["sent"].get<unsigned long long>());
  }
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser("mrelay-gen", kDescription);
  Options parsed_options;
  describe(parser, parsed_options);
  if (auto code = mrelay::cli::finish(parser.parse(argc, argv))) {
    return *code;
  }
  if (auto checked = check_options(parsed_options); !checked) {
    return parser.usage_error(checked.error());
  }
  const Options* options = &parsed_options;
  if (options->cpu) {
    if (auto pinned = mrelay::harness::pin_to_cpu(*options->cpu); !pinned) {
      std::fprintf(stderr, "mrelay-gen: %s\n", pinned.error().to_string().c_str());
      return 2;
    }
  }
  std::vector<int> fds;  // one per flow
  for (uint64_t f = 0; f < options->flows; ++f) {
    auto fd = open_socket(*options);
    if (!fd) {
      std::fprintf(stderr, "mrelay-gen: %s\n", fd.error().to_string().c_str());
      return 2;
    }
    fds.push_back(*fd);
  }
  if (options->rate > 0) {
    // Default timer slack (50 us) lets the kernel delay our wake-ups to batch timers; the
    // pacer wants them on time.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  }
  mrelay::harness::install_stop_handlers();
  auto report = run(*options, fds);
  for (int fd : fds) {
    close(fd);
  }
  if (!report) {
    std::fprintf(stderr, "mrelay-gen: %s\n", report.error().to_string().c_str());
    return 1;
  }
  const nlohmann::json j = to_json(*options, *report);
  if (options->json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    print_text(j);
  }
  return 0;
}
