// Egress backend "uring": one IORING_OP_SEND per copy, submitted every `batch` SQEs and at the
// end of each loop turn. At most `queue_depth` copies are in flight: each holds a slot (buffer
// reference, length, output) named by the CQE's user_data, and the slot and buffer reference
// are released when the CQE is reaped. With no slot free the copy is dropped and counted
// (uring_sq_full, drop_queue_full): the queue-depth ceiling of reports/nov2025/index.md.
// A copy whose TTL differs from its socket's own goes as IORING_OP_SENDMSG with an IP_TTL
// control message; the message lives in the copy's slot until its completion.
//
// Every send carries MSG_DONTWAIT. io_uring does not honour the socket's O_NONBLOCK for sends:
// without the flag a copy to a full socket buffer is parked (poll armed) and retried when space
// frees, holding its slot meanwhile, so one stalled output could take every slot from the
// others, and a parked copy could leave after later ones (reordering). With it the completion
// says EAGAIN at once: counted per output (failed_packets) and as exhaustion (drop_eagain).
// Copies still in flight when the egress is torn down are cancelled and counted
// (drop_cancelled).
//
//   auto egress = mrelay::make_egress({.backend = EgressBackend::uring, .queue_depth = 1024,
//                                      .batch = 64}, fds, pool, counters);  // egress_selector.h
#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "dataplane/egress/egress.h"
#include "dataplane/egress/egress_backends.h"
#include "mrelay/kernel_probe.h"

namespace mrelay {
namespace {

// CQEs handled per peek: a fixed array on the stack, like liburing's io_uring-udp example.
constexpr unsigned kReapBatch = 256;

class UringEgress final : public Egress {
 public:
  UringEgress(const EgressOptions& options, std::span<const int> fds, BufferPool& pool,
              WorkerCounters& counters)
      : depth_(options.queue_depth),
        batch_(options.batch),
        fds_(fds),
        output_counters_(options.output_counters),
        pool_(pool),
        counters_(counters),
        slots_(options.queue_depth),
        free_slots_(options.queue_depth),
        socket_ttls_(fds.size()),
        payload_limits_(output_payload_limits(fds)),
        socket_ipv6_(fds.size()) {
    for (uint32_t i = 0; i < depth_; ++i) {
      free_slots_[i] = depth_ - 1 - i;
    }
    free_top_ = depth_;
    for (size_t o = 0; o < fds.size(); ++o) {
      socket_ttls_[o] = output_socket_ttl(fds[o]);
      socket_ipv6_[o] = output_socket_ipv6(fds[o]) ? 1 : 0;
    }
  }

  Result<void> init(const UringProbe& probe) {
    io_uring_params params{};
    params.flags = probe.setup_flags() | IORING_SETUP_CQSIZE;
    // Twice the SQ so completions of a full queue plus one more submit never overflow the CQ.
    params.cq_entries = 2 * depth_;
    int ret = io_uring_queue_init_params(depth_, &ring_, &params);
    if (ret < 0 && params.flags != IORING_SETUP_CQSIZE) {
      notes_ += "; setup flags refused (" + std::string(std::strerror(-ret)) + "), using none";
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE;
      params.cq_entries = 2 * depth_;
      ret = io_uring_queue_init_params(depth_, &ring_, &params);
    }
    if (ret < 0) {
      return fail("io_uring_queue_init(" + std::to_string(depth_) + ")", "failed", -ret);
    }
    ring_ready_ = true;
    flags_ = params.flags;
    if (probe.register_files && !fds_.empty()) {
      fixed_files_ =
          io_uring_register_files(&ring_, fds_.data(), static_cast<unsigned>(fds_.size())) == 0;
      if (!fixed_files_) {
        notes_ += "; register_files failed, using plain fds";
      }
    }
    return {};
  }

  ~UringEgress() override {
    if (!ring_ready_) {
      return;
    }
    drain(0);
    // Exiting the ring cancels whatever is still in flight; only then may buffers return. Each
    // such copy was accepted and never sent: it is counted once, as cancelled.
    io_uring_queue_exit(&ring_);
    for (uint32_t i = 0; i < depth_; ++i) {
      Slot& slot = slots_[i];
      if (slot.buffer != nullptr) {
        ++counters_.drop_cancelled;
        if (slot.output < output_counters_.size()) {
          ++output_counters_[slot.output].failed_packets;
        }
        pool_.release(slot.buffer);
        slot.buffer = nullptr;
      }
    }
  }

  bool send(uint32_t output, PacketBuffer* buffer, const uint8_t* data, uint32_t len,
            uint8_t ttl) noexcept override {
    if (free_count_() == 0) {
      reap();
      if (free_count_() == 0 && pending_ > 0) {
        submit();
        reap();
      }
      if (free_count_() == 0) {
        ++counters_.uring_sq_full;
        count_queue_full(buffer, counters_);
        return false;
      }
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // Cannot happen while slots <= SQ entries, but never trust that on the hot path.
      submit();
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) {
        ++counters_.uring_sq_full;
        count_queue_full(buffer, counters_);
        return false;
      }
    }
    const uint32_t slot = free_slots_[--free_top_];
    Slot& entry = slots_[slot];
    entry.buffer = buffer;
    if (len > payload_limits_[output]) {
      ++counters_.tx_fragmented;  // the kernel sends it as IPv4 fragments
    }
    entry.len = len;
    entry.output = output;
    pool_.retain(buffer);
    const int fd = fixed_files_ ? static_cast<int>(output) : fds_[output];
    // MSG_DONTWAIT: a full socket buffer fails the copy at once (EAGAIN, counted) instead of
    // parking it in io_uring's worker pool, where one slow output would hold every slot.
    if (ttl == socket_ttls_[output]) {
      io_uring_prep_send(sqe, fd, data, len, MSG_DONTWAIT);
    } else {
      entry.iov = iovec{const_cast<uint8_t*>(data), len};
      entry.message = msghdr{};
      entry.message.msg_iov = &entry.iov;
      entry.message.msg_iovlen = 1;
      entry.message.msg_control = entry.control.bytes;
      entry.message.msg_controllen =
          write_ttl_control(entry.control.bytes, ttl, socket_ipv6_[output] != 0);
      io_uring_prep_sendmsg(sqe, fd, &entry.message, MSG_DONTWAIT);
    }
    if (fixed_files_) {
      sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data64(sqe, slot);
    if (++pending_ >= batch_) {
      submit();
    }
    return true;
  }

  void flush() noexcept override {
    if (pending_ > 0) {
      submit();
    } else if (defer_taskrun() && free_count_() < depth_ && io_uring_cq_ready(&ring_) == 0) {
      // With DEFER_TASKRUN, copies that had to wait complete only when we enter the kernel.
      ++counters_.syscalls;
      (void)io_uring_get_events(&ring_);
    }
  }

  void reap() noexcept override {
    io_uring_cqe* cqes[kReapBatch];
    for (;;) {
      const unsigned count = io_uring_peek_batch_cqe(&ring_, cqes, kReapBatch);
      if (count == 0) {
        return;
      }
      for (unsigned i = 0; i < count; ++i) {
        complete(cqes[i]);
      }
      io_uring_cq_advance(&ring_, count);
    }
  }

  uint32_t in_flight() const noexcept override { return depth_ - free_top_; }

  void drain(int timeout_ms) noexcept override {
    flush();
    reap();
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    // Bounded by timeout_ms, in steps of at most 10 ms.
    while (in_flight() > 0) {
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      const long elapsed_ms =
          (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (elapsed_ms >= timeout_ms) {
        return;
      }
      __kernel_timespec wait{.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
      io_uring_cqe* cqe = nullptr;
      ++counters_.syscalls;
      const int ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
      if (ret < 0 && ret != -ETIME && ret != -EINTR) {
        return;
      }
      pending_ = io_uring_sq_ready(&ring_);
      reap();
    }
  }

  EgressBackend backend() const noexcept override { return EgressBackend::uring; }

  std::string describe() const override {
    std::string text = "egress uring: queue depth " + std::to_string(depth_) + ", batch " +
                       std::to_string(batch_) + ", " + std::to_string(fds_.size()) +
                       " outputs; ring flags:";
    if (flags_ & IORING_SETUP_SINGLE_ISSUER) {
      text += " SINGLE_ISSUER";
    }
    if (flags_ & IORING_SETUP_DEFER_TASKRUN) {
      text += " DEFER_TASKRUN";
    }
    if (flags_ & IORING_SETUP_COOP_TASKRUN) {
      text += " COOP_TASKRUN";
    }
    text += fixed_files_ ? "; registered files" : "; plain fds";
    return text + notes_;
  }

 private:
  struct Slot {
    PacketBuffer* buffer = nullptr;
    uint32_t len = 0;
    uint32_t output = 0;
    // SENDMSG only: the message the kernel reads until the completion.
    msghdr message{};
    iovec iov{};
    TtlControl control{};
  };

  uint32_t free_count_() const noexcept { return free_top_; }
  bool defer_taskrun() const noexcept { return (flags_ & IORING_SETUP_DEFER_TASKRUN) != 0; }

  void submit() noexcept {
    ++counters_.syscalls;
    ++counters_.batches;
    // submit_and_get_events also runs deferred completions when DEFER_TASKRUN is on, so one
    // io_uring_enter both submits and collects; without it plain submit is the same call.
    const int ret =
        defer_taskrun() ? io_uring_submit_and_get_events(&ring_) : io_uring_submit(&ring_);
    (void)ret;  // on -EINTR/-EAGAIN the SQEs stay queued and go with the next submit
    pending_ = io_uring_sq_ready(&ring_);
  }

  void complete(const io_uring_cqe* cqe) noexcept {
    const uint64_t index = io_uring_cqe_get_data64(cqe);
    if (index >= depth_ || slots_[index].buffer == nullptr) {
      return;  // not ours (cannot happen: every SQE we queue carries a live slot)
    }
    Slot& slot = slots_[index];
    if (cqe->res >= 0) {
      ++counters_.tx_packets;
      counters_.tx_bytes += slot.len;
    } else {
      count_failed_copy(-cqe->res, slot.output, slot.buffer, counters_, output_counters_);
    }
    pool_.release(slot.buffer);
    slot.buffer = nullptr;
    free_slots_[free_top_++] = static_cast<uint32_t>(index);
  }

  const uint32_t depth_;
  const uint32_t batch_;
  std::span<const int> fds_;
  std::span<OutputCounters> output_counters_;
  BufferPool& pool_;
  WorkerCounters& counters_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool fixed_files_ = false;
  unsigned flags_ = 0;
  uint32_t pending_ = 0;  // SQEs prepared but not yet submitted
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;  // stack of free slot indices
  std::vector<uint8_t> socket_ttls_;  // per output: the TTL it sends without a control message
  std::vector<uint32_t> payload_limits_;  // per output: larger copies leave as fragments
  std::vector<uint8_t> socket_ipv6_;      // per output: 1 for an IPv6 socket (IPV6_HOPLIMIT)
  uint32_t free_top_ = 0;
  std::string notes_;
};

}  // namespace

Result<std::unique_ptr<Egress>> make_uring_egress(const EgressOptions& options,
                                                  std::span<const int> fds, BufferPool& pool,
                                                  WorkerCounters& counters) {
  if (options.queue_depth == 0 || options.queue_depth > 32768) {
    return fail("--queue-depth", "must be 1..32768");
  }
  static const UringProbe probe = probe_io_uring();
  if (!probe.available) {
    return fail("io_uring_queue_init", "io_uring unavailable", probe.init_errno);
  }
  if (!probe.op_send || !probe.op_sendmsg) {
    return fail("io_uring", "kernel lacks IORING_OP_SEND or IORING_OP_SENDMSG (Linux 5.6+)");
  }
  auto egress = std::make_unique<UringEgress>(options, fds, pool, counters);
  if (auto ok = egress->init(probe); !ok) {
    return tl::unexpected(ok.error());
  }
  return std::unique_ptr<Egress>(std::move(egress));
}

}  // namespace mrelay
