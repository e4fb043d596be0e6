// Egress backend "sendmmsg": copies are gathered per output, up to `batch`, and sent with one
// sendmmsg() per output when the batch is full and at the end of each loop turn.
//
//   auto egress = mrelay::make_sendmmsg_egress({.batch = 64}, fds, pool, counters);
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "egress.h"

namespace mrelay {
namespace {

class SendmmsgEgress final : public Egress {
 public:
  SendmmsgEgress(uint32_t batch, std::span<const int> fds, BufferPool& pool,
                 WorkerCounters& counters)
      : batch_(batch),
        fds_(fds),
        pool_(pool),
        counters_(counters),
        // Everything is reserved here (outputs x batch) so send() never allocates.
        messages_(fds.size() * batch),
        iovecs_(fds.size() * batch),
        buffers_(fds.size() * batch),
        queued_(fds.size(), 0),
        dirty_(),
        is_dirty_(fds.size(), false) {
    dirty_.reserve(fds.size());
    for (size_t i = 0; i < messages_.size(); ++i) {
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
    }
  }

  ~SendmmsgEgress() override { drain(0); }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data,
            uint32_t len) noexcept override {
    const size_t slot = static_cast<size_t>(output) * batch_ + queued_[output];
    iovecs_[slot].iov_base = const_cast<uint8_t*>(data);
    iovecs_[slot].iov_len = len;
    buffers_[slot] = buffer;
    pool_.retain(buffer);
    if (++queued_[output] == batch_) {
      flush_output(output);
    } else if (!is_dirty_[output]) {
      is_dirty_[output] = true;
      dirty_.push_back(output);  // capacity reserved: no allocation
    }
    return true;
  }

  void flush() noexcept override {
    for (uint32_t output : dirty_) {
      is_dirty_[output] = false;
      if (queued_[output] != 0) {
        flush_output(output);
      }
    }
    dirty_.clear();
  }

  EgressBackend backend() const noexcept override { return EgressBackend::sendmmsg; }
  std::string describe() const override {
    return "egress sendmmsg: batch " + std::to_string(batch_) + " per output, " +
           std::to_string(fds_.size()) + " outputs";
  }

 private:
  void flush_output(uint32_t output) noexcept {
    const size_t base = static_cast<size_t>(output) * batch_;
    const uint32_t count = queued_[output];
    uint32_t done = 0;
    // Bounded: every iteration consumes at least one message.
    while (done < count) {
      ++counters_.syscalls;
      ++counters_.batches;
      const int sent =
          ::sendmmsg(fds_[output], &messages_[base + done], count - done, MSG_DONTWAIT);
      if (sent > 0) {
        for (int i = 0; i < sent; ++i) {
          const size_t slot = base + done + static_cast<size_t>(i);
          ++counters_.tx_packets;
          counters_.tx_bytes += iovecs_[slot].iov_len;
          pool_.release(buffers_[slot]);
        }
        done += static_cast<uint32_t>(sent);
        continue;
      }
      const int err = sent < 0 ? errno : EAGAIN;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        // The socket's buffer is full: the rest of this batch would fail the same way, and
        // retrying would only burn syscalls.
        for (uint32_t i = done; i < count; ++i) {
          count_send_error(err, buffers_[base + i], counters_);
          pool_.release(buffers_[base + i]);
        }
        done = count;
      } else {
        // A per-message failure (e.g. ECONNREFUSED on a unicast output): drop that copy only.
        count_send_error(err, buffers_[base + done], counters_);
        pool_.release(buffers_[base + done]);
        ++done;
      }
    }
    queued_[output] = 0;
  }

  const uint32_t batch_;
  std::span<const int> fds_;
  BufferPool& pool_;
  WorkerCounters& counters_;
  std::vector<mmsghdr> messages_;       // [output * batch + i]
  std::vector<iovec> iovecs_;           // [output * batch + i]
  std::vector<PacketBuffer*> buffers_;  // [output * batch + i]
  std::vector<uint32_t> queued_;        // copies queued per output
  std::vector<uint32_t> dirty_;         // outputs with queued copies, in first-queued order
  std::vector<bool> is_dirty_;
};

}  // namespace

std::unique_ptr<Egress> make_sendmmsg_egress(const EgressOptions& options, std::span<const int> fds,
                                             BufferPool& pool, WorkerCounters& counters) {
  return std::make_unique<SendmmsgEgress>(options.batch, fds, pool, counters);
}

}  // namespace mrelay
