// Egress backend "send": one send() per copy. The simplest path and the syscall-per-packet
// reference the harness compares the batched backends against.
//
//   auto egress = mrelay::make_send_egress(fds, pool, counters);
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "egress.h"

namespace mrelay {
namespace {

class SendEgress final : public Egress {
 public:
  SendEgress(std::span<const int> fds, WorkerCounters& counters) : fds_(fds), counters_(counters) {}

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data,
            uint32_t len) noexcept override {
    ++counters_.syscalls;
    const ssize_t sent = ::send(fds_[output], data, len, MSG_DONTWAIT);
    if (sent < 0) {
      count_send_error(errno, buffer, counters_);
      return false;
    }
    ++counters_.tx_packets;
    counters_.tx_bytes += len;
    // The copy is complete on return: no reference to take or release.
    return true;
  }
  void flush() noexcept override {}
  EgressBackend backend() const noexcept override { return EgressBackend::send; }
  std::string describe() const override {
    return "egress send: one send() per copy, " + std::to_string(fds_.size()) + " outputs";
  }

 private:
  std::span<const int> fds_;
  WorkerCounters& counters_;
};

}  // namespace

std::unique_ptr<Egress> make_send_egress(std::span<const int> fds, BufferPool& /*pool*/,
                                         WorkerCounters& counters) {
  return std::make_unique<SendEgress>(fds, counters);
}

}  // namespace mrelay
