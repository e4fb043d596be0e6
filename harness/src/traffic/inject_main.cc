// mrelay-inject: writes malformed (and a few valid-but-unusual) Ethernet frames onto a rig
// interface with an AF_PACKET socket, to prove the relay counts them by reason, keeps
// forwarding the valid traffic beside them, and does not crash.
//
//   mrelay-inject --interface gen0 --group 239.1.1.1:5000 --kind all --count 20 --json
//   mrelay-inject --interface gen0 --group 239.1.1.1:5000 --kind udp_len_lie,jumbo --count 5
//
// Frames are addressed to the relay's input group and port (destination MAC from the group),
// so they reach the rule's parser. Every frame goes out behind a virtio_net_hdr
// (PACKET_VNET_HDR): all zero for plain frames, a checksum still to complete or a UDP GSO
// super-frame for the kinds that need one, so the receiver sees the offload state a local
// sender's frames have on veth. Only loopback and veth interfaces are accepted: raw frames
// bypass every routing decision, so the rig's own links are the only safe place for them.
// Needs CAP_NET_RAW (run inside the rig's namespace as root).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/program_util.h"
#include "mrelay/cli.h"
#include "traffic/inject_frames.h"

namespace {

using mrelay::Result;
using mrelay::harness::InjectKind;

struct Options {
  std::string interface;
  std::optional<mrelay::harness::GroupPort> group;
  std::vector<InjectKind> kinds;
  // Frames per kind. 10: enough that an off-by-one in any counter shows, few enough that the
  // relay's ring never fills (every frame must be counted, not dropped).
  uint64_t count = 10;
  // Gap between frames in microseconds. 200 µs (5k frames/s): the injection must not itself
  // be a load test; the relay sees each frame separately beside the generator's traffic.
  uint64_t interval_us = 200;
  std::optional<in_addr> source;
  uint64_t payload_size = 64;
  uint64_t jumbo_size = 9000;
  uint64_t stream = 900;
  bool json = false;
  bool list = false;
};

constexpr const char* kDescription =
    "Writes raw Ethernet frames (AF_PACKET, needs CAP_NET_RAW) addressed to GROUP:PORT: "
    "malformed ones the relay must count by reason, and valid-but-unusual ones it must forward "
    "(a GSO kind carries several datagrams, stamped with consecutive sequence numbers).";

Result<std::vector<InjectKind>> parse_kinds(std::string_view text) {
  std::vector<InjectKind> kinds;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    if (name == "all") {
      kinds.insert(kinds.end(), mrelay::harness::kAllInjectKinds.begin(),
                   mrelay::harness::kAllInjectKinds.end());
    } else if (auto kind = mrelay::harness::parse_inject_kind(name)) {
      kinds.push_back(*kind);
    } else {
      return mrelay::fail("--kind", "unknown kind '" + std::string(name) + "' (see --list-kinds)");
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return kinds;
}

// Long: the option table, one entry per flag in the order --help lists them.
void describe(mrelay::cli::Parser& parser, Options& options) {
  using mrelay::cli::store_uint;
  parser.usage("[OPTIONS] --interface IFACE --group GROUP:PORT --kind KIND");
  parser.usage("--list-kinds");
  parser.value("--interface", "IFACE",
               "where to write the frames; must be loopback or a veth (required)",
               mrelay::cli::store_text(options.interface));
  parser.value("--group", "GROUP:PORT", "the relay's input group and port (required)",
               mrelay::cli::store_parsed(options.group, mrelay::harness::parse_group_port));
  parser.repeated("--kind", "KIND[,KIND]", "frame kinds; \"all\" = every kind (see --list-kinds)",
                  [&options](std::string_view, std::string_view v) -> Result<void> {
                    auto kinds = parse_kinds(v);
                    if (!kinds) {
                      return tl::unexpected(kinds.error());
                    }
                    options.kinds.insert(options.kinds.end(), kinds->begin(), kinds->end());
                    return {};
                  });
  parser.value("--count", "N", "frames per kind, 1..1000000", store_uint(options.count, 1, 1000000))
      .with_default("10");
  parser.value("--interval-us", "US", "pause between frames, 0..1000000",
               store_uint(options.interval_us, 0, 1000000))
      .with_unit("us")
      .with_default("200");
  parser.value("--source", "A.B.C.D", "IPv4 source address",
               [&options](std::string_view flag, std::string_view v) -> Result<void> {
                 in_addr address{};
                 if (inet_pton(AF_INET, std::string(v).c_str(), &address) != 1) {
                   // Appended: "'" + std::string trips GCC 12's false -Wrestrict.
                   std::string message = "'";
                   message.append(v);
                   message += "' is not an IPv4 address (a.b.c.d)";
                   return mrelay::fail(std::string(flag), message);
                 }
                 options.source = address;
                 return {};
               })
      .with_default("the interface's address, else 192.0.2.1");
  parser.value("--size", "BYTES", "UDP payload of the ordinary kinds, 32..1400",
               store_uint(options.payload_size, 32, 1400))
      .with_unit("bytes")
      .with_default("64");
  parser.value("--jumbo-size", "BYTES",
               "IPv4 total length of the jumbo kind, 2100..65535; the interface MTU (and its "
               "peer's) must be at least this",
               store_uint(options.jumbo_size, 2100, 65535))
      .with_unit("bytes")
      .with_default("9000");
  parser.value("--stream", "N", "test-payload stream id of the forwarded kinds, 0..65535",
               store_uint(options.stream, 0, 65535))
      .with_default("900");
  parser.flag("--list-kinds",
              "print every kind, its expected relay counter and what it is, then exit",
              options.list);
  parser.flag("--json",
              "print one JSON object: frames sent, datagrams per frame and send errors per kind",
              options.json);
  parser.section("Exit status",
                 "  0 when every frame was sent, 1 when a send failed, 2 on a usage error.");
}

// The checks across flags, after parsing.
Result<void> check_options(const Options& options) {
  if (options.list) {
    return {};
  }
  if (options.interface.empty()) {
    return mrelay::fail("--interface", "required: the interface to write frames on");
  }
  if (!options.group) {
    return mrelay::fail("--group", "required: the relay's input GROUP:PORT");
  }
  if (options.group->ipv6()) {
    return mrelay::fail("--group", "mrelay-inject builds IPv4 frames only, not " +
                                       options.group->text());
  }
  if (options.kinds.empty()) {
    return mrelay::fail("--kind", "required: at least one kind, or \"all\"");
  }
  return {};
}

struct Socket {
  int fd = -1;
  unsigned ifindex = 0;
  std::array<uint8_t, 6> mac{};
  std::optional<in_addr> address;
  ~Socket() {
    if (fd >= 0) {
      close(fd);
    }
  }
};

Result<void> open_socket(const Options& options, Socket& sock) {
  sock.ifindex = if_nametoindex(options.interface.c_str());
  if (sock.ifindex == 0) {
    return mrelay::fail("--interface", "no interface named '" + options.interface + "'", errno);
  }
  if (!mrelay::harness::is_test_interface(options.interface)) {
    return mrelay::fail("--interface", "'" + options.interface +
                                           "' is neither loopback nor a veth: raw test frames "
                                           "stay on the rig's own links");
  }
  // Protocol 0: send only; this socket never receives, so it needs no receive queue.
  sock.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) {
    return mrelay::fail_errno("socket(AF_PACKET, SOCK_RAW) (needs CAP_NET_RAW)");
  }
  // Every frame is sent behind a virtio_net_hdr, so a kind can ask for a checksum the kernel
  // completes (CHECKSUM_PARTIAL) or for a UDP GSO super-frame.
  const int one = 1;
  if (setsockopt(sock.fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) {
    return mrelay::fail_errno("setsockopt(PACKET_VNET_HDR)");
  }
  ifreq request{};
  std::strncpy(request.ifr_name, options.interface.c_str(), IFNAMSIZ - 1);
  if (ioctl(sock.fd, SIOCGIFHWADDR, &request) != 0) {
    return mrelay::fail_errno("--interface: ioctl(SIOCGIFHWADDR)");
  }
  std::memcpy(sock.mac.data(), request.ifr_hwaddr.sa_data, sock.mac.size());
  // The interface address is only a default source; an unnumbered interface is fine.
  const int inet_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (inet_fd >= 0) {
    ifreq address_request{};
    std::strncpy(address_request.ifr_name, options.interface.c_str(), IFNAMSIZ - 1);
    if (ioctl(inet_fd, SIOCGIFADDR, &address_request) == 0) {
      sock.address = reinterpret_cast<const sockaddr_in*>(&address_request.ifr_addr)->sin_addr;
    }
    close(inet_fd);
  }
  return {};
}

struct KindResult {
  uint64_t sent = 0;
  uint64_t errors = 0;
  int last_errno = 0;
  size_t frame_bytes = 0;
};

uint64_t monotonic_now_ns() {
  return mrelay::harness::monotonic_ns();
}

// What every frame is built from: the socket's MAC and address (or --source), the group.
mrelay::harness::FrameParams frame_params(const Options& options, const Socket& sock) {
  mrelay::harness::FrameParams params;
  params.src_mac = sock.mac;
  params.src_addr = options.source ? options.source->s_addr
                    : sock.address ? sock.address->s_addr
                                   : htonl(0xc0000201);  // 192.0.2.1
  params.dst_group = options.group->group.s_addr;
  params.dst_port = options.group->port;
  params.payload_size = static_cast<uint32_t>(options.payload_size);
  params.jumbo_size = static_cast<uint32_t>(options.jumbo_size);
  params.stream = static_cast<uint16_t>(options.stream);
  return params;
}

// Sends --count frames of one kind (each behind its virtio-net header). Frames the relay
// forwards carry one sequence over every such frame, so the sink sees one gap-free stream.
void send_kind(const Options& options, const Socket& sock, const sockaddr_ll& destination,
               const mrelay::harness::FrameParams& params, InjectKind kind,
               uint64_t& forwarded_sequence, KindResult& result) {
  std::vector<uint8_t> frame(mrelay::harness::kMaxInjectFrame);
  const bool forwarded = mrelay::harness::expected_counter(kind) == "fwd_packets";
  const uint32_t datagrams = mrelay::harness::datagrams_per_frame(kind, params);
  const auto vnet = mrelay::harness::vnet_header(kind, params).serialise();
  for (uint64_t i = 0; i < options.count && !mrelay::harness::stop_requested(); ++i) {
    const uint64_t sequence = forwarded ? forwarded_sequence : i;
    const size_t len =
        mrelay::harness::build_frame(kind, params, sequence, monotonic_now_ns(), frame);
    result.frame_bytes = len;
    iovec parts[2] = {{const_cast<uint8_t*>(vnet.data()), vnet.size()}, {frame.data(), len}};
    msghdr message{};
    message.msg_name = const_cast<sockaddr_ll*>(&destination);
    message.msg_namelen = sizeof destination;
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    const ssize_t written = sendmsg(sock.fd, &message, 0);
    if (written == static_cast<ssize_t>(vnet.size() + len)) {
      ++result.sent;
      if (forwarded) {
        forwarded_sequence += datagrams;
      }
    } else {
      ++result.errors;
      result.last_errno = written < 0 ? errno : EMSGSIZE;
    }
    if (options.interval_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(options.interval_us));
    }
  }
}

using KindResults = std::vector<std::pair<InjectKind, KindResult>>;

// Prints what each kind did (JSON with --json); returns how many frames failed.
uint64_t report(const Options& options, const mrelay::harness::FrameParams& params,
                const KindResults& results) {
  uint64_t total_sent = 0;
  uint64_t total_errors = 0;
  nlohmann::json kinds = nlohmann::json::object();
  for (const auto& [kind, result] : results) {
    total_sent += result.sent;
    total_errors += result.errors;
    nlohmann::json entry = {
        {"sent", result.sent},
        {"errors", result.errors},
        {"frame_bytes", result.frame_bytes},
        {"datagrams_per_frame", mrelay::harness::datagrams_per_frame(kind, params)},
        {"expected_counter", mrelay::harness::expected_counter(kind)}};
    if (result.errors > 0) {
      entry["last_error"] = mrelay::harness::errno_name(result.last_errno);
    }
    kinds[std::string(mrelay::harness::to_string(kind))] = entry;
  }
  if (options.json) {
    const nlohmann::json report = {{"interface", options.interface},
                                   {"group", options.group->group_text()},
                                   {"port", options.group->port},
                                   {"count_per_kind", options.count},
                                   {"sent", total_sent},
                                   {"errors", total_errors},
                                   {"kinds", kinds}};
    std::printf("%s\n", report.dump().c_str());
  } else {
    for (const auto& [name, entry] : kinds.items()) {
      std::printf("%-20s sent %6llu errors %llu (%zu-byte frames) -> %s\n", name.c_str(),
                  static_cast<unsigned long long>(entry["sent"].get<uint64_t>()),
                  static_cast<unsigned long long>(entry["errors"].get<uint64_t>()),
                  entry["frame_bytes"].get<size_t>(),
                  entry["expected_counter"].get<std::string>().c_str());
    }
  }
  return total_errors;
}

int run(const Options& options) {
  Socket sock;
  if (auto opened = open_socket(options, sock); !opened) {
    std::fprintf(stderr, "mrelay-inject: %s\n", opened.error().to_string().c_str());
    return 1;
  }
  const mrelay::harness::FrameParams params = frame_params(options, sock);
  sockaddr_ll destination{};
  destination.sll_family = AF_PACKET;
  destination.sll_ifindex = static_cast<int>(sock.ifindex);
  destination.sll_halen = 6;
  // Results in the order the kinds were first asked for; a kind listed twice sends twice.
  KindResults results;
  uint64_t forwarded_sequence = 0;
  mrelay::harness::install_stop_handlers();
  for (InjectKind kind : options.kinds) {
    auto found = std::find_if(results.begin(), results.end(),
                              [kind](const auto& entry) { return entry.first == kind; });
    if (found == results.end()) {
      results.emplace_back(kind, KindResult{});
      found = results.end() - 1;
    }
    send_kind(options, sock, destination, params, kind, forwarded_sequence, found->second);
  }
  if (const uint64_t errors = report(options, params, results); errors > 0) {
    std::fprintf(stderr, "mrelay-inject: %llu frame(s) could not be sent (see \"errors\")\n",
                 static_cast<unsigned long long>(errors));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser("mrelay-inject", kDescription);
  Options options;
  describe(parser, options);
  if (auto code = mrelay::cli::finish(parser.parse(argc, argv))) {
    return *code;
  }
  if (auto checked = check_options(options); !checked) {
    return parser.usage_error(checked.error());
  }
  if (options.list) {
    for (InjectKind kind : mrelay::harness::kAllInjectKinds) {
      std::printf("%-20s -> %-24s %s\n", std::string(mrelay::harness::to_string(kind)).c_str(),
                  std::string(mrelay::harness::expected_counter(kind)).c_str(),
                  std::string(mrelay::harness::describe(kind)).c_str());
    }
    return 0;
  }
  return run(options);
}
