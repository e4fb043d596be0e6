// UDP receive cost on loopback by payload size x batch, for the two ways a relay can take
// datagrams off a UDP socket: recvmmsg() (the relay's udp ingress) and an io_uring multishot
// receive into a provided buffer ring (one armed request, one CQE per datagram, the ring
// created with SINGLE_ISSUER | DEFER_TASKRUN so the receive work runs inside our own
// io_uring_enter and nowhere else).
//
//   build/bin/mrelay-microbench --benchmark_filter=BM_UdpReceive --benchmark_min_time=0.5
//
// Names: BM_UdpReceive_<mechanism>/bytes:<payload>/batch:<n>/process_time. One iteration:
// with the timer paused, one sendmmsg() queues `batch` datagrams on the receiver (loopback
// delivers them in the sending call, so the socket holds all of them when the timer resumes);
// then, timed, the mechanism takes all `batch` off the socket:
//   recvmmsg - recvmmsg(MSG_DONTWAIT) of up to kReceiveBatch messages until `batch` are in;
//   multishot - io_uring_submit_and_wait(1) until `batch` CQEs have come, each buffer handed
//               back to the ring as soon as its datagram is counted (as a relay would after
//               forwarding it), the request re-armed when the kernel ends it.
// Only the receive is timed: what the sender and the loopback softirq cost is the same for
// both and is left out. Counters: items_per_second = datagrams received per CPU-second,
// syscalls_per_pkt = recvmmsg or io_uring_enter calls / datagrams, rearms = times the
// multishot request ended and was armed again (buffer ring empty or an error).
//
// Time base: process CPU time, as in udp_send_bench.cc (per core, steady on a busy machine).
// The pause costs two clock reads per iteration on either side; with batch 1 it is part of
// both figures alike.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/mapped_region.h"
#include "common/unique_fd.h"

namespace {

using mrelay::UniqueFd;

// Receiver SO_RCVBUF: the largest batch (256 x 1400 B, about 600 KiB of skb truesize) must
// queue whole, or the timed part would count fewer datagrams than were sent.
constexpr int kReceiveBufferBytes = 16 << 20;
// Largest batch of the matrix; the send-side arrays hold one batch.
constexpr unsigned kMaxBatch = 256;
// recvmmsg() messages per call: the relay's default ingress batch.
constexpr unsigned kReceiveBatch = 64;
// Receive buffer size, per message or provided buffer: holds the largest payload.
constexpr size_t kBufferBytes = 2048;
// Provided buffers in the ring (a power of two, io_uring's rule), twice the largest batch so
// the request never runs dry within one iteration.
constexpr unsigned kRingBuffers = 512;
// Buffer group id of the ring; the only group in this ring.
constexpr uint16_t kBufferGroup = 0;
// io_uring queue depth: one multishot request, a re-arm, and room for the CQEs of a batch.
constexpr unsigned kUringEntries = 64;
constexpr unsigned kUringCqEntries = 1024;

/// The receiving socket and a connected sender on 127.0.0.1, fresh for each run.
struct LoopbackPair {
  UniqueFd receiver;
  UniqueFd sender;
};

/// Empty on success, else what failed.
std::string open_pair(LoopbackPair& pair) {
  pair.receiver = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  pair.sender = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!pair.receiver || !pair.sender) {
    return std::string("socket: ") + std::strerror(errno);
  }
  const int bytes = kReceiveBufferBytes;
  if (::setsockopt(pair.receiver.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0 &&
      ::setsockopt(pair.receiver.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) {
    return std::string("setsockopt(SO_RCVBUF): ") + std::strerror(errno);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(pair.receiver.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(pair.receiver.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::connect(pair.sender.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return std::string("bind/connect on 127.0.0.1: ") + std::strerror(errno);
  }
  return {};
}

/// One batch of datagrams, sent with one sendmmsg(); the content does not matter here.
class BatchSender {
 public:
  BatchSender(int fd, size_t payload, unsigned batch)
      : fd_(fd), batch_(batch), storage_(payload, 0xa5) {
    for (unsigned i = 0; i < batch; ++i) {
      iovecs_[i] = {storage_.data(), payload};
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
    }
  }
  /// True when the whole batch went out.
  bool send() {
    unsigned done = 0;
    while (done < batch_) {
      const int sent = ::sendmmsg(fd_, &messages_[done], batch_ - done, 0);
      if (sent <= 0) {
        return false;
      }
      done += static_cast<unsigned>(sent);
    }
    return true;
  }

 private:
  int fd_;
  unsigned batch_;
  std::vector<uint8_t> storage_;
  std::array<iovec, kMaxBatch> iovecs_{};
  std::array<mmsghdr, kMaxBatch> messages_{};
};

struct ReceiveTally {
  uint64_t packets = 0;
  uint64_t syscalls = 0;
  uint64_t rearms = 0;
};

void report(benchmark::State& state, const ReceiveTally& tally, size_t payload) {
  state.SetItemsProcessed(static_cast<int64_t>(tally.packets));
  state.SetBytesProcessed(static_cast<int64_t>(tally.packets * payload));
  state.counters["syscalls_per_pkt"] =
      tally.packets == 0 ? 0.0
                         : static_cast<double>(tally.syscalls) / static_cast<double>(tally.packets);
  state.counters["rearms"] = static_cast<double>(tally.rearms);
}

/// Sends one batch with the timer paused; false (and the run skipped) when it cannot.
bool queue_batch(benchmark::State& state, BatchSender& sender) {
  state.PauseTiming();
  const bool sent = sender.send();
  state.ResumeTiming();
  if (!sent) {
    state.SkipWithError(("sendmmsg: " + std::string(std::strerror(errno))).c_str());
  }
  return sent;
}

/// Opens the pair for one case, or marks the case skipped (returns false).
bool open_case(benchmark::State& state, LoopbackPair& pair) {
  const std::string error = open_pair(pair);
  if (!error.empty()) {
    state.SkipWithError(("SKIP: " + error).c_str());
  }
  return error.empty();
}

void BM_UdpReceive_recvmmsg(benchmark::State& state) {
  const auto payload = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<unsigned>(state.range(1));
  LoopbackPair pair;
  if (!open_case(state, pair)) {
    return;
  }
  BatchSender sender(pair.sender.get(), payload, batch);
  std::vector<uint8_t> storage(kReceiveBatch * kBufferBytes);
  std::array<iovec, kReceiveBatch> iovecs{};
  std::array<mmsghdr, kReceiveBatch> messages{};
  for (unsigned i = 0; i < kReceiveBatch; ++i) {
    iovecs[i] = {storage.data() + i * kBufferBytes, kBufferBytes};
    messages[i].msg_hdr.msg_iov = &iovecs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  ReceiveTally tally;
  for (auto _ : state) {
    if (!queue_batch(state, sender)) {
      return;
    }
    for (unsigned got = 0; got < batch;) {
      const int received =
          ::recvmmsg(pair.receiver.get(), messages.data(), kReceiveBatch, MSG_DONTWAIT, nullptr);
      ++tally.syscalls;
      if (received <= 0) {
        state.SkipWithError(("recvmmsg: " + std::string(std::strerror(errno))).c_str());
        return;
      }
      got += static_cast<unsigned>(received);
      tally.packets += static_cast<uint64_t>(received);
    }
  }
  report(state, tally, payload);
}

/// An io_uring with a provided buffer ring and one multishot receive armed on a socket.
class MultishotReceiver {
 public:
  MultishotReceiver() = default;
  MultishotReceiver(const MultishotReceiver&) = delete;
  MultishotReceiver& operator=(const MultishotReceiver&) = delete;
  ~MultishotReceiver() {
    if (ring_ready_) {
      if (buffers_registered_) {
        io_uring_unregister_buf_ring(&ring_, kBufferGroup);
      }
      io_uring_queue_exit(&ring_);
    }
  }

  /// Empty on success, else what failed (a kernel without DEFER_TASKRUN, 6.1+, is a skip).
  std::string open(int socket) {
    socket_ = socket;
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = kUringCqEntries;
    if (const int result = io_uring_queue_init_params(kUringEntries, &ring_, &params);
        result < 0) {
      return "io_uring_queue_init_params(SINGLE_ISSUER|DEFER_TASKRUN): " +
             std::string(std::strerror(-result));
    }
    ring_ready_ = true;
    if (std::string error = register_buffers(); !error.empty()) {
      return error;
    }
    arm();
    return {};
  }

  /// Waits until `batch` datagrams have been received, recycling each buffer.
  bool receive(unsigned batch, ReceiveTally& tally) {
    for (unsigned got = 0; got < batch;) {
      const int waited = io_uring_submit_and_wait(&ring_, 1);
      ++tally.syscalls;
      if (waited < 0 && waited != -EINTR) {
        errno = -waited;
        return false;
      }
      got += reap(tally);
    }
    return true;
  }

 private:
  [[nodiscard]] static size_t ring_bytes() { return kRingBuffers * sizeof(io_uring_buf); }

  std::string register_buffers() {
    void* memory =
        ::mmap(nullptr, ring_bytes(), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
      return "mmap(buffer ring): " + std::string(std::strerror(errno));
    }
    ring_memory_ = mrelay::MappedRegion(memory, ring_bytes());
    buffer_ring_ = static_cast<io_uring_buf_ring*>(memory);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<uint64_t>(buffer_ring_);
    registration.ring_entries = kRingBuffers;
    registration.bgid = kBufferGroup;
    if (const int result = io_uring_register_buf_ring(&ring_, &registration, 0); result < 0) {
      return "io_uring_register_buf_ring: " + std::string(std::strerror(-result));
    }
    buffers_registered_ = true;
    io_uring_buf_ring_init(buffer_ring_);
    buffers_.resize(kRingBuffers * kBufferBytes);
    for (unsigned id = 0; id < kRingBuffers; ++id) {
      give_back(static_cast<uint16_t>(id), static_cast<int>(id));
    }
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(kRingBuffers));
    return {};
  }

  void give_back(uint16_t id, int offset) {
    io_uring_buf_ring_add(buffer_ring_, buffers_.data() + static_cast<size_t>(id) * kBufferBytes,
                          kBufferBytes, id, io_uring_buf_ring_mask(kRingBuffers), offset);
  }

  void arm() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);  // never null: at most one SQE is queued
    io_uring_prep_recv_multishot(sqe, socket_, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
  }

  /// Counts the datagrams among the ready CQEs, hands their buffers back, re-arms if needed.
  unsigned reap(ReceiveTally& tally) {
    unsigned head = 0;
    unsigned seen = 0;
    unsigned received = 0;
    int returned = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        ++received;
        give_back(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT), returned++);
      }
      if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
        ++tally.rearms;
        arm();  // submitted by the next io_uring_submit_and_wait
      }
    }
    io_uring_buf_ring_advance(buffer_ring_, returned);
    io_uring_cq_advance(&ring_, seen);
    tally.packets += received;
    return received;
  }

  // The buffer ring's memory; unmapped after the destructor has unregistered it.
  mrelay::MappedRegion ring_memory_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool buffers_registered_ = false;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::vector<uint8_t> buffers_;
  int socket_ = -1;
};

void BM_UdpReceive_multishot(benchmark::State& state) {
  const auto payload = static_cast<size_t>(state.range(0));
  const auto batch = static_cast<unsigned>(state.range(1));
  LoopbackPair pair;
  if (!open_case(state, pair)) {
    return;
  }
  MultishotReceiver receiver;
  if (const std::string error = receiver.open(pair.receiver.get()); !error.empty()) {
    state.SkipWithError(("SKIP: " + error).c_str());
    return;
  }
  BatchSender sender(pair.sender.get(), payload, batch);
  ReceiveTally tally;
  for (auto _ : state) {
    if (!queue_batch(state, sender)) {
      return;
    }
    if (!receiver.receive(batch, tally)) {
      state.SkipWithError(("io_uring_submit_and_wait: " + std::string(std::strerror(errno))).c_str());
      return;
    }
  }
  report(state, tally, payload);
}

// Payload bytes x datagrams per iteration. Process CPU time: see the file header.
void receive_matrix(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"bytes", "batch"})->ArgsProduct({{64, 512, 1400}, {1, 32, 256}});
  bench->MeasureProcessCPUTime();
}

}  // namespace

BENCHMARK(BM_UdpReceive_recvmmsg)->Apply(receive_matrix);
BENCHMARK(BM_UdpReceive_multishot)->Apply(receive_matrix);
