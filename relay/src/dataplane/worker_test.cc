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
#include <thread>

#include "control/plan_build.h"
#include "control/stats_json.h"
#include "mrelay/kernel_probe.h"
#include "testing/test_netns.h"

namespace mrelay {
namespace {

in_addr address(const char* text) {
  in_addr value{};
  ::inet_pton(AF_INET, text, &value);
  return value;
}

// ---- the loop, in a private network namespace -------------------------------------------

constexpr uint32_t kPackets = 400;
constexpr int kOutputs = 3;
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

// Runs in a child inside a private network namespace (test_netns.h). Returns "" on success,
// "SKIP: why" or a failure description. UDP ingress, three outputs: the default (received
// TTL - 1), ttl_threshold 5, and a fixed ttl 9.
std::string run_udp_loop(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  // Receivers for the three outputs.
  std::vector<UniqueFd> receivers;
  Rule rule;
  rule.input_interface = "lo";
  rule.group = address("239.1.1.1");
  rule.port = 5000;
  for (int o = 0; o < kOutputs; ++o) {
    receivers.emplace_back(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    // The test reads only after sending: room for all 400 copies (default holds ~270).
    const int bytes = 4 << 20;
    ::setsockopt(receivers.back().get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    const int one = 1;
    ::setsockopt(receivers.back().get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr = address("127.0.0.1");
    ::bind(receivers.back().get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound);
    socklen_t len = sizeof bound;
    ::getsockname(receivers.back().get(), reinterpret_cast<sockaddr*>(&bound), &len);
    Output output;
    output.interface = "lo";
    output.address = address("127.0.0.1");
    output.port = ntohs(bound.sin_port);
    if (o == 1) {
      output.ttl_threshold = kThreshold;
    }
    if (o == 2) {
      output.ttl = kFixedTtl;
    }
    rule.outputs.push_back(output);
  }
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = backend;
  config.egress.batch = 8;
  config.pool_buffers = 1024;
  config.rules.push_back(rule);
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  std::atomic<bool> stop{false};
  std::string loop_error;
  std::thread loop([&] {
    if (auto ok = worker.run(stop); !ok) {
      loop_error = ok.error().to_string();
    }
  });

  UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
  ip_mreqn via{};
  via.imr_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via);
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_addr = rule.group;
  group.sin_port = htons(rule.port);
  uint32_t sent_forwardable = 0;  // packets with a TTL above 1
  uint64_t expected_copies = 0;
  for (uint32_t i = 0; i < kPackets; ++i) {
    uint8_t payload[100];
    std::memset(payload, static_cast<int>(i & 0xff), sizeof payload);
    std::memcpy(payload, &i, sizeof i);
    // Each packet with its own TTL (a per-message IP_TTL works for multicast too).
    iovec iov{payload, sizeof payload};
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_name = &group;
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
    ::sendmsg(sender.get(), &message, 0);
    sent_forwardable += ttl > 1 ? 1 : 0;
    for (int o = 0; o < kOutputs; ++o) {
      expected_copies += expected_ttl(i, o) != 0 ? 1 : 0;
    }
    if (i % 50 == 49) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // stay under rcvbuf sizes
    }
  }
  // Wait (bounded) for every copy, checking each payload and TTL.
  std::vector<uint32_t> received(kOutputs, 0);
  std::string failure;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    uint64_t total = 0;
    for (int o = 0; o < kOutputs; ++o) {
      uint8_t data[256];
      iovec iov{data, sizeof data};
      alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
      msghdr message{};
      message.msg_iov = &iov;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      ssize_t len;
      while ((len = ::recvmsg(receivers[o].get(), &message, 0)) > 0) {
        uint32_t index = 0;
        std::memcpy(&index, data, sizeof index);
        int ttl = -1;
        if (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr) {
          std::memcpy(&ttl, CMSG_DATA(cmsg), sizeof ttl);
        }
        if (len != 100 || data[99] != static_cast<uint8_t>(index & 0xff)) {
          failure = "corrupted copy on output " + std::to_string(o);
        } else if (ttl != expected_ttl(index, o)) {
          failure = "output " + std::to_string(o) + " packet " + std::to_string(index) +
                    " (received TTL " + std::to_string(input_ttl(index)) + "): TTL " +
                    std::to_string(ttl) + ", expected " + std::to_string(expected_ttl(index, o));
        }
        ++received[o];
        message.msg_controllen = sizeof control;
      }
      total += received[o];
    }
    if (total >= expected_copies) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  loop.join();
  if (!loop_error.empty()) {
    return "run: " + loop_error;
  }
  if (!failure.empty()) {
    return failure;
  }
  const WorkerCounters& c = worker.counters();
  std::string text;
  uint64_t got = 0;
  for (int o = 0; o < kOutputs; ++o) {
    got += received[o];
  }
  if (got != expected_copies) {
    text += "got " + std::to_string(got) + " copies, expected " + std::to_string(expected_copies) +
            "; ";
  }
  const uint64_t expired = kPackets - sent_forwardable;
  const uint64_t below_threshold = kPackets * kOutputs - expired * kOutputs - expected_copies;
  if (c.rx_packets != kPackets || c.fwd_packets != sent_forwardable ||
      c.tx_packets != expected_copies || c.rx_bytes != kPackets * 100u ||
      c.drop_ttl_expired != expired || c.drop_ttl_threshold != below_threshold ||
      c.exhausted_packets != 0 || c.unmatched_no_rule != 0) {
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
  const std::string result =
      testing::run_in_private_netns([backend] { return run_udp_loop(backend); });
  if (result.rfind("SKIP: ", 0) == 0) {
    GTEST_SKIP() << result.substr(6);
  }
  EXPECT_EQ(result, "");
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
std::string run_empty_pool() {
  constexpr uint32_t kBuffers = 64;
  constexpr uint32_t kDatagrams = 200;
  UniqueFd receiver(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int bytes = 4 << 20;
  ::setsockopt(receiver.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr = address("127.0.0.1");
  ::bind(receiver.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound);
  socklen_t len = sizeof bound;
  ::getsockname(receiver.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  Rule rule;
  rule.input_interface = "lo";
  rule.group = address("239.1.1.7");
  rule.port = 5007;
  Output output;
  output.interface = "lo";
  output.address = address("127.0.0.1");
  output.port = ntohs(bound.sin_port);
  rule.outputs.push_back(output);
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = EgressBackend::sendmmsg;
  config.rcvbuf = 4u << 20;
  config.pool_buffers = kBuffers;  // below the config minimum on purpose: the worker takes it
  config.rules.push_back(rule);
  auto plan = build_plan(config, system_interfaces());
  if (!plan) {
    return "build_plan: " + plan.error().to_string();
  }
  Worker worker(0, -1, *plan);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  // A second member of the group on the same port: multicast reaches every socket in the same
  // pass, so once this one holds all 200 datagrams the worker's socket does too.
  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int one = 1;
  ::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(probe.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_addr = rule.group;
  group.sin_port = htons(rule.port);
  ::bind(probe.get(), reinterpret_cast<sockaddr*>(&group), sizeof group);
  ip_mreqn join{};
  join.imr_multiaddr = rule.group;
  join.imr_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ::setsockopt(probe.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join);
  UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
  ip_mreqn via{};
  via.imr_ifindex = join.imr_ifindex;
  ::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via);
  // A relay forwards TTL > 1 only (TTL - 1 on the copy); the default multicast TTL is 1.
  const int hops = 64;
  ::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof hops);
  uint8_t payload[100] = {};
  for (uint32_t i = 0; i < kDatagrams; ++i) {
    ::sendto(sender.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&group),
             sizeof group);
  }
  uint32_t probed = 0;
  for (int waited_ms = 0; probed < kDatagrams && waited_ms < 5000; waited_ms += 5) {
    uint8_t data[256];
    while (::recv(probe.get(), data, sizeof data, 0) > 0) {
      ++probed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (probed != kDatagrams) {
    return "SKIP: only " + std::to_string(probed) + " of the datagrams reached the group";
  }
  std::atomic<bool> stop{false};
  std::string loop_error;
  std::thread loop([&] {
    if (auto ok = worker.run(stop); !ok) {
      loop_error = ok.error().to_string();
    }
  });
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 5) {
    if (snapshot_counters(worker.counters()).rx_packets >= kDatagrams) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  loop.join();
  if (!loop_error.empty()) {
    return "run: " + loop_error;
  }
  const WorkerCounters& c = worker.counters();
  std::string text;
  if (c.rx_packets != kDatagrams || c.fwd_packets != kBuffers ||
      c.drop_buffer_exhausted != kDatagrams - kBuffers) {
    text += "rx " + std::to_string(c.rx_packets) + " fwd " + std::to_string(c.fwd_packets) +
            " drop_buffer_exhausted " + std::to_string(c.drop_buffer_exhausted) + ", expected " +
            std::to_string(kDatagrams) + " / " + std::to_string(kBuffers) + " / " +
            std::to_string(kDatagrams - kBuffers) + "; ";
  }
  if (c.exhausted_packets != 0) {
    text += "exhausted_packets " + std::to_string(c.exhausted_packets) +
            ": the empty-pool drops were counted twice; ";
  }
  if (worker.free_buffers() != kBuffers) {
    text += "buffers leaked; ";
  }
  return text;
}

TEST(WorkerDrops, EmptyPoolDropCountedOnce) {
  const std::string result = testing::run_in_private_netns(run_empty_pool);
  if (result.rfind("SKIP: ", 0) == 0) {
    GTEST_SKIP() << result.substr(6);
  }
  EXPECT_EQ(result, "");
}

}  // namespace
}  // namespace mrelay
