// The gso backend's shared multicast socket (GsoBatch::all, egress_sendmmsg.cc), in a private
// network namespace with two veth pairs: one sendmmsg() per flush for every multicast output;
// each copy leaves on its own output's interface (IP_PKTINFO) with its own TTL, even where two
// outputs send to the same group and port on different interfaces; and an output whose
// interface goes down between queueing and flushing fails its own copies, each counted once,
// while the call goes on with the other outputs (a partial sendmmsg); a unicast output keeps
// its own socket; IPv6 multicast outputs share a socket of their own (IPV6_PKTINFO,
// IPV6_HOPLIMIT), so IPv4 and IPv6 outputs together make one call per family. Each test also
// runs with GsoBatch::per_output, the old behaviour, where the copies and counts must be the
// same and only the number of calls differs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ipv6.h>

#include <cstring>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/egress/egress.h"
#include "dataplane/egress/egress_selector.h"
#include "mrelay/kernel_probe.h"
#include "testing/test_netns.h"

namespace mrelay {
namespace {

constexpr uint32_t kSize = 200;

// mrlt0 -> mrlt1 and mrlt2 -> mrlt3: the relay sends on mrlt0 and mrlt2, receivers listen on
// mrlt1 and mrlt3. Returns "" or the failed step.
std::string two_veth_pairs() {
  for (const std::string& step :
       {testing::create_veth_pair("mrlt0", "mrlt1"), testing::create_veth_pair("mrlt2", "mrlt3"),
        testing::interface_up("mrlt0"), testing::interface_up("mrlt1"),
        testing::interface_up("mrlt2"), testing::interface_up("mrlt3"),
        testing::interface_running("mrlt0"), testing::interface_running("mrlt1"),
        testing::interface_running("mrlt2"), testing::interface_running("mrlt3"),
        testing::add_ipv4_address("mrlt0", "10.99.0.1"),
        testing::add_ipv4_address("mrlt2", "10.99.1.1"),
        // The copies come from addresses of this same namespace: let the receivers take them.
        testing::write_sysctl("net/ipv4/conf/mrlt1/accept_local", "1"),
        testing::write_sysctl("net/ipv4/conf/mrlt3/accept_local", "1")}) {
    if (!step.empty()) {
      return step;
    }
  }
  return "";
}

std::string interface_down(const std::string& name) {
  UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) {
    return "SIOCGIFFLAGS " + name + ": " + std::strerror(errno);
  }
  request.ifr_flags &= ~IFF_UP;
  if (::ioctl(control.get(), SIOCSIFFLAGS, &request) != 0) {
    return "SIOCSIFFLAGS " + name + ": " + std::strerror(errno);
  }
  return "";
}

// A receiver of group:port joined on mrlt1 and mrlt3, reporting each datagram's TTL and the
// interface it arrived on.
UniqueFd open_group_receiver(in_addr group, uint16_t port, std::string& problem) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int bytes = 4 << 20;
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  ::setsockopt(fd.get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
  ::setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr = group;
  bound.sin_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0) {
    problem += std::string("bind: ") + std::strerror(errno) + "; ";
  }
  for (const char* name : {"mrlt1", "mrlt3"}) {
    ip_mreqn join{};
    join.imr_multiaddr = group;
    join.imr_ifindex = static_cast<int>(::if_nametoindex(name));
    if (::setsockopt(fd.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) != 0) {
      problem += std::string("join on ") + name + ": " + std::strerror(errno) + "; ";
    }
  }
  return fd;
}

// One received datagram: the copy index in its first 4 bytes, its TTL, where it arrived.
struct Arrival {
  uint32_t index = UINT32_MAX;
  int ttl = -1;
  int ifindex = -1;
};

bool receive_one(int fd, Arrival& arrival) {
  uint8_t data[BufferPool::kDefaultBufferSize];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  const ssize_t len = ::recvmsg(fd, &message, MSG_DONTWAIT);
  if (len < 0) {
    return false;
  }
  arrival = Arrival{};
  if (len >= 4) {
    std::memcpy(&arrival.index, data, sizeof arrival.index);
  }
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&message, cmsg)) {
    if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_TTL) {
      std::memcpy(&arrival.ttl, CMSG_DATA(cmsg), sizeof arrival.ttl);
    } else if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof info);
      arrival.ifindex = info.ipi_ifindex;
    } else if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_HOPLIMIT) {
      std::memcpy(&arrival.ttl, CMSG_DATA(cmsg), sizeof arrival.ttl);
    } else if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof info);
      arrival.ifindex = static_cast<int>(info.ipi6_ifindex);
    }
  }
  return true;
}

// Reads datagrams until `expected` arrived or 2 s passed without one; then a little longer
// for strays.
std::vector<Arrival> receive_all(int fd, size_t expected) {
  std::vector<Arrival> arrivals;
  for (int idle = 0; idle < (arrivals.size() < expected ? 200 : 5);) {
    Arrival arrival;
    if (receive_one(fd, arrival)) {
      arrivals.push_back(arrival);
      idle = 0;
      continue;
    }
    pollfd ready{fd, POLLIN, 0};
    ::poll(&ready, 1, 10);
    ++idle;
  }
  return arrivals;
}

// The TTL of copy i to output o: runs of three (GSO may join those and must cut where the TTL
// changes), including 1 (the sockets' own TTL: no control message).
uint8_t copy_ttl(uint32_t i, uint32_t o) {
  constexpr uint8_t kTtls[] = {64, 63, 1, 255, 2, 5, 200, 1, 9};
  return kTtls[(i / 3 + o) % (sizeof kTtls / sizeof kTtls[0])];
}

// An output: where it sends, and the receiver-side interface its copies must arrive on.
struct TestOutput {
  const char* interface;
  const char* arrives_on;
  const char* group;
  uint16_t port;
};

struct Outputs {
  std::vector<UniqueFd> sockets;
  std::vector<int> fds;
};

Outputs open_outputs(const std::vector<TestOutput>& outputs, std::string& problem) {
  Outputs result;
  for (size_t o = 0; o < outputs.size(); ++o) {
    Output output;
    output.interface = outputs[o].interface;
    if (std::strchr(outputs[o].group, ':') != nullptr) {
      output.address6.emplace();
      ::inet_pton(AF_INET6, outputs[o].group, &*output.address6);
    } else {
      ::inet_pton(AF_INET, outputs[o].group, &output.address);
    }
    output.port = outputs[o].port;
    if (o == 1) {
      output.ttl = 5;  // a fixed TTL: its own socket would send 5 without a control message
    }
    auto fd = open_output_socket(output, ::if_nametoindex(output.interface.c_str()),
                                 {.sndbuf = 1 << 20}, "output " + std::to_string(o));
    if (!fd) {
      problem += fd.error().to_string() + "; ";
      continue;
    }
    result.fds.push_back(fd->get());
    result.sockets.push_back(std::move(*fd));
  }
  return result;
}

// Queues `copies` copies of kSize bytes to every output with copy_ttl(), flushing every
// `turn` copies as the worker's loop does, and drains.
void send_copies(Egress& egress, BufferPool& pool, uint32_t outputs, uint32_t copies,
                 uint32_t turn) {
  for (uint32_t i = 0; i < copies; ++i) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    std::memset(buffer->data, 0x3c, kSize);
    std::memcpy(buffer->data, &i, sizeof i);
    for (uint32_t o = 0; o < outputs; ++o) {
      EXPECT_TRUE(egress.send(o, buffer, buffer->data, kSize, copy_ttl(i, o)));
    }
    pool.release(buffer);
    if (i % turn == turn - 1) {
      egress.flush();
    }
  }
  egress.drain(0);
}

// What one gso egress run must show: its calls with and without the shared sockets, and a
// phrase its description has exactly when it shares (nullptr: not checked).
struct Expected {
  uint64_t shared_calls;
  uint64_t own_calls;
  const char* shared_describe;
};

// Sends `copies` copies to every output in `fds` through a gso egress in `mode`, flushing
// every `turn` copies, and checks its calls, the copies sent and that no buffer leaked.
std::string send_through_gso(std::span<const int> fds, GsoBatch mode, uint32_t copies,
                             uint32_t turn, const Expected& expected) {
  BufferPool pool(copies);
  WorkerCounters counters{};
  auto egress = make_egress({.backend = EgressBackend::gso, .batch = 64, .gso_batch = mode}, fds,
                            pool, counters);
  if (!egress) {
    return egress.error().to_string();
  }
  std::string problems;
  const bool shared = mode == GsoBatch::all;
  if ((*egress)->caches_output_interfaces() != shared ||
      (expected.shared_describe != nullptr &&
       ((*egress)->describe().find(expected.shared_describe) != std::string::npos) != shared)) {
    problems += "describe: " + (*egress)->describe() + "; ";
  }
  const auto outputs = static_cast<uint32_t>(fds.size());
  send_copies(**egress, pool, outputs, copies, turn);
  const uint64_t calls = shared ? expected.shared_calls : expected.own_calls;
  if (counters.syscalls != calls || counters.tx_packets != uint64_t{copies} * outputs) {
    problems += "syscalls " + std::to_string(counters.syscalls) + " (expected " +
                std::to_string(calls) + "), tx_packets " + std::to_string(counters.tx_packets) +
                "; ";
  }
  if (pool.available() != pool.capacity()) {
    problems += "a buffer reference leaked; ";
  }
  return problems;
}

// Checks what arrived for the outputs that send to one group and port: each of their copies
// exactly once, on its output's interface, with its TTL; nothing else.
std::string check_arrivals(const std::vector<Arrival>& arrivals,
                           const std::vector<TestOutput>& outputs, const char* group,
                           uint32_t copies) {
  std::map<int, uint32_t> output_on;  // receiving ifindex -> output sending there
  for (uint32_t o = 0; o < outputs.size(); ++o) {
    if (std::strcmp(outputs[o].group, group) == 0) {
      output_on[static_cast<int>(::if_nametoindex(outputs[o].arrives_on))] = o;
    }
  }
  std::string problems;
  std::map<std::tuple<uint32_t, uint32_t>, int> seen;
  for (const Arrival& arrival : arrivals) {
    const auto at = output_on.find(arrival.ifindex);
    if (at == output_on.end() || arrival.index >= copies) {
      problems += std::string(group) + ": copy " + std::to_string(arrival.index) +
                  " arrived on ifindex " + std::to_string(arrival.ifindex) + "; ";
      continue;
    }
    const uint32_t o = at->second;
    if (++seen[{o, arrival.index}] != 1) {
      problems +=
          "output " + std::to_string(o) + ": copy " + std::to_string(arrival.index) + " twice; ";
    }
    if (arrival.ttl != copy_ttl(arrival.index, o)) {
      problems += "output " + std::to_string(o) + " copy " + std::to_string(arrival.index) +
                  ": TTL " + std::to_string(arrival.ttl) + ", sent with " +
                  std::to_string(copy_ttl(arrival.index, o)) + "; ";
    }
  }
  if (seen.size() != output_on.size() * copies) {
    problems += std::string(group) + ": " + std::to_string(seen.size()) + " distinct copies of " +
                std::to_string(output_on.size() * copies) + "; ";
  }
  return problems;
}

// Output 0 and 1 send to the same group and port, on different interfaces; output 2 to
// another group on output 0's interface.
const std::vector<TestOutput> kThreeOutputs = {{"mrlt0", "mrlt1", "239.9.9.1", 7001},
                                               {"mrlt2", "mrlt3", "239.9.9.1", 7001},
                                               {"mrlt0", "mrlt1", "239.9.9.2", 7002}};

std::string run_interfaces_and_ttls(GsoBatch mode) {
  if (std::string failed = two_veth_pairs(); !failed.empty()) {
    return failed;
  }
  std::string problems;
  in_addr group1{};
  in_addr group2{};
  ::inet_pton(AF_INET, "239.9.9.1", &group1);
  ::inet_pton(AF_INET, "239.9.9.2", &group2);
  UniqueFd receiver1 = open_group_receiver(group1, 7001, problems);
  UniqueFd receiver2 = open_group_receiver(group2, 7002, problems);
  Outputs outputs = open_outputs(kThreeOutputs, problems);
  if (!problems.empty()) {
    return problems;
  }
  // 90 copies per output in turns of 20, batch 64: 5 flushes (4 turns and the drain).
  constexpr uint32_t kCopies = 90;
  constexpr uint32_t kFlushes = 5;
  problems += send_through_gso(outputs.fds, mode, kCopies, 20, {kFlushes, kFlushes * 3, nullptr});
  problems += check_arrivals(receive_all(receiver1.get(), 2 * kCopies), kThreeOutputs, "239.9.9.1",
                             kCopies);
  problems +=
      check_arrivals(receive_all(receiver2.get(), kCopies), kThreeOutputs, "239.9.9.2", kCopies);
  return problems;
}

class GsoBatching : public ::testing::TestWithParam<GsoBatch> {
 protected:
  void SetUp() override {
    if (!probe_udp_gso()) {
      GTEST_SKIP() << "no UDP_SEGMENT on this kernel";
    }
  }
};

TEST_P(GsoBatching, EveryCopyLeavesOnItsInterfaceWithItsTtl) {
  const GsoBatch mode = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([mode] { return run_interfaces_and_ttls(mode); });
}

// Output 1's interface goes down after its copies were queued: the flush's sendmmsg() sends
// output 0's messages and stops at output 1's first (a partial send); output 1's copies fail
// (ENETUNREACH, drop_other_errno), each counted once and charged to output 1; output 2's
// copies still leave. With the shared socket that is three calls.
std::string run_downed_interface(GsoBatch mode) {
  if (std::string failed = two_veth_pairs(); !failed.empty()) {
    return failed;
  }
  std::string problems;
  const std::vector<TestOutput> outputs = {{"mrlt0", "mrlt1", "239.9.9.1", 7001},
                                           {"mrlt2", "mrlt3", "239.9.9.2", 7002},
                                           {"mrlt0", "mrlt1", "239.9.9.3", 7003}};
  std::vector<UniqueFd> receivers;
  for (const TestOutput& output : outputs) {
    in_addr group{};
    ::inet_pton(AF_INET, output.group, &group);
    receivers.push_back(open_group_receiver(group, output.port, problems));
  }
  Outputs opened = open_outputs(outputs, problems);
  if (!problems.empty()) {
    return problems;
  }
  constexpr uint32_t kCopies = 30;
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  OutputCounters per_output[3] = {};
  auto egress = make_egress({.backend = EgressBackend::gso,
                             .batch = 64,
                             .output_counters = per_output,
                             .gso_batch = mode},
                            opened.fds, pool, counters);
  if (!egress) {
    return egress.error().to_string();
  }
  for (uint32_t i = 0; i < kCopies; ++i) {
    PacketBuffer* buffer = pool.acquire();
    std::memset(buffer->data, 0x5a, kSize);
    std::memcpy(buffer->data, &i, sizeof i);
    for (uint32_t o = 0; o < 3; ++o) {
      (*egress)->send(o, buffer, buffer->data, kSize, copy_ttl(i, o));
    }
    pool.release(buffer);
  }
  if (std::string failed = interface_down("mrlt2"); !failed.empty()) {
    return failed;
  }
  (*egress)->flush();
  if (mode == GsoBatch::all && counters.syscalls != 3) {
    problems += "syscalls " + std::to_string(counters.syscalls) + ", expected 3; ";
  }
  if (counters.tx_packets != 2 * kCopies || counters.drop_other_errno != kCopies ||
      per_output[0].failed_packets != 0 || per_output[1].failed_packets != kCopies ||
      per_output[2].failed_packets != 0 || counters.exhausted_packets != 0) {
    problems += "tx_packets " + std::to_string(counters.tx_packets) + ", drop_other_errno " +
                std::to_string(counters.drop_other_errno) + ", failed per output " +
                std::to_string(per_output[0].failed_packets) + "/" +
                std::to_string(per_output[1].failed_packets) + "/" +
                std::to_string(per_output[2].failed_packets) + "; ";
  }
  if (pool.available() != pool.capacity()) {
    problems += "a buffer reference leaked; ";
  }
  for (uint32_t o : {0u, 2u}) {
    const size_t arrived = receive_all(receivers[o].get(), kCopies).size();
    if (arrived != kCopies) {
      problems += "output " + std::to_string(o) + ": " + std::to_string(arrived) + " arrived; ";
    }
  }
  return problems;
}

TEST_P(GsoBatching, DownedInterfaceFailsOnlyItsCopiesEachOnce) {
  const GsoBatch mode = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([mode] { return run_downed_interface(mode); });
}

// Two multicast outputs and a unicast one (loopback): the unicast output keeps its own
// connected socket (its peer's ICMP errors must land there), so a flush is two calls with the
// shared socket, three without; every copy arrives.
std::string run_mixed_outputs(GsoBatch mode) {
  if (std::string failed = two_veth_pairs(); !failed.empty()) {
    return failed;
  }
  std::string problems;
  const std::vector<TestOutput> multicast = {{"mrlt0", "mrlt1", "239.9.9.1", 7001},
                                             {"mrlt2", "mrlt3", "239.9.9.2", 7002}};
  std::vector<UniqueFd> receivers;
  for (const TestOutput& output : multicast) {
    in_addr group{};
    ::inet_pton(AF_INET, output.group, &group);
    receivers.push_back(open_group_receiver(group, output.port, problems));
  }
  Outputs opened = open_outputs(multicast, problems);
  UniqueFd unicast_receiver(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bound.sin_port = htons(7003);
  if (::bind(unicast_receiver.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0) {
    problems += std::string("bind 127.0.0.1:7003: ") + std::strerror(errno) + "; ";
  }
  Output unicast;
  unicast.interface = "lo";
  unicast.address.s_addr = htonl(INADDR_LOOPBACK);
  unicast.port = 7003;
  auto unicast_fd = open_output_socket(unicast, 1, {.sndbuf = 1 << 20}, "unicast output");
  if (!unicast_fd) {
    return problems + unicast_fd.error().to_string();
  }
  opened.fds.push_back(unicast_fd->get());
  if (!problems.empty()) {
    return problems;
  }
  constexpr uint32_t kCopies = 20;
  problems += send_through_gso(opened.fds, mode, kCopies, kCopies,
                               {2, 3, "2 multicast outputs through one shared socket"});
  receivers.push_back(std::move(unicast_receiver));
  for (size_t o = 0; o < receivers.size(); ++o) {
    const size_t arrived = receive_all(receivers[o].get(), kCopies).size();
    if (arrived != kCopies) {
      problems += "output " + std::to_string(o) + ": " + std::to_string(arrived) + " arrived; ";
    }
  }
  return problems;
}

TEST_P(GsoBatching, UnicastOutputsKeepTheirOwnSocket) {
  const GsoBatch mode = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([mode] { return run_mixed_outputs(mode); });
}

// Even without duplicate address detection the kernel finishes an address's set-up in a work
// queue, and until then it is tentative (bind and a source lookup refuse it): waits (up to
// 5 s) until a socket can bind it.
std::string wait_until_bindable(const in6_addr& address, const char* text) {
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 10) {
    UniqueFd probe(::socket(AF_INET6, SOCK_DGRAM, 0));
    sockaddr_in6 local{};
    local.sin6_family = AF_INET6;
    local.sin6_addr = address;
    if (::bind(probe.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) == 0) {
      return "";
    }
    ::usleep(10 * 1000);
  }
  return std::string(text) + ": still tentative 5 s after it was added";
}

// IPv6 on both pairs: addresses usable at once (no duplicate address detection), so the
// copies have a source address the moment they are sent.
std::string ipv6_on_both_pairs() {
  for (const char* name : {"mrlt0", "mrlt1", "mrlt2", "mrlt3"}) {
    if (std::string failed = testing::write_sysctl(
            "net/ipv6/conf/" + std::string(name) + "/accept_dad", "0");
        !failed.empty()) {
      return "SKIP: no IPv6 here (" + failed + ")";
    }
  }
  for (const auto& [name, address] : {std::pair{"mrlt0", "fd99::1"}, std::pair{"mrlt2", "fd99:1::1"}}) {
    UniqueFd control(::socket(AF_INET6, SOCK_DGRAM, 0));
    in6_ifreq request{};
    ::inet_pton(AF_INET6, address, &request.ifr6_addr);
    request.ifr6_prefixlen = 64;
    request.ifr6_ifindex = static_cast<int>(::if_nametoindex(name));
    if (::ioctl(control.get(), SIOCSIFADDR, &request) != 0) {
      return std::string("SIOCSIFADDR ") + address + ": " + std::strerror(errno);
    }
    if (std::string failed = wait_until_bindable(request.ifr6_addr, address); !failed.empty()) {
      return failed;
    }
  }
  return "";
}

// A receiver of an IPv6 group:port joined on mrlt1 and mrlt3, reporting each datagram's hop
// limit and the interface it arrived on.
UniqueFd open_group_receiver6(const char* group, uint16_t port, std::string& problem) {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int bytes = 4 << 20;
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one);
  ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  sockaddr_in6 bound{};
  bound.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, group, &bound.sin6_addr);
  bound.sin6_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0) {
    problem += std::string("bind [") + group + "]: " + std::strerror(errno) + "; ";
  }
  for (const char* name : {"mrlt1", "mrlt3"}) {
    ipv6_mreq join{};
    join.ipv6mr_multiaddr = bound.sin6_addr;
    join.ipv6mr_interface = ::if_nametoindex(name);
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_JOIN_GROUP, &join, sizeof join) != 0) {
      problem += std::string("join on ") + name + ": " + std::strerror(errno) + "; ";
    }
  }
  return fd;
}

// As kThreeOutputs in IPv6 (outputs 0-2), with two IPv4 outputs after them (3 and 4).
const std::vector<TestOutput> kMixedFamilies = {{"mrlt0", "mrlt1", "ff3e::9:1", 7001},
                                                {"mrlt2", "mrlt3", "ff3e::9:1", 7001},
                                                {"mrlt0", "mrlt1", "ff3e::9:2", 7002},
                                                {"mrlt0", "mrlt1", "239.9.9.1", 7001},
                                                {"mrlt2", "mrlt3", "239.9.9.1", 7001}};

// IPv6 multicast outputs beside IPv4 ones: one call per family and flush with the shared
// sockets (five without); every copy arrives once, on its output's interface, with its hop
// limit or TTL.
std::string run_ipv6_outputs(GsoBatch mode) {
  for (const auto& step : {two_veth_pairs(), ipv6_on_both_pairs()}) {
    if (!step.empty()) {
      return step;
    }
  }
  std::string problems;
  UniqueFd receiver1 = open_group_receiver6("ff3e::9:1", 7001, problems);
  UniqueFd receiver2 = open_group_receiver6("ff3e::9:2", 7002, problems);
  in_addr group4{};
  ::inet_pton(AF_INET, "239.9.9.1", &group4);
  UniqueFd receiver4 = open_group_receiver(group4, 7001, problems);
  Outputs outputs = open_outputs(kMixedFamilies, problems);
  if (!problems.empty()) {
    return problems;
  }
  constexpr uint32_t kCopies = 90;  // in turns of 20, batch 64: 5 flushes
  constexpr uint32_t kFlushes = 5;
  problems += send_through_gso(
      outputs.fds, mode, kCopies, 20,
      {kFlushes * 2, kFlushes * 5, "3 IPv6 multicast outputs through one shared socket"});
  problems += check_arrivals(receive_all(receiver1.get(), 2 * kCopies), kMixedFamilies,
                             "ff3e::9:1", kCopies);
  problems += check_arrivals(receive_all(receiver2.get(), kCopies), kMixedFamilies, "ff3e::9:2",
                             kCopies);
  problems += check_arrivals(receive_all(receiver4.get(), 2 * kCopies), kMixedFamilies,
                             "239.9.9.1", kCopies);
  return problems;
}

TEST_P(GsoBatching, Ipv6OutputsShareASocketOfTheirOwn) {
  const GsoBatch mode = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([mode] { return run_ipv6_outputs(mode); });
}

INSTANTIATE_TEST_SUITE_P(Modes, GsoBatching, ::testing::Values(GsoBatch::all, GsoBatch::per_output),
                         [](const auto& param_info) {
                           return std::string(param_info.param == GsoBatch::all ? "all"
                                                                                : "per_output");
                         });

}  // namespace
}  // namespace mrelay
