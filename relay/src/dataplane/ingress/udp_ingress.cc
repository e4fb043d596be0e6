// UDP-mode ingress reader: a UDP socket joined to one group and port (udp_socket.cc), read
// with recvmmsg into the worker's receive slots; each datagram is forwarded from the buffer it
// was read into, without a copy. See ingress.h for who owns what.
//
//   auto ingress = mrelay::make_udp_ingress(std::move(fd), ifindex, group, 5000);
//   (*ingress).receive(forwarder, slots);
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <utility>

#include "dataplane/forwarder.h"
#include "dataplane/ingress/ingress_readers.h"
#include "dataplane/ingress/receive_slots.h"

namespace mrelay {
namespace {

class UdpIngress final : public Ingress {
 public:
  UdpIngress(UniqueFd fd, unsigned ifindex, in_addr group, uint16_t port,
             std::optional<in6_addr> group6)
      : fd_(std::move(fd)),
        ifindex_(ifindex),
        group_(group.s_addr),
        port_(port),
        ipv6_(group6.has_value()),
        group6_(group6.value_or(in6_addr{})) {}

  uint32_t receive(Forwarder& forwarder, ReceiveSlots& slots) noexcept override {
    const uint32_t count = slots.receive(fd_.get(), forwarder.pool(), forwarder.counters());
    for (uint32_t slot = 0; slot < count; ++slot) {
      handle(forwarder, slots, slot);
    }
    return count;
  }

  void read_kernel_drops(WorkerCounters& counters) noexcept override {
    // SO_RXQ_OVFL arrives with the NEXT datagram read: drops after the last one (a burst
    // overflowed the buffer, then silence) would never be counted. SO_MEMINFO reads the same
    // cumulative sk_drops now.
    uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t size = sizeof meminfo;
    ++counters.syscalls;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_MEMINFO, meminfo, &size) == 0) {
      note_socket_drops(counters, meminfo[SK_MEMINFO_DROPS]);
    }
  }

  int fd() const noexcept override { return fd_.get(); }
  std::string describe() const override { return "rx udp recvmmsg"; }

 private:
  void handle(Forwarder& forwarder, ReceiveSlots& slots, uint32_t slot) noexcept {
    WorkerCounters& counters = forwarder.counters();
    ++counters.rx_packets;
    msghdr& header = slots.header(slot);
    // The received TTL (IP_RECVTTL). Without one (cannot happen: the option is set at open)
    // the packet counts as expired rather than being forwarded with a TTL nobody knows.
    uint8_t ttl = 0;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_RXQ_OVFL) {
        uint32_t overflow = 0;
        std::memcpy(&overflow, CMSG_DATA(cmsg), sizeof overflow);
        note_socket_drops(counters, overflow);
      } else if ((cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_TTL) ||
                 (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_HOPLIMIT)) {
        // IPv6: the hop limit (IPV6_RECVHOPLIMIT), handled as the TTL.
        int value = 0;
        std::memcpy(&value, CMSG_DATA(cmsg), sizeof value);
        ttl = static_cast<uint8_t>(value);
      }
    }
    if ((header.msg_flags & MSG_TRUNC) != 0) {
      ++counters.malformed_truncated;
      return;
    }
    const uint32_t len = slots.length(slot);
    const int32_t rule =
        ipv6_ ? forwarder.accept_datagram6(ifindex_, group6_, port_, slots.source6(slot).sin6_addr,
                                           len, ttl)
              : forwarder.accept_datagram(ifindex_, group_, port_,
                                          slots.source(slot).sin_addr.s_addr, len, ttl);
    if (rule >= 0) {
      forwarder.forward(rule, slots.buffer(slot), slots.data(slot), len, ttl);
    }
  }

  void note_socket_drops(WorkerCounters& counters, uint32_t cumulative) noexcept {
    // The kernel reports the socket's cumulative drop count (sk_drops); add what is new
    // (mod 2^32). A datagram queued before a SO_MEMINFO read carries an older value: ignore it.
    const auto fresh = static_cast<uint32_t>(cumulative - last_overflow_);
    if (static_cast<int32_t>(fresh) > 0) {
      counters.kernel_drops += fresh;
      last_overflow_ = cumulative;
    }
  }

  UniqueFd fd_;
  const unsigned ifindex_;
  const uint32_t group_;        // network order
  const uint16_t port_;         // host order
  const bool ipv6_;             // an AF_INET6 socket: group6_ is its group
  const in6_addr group6_;
  uint32_t last_overflow_ = 0;  // the last cumulative SO_RXQ_OVFL / SO_MEMINFO drop count seen
};

}  // namespace

std::unique_ptr<Ingress> make_udp_ingress(UniqueFd fd, unsigned ifindex, in_addr group,
                                          uint16_t port, std::optional<in6_addr> group6) {
  return std::make_unique<UdpIngress>(std::move(fd), ifindex, group, port, group6);
}

}  // namespace mrelay
