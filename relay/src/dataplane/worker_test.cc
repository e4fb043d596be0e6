// Worker tests: the whole loop (UDP ingress -> rule -> 3 outputs with different TTL settings)
// for every egress backend, and the one counter of a packet read while the pool is empty, on
// the loopback of a private network namespace. The plans come from the control plane's
// builder (control/plan_build.h), as in the relay.
//
// The loop test forks a child that unshare(CLONE_NEWNET)s: the child gets its own loopback
// (marked MULTICAST there), so nothing touches the host's interfaces and the namespace goes
// away with the child. Without CAP_SYS_ADMIN it skips.
#include "dataplane/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/plan_build.h"
#include "control/stats_json.h"
#include "mrelay/kernel_probe.h"
#include "testing/test_netns.h"
#include "testing/test_rules.h"
#include "testing/test_sockets.h"
#include "testing/test_worker.h"

namespace mrelay {
namespace {

using testing::bound_receiver;
using testing::ipv4;
using testing::wait_until;

// ---- the loop, in a private network namespace -------------------------------------------

constexpr uint32_t kPackets = 400;
constexpr int kOutputs = 3;
constexpr int kPayloadBytes = 100;
// Received TTLs, packet i gets kInputTtls[i % 6]: 1 is never forwarded; 2 and 5 are not above
// output 1's threshold of 5; 6, 64 and 255 go everywhere.
constexpr uint8_t kInputTtls[] = {1, 2, 5, 6, 64, 255};
constexpr uint8_t kThreshold = 5;  // output 1's ttl_threshold
constexpr uint8_t kFixedTtl = 9;   // output 2's ttl

uint8_t input_ttl(uint32_t i) {
  return kInputTtls[i % (sizeof kInputTtls / sizeof kInputTtls[0])];
}

// The TTL copy i must arrive with on output o, or 0 when it must not be sent there.
uint8_t expected_ttl(uint32_t i, int o) {
  const uint8_t ttl = input_ttl(i);
  if (ttl <= 1 || (o == 1 && ttl <= kThreshold)) {
    return 0;
  }
  return o == 2 ? kFixedTtl : static_cast<uint8_t>(ttl - 1);
}

// lo:239.1.1.1:5000 to one receiver per output on 127.0.0.1 (which report each copy's TTL):
// output 0 the default (received TTL - 1), output 1 ttl_threshold 5, output 2 a fixed ttl 9.
Rule ttl_rule(std::vector<UniqueFd>& receivers) {
  Rule rule;
  rule.input_interface = "lo";
  rule.group = ipv4("239.1.1.1");
  rule.port = 5000;
  for (int o = 0; o < kOutputs; ++o) {
    Output output;
    output.interface = "lo";
    output.address = ipv4("127.0.0.1");
    receivers.push_back(bound_receiver(output.port, 4 << 20));  // room for all 400 copies
    const int one = 1;
    ::setsockopt(receivers.back().get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
    output.ttl_threshold = o == 1 ? kThreshold : output.ttl_threshold;
    output.ttl = o == 2 ? std::optional<uint8_t>(kFixedTtl) : std::nullopt;
    rule.outputs.push_back(output);
  }
  return rule;
}

// Sends packet i to the group with its own TTL (a per-message IP_TTL works for multicast too).
void send_with_ttl(int fd, const sockaddr_in& group, uint32_t i) {
  uint8_t payload[kPayloadBytes];
  std::memset(payload, static_cast<int>(i & 0xff), sizeof payload);
  std::memcpy(payload, &i, sizeof i);
  iovec iov{payload, sizeof payload};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_name = const_cast<sockaddr_in*>(&group);
  message.msg_namelen = sizeof group;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
  cmsg->cmsg_level = IPPROTO_IP;
  cmsg->cmsg_type = IP_TTL;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  const int ttl = input_ttl(i);
  std::memcpy(CMSG_DATA(cmsg), &ttl, sizeof ttl);
  ::sendmsg(fd, &message, 0);
}

// Reads what output o's receiver holds, checking each copy's payload and TTL; counts them in
// `received`, and names the first bad copy in `failure`.
void read_copies(int fd, int o, uint32_t& received, std::string& failure) {
  uint8_t data[256];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t len;
  while ((len = ::recvmsg(fd, &message, 0)) > 0) {
    uint32_t index = 0;
    std::memcpy(&index, data, sizeof index);
    int ttl = -1;
    if (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr) {
      std::memcpy(&ttl, CMSG_DATA(cmsg), sizeof ttl);
    }
    if (len != kPayloadBytes || data[kPayloadBytes - 1] != static_cast<uint8_t>(index & 0xff)) {
      failure = "corrupted copy on output " + std::to_string(o);
    } else if (ttl != expected_ttl(index, o)) {
      failure = "output " + std::to_string(o) + " packet " + std::to_string(index) +
                " (received TTL " + std::to_string(input_ttl(index)) + "): TTL " +
                std::to_string(ttl) + ", expected " + std::to_string(expected_ttl(index, o));
    }
    ++received;
    message.msg_controllen = sizeof control;
  }
}

// The worker's counters after the loop test: every packet and copy counted once, by reason.
std::string check_loop_counters(const WorkerCounters& c, EgressBackend backend,
                                uint64_t expected_copies) {
  uint32_t forwardable = 0;  // packets with a TTL above 1
  for (uint32_t i = 0; i < kPackets; ++i) {
    forwardable += input_ttl(i) > 1 ? 1 : 0;
  }
  const uint64_t expired = kPackets - forwardable;
  const uint64_t below_threshold = kPackets * kOutputs - expired * kOutputs - expected_copies;
  std::string text;
  if (c.rx_packets != kPackets || c.fwd_packets != forwardable || c.tx_packets != expected_copies ||
      c.rx_bytes != kPackets * kPayloadBytes || c.drop_ttl_expired != expired ||
      c.drop_ttl_threshold != below_threshold || c.exhausted_packets != 0 ||
      c.unmatched_no_rule != 0) {
    text += "counters rx " + std::to_string(c.rx_packets) + " fwd " +
            std::to_string(c.fwd_packets) + " tx " + std::to_string(c.tx_packets) +
            " ttl_expired " + std::to_string(c.drop_ttl_expired) + " (want " +
            std::to_string(expired) + ") ttl_threshold " + std::to_string(c.drop_ttl_threshold) +
            " (want " + std::to_string(below_threshold) + ") exhausted " +
            std::to_string(c.exhausted_packets) + "; ";
  }
  if (c.syscalls == 0 || (backend != EgressBackend::send && c.batches == 0)) {
    text += "syscalls/batches not counted; ";
  }
  return text;
}

// Runs in a child inside a private network namespace (test_netns.h). Returns "" on success,
// "SKIP: why" or a failure description. UDP ingress, the three outputs of ttl_rule().
std::string run_udp_loop(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  std::vector<UniqueFd> receivers;
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = backend;
  config.egress.batch = 8;
  config.pool_buffers = 1024;
  config.rules.push_back(ttl_rule(receivers));
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  testing::WorkerThread loop(worker);
  UniqueFd sender = testing::multicast_sender("lo", 1);  // each packet carries its own TTL
  const sockaddr_in group = testing::endpoint(config.rules[0].group, config.rules[0].port);
  uint64_t expected_copies = 0;
  for (uint32_t i = 0; i < kPackets; ++i) {
    send_with_ttl(sender.get(), group, i);
    for (int o = 0; o < kOutputs; ++o) {
      expected_copies += expected_ttl(i, o) != 0 ? 1 : 0;
    }
    if (i % 50 == 49) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // stay under rcvbuf sizes
    }
  }
  // Wait (bounded) for every copy, checking each payload and TTL.
  uint32_t received[kOutputs] = {};
  std::string failure;
  wait_until(
      [&] {
        for (int o = 0; o < kOutputs; ++o) {
          read_copies(receivers[o].get(), o, received[o], failure);
        }
        return uint64_t{received[0]} + received[1] + received[2] >= expected_copies;
      },
      std::chrono::seconds(3));
  if (std::string error = loop.stop(); !error.empty()) {
    return error;
  }
  if (!failure.empty()) {
    return failure;
  }
  std::string text;
  const uint64_t got = uint64_t{received[0]} + received[1] + received[2];
  if (got != expected_copies) {
    text += "got " + std::to_string(got) + " copies, expected " + std::to_string(expected_copies) +
            "; ";
  }
  text += check_loop_counters(worker.counters(), backend, expected_copies);
  if (worker.free_buffers() != config.pool_buffers) {
    text += "buffers leaked: " + std::to_string(config.pool_buffers - worker.free_buffers()) + "; ";
  }
  return text;
}

class WorkerLoop : public ::testing::TestWithParam<EgressBackend> {};

// Every copy carries the received TTL - 1 (or its output's fixed TTL), a packet received with
// TTL 1 is never forwarded, a threshold holds back what is not above it; each counted once.
TEST_P(WorkerLoop, UdpIngressFanoutThreeWithTtls) {
  const EgressBackend backend = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([backend] { return run_udp_loop(backend); });
}

// Loopback's MTU is 65536: the plan sizes the pool's buffers for it (65600 bytes, the count
// lowered to fit kMaxPoolBytes) and 64 KiB datagrams go through whole, every byte checked.
std::string run_large_datagrams(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  constexpr uint32_t kLarge = 65000;
  constexpr uint32_t kCount = 16;
  std::vector<UniqueFd> receivers;
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = backend;
  Rule rule = testing::loopback_rule("large", "239.1.1.1", 5000, 0);
  receivers.push_back(bound_receiver(rule.outputs[0].port, 8 << 20));
  config.rules.push_back(rule);
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  if (plan->pool.buffer_size != kMaxBufferSize || plan->pool_mtu != 65536 || !plan->pool.capped) {
    return "pool not sized for lo: " + plan->pool.describe();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  testing::WorkerThread loop(worker);
  UniqueFd sender = testing::multicast_sender("lo", 8);
  const int sndbuf = 4 << 20;
  ::setsockopt(sender.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  const sockaddr_in group = testing::endpoint(rule.group, rule.port);
  std::vector<uint8_t> payload(kLarge);
  for (uint32_t i = 0; i < kCount; ++i) {
    for (uint32_t b = 0; b < kLarge; ++b) {
      payload[b] = static_cast<uint8_t>(b * 7 + i);
    }
    ::sendto(sender.get(), payload.data(), kLarge, 0, reinterpret_cast<const sockaddr*>(&group),
             sizeof group);
  }
  uint32_t intact = 0;
  std::vector<uint8_t> data(70000);
  wait_until(
      [&] {
        ssize_t len;
        while ((len = ::recv(receivers[0].get(), data.data(), data.size(), 0)) > 0) {
          const auto i = static_cast<uint8_t>(data[0]);  // b = 0: the datagram's index
          bool same = len == kLarge;
          for (uint32_t b = 0; same && b < kLarge; ++b) {
            same = data[b] == static_cast<uint8_t>(b * 7 + i);
          }
          intact += same ? 1 : 0;
        }
        return intact >= kCount;
      },
      std::chrono::seconds(3));
  if (std::string error = loop.stop(); !error.empty()) {
    return error;
  }
  const WorkerCounters& c = worker.counters();
  if (intact != kCount || c.tx_packets != kCount || c.malformed_truncated != 0 ||
      c.rx_oversize != 0) {
    return "intact " + std::to_string(intact) + " of " + std::to_string(kCount) + ", tx " +
           std::to_string(c.tx_packets) + ", truncated " + std::to_string(c.malformed_truncated);
  }
  return "";
}

TEST_P(WorkerLoop, LoopbackRelays64KiBDatagramsWhole) {
  const EgressBackend backend = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([backend] { return run_large_datagrams(backend); });
}

// An IPv6 receiver bound to [::1]:port reporting each datagram's hop limit.
UniqueFd ipv6_receiver(uint16_t& port) {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one);
  sockaddr_in6 bound{};
  bound.sin6_family = AF_INET6;
  bound.sin6_addr = in6addr_loopback;
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound);
  socklen_t len = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  port = ntohs(bound.sin6_port);
  return fd;
}

// Datagrams of `size` bytes on `fd` whose payload and hop limit (or TTL) are as sent.
uint32_t read_checked(int fd, uint32_t size, int want_hops, std::string& failure) {
  uint32_t good = 0;
  uint8_t data[512];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) unsigned char control[64];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t len;
  while ((len = ::recvmsg(fd, &message, 0)) > 0) {
    int hops = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      std::memcpy(&hops, CMSG_DATA(c), sizeof hops);  // IPV6_HOPLIMIT or IP_TTL: one int
    }
    if (len != static_cast<ssize_t>(size) || data[size - 1] != data[0] || hops != want_hops) {
      failure = "datagram of " + std::to_string(len) + " B, hop limit " + std::to_string(hops) +
                " (want " + std::to_string(want_hops) + ")";
    } else {
      ++good;
    }
    message.msg_controllen = sizeof control;
  }
  return good;
}

// IPv6 on udp ingress: an AF_INET6 socket joined to ff3e::1 (MLD) on one end of a veth pair
// (loopback does not carry IPv6 multicast; the sender's own copy is looped back on the veth),
// the hop limit read as the TTL, copies to an IPv6 ([::1]) and an IPv4 output on lo, each
// leaving with hop limit / TTL received - 1.
// The veth pair (DAD off, so the link-local address comes at once); "" or why not.
std::string ipv6_veth() {
  for (const std::string& step :
       {testing::write_sysctl("net/ipv6/conf/default/accept_dad", "0"),
        testing::create_veth_pair("mrv6a", "mrv6b"), testing::interface_up("mrv6a"),
        testing::interface_up("mrv6b")}) {
    if (!step.empty()) {
      return "SKIP: veth for IPv6: " + step;
    }
  }
  return "";
}

// Sends `count` datagrams of `size` bytes (all bytes = the index) to `group` out of mrv6a with
// hop limit `hops`, once the veth's link-local address (the source) is there: until then a
// send fails, so a probe goes first, to another port (the relay's socket takes only its own).
bool send_ipv6(sockaddr_in6 group, uint32_t count, uint32_t size, int hops) {
  UniqueFd sender(::socket(AF_INET6, SOCK_DGRAM, 0));
  const int via = static_cast<int>(::if_nametoindex("mrv6a"));
  ::setsockopt(sender.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &via, sizeof via);
  ::setsockopt(sender.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  std::vector<uint8_t> payload(size);
  sockaddr_in6 probe = group;
  probe.sin6_port = htons(static_cast<uint16_t>(ntohs(group.sin6_port) + 1));
  if (!wait_until(
          [&] {
            return ::sendto(sender.get(), payload.data(), 1, 0,
                            reinterpret_cast<sockaddr*>(&probe), sizeof probe) == 1;
          },
          std::chrono::seconds(3))) {
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    std::fill(payload.begin(), payload.end(), static_cast<uint8_t>(i));
    ::sendto(sender.get(), payload.data(), size, 0, reinterpret_cast<sockaddr*>(&group),
             sizeof group);
  }
  return true;
}

std::string run_ipv6_loop(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  if (std::string veth = ipv6_veth(); !veth.empty()) {
    return veth;
  }
  constexpr uint32_t kCount = 50;
  constexpr uint32_t kSize = 200;
  constexpr int kHops = 9;
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = backend;
  Rule rule = testing::loopback_rule("v6", "239.1.1.1", 5000, 0);
  rule.input_interface = "mrv6a";
  rule.group6 = in6_addr{};
  ::inet_pton(AF_INET6, "ff3e::1", &*rule.group6);
  UniqueFd v4 = bound_receiver(rule.outputs[0].port);
  const int one = 1;
  ::setsockopt(v4.get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
  Output output6 = rule.outputs[0];
  output6.address = in_addr{};
  output6.address6 = in6addr_loopback;
  UniqueFd v6 = ipv6_receiver(output6.port);
  rule.outputs.push_back(output6);
  config.rules.push_back(rule);
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  testing::WorkerThread loop(worker);
  sockaddr_in6 group{};
  group.sin6_family = AF_INET6;
  group.sin6_addr = *rule.group6;
  group.sin6_port = htons(rule.port);
  if (!send_ipv6(group, kCount, kSize, kHops)) {
    (void)loop.stop();
    return "SKIP: no IPv6 source address on the veth";
  }
  uint32_t got4 = 0, got6 = 0;
  std::string failure;
  wait_until(
      [&] {
        got4 += read_checked(v4.get(), kSize, kHops - 1, failure);
        got6 += read_checked(v6.get(), kSize, kHops - 1, failure);
        return got4 >= kCount && got6 >= kCount;
      },
      std::chrono::seconds(3));
  if (std::string error = loop.stop(); !error.empty()) {
    return error;
  }
  if (!failure.empty() || got4 != kCount || got6 != kCount ||
      worker.counters().rx_packets != kCount) {
    return "IPv4 output " + std::to_string(got4) + ", IPv6 output " + std::to_string(got6) +
           " of " + std::to_string(kCount) + ", rx " + std::to_string(worker.counters().rx_packets) +
           (failure.empty() ? "" : "; " + failure);
  }
  return "";
}

TEST_P(WorkerLoop, Ipv6UdpIngressToIpv6AndIpv4Outputs) {
  const EgressBackend backend = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([backend] { return run_ipv6_loop(backend); });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, WorkerLoop,
                         ::testing::Values(EgressBackend::send, EgressBackend::sendmmsg,
                                           EgressBackend::uring, EgressBackend::gso),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

// ---- one counter per dropped packet ------------------------------------------------------

// A packet read while the pool is empty is not relayed at all: it is counted once, in
// drop_buffer_exhausted, and in no other counter (exhausted_packets counts packets that lost
// copies at egress). A pool of 64 buffers and 200 datagrams waiting before the first read: the
// worker's 256 receive slots get 64 buffers, the other 136 datagrams land in scratch.
constexpr uint32_t kPoolBuffers = 64;
constexpr uint32_t kPoolDatagrams = 200;

// A second member of `group`:`port` on lo, beside the worker's socket: multicast reaches
// every socket in the same pass, so once this one holds all the datagrams the worker's does.
UniqueFd group_member(in_addr group, uint16_t port) {
  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int one = 1;
  const int bytes = 4 << 20;
  ::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(probe.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  const sockaddr_in address = testing::endpoint(group, port);
  ::bind(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ip_mreqn join{};
  join.imr_multiaddr = group;
  join.imr_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ::setsockopt(probe.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join);
  return probe;
}

// The empty-pool test's counters: each datagram read into scratch counted once, in
// drop_buffer_exhausted and nowhere else; every buffer back in the pool.
std::string check_empty_pool_counters(const Worker& worker) {
  const WorkerCounters& c = worker.counters();
  std::string text;
  if (c.rx_packets != kPoolDatagrams || c.fwd_packets != kPoolBuffers ||
      c.drop_buffer_exhausted != kPoolDatagrams - kPoolBuffers) {
    text += "rx " + std::to_string(c.rx_packets) + " fwd " + std::to_string(c.fwd_packets) +
            " drop_buffer_exhausted " + std::to_string(c.drop_buffer_exhausted) + ", expected " +
            std::to_string(kPoolDatagrams) + " / " + std::to_string(kPoolBuffers) + " / " +
            std::to_string(kPoolDatagrams - kPoolBuffers) + "; ";
  }
  if (c.exhausted_packets != 0) {
    text += "exhausted_packets " + std::to_string(c.exhausted_packets) +
            ": the empty-pool drops were counted twice; ";
  }
  if (worker.free_buffers() != kPoolBuffers) {
    text += "buffers leaked; ";
  }
  return text;
}

// A packet read while the pool is empty is not relayed at all: it is counted once, in
// drop_buffer_exhausted, and in no other counter (exhausted_packets counts packets that lost
// copies at egress). A pool of 64 buffers and 200 datagrams waiting before the first read: the
// worker's 256 receive slots get 64 buffers, the other 136 datagrams land in scratch.
std::string run_empty_pool() {
  uint16_t out_port = 0;
  UniqueFd receiver = bound_receiver(out_port, 4 << 20);
  const Rule rule = testing::loopback_rule("", "239.1.1.7", 5007, out_port);
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = EgressBackend::sendmmsg;
  config.rcvbuf = 4u << 20;
  config.pool_buffers = kPoolBuffers;  // below the config minimum on purpose: the worker takes it
  config.rules.push_back(rule);
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  UniqueFd probe = group_member(rule.group, rule.port);
  UniqueFd sender = testing::multicast_sender("lo", 64);
  sockaddr_in group = testing::endpoint(rule.group, rule.port);
  uint8_t payload[100] = {};
  for (uint32_t i = 0; i < kPoolDatagrams; ++i) {
    ::sendto(sender.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&group),
             sizeof group);
  }
  uint32_t probed = 0;
  wait_until([&] { return (probed += testing::drain_count(probe.get())) >= kPoolDatagrams; },
             std::chrono::seconds(5));
  if (probed != kPoolDatagrams) {
    return "SKIP: only " + std::to_string(probed) + " of the datagrams reached the group";
  }
  testing::WorkerThread loop(worker);
  wait_until([&] { return snapshot_counters(worker.counters()).rx_packets >= kPoolDatagrams; },
             std::chrono::seconds(5));
  if (std::string error = loop.stop(); !error.empty()) {
    return error;
  }
  return check_empty_pool_counters(worker);
}

TEST(WorkerDrops, EmptyPoolDropCountedOnce) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS(run_empty_pool);
}

}  // namespace
}  // namespace mrelay
