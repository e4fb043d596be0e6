// UDP send throughput on loopback by payload size x batch for the three egress mechanisms the
// relay offers (send, sendmmsg, io_uring) and for MSG_ZEROCOPY, which it does not: the
// packet-size x batch-size matrix.
//
//   build/bin/mrelay-microbench --benchmark_filter=BM_UdpSend --benchmark_min_time=0.2
//   mrelay-microbench --benchmark_filter=UdpSend --benchmark_out=u.json --benchmark_out_format=json
//   MRELAY_BENCH_DRAIN=1 build/bin/mrelay-microbench --benchmark_filter='sendmmsg/bytes:1400/'
//
// Names: BM_UdpSend_<mechanism>/bytes:<payload>/batch:<n>/process_time. One iteration sends
// `batch` datagrams:
//   sendto   - `batch` sendto() calls (one syscall per packet, the relay's "send" backend);
//   sendmmsg - one sendmmsg() of `batch` messages, repeated for a partial send;
//   uring    - `batch` IORING_OP_SEND SQEs, one io_uring_submit_and_wait(batch), CQEs reaped
//              in bulk (queue depth kUringQueueDepth);
//   zerocopy - sendmmsg() as above with MSG_ZEROCOPY, then the batch's completions read off
//              the error queue (extra counter copied_fraction);
//   gso      - the batch as UDP GSO runs (UDP_SEGMENT, up to 64 datagrams and 64 KiB each),
//              one sendmmsg() of all runs (the relay's default `gso` egress);
//   uring_gso - the same runs as IORING_OP_SENDMSG SQEs, one io_uring_submit_and_wait().
// Counters: items_per_second = datagrams/s, bytes_per_second = UDP payload bytes/s (headers not
// counted), syscalls_per_pkt = syscalls this code entered / datagrams sent (counted by hand:
// every sendto, sendmmsg and io_uring_enter we call), send_errors = ENOBUFS/EAGAIN results
// (those datagrams are not counted as sent).
//
// Time base: process CPU time (MeasureProcessCPUTime), so the rates are per CPU-second, i.e.
// per core: the figure hardware sizing needs, and one that other load on the machine does not
// distort. Process-wide, so work io_uring hands to its io-wq worker threads is included (and
// the drain thread's, when enabled: then it is the cost of both ends). A single blocking
// sender on an idle machine gives nearly the same wall-clock rate. MRELAY_BENCH_WALL=1 rates by
// wall-clock time instead (UseRealTime); on a busy machine that measures the scheduler's share.
// The JSON has both real_time and cpu_time per case either way.
//
// Sender: one UDP socket connect()ed to the receiver, shared by all three mechanisms, because
// the relay's egress sockets are connected (egress_socket.cc: the route is cached) and
// IORING_OP_SEND needs a connected socket. Each batch slot has its own buffer stamped with the
// test payload, so a batch of 500 x 8192 bytes touches 4 MiB like a relay batch would.
//
// Receiver: one socket bound on 127.0.0.1 (ephemeral port) that stays open for the whole
// process, so a connected sender never sees ECONNREFUSED. By default it is NOT drained and its
// receive buffer is the kernel's minimum: loopback delivery drops each datagram at the full
// socket (UDP RcvbufErrors) and the sender still sees success. The figure is then the sender's
// whole cost (syscall, skb allocation, copy, loopback transmit, UDP lookup, drop), the same for
// every case whatever ran before, without a second thread competing for the CPU. Set
// MRELAY_BENCH_DRAIN=1 to give it a 16 MiB buffer drained from a thread with recvmmsg; the
// extra counter rx_fraction then says which share of the sent datagrams the receiver got.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/errqueue.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "mrelay/error.h"
#include "mrelay/payload.h"

namespace {

using mrelay::Result;
using mrelay::UniqueFd;

// Receiver SO_RCVBUF in bytes when drained: 16 MiB (set with SO_RCVBUFFORCE when root, else
// capped by net.core.rmem_max) lets the drain thread ride out scheduling gaps of a few ms at
// full speed without loss.
constexpr int kDrainedReceiverBufferBytes = 16 << 20;
// Receiver SO_RCVBUF in bytes when not drained: the kernel rounds this up to its minimum (a
// few KiB), so the queue is full after a datagram or two and every case measures the same
// drop-at-the-socket path. A big undrained buffer would make the first ~25k datagrams of the
// process take the enqueue path and the rest the drop path, so a case's figure would depend on
// which cases ran before it.
constexpr int kUndrainedReceiverBufferBytes = 1;
// Sender SO_SNDBUF in bytes: the relay's default egress sndbuf (config.h), so 500 in-flight
// 8 KiB io_uring sends never wait for send-buffer space.
constexpr int kSenderBufferBytes = 4 << 20;
// io_uring submission queue entries: the relay's default queue depth (config.h), >= the largest
// batch so one batch always fits; the CQ ring is twice as large by default.
constexpr unsigned kUringQueueDepth = 1024;
// Largest batch in the matrix; sizes the fixed per-batch arrays.
constexpr int kMaxBatch = 500;
// Datagrams the drain thread takes per recvmmsg call; 64 keeps syscalls/pkt on the receive
// side low with only 512 KiB of receive buffers.
constexpr unsigned kDrainBatch = 64;
// Drain thread poll timeout in ms: how long process exit may wait for the thread to notice.
constexpr int kDrainPollMs = 50;
// Largest payload in the matrix; receive buffers must hold it whole.
constexpr size_t kMaxPayload = 8192;
// Settling the drain thread's count (ms): a 16 MiB receive queue empties in well under
// 200 ms, and 5 ms without a new datagram means the queue is empty.
constexpr int kSettleStepMs = 5;
constexpr int kSettleMaxMs = 200;
// Longest wait for a batch's MSG_ZEROCOPY completions, in 1 ms polls: they come when the last
// reference to each skb goes, immediately on loopback; a batch still incomplete after this
// is an error rather than a hang.
constexpr int kZerocopyWaitMs = 1000;
// UDP GSO limits per send: the kernel's UDP_MAX_SEGMENTS of older kernels (64; 128 since 5.x
// on some) and what one IP datagram can carry (64 KiB less the IP and UDP headers).
constexpr int kGsoMaxSegments = 64;
constexpr size_t kGsoMaxBytes = 65535 - 20 - 8;

Result<UniqueFd> udp_socket(const char* what) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return mrelay::fail_errno(std::string(what) + ": socket(AF_INET, SOCK_DGRAM)");
  }
  return fd;
}

/// Sets a buffer size with the FORCE option (root may exceed the sysctl cap), falling back to
/// the plain option capped by net.core.{r,w}mem_max.
Result<void> set_buffer(int fd, int force_option, int option, int bytes, const char* what) {
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) == 0) {
    return {};
  }
  if (::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes) != 0) {
    return mrelay::fail_errno(std::string("setsockopt(") + what + ")");
  }
  return {};
}

/// The loopback receiver shared by every UDP benchmark of the process (see the file header).
class LoopbackReceiver {
 public:
  static LoopbackReceiver& instance() {
    static LoopbackReceiver receiver;
    return receiver;
  }
  LoopbackReceiver(const LoopbackReceiver&) = delete;
  LoopbackReceiver& operator=(const LoopbackReceiver&) = delete;
  ~LoopbackReceiver() {
    stop_.store(true, std::memory_order_relaxed);
    if (drainer_.joinable()) {
      drainer_.join();
    }
  }

  /// Empty when the receiver is ready, else what failed.
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const sockaddr_in& address() const { return address_; }
  [[nodiscard]] bool draining() const { return drainer_.joinable(); }
  [[nodiscard]] uint64_t received() const { return received_.load(std::memory_order_relaxed); }

  /// The received count once the drain thread has caught up (no change for kSettleStepMs, or
  /// kSettleMaxMs passed). Called outside the timed loop, so datagrams queued by the previous
  /// case are not credited to the next one and late ones are not missed.
  [[nodiscard]] uint64_t settled_received() const {
    uint64_t before = received();
    for (int waited = 0; waited < kSettleMaxMs; waited += kSettleStepMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kSettleStepMs));
      const uint64_t now = received();
      if (now == before) {
        break;
      }
      before = now;
    }
    return before;
  }

 private:
  LoopbackReceiver() {
    const char* drain = std::getenv("MRELAY_BENCH_DRAIN");
    const bool drained = drain != nullptr && std::string(drain) == "1";
    if (auto ready = open(drained ? kDrainedReceiverBufferBytes : kUndrainedReceiverBufferBytes);
        !ready) {
      error_ = ready.error().to_string();
      return;
    }
    if (drained) {
      drainer_ = std::thread([this] { drain_loop(); });
    }
  }

  Result<void> open(int receive_buffer_bytes) {
    auto fd = udp_socket("receiver");
    if (!fd) {
      return tl::unexpected(fd.error());
    }
    fd_ = std::move(*fd);
    if (auto sized =
            set_buffer(fd_.get(), SO_RCVBUFFORCE, SO_RCVBUF, receive_buffer_bytes, "SO_RCVBUF");
        !sized) {
      return sized;
    }
    address_.sin_family = AF_INET;
    address_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address_.sin_port = 0;  // ephemeral: never collides with another helper's port
    if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address_), sizeof address_) != 0) {
      return mrelay::fail_errno("bind(127.0.0.1:0)");
    }
    socklen_t length = sizeof address_;
    if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address_), &length) != 0) {
      return mrelay::fail_errno("getsockname(receiver)");
    }
    return {};
  }

  void drain_loop() {
    std::vector<uint8_t> storage(kDrainBatch * kMaxPayload);
    std::array<iovec, kDrainBatch> iovecs{};
    std::array<mmsghdr, kDrainBatch> messages{};
    for (unsigned i = 0; i < kDrainBatch; ++i) {
      iovecs[i] = {storage.data() + i * kMaxPayload, kMaxPayload};
      messages[i].msg_hdr.msg_iov = &iovecs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    pollfd readable{fd_.get(), POLLIN, 0};
    while (!stop_.load(std::memory_order_relaxed)) {
      if (::poll(&readable, 1, kDrainPollMs) <= 0) {
        continue;  // timeout or EINTR: re-check stop_
      }
      const int got = ::recvmmsg(fd_.get(), messages.data(), kDrainBatch, MSG_DONTWAIT, nullptr);
      if (got > 0) {
        received_.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
      }
    }
  }

  UniqueFd fd_;
  sockaddr_in address_{};
  std::string error_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  std::thread drainer_;
};

/// A connected sender plus one stamped payload buffer per batch slot.
struct Sender {
  UniqueFd fd;
  size_t payload_size = 0;
  std::vector<uint8_t> storage;  // batch * payload_size bytes
  [[nodiscard]] const uint8_t* slot(int index) const {
    return storage.data() + static_cast<size_t>(index) * payload_size;
  }
};

Result<Sender> make_sender(size_t payload_size, int batch) {
  const LoopbackReceiver& receiver = LoopbackReceiver::instance();
  if (!receiver.error().empty()) {
    return mrelay::fail("receiver", receiver.error());
  }
  auto fd = udp_socket("sender");
  if (!fd) {
    return tl::unexpected(fd.error());
  }
  if (auto sized =
          set_buffer(fd->get(), SO_SNDBUFFORCE, SO_SNDBUF, kSenderBufferBytes, "SO_SNDBUF");
      !sized) {
    return tl::unexpected(sized.error());
  }
  const sockaddr_in& to = receiver.address();
  if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    return mrelay::fail_errno("connect(127.0.0.1:" + std::to_string(ntohs(to.sin_port)) + ")");
  }
  Sender sender{std::move(*fd), payload_size,
                std::vector<uint8_t>(payload_size * static_cast<size_t>(batch))};
  for (int i = 0; i < batch; ++i) {
    mrelay::stamp_payload(sender.storage.data() + static_cast<size_t>(i) * payload_size,
                          payload_size,
                          {.stream = 1, .sequence = static_cast<uint64_t>(i), .send_time_ns = 0});
  }
  return sender;
}

/// Totals one benchmark run accumulates; turned into counters at the end.
struct SendTally {
  uint64_t packets = 0;
  uint64_t syscalls = 0;
  uint64_t transient_errors = 0;  // ENOBUFS / EAGAIN: the datagram was not sent
};

bool is_transient(int error) {
  return error == ENOBUFS || error == EAGAIN || error == EWOULDBLOCK;
}

/// Common set-up: reads the args, opens the sender, or marks the run skipped (returns false).
bool prepare(benchmark::State& state, Sender& sender, int& batch) {
  const auto payload_size = static_cast<size_t>(state.range(0));
  batch = static_cast<int>(state.range(1));
  if (batch < 1 || batch > kMaxBatch || payload_size < mrelay::kPayloadHeaderSize ||
      payload_size > kMaxPayload) {
    state.SkipWithError("bad args: payload 32..8192 bytes, batch 1..500");
    return false;
  }
  auto made = make_sender(payload_size, batch);
  if (!made) {
    state.SkipWithError(("SKIP: " + made.error().to_string()).c_str());
    return false;
  }
  sender = std::move(*made);
  return true;
}

/// The receiver's settled count before a run (0 when not draining: nothing to compare).
uint64_t start_count() {
  const LoopbackReceiver& receiver = LoopbackReceiver::instance();
  return receiver.draining() ? receiver.settled_received() : 0;
}

void report(benchmark::State& state, const Sender& sender, const SendTally& tally,
            uint64_t received_before) {
  state.SetItemsProcessed(static_cast<int64_t>(tally.packets));
  state.SetBytesProcessed(static_cast<int64_t>(tally.packets * sender.payload_size));
  state.counters["syscalls_per_pkt"] =
      tally.packets == 0 ? 0.0
                         : static_cast<double>(tally.syscalls) / static_cast<double>(tally.packets);
  state.counters["send_errors"] = static_cast<double>(tally.transient_errors);
  const LoopbackReceiver& receiver = LoopbackReceiver::instance();
  if (receiver.draining() && tally.packets > 0) {
    state.counters["rx_fraction"] =
        static_cast<double>(receiver.settled_received() - received_before) /
        static_cast<double>(tally.packets);
  }
}

void BM_UdpSend_sendto(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  if (!prepare(state, sender, batch)) {
    return;
  }
  const uint64_t received_before = start_count();
  SendTally tally;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      // Connected socket: no address, as the relay's "send" backend does.
      const ssize_t sent =
          ::sendto(sender.fd.get(), sender.slot(i), sender.payload_size, 0, nullptr, 0);
      ++tally.syscalls;
      if (sent >= 0) {
        ++tally.packets;
      } else if (is_transient(errno) || errno == EINTR) {
        ++tally.transient_errors;
      } else {
        state.SkipWithError(("sendto: " + std::string(std::strerror(errno))).c_str());
        return;
      }
    }
  }
  report(state, sender, tally, received_before);
}

/// One mmsghdr per batch slot, each pointing at its slot's payload: a batch for sendmmsg().
struct DatagramBatch {
  DatagramBatch(const Sender& sender, int batch) {
    for (int i = 0; i < batch; ++i) {
      iovecs[i] = {const_cast<uint8_t*>(sender.slot(i)), sender.payload_size};
      messages[i].msg_hdr.msg_iov = &iovecs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
  }
  std::array<iovec, kMaxBatch> iovecs{};
  std::array<mmsghdr, kMaxBatch> messages{};
};

void BM_UdpSend_sendmmsg(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  if (!prepare(state, sender, batch)) {
    return;
  }
  DatagramBatch datagrams(sender, batch);
  std::array<mmsghdr, kMaxBatch>& messages = datagrams.messages;
  const uint64_t received_before = start_count();
  SendTally tally;
  for (auto _ : state) {
    int done = 0;
    while (done < batch) {
      const int sent =
          ::sendmmsg(sender.fd.get(), &messages[done], static_cast<unsigned>(batch - done), 0);
      ++tally.syscalls;
      if (sent > 0) {
        done += sent;
        tally.packets += static_cast<uint64_t>(sent);
      } else if (sent < 0 && errno == EINTR) {
        continue;
      } else if (sent < 0 && is_transient(errno)) {
        // The first datagram of the remainder failed: count it and move past it, so a full
        // send buffer cannot spin this loop (the blocking socket makes this rare).
        ++tally.transient_errors;
        ++done;
      } else {
        state.SkipWithError(("sendmmsg: " + std::string(std::strerror(errno))).c_str());
        return;
      }
    }
  }
  report(state, sender, tally, received_before);
}

/// io_uring ring owned for one benchmark run.
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (ready_) {
      io_uring_queue_exit(&ring_);
    }
  }
  /// 0 or -errno from io_uring_queue_init.
  int init(unsigned entries) {
    const int result = io_uring_queue_init(entries, &ring_, 0);
    ready_ = result == 0;
    return result;
  }
  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
  bool ready_ = false;
};

/// Sets up the ring for one case, or marks the case skipped (returns false).
bool open_ring(benchmark::State& state, Ring& ring) {
  const int result = ring.init(kUringQueueDepth);
  if (result < 0) {
    state.SkipWithError(("SKIP: io_uring_queue_init: " + std::string(std::strerror(-result)) +
                         " (io_uring unavailable or disabled)")
                            .c_str());
  }
  return result >= 0;
}

void BM_UdpSend_uring(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  Ring ring;
  if (!prepare(state, sender, batch) || !open_ring(state, ring)) {
    return;
  }
  std::array<io_uring_cqe*, kMaxBatch> completions{};
  const uint64_t received_before = start_count();
  SendTally tally;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      // Never null: the ring holds kUringQueueDepth >= kMaxBatch entries and every batch is
      // reaped before the next is queued.
      io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
      io_uring_prep_send(sqe, sender.fd.get(), sender.slot(i), sender.payload_size, 0);
      io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(i));
    }
    int submitted = 0;
    do {
      submitted = io_uring_submit_and_wait(ring.get(), static_cast<unsigned>(batch));
      ++tally.syscalls;
    } while (submitted == -EINTR);
    if (submitted < 0) {
      state.SkipWithError(
          ("io_uring_submit_and_wait: " + std::string(std::strerror(-submitted))).c_str());
      return;
    }
    if (submitted != batch) {
      // Unsubmitted SQEs would never complete and the wait below would never end.
      state.SkipWithError(("io_uring_submit_and_wait: submitted " + std::to_string(submitted) +
                           " of " + std::to_string(batch) + " SQEs")
                              .c_str());
      return;
    }
    int reaped = 0;
    while (reaped < batch) {
      const unsigned ready = io_uring_peek_batch_cqe(ring.get(), completions.data(),
                                                     static_cast<unsigned>(batch - reaped));
      if (ready == 0) {
        // submit_and_wait(batch) returned early (a signal): wait for the rest.
        io_uring_cqe* first = nullptr;
        const int waited = io_uring_wait_cqe(ring.get(), &first);
        ++tally.syscalls;
        if (waited < 0 && waited != -EINTR) {
          state.SkipWithError(
              ("io_uring_wait_cqe: " + std::string(std::strerror(-waited))).c_str());
          return;
        }
        continue;
      }
      for (unsigned c = 0; c < ready; ++c) {
        const int result = completions[c]->res;
        if (result >= 0) {
          ++tally.packets;
        } else if (is_transient(-result)) {
          ++tally.transient_errors;
        } else {
          state.SkipWithError(("IORING_OP_SEND: " + std::string(std::strerror(-result))).c_str());
          return;
        }
      }
      io_uring_cq_advance(ring.get(), ready);
      reaped += static_cast<int>(ready);
    }
  }
  report(state, sender, tally, received_before);
}

/// MSG_ZEROCOPY completions read off the error queue: how many sends they cover, and how many
/// of those the kernel copied after all (SO_EE_CODE_ZEROCOPY_COPIED: loopback and veth deliver
/// locally, and a local receiver never holds user pages, so the kernel copies them there).
struct ZerocopyTally {
  uint64_t completed = 0;
  uint64_t copied = 0;
};

/// Reads every completion queued now; false on an unexpected error.
bool read_zerocopy_completions(int fd, ZerocopyTally& tally) {
  for (;;) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(sock_extended_err))> control{};
    msghdr message{};
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    if (::recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      const auto* error = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(header));
      if (header->cmsg_level != SOL_IP || header->cmsg_type != IP_RECVERR ||
          error->ee_origin != SO_EE_ORIGIN_ZEROCOPY) {
        continue;
      }
      const uint64_t sends = uint64_t{error->ee_data} - error->ee_info + 1;  // range [info, data]
      tally.completed += sends;
      if ((error->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) != 0) {
        tally.copied += sends;
      }
    }
  }
}

/// Waits (poll on POLLERR, at most kZerocopyWaitMs) until `expected` sends have completed.
bool wait_zerocopy(int fd, uint64_t expected, ZerocopyTally& tally) {
  for (int waited = 0; tally.completed < expected; ++waited) {
    if (!read_zerocopy_completions(fd, tally)) {
      return false;
    }
    if (tally.completed >= expected || waited >= kZerocopyWaitMs) {
      break;
    }
    pollfd errors{fd, 0, 0};  // POLLERR is always reported
    ::poll(&errors, 1, 1);
  }
  return tally.completed >= expected;
}

// sendmmsg() with MSG_ZEROCOPY: the kernel pins the user pages instead of copying, and reports
// each send's completion on the socket's error queue, which this case reads after every batch
// (a sender must, before it reuses the buffers). Extra counter: copied_fraction, the share of
// sends the kernel reported as copied anyway (1 on loopback and veth).
void BM_UdpSend_zerocopy(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  if (!prepare(state, sender, batch)) {
    return;
  }
  const int one = 1;
  if (::setsockopt(sender.fd.get(), SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) != 0 ||
      ::setsockopt(sender.fd.get(), SOL_IP, IP_RECVERR, &one, sizeof one) != 0) {
    state.SkipWithError(("SKIP: setsockopt(SO_ZEROCOPY): " + std::string(std::strerror(errno)) +
                         " (kernel without MSG_ZEROCOPY)")
                            .c_str());
    return;
  }
  DatagramBatch datagrams(sender, batch);
  std::array<mmsghdr, kMaxBatch>& messages = datagrams.messages;
  const uint64_t received_before = start_count();
  SendTally tally;
  ZerocopyTally completions;
  for (auto _ : state) {
    int done = 0;
    while (done < batch) {
      const int sent = ::sendmmsg(sender.fd.get(), &messages[done],
                                  static_cast<unsigned>(batch - done), MSG_ZEROCOPY);
      ++tally.syscalls;
      if (sent > 0) {
        done += sent;
        tally.packets += static_cast<uint64_t>(sent);
      } else if (sent < 0 && is_transient(errno)) {
        // Out of option memory for completions: read them, and count this datagram as failed.
        ++tally.transient_errors;
        ++done;
        read_zerocopy_completions(sender.fd.get(), completions);
      } else if (!(sent < 0 && errno == EINTR)) {
        state.SkipWithError(("sendmmsg(MSG_ZEROCOPY): " + std::string(std::strerror(errno))).c_str());
        return;
      }
    }
    if (!wait_zerocopy(sender.fd.get(), tally.packets, completions)) {
      state.SkipWithError("MSG_ZEROCOPY: completions missing after the wait");
      return;
    }
  }
  report(state, sender, tally, received_before);
  state.counters["copied_fraction"] =
      completions.completed == 0
          ? 0.0
          : static_cast<double>(completions.copied) / static_cast<double>(completions.completed);
}

/// One batch as UDP GSO super-sends: runs of up to kGsoMaxSegments datagrams (and under the
/// 64 KiB an IP datagram can carry) in one msghdr each, with a UDP_SEGMENT control message of
/// the payload size, so the kernel cuts each run into `payload`-sized datagrams. The relay's
/// default `gso` egress sends its runs this way with sendmmsg().
class GsoBatch {
 public:
  GsoBatch(const Sender& sender, int batch) {
    const int per_run = std::max<int>(
        1, std::min<int>(kGsoMaxSegments, static_cast<int>(kGsoMaxBytes / sender.payload_size)));
    for (int first = 0; first < batch; first += per_run) {
      const int count = std::min(per_run, batch - first);
      for (int i = first; i < first + count; ++i) {
        iovecs_[i] = {const_cast<uint8_t*>(sender.slot(i)), sender.payload_size};
      }
      const int run = runs_count_++;
      datagrams_[run] = count;
      msghdr& message = messages_[run].msg_hdr;
      message.msg_iov = &iovecs_[first];
      message.msg_iovlen = static_cast<size_t>(count);
      message.msg_control = controls_[run].bytes.data();
      message.msg_controllen = controls_[run].bytes.size();
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_UDP;
      header->cmsg_type = UDP_SEGMENT;
      header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(sender.payload_size);
      std::memcpy(CMSG_DATA(header), &segment, sizeof segment);
    }
  }
  [[nodiscard]] int runs() const { return runs_count_; }
  [[nodiscard]] int datagrams(int run) const { return datagrams_[run]; }
  // sendmmsg() reads its messages as one array: from `run` on, the runs that follow.
  mmsghdr* messages(int run) { return &messages_[run]; }
  [[nodiscard]] const msghdr* message(int run) const { return &messages_[run].msg_hdr; }

 private:
  struct Control {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(uint16_t))> bytes{};
  };
  std::array<iovec, kMaxBatch> iovecs_{};
  std::array<mmsghdr, kMaxBatch> messages_{};  // contiguous, as sendmmsg() needs
  std::array<Control, kMaxBatch> controls_{};
  std::array<int, kMaxBatch> datagrams_{};
  int runs_count_ = 0;
};

// One sendmmsg() of every GSO run of the batch (the relay's `gso` egress).
void BM_UdpSend_gso(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  if (!prepare(state, sender, batch)) {
    return;
  }
  GsoBatch gso(sender, batch);
  const uint64_t received_before = start_count();
  SendTally tally;
  for (auto _ : state) {
    int done = 0;
    while (done < gso.runs()) {
      const int sent =
          ::sendmmsg(sender.fd.get(), gso.messages(done), static_cast<unsigned>(gso.runs() - done), 0);
      ++tally.syscalls;
      if (sent > 0) {
        for (int run = done; run < done + sent; ++run) {
          tally.packets += static_cast<uint64_t>(gso.datagrams(run));
        }
        done += sent;
      } else if (sent < 0 && is_transient(errno)) {
        tally.transient_errors += static_cast<uint64_t>(gso.datagrams(done));
        ++done;
      } else if (!(sent < 0 && errno == EINTR)) {
        state.SkipWithError(("SKIP: sendmmsg(UDP_SEGMENT): " + std::string(std::strerror(errno)) +
                             " (kernel without UDP GSO)")
                                .c_str());
        return;
      }
    }
  }
  report(state, sender, tally, received_before);
}

// The same GSO runs as IORING_OP_SENDMSG SQEs, one io_uring_submit_and_wait() per batch: GSO on
// the uring backend, which the relay does not have.
void BM_UdpSend_uring_gso(benchmark::State& state) {
  Sender sender;
  int batch = 0;
  Ring ring;
  if (!prepare(state, sender, batch) || !open_ring(state, ring)) {
    return;
  }
  GsoBatch gso(sender, batch);
  const uint64_t received_before = start_count();
  SendTally tally;
  for (auto _ : state) {
    for (int run = 0; run < gso.runs(); ++run) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring.get());  // runs <= batch <= queue depth
      io_uring_prep_sendmsg(sqe, sender.fd.get(), gso.message(run), 0);
      io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(run));
    }
    int submitted = 0;
    do {
      submitted = io_uring_submit_and_wait(ring.get(), static_cast<unsigned>(gso.runs()));
      ++tally.syscalls;
    } while (submitted == -EINTR);
    if (submitted != gso.runs()) {
      state.SkipWithError("io_uring_submit_and_wait: not every SQE submitted");
      return;
    }
    for (int reaped = 0; reaped < gso.runs(); ++reaped) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(ring.get(), &cqe) < 0) {  // all complete: no syscall
        state.SkipWithError("io_uring_wait_cqe failed");
        return;
      }
      const auto run = static_cast<int>(io_uring_cqe_get_data64(cqe));
      if (cqe->res >= 0) {
        tally.packets += static_cast<uint64_t>(gso.datagrams(run));
      } else if (is_transient(-cqe->res)) {
        tally.transient_errors += static_cast<uint64_t>(gso.datagrams(run));
      } else {
        state.SkipWithError(("SKIP: IORING_OP_SENDMSG(UDP_SEGMENT): " +
                             std::string(std::strerror(-cqe->res)))
                                .c_str());
        return;
      }
      io_uring_cqe_seen(ring.get(), cqe);
    }
  }
  report(state, sender, tally, received_before);
}

// Payload bytes x batch: the size x batch matrix. Time base: see the file header.
void udp_matrix(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"bytes", "batch"})
      ->ArgsProduct({{512, 1400, 4096, 8192}, {1, 10, 50, 100, 500}});
  const char* wall = std::getenv("MRELAY_BENCH_WALL");
  if (wall != nullptr && std::string(wall) == "1") {
    bench->UseRealTime();
  } else {
    bench->MeasureProcessCPUTime();
  }
}

BENCHMARK(BM_UdpSend_sendto)->Apply(udp_matrix);
BENCHMARK(BM_UdpSend_sendmmsg)->Apply(udp_matrix);
BENCHMARK(BM_UdpSend_uring)->Apply(udp_matrix);
BENCHMARK(BM_UdpSend_zerocopy)->Apply(udp_matrix);
BENCHMARK(BM_UdpSend_gso)->Apply(udp_matrix);
BENCHMARK(BM_UdpSend_uring_gso)->Apply(udp_matrix);

}  // namespace
