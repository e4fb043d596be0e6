// Ingress socket tests in a private network namespace (a forked child unshare()s, so the
// host's interfaces are never touched; skipped without the privileges for that):
// - the packet socket never reads the host's own outgoing frames: on lo every datagram is
//   seen twice by a plain ETH_P_ALL packet socket (outgoing + incoming) but once by ours;
// - the membership socket makes the group visible in /proc/net/igmp (what `ip maddr` shows).
#include "ingress.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "mrelay/packet.h"
#include "test_netns.h"

namespace mrelay {
namespace {

using testing::run_in_private_netns;  // test_netns.h

// Counts frames to UDP port `port` waiting on a packet socket.
int count_udp_frames(int fd, uint16_t port) {
  int frames = 0;
  uint8_t frame[2048];
  for (;;) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 100) <= 0) {
      return frames;
    }
    const ssize_t len = ::recv(fd, frame, sizeof frame, MSG_DONTWAIT);
    if (len <= 0) {
      return frames;
    }
    UdpView view;
    if (parse_frame(frame, static_cast<size_t>(len), view) == ParseVerdict::ok &&
        view.dst_port == port) {
      ++frames;
    }
  }
}

void expect_in_child(const std::function<std::string()>& body) {
  const std::string result = run_in_private_netns(body);
  if (result.rfind("SKIP: ", 0) == 0) {
    GTEST_SKIP() << result.substr(6);
  }
  EXPECT_EQ(result, "");
}

TEST(PacketIngress, DropsOwnOutgoingFrames) {
  expect_in_child([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    auto ours = open_packet_socket("lo", lo, {});
    if (!ours) {
      return ours.error().sys_errno == EPERM ? "SKIP: " + ours.error().to_string()
                                             : ours.error().to_string();
    }
    // A plain ETH_P_ALL packet socket on lo for comparison: it sees both directions. (Ours
    // binds ETH_P_IP, which the kernel does not feed outgoing frames, and adds the BPF
    // pkttype filter and PACKET_IGNORE_OUTGOING as a second and third guard.)
    UniqueFd plain(::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    sockaddr_ll where{};
    where.sll_family = AF_PACKET;
    where.sll_protocol = htons(ETH_P_ALL);
    where.sll_ifindex = static_cast<int>(lo);
    ::bind(plain.get(), reinterpret_cast<sockaddr*>(&where), sizeof where);

    UniqueFd receiver(::socket(AF_INET, SOCK_DGRAM, 0));  // so no ICMP port unreachable
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(5555);
    ::bind(receiver.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
    UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
    constexpr int kDatagrams = 10;
    for (int i = 0; i < kDatagrams; ++i) {
      ::sendto(sender.get(), "hello", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    const int seen_plain = count_udp_frames(plain.get(), 5555);
    const int seen_ours = count_udp_frames(ours->get(), 5555);
    if (seen_plain != 2 * kDatagrams) {
      return "plain packet socket saw " + std::to_string(seen_plain) + " frames, expected 20";
    }
    if (seen_ours != kDatagrams) {
      return "relay packet socket saw " + std::to_string(seen_ours) + " frames, expected 10";
    }
    if (read_packet_drops(ours->get()) != 0) {
      return "unexpected kernel drops";
    }
    return "";
  });
}

TEST(PacketIngress, RingDeliversEachFrameOnce) {
  expect_in_child([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    PacketRing ring;
    std::string notes;
    auto fd = open_packet_socket("lo", lo, {.rcvbuf = 1 << 20}, &notes, &ring);
    if (!fd) {
      return fd.error().to_string();
    }
    if (!ring.mapped()) {
      return "SKIP: " + notes;
    }
    if (ring.frames() != (1u << 20) / PacketRing::kFrameSize) {
      return "ring has " + std::to_string(ring.frames()) + " frames";
    }
    UniqueFd receiver(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(5557);
    ::bind(receiver.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
    UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
    constexpr int kDatagrams = 700;  // more than the 512 frames: the ring must wrap
    int seen = 0;
    for (int i = 0; i < kDatagrams; ++i) {
      uint32_t sequence = static_cast<uint32_t>(i);
      ::sendto(sender.get(), &sequence, sizeof sequence, 0, reinterpret_cast<sockaddr*>(&to),
               sizeof to);
      // Read as we go, checking order and content in place. Wait for each datagram before
      // sending the next: on a loaded machine loopback's softirq may run later (ksoftirqd),
      // and a burst of deferred frames could overflow the ring this test wants to wrap.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (seen <= i && std::chrono::steady_clock::now() < deadline) {
        tpacket2_hdr* frame = ring.next();
        if (frame == nullptr) {
          pollfd ready{fd->get(), POLLIN, 0};
          ::poll(&ready, 1, 10);
          continue;
        }
        UdpView view;
        const auto* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
        if (parse_frame(data, frame->tp_snaplen, view) == ParseVerdict::ok &&
            view.dst_port == 5557) {
          uint32_t got = 0;
          std::memcpy(&got, view.payload, sizeof got);
          if (got != static_cast<uint32_t>(seen)) {
            return "frame " + std::to_string(got) + " where " + std::to_string(seen) +
                   " was expected";
          }
          ++seen;
        }
        ring.release(frame);
      }
    }
    return seen == kDatagrams ? "" : "ring delivered " + std::to_string(seen) + " of 700";
  });
}

TEST(UdpIngress, MembershipVisibleAndDatagramsArrive) {
  expect_in_child([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    in_addr group{};
    ::inet_pton(AF_INET, "239.7.7.7", &group);
    auto joined = open_membership_socket("lo", lo, group);
    if (!joined) {
      return joined.error().to_string();
    }
    std::ifstream igmp("/proc/net/igmp");
    std::stringstream text;
    text << igmp.rdbuf();
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08X", group.s_addr);  // as /proc prints it
    if (text.str().find(hex) == std::string::npos) {
      return std::string("group ") + hex + " not in /proc/net/igmp";
    }
    auto udp = open_udp_ingress_socket("lo", lo, group, 5556, {.rcvbuf = 1 << 20});
    if (!udp) {
      return udp.error().to_string();
    }
    UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
    ip_mreqn via{};
    via.imr_ifindex = static_cast<int>(lo);
    ::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr = group;
    to.sin_port = htons(5556);
    for (int i = 0; i < 5; ++i) {
      ::sendto(sender.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    // Another group on the same port must not reach the socket (IP_MULTICAST_ALL = 0).
    in_addr other{};
    ::inet_pton(AF_INET, "239.7.7.8", &other);
    auto other_joined = open_membership_socket("lo", lo, other);
    to.sin_addr = other;
    ::sendto(sender.get(), "y", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    int got = 0;
    char data[16];
    pollfd ready{udp->get(), POLLIN, 0};
    while (::poll(&ready, 1, 100) > 0 && ::recv(udp->get(), data, sizeof data, 0) == 1) {
      if (data[0] != 'x') {
        return "received a datagram for another group";
      }
      ++got;
    }
    return got == 5 ? "" : "received " + std::to_string(got) + " of 5";
  });
}

}  // namespace
}  // namespace mrelay
