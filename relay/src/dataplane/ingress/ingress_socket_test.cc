// Ingress socket tests in a private network namespace (a forked child unshare()s, so the
// host's interfaces are never touched; skipped without the privileges for that):
// - the packet socket never reads the host's own outgoing frames: on lo every datagram is
//   seen twice by a plain ETH_P_ALL packet socket (outgoing + incoming) but once by ours;
// - a frame longer than a ring slot is read whole beside the ring, in order;
// - the kernel's metadata (GSO, partial checksum) reaches FrameMeta on both read paths;
// - the membership socket makes the group visible in /proc/net/igmp (what `ip maddr` shows).
// Frames are recognised by raw offsets, not by parse_frame: on lo every source is 127.0.0.1,
// which the relay refuses as martian; these tests are about the socket.
#include "dataplane/ingress/ingress_socket.h"

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
#include <sstream>
#include <vector>

#include "mrelay/packet.h"
#include "testing/test_netns.h"

namespace mrelay {
namespace {

// The UDP destination port of an untagged IPv4/UDP frame, or 0; *payload = its UDP payload.
uint16_t udp_port_of(const uint8_t* frame, size_t len, const uint8_t** payload = nullptr) {
  if (len < 14 + 20 + 8 || frame[12] != 0x08 || frame[13] != 0x00 || frame[14 + 9] != 17) {
    return 0;
  }
  const size_t udp = 14 + static_cast<size_t>(frame[14] & 0x0f) * 4;
  if (len < udp + 8) {
    return 0;
  }
  if (payload != nullptr) {
    *payload = frame + udp + 8;
  }
  return static_cast<uint16_t>((frame[udp + 2] << 8) | frame[udp + 3]);
}

// Counts frames to UDP port `port` waiting on a socket; `vnet` = each starts with a
// virtio_net_hdr (the relay's packet socket) that is skipped.
int count_udp_frames(int fd, uint16_t port, size_t vnet) {
  int frames = 0;
  uint8_t frame[2048];
  for (;;) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 100) <= 0) {
      return frames;
    }
    const ssize_t len = ::recv(fd, frame, sizeof frame, MSG_DONTWAIT);
    if (len <= static_cast<ssize_t>(vnet)) {
      return frames;
    }
    if (udp_port_of(frame + vnet, static_cast<size_t>(len) - vnet) == port) {
      ++frames;
    }
  }
}

// A UDP socket on lo bound to `port` (so no ICMP port unreachable) and its address.
UniqueFd bind_loopback(uint16_t port, sockaddr_in& to) {
  UniqueFd receiver(::socket(AF_INET, SOCK_DGRAM, 0));
  to = sockaddr_in{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  ::bind(receiver.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
  return receiver;
}

// Waits up to 2 s for the next ring frame to UDP `port`, releasing others; nullptr on timeout.
tpacket2_hdr* next_ring_frame(PacketRing& ring, int fd, uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    tpacket2_hdr* frame = ring.next();
    if (frame == nullptr) {
      pollfd ready{fd, POLLIN, 0};
      ::poll(&ready, 1, 10);
      continue;
    }
    const auto* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
    if (udp_port_of(data, frame->tp_snaplen) == port) {
      return frame;
    }
    ring.release(frame);
  }
  return nullptr;
}

TEST(PacketIngress, DropsOwnOutgoingFrames) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    auto ours = open_packet_socket("lo", lo, {});
    if (!ours) {
      return ours.error().sys_errno == EPERM ? "SKIP: " + ours.error().to_string()
                                             : ours.error().to_string();
    }
    // A plain ETH_P_ALL packet socket on lo for comparison: it sees both directions. (Ours
    // binds ETH_P_ALL too, and keeps outgoing frames out with the BPF pkttype filter and
    // PACKET_IGNORE_OUTGOING.)
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
    const int seen_plain = count_udp_frames(plain.get(), 5555, 0);
    const int seen_ours = count_udp_frames(ours->get(), 5555, kVnetHeaderSize);
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
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
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
        const auto* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
        const uint8_t* payload = nullptr;
        if (udp_port_of(data, frame->tp_snaplen, &payload) == 5557) {
          uint32_t got = 0;
          std::memcpy(&got, payload, sizeof got);
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

// A frame longer than a ring slot (lo's MTU is 64 KiB) is not cut: the slot says
// TP_STATUS_COPY and read_ring_copy() gets the whole frame, in ring order.
TEST(PacketIngress, RingReadsFramesLongerThanASlotWhole) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
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
    sockaddr_in to{};
    UniqueFd receiver = bind_loopback(5558, to);
    UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
    std::vector<uint8_t> big(30000);
    for (size_t i = 0; i < big.size(); ++i) {
      big[i] = static_cast<uint8_t>(i * 13 + 1);
    }
    std::vector<uint8_t> buffer(kVnetHeaderSize + kMaxIngressFrame);
    // big, small, big: the copies must pair with their own slots.
    const size_t sizes[] = {big.size(), 100, big.size() - 7};
    for (size_t size : sizes) {
      ::sendto(sender.get(), big.data(), size, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      tpacket2_hdr* frame = next_ring_frame(ring, fd->get(), 5558);
      if (frame == nullptr) {
        return "no frame for a " + std::to_string(size) + "-byte datagram";
      }
      const uint8_t* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
      size_t len = frame->tp_snaplen;
      if (size > PacketRing::kFrameSize) {
        if (frame->tp_len <= frame->tp_snaplen || (frame->tp_status & TP_STATUS_COPY) == 0) {
          return "a " + std::to_string(size) + "-byte datagram fit a slot, or has no copy";
        }
        len = read_ring_copy(fd->get(), frame, buffer.data(), buffer.size());
        data = buffer.data() + kVnetHeaderSize;
        if (len != frame->tp_len) {
          return "read_ring_copy gave " + std::to_string(len) + " of " +
                 std::to_string(frame->tp_len) + " bytes";
        }
      } else if (read_ring_copy(fd->get(), frame, buffer.data(), buffer.size()) != 0) {
        return "a frame that fits its slot has a copy";
      }
      const uint8_t* payload = nullptr;
      if (udp_port_of(data, len, &payload) != 5558 ||
          static_cast<size_t>(data + len - payload) != size ||
          std::memcmp(payload, big.data(), size) != 0) {
        return "the " + std::to_string(size) + "-byte datagram arrived changed";
      }
      ring.release(frame);
    }
    return "";
  });
}

// What the kernel reports beside a frame reaches FrameMeta on the ring and recvmsg paths: a
// local UDP GSO send on lo (which segments nothing) is one super-frame of UDP_L4 segments with
// a partial checksum.
TEST(PacketIngress, FrameMetaReportsGsoAndPartialChecksum) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    PacketRing ring;
    std::string notes;
    auto ringed = open_packet_socket("lo", lo, {.rcvbuf = 1 << 20}, &notes, &ring);
    auto plain = open_packet_socket("lo", lo, {.rcvbuf = 1 << 20});
    if (!ringed || !plain) {
      return (ringed ? plain : ringed).error().to_string();
    }
    if (!ring.mapped()) {
      return "SKIP: " + notes;
    }
    sockaddr_in to{};
    UniqueFd receiver = bind_loopback(5559, to);
    UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
    const int segment = 200;
    if (::setsockopt(sender.get(), IPPROTO_UDP, 103 /* UDP_SEGMENT */, &segment, sizeof segment) !=
        0) {
      return "SKIP: no UDP_SEGMENT";
    }
    std::vector<uint8_t> run(5 * 200, 0x5a);
    ::sendto(sender.get(), run.data(), run.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    auto check = [](const FrameMeta& meta, const char* path) -> std::string {
      if (meta.gso_type != kGsoUdpL4 || meta.gso_size != 200 ||
          meta.checksum != ChecksumState::partial || meta.pkttype != kPacketHost ||
          meta.vlan_valid) {
        return std::string(path) + ": gso_type " + std::to_string(meta.gso_type) + " size " +
               std::to_string(meta.gso_size) + " checksum " +
               std::to_string(static_cast<int>(meta.checksum)) + " pkttype " +
               std::to_string(meta.pkttype);
      }
      return "";
    };
    tpacket2_hdr* frame = next_ring_frame(ring, ringed->get(), 5559);
    if (frame == nullptr) {
      return "no ring frame";
    }
    if (std::string problem = check(ring_frame_meta(frame), "ring"); !problem.empty()) {
      return problem;
    }
    ring.release(frame);

    uint8_t bytes[2048];
    sockaddr_ll source{};
    alignas(cmsghdr) uint8_t control[64];
    iovec part{bytes, sizeof bytes};
    msghdr message{};
    message.msg_name = &source;
    message.msg_namelen = sizeof source;
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    pollfd ready{plain->get(), POLLIN, 0};
    ::poll(&ready, 1, 2000);
    const ssize_t len = ::recvmsg(plain->get(), &message, MSG_DONTWAIT);
    if (len < static_cast<ssize_t>(kVnetHeaderSize + 14 + 20 + 8 + run.size())) {
      return "recvmsg gave " + std::to_string(len) + " bytes";
    }
    const tpacket_auxdata* auxdata = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
        auxdata = reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(c));
      }
    }
    if (auxdata == nullptr) {
      return "no PACKET_AUXDATA";
    }
    return check(received_frame_meta(source, auxdata, bytes), "recvmsg");
  });
}

TEST(UdpIngress, MembershipVisibleAndDatagramsArrive) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
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
    auto udp = open_udp_ingress_socket("lo", lo, group, 5556, {}, {.rcvbuf = 1 << 20});
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

// A source-specific join (MCAST_JOIN_SOURCE_GROUP): the kernel hands the socket datagrams from
// the joined source only. Two senders on lo, bound to 127.0.0.1 and 127.0.0.2.
TEST(UdpIngress, SourceSpecificJoinDeliversOnlyTheJoinedSource) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    const unsigned lo = ::if_nametoindex("lo");
    in_addr group{};
    ::inet_pton(AF_INET, "232.7.7.7", &group);
    in_addr wanted{};
    ::inet_pton(AF_INET, "127.0.0.1", &wanted);
    auto udp = open_udp_ingress_socket("lo", lo, group, 5557, SourceList{wanted},
                                       {.rcvbuf = 1 << 20});
    if (!udp) {
      return udp.error().to_string();
    }
    auto send_from = [&](const char* from, char tag) {
      UniqueFd sender(::socket(AF_INET, SOCK_DGRAM, 0));
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      ::bind(sender.get(), reinterpret_cast<sockaddr*>(&local), sizeof local);
      ip_mreqn via{};
      via.imr_ifindex = static_cast<int>(lo);
      ::setsockopt(sender.get(), IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr = group;
      to.sin_port = htons(5557);
      for (int i = 0; i < 5; ++i) {
        ::sendto(sender.get(), &tag, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      }
    };
    send_from("127.0.0.2", 'b');
    send_from("127.0.0.1", 'a');
    int got = 0;
    char data[16];
    pollfd ready{udp->get(), POLLIN, 0};
    while (::poll(&ready, 1, 100) > 0 && ::recv(udp->get(), data, sizeof data, 0) == 1) {
      if (data[0] != 'a') {
        return "received a datagram from the source that was not joined";
      }
      ++got;
    }
    return got == 5 ? "" : "received " + std::to_string(got) + " of 5 from the joined source";
  });
}

}  // namespace
}  // namespace mrelay
