// Egress backend "send": one send() per copy. The simplest path and the syscall-per-packet
// reference the harness compares the batched backends against.
//
//   auto egress = mrelay::make_egress({.backend = EgressBackend::send}, fds, pool, counters);
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "dataplane/egress/egress.h"
#include "dataplane/egress/egress_backends.h"

namespace mrelay {
namespace {

class SendEgress final : public Egress {
 public:
  SendEgress(std::span<const int> fds, WorkerCounters& counters)
      : fds_(fds),
        counters_(counters),
        socket_ttls_(fds.size()),
        payload_limits_(output_payload_limits(fds)),
        socket_ipv6_(fds.size()) {
    for (size_t o = 0; o < fds.size(); ++o) {
      socket_ttls_[o] = output_socket_ttl(fds[o]);
      socket_ipv6_[o] = output_socket_ipv6(fds[o]) ? 1 : 0;
    }
  }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
            uint8_t ttl) noexcept override {
    ++counters_.syscalls;
    const ssize_t sent = ttl == socket_ttls_[output] ? ::send(fds_[output], data, len, MSG_DONTWAIT)
                                                     : send_with_ttl(fds_[output], data, len, ttl,
                                                                     socket_ipv6_[output] != 0);
    if (sent < 0) {
      count_send_error(errno, buffer, counters_);
      return false;
    }
    ++counters_.tx_packets;
    counters_.tx_bytes += len;
    if (len > payload_limits_[output]) {
      ++counters_.tx_fragmented;  // sent as IPv4 fragments by the kernel
    }
    // The copy is complete on return: no reference to take or release.
    return true;
  }
  void flush() noexcept override {}
  EgressBackend backend() const noexcept override { return EgressBackend::send; }
  std::string describe() const override {
    return "egress send: one send() per copy, " + std::to_string(fds_.size()) + " outputs";
  }

 private:
  static ssize_t send_with_ttl(int fd, const uint8_t* data, uint32_t len, uint8_t ttl,
                               bool ipv6) noexcept {
    iovec iov{const_cast<uint8_t*>(data), len};
    TtlControl control;
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = write_ttl_control(control.bytes, ttl, ipv6);
    return ::sendmsg(fd, &message, MSG_DONTWAIT);
  }

  std::span<const int> fds_;
  WorkerCounters& counters_;
  std::vector<uint8_t> socket_ttls_;  // per output: the TTL it sends without a control message
  std::vector<uint32_t> payload_limits_;  // per output: larger copies leave as fragments
  std::vector<uint8_t> socket_ipv6_;      // per output: 1 for an IPv6 socket (IPV6_HOPLIMIT)
};

}  // namespace

std::unique_ptr<Egress> make_send_egress(std::span<const int> fds, BufferPool& /*pool*/,
                                         WorkerCounters& counters) {
  return std::make_unique<SendEgress>(fds, counters);
}

}  // namespace mrelay
