// Egress backends over loopback: every backend sends N packets to 3 outputs (3 UDP sockets on
// 127.0.0.1), all arrive intact, every buffer returns to the pool, counters match; every copy
// leaves with the TTL it was given (unicast on loopback, multicast over a veth pair in a
// private namespace, every backend including packet).
#include "dataplane/egress/egress.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "dataplane/egress/egress_selector.h"
#include "mrelay/kernel_probe.h"
#include "testing/test_netns.h"

namespace mrelay {
namespace {

constexpr int kOutputs = 3;

struct Receiver {
  UniqueFd fd;
  uint16_t port = 0;
};

Receiver open_receiver() {
  Receiver receiver;
  receiver.fd = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int bytes = 4 << 20;
  ::setsockopt(receiver.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(receiver.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(receiver.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  receiver.port = ntohs(addr.sin_port);
  return receiver;
}

// Payload i: 4-byte index then a pattern derived from it, length varying with i.
uint32_t fill_payload(uint8_t* data, uint32_t i) {
  const uint32_t len = 16 + (i * 37) % 1200;
  std::memcpy(data, &i, sizeof i);
  for (uint32_t b = sizeof i; b < len; ++b) {
    data[b] = static_cast<uint8_t>(i * 7 + b);
  }
  return len;
}

bool payload_intact(const uint8_t* data, size_t len, uint32_t* index) {
  if (len < sizeof(uint32_t)) {
    return false;
  }
  std::memcpy(index, data, sizeof *index);
  uint8_t expected[BufferPool::kDefaultBufferSize];
  return fill_payload(expected, *index) == len && std::memcmp(expected, data, len) == 0;
}

// Every copy an egress accepted ends as exactly one of tx_packets or a drop_* counter.
uint64_t sent_or_dropped(const WorkerCounters& counters) {
  uint64_t total = counters.tx_packets;
  for_each_counter(counters, [&](std::string_view name, uint64_t value, std::string_view) {
    total += name.starts_with("drop_") && name != "drop_buffer_exhausted" ? value : 0;
  });
  return total;
}

// Three output sockets on loopback, each connected to its own receiver.
class LoopbackOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kOutputs; ++i) {
      receivers_.push_back(open_receiver());
      Output output;
      output.interface = "lo";
      output.address.s_addr = htonl(INADDR_LOOPBACK);
      output.port = receivers_.back().port;
      auto fd = open_output_socket(output, 1, {.sndbuf = 1 << 20}, "test output");
      ASSERT_TRUE(fd) << fd.error().to_string();
      sockets_.push_back(std::move(*fd));
      fds_.push_back(sockets_.back().get());
    }
  }

  // Reads everything waiting on receiver r; returns the count, checks each payload.
  int drain_receiver(int r, std::vector<int>& seen_count) {
    int received = 0;
    uint8_t data[BufferPool::kDefaultBufferSize];
    for (;;) {
      const ssize_t len = ::recv(receivers_[r].fd.get(), data, sizeof data, 0);
      if (len < 0) {
        return received;
      }
      uint32_t index = 0;
      EXPECT_TRUE(payload_intact(data, static_cast<size_t>(len), &index));
      if (index < seen_count.size()) {
        ++seen_count[index];
      }
      ++received;
    }
  }

  std::vector<Receiver> receivers_;
  std::vector<UniqueFd> sockets_;
  std::vector<int> fds_;
};

class EgressTest : public LoopbackOutputs, public ::testing::WithParamInterface<EgressBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == EgressBackend::uring && !probe_io_uring().available) {
      GTEST_SKIP() << probe_io_uring().describe();
    }
    LoopbackOutputs::SetUp();
  }
};

TEST_P(EgressTest, FanoutThreeAllArriveIntact) {
  // 600 x 3 copies of <= 1.2 KB fit the receivers' 4 MiB buffers, so nothing may be lost.
  constexpr uint32_t kPackets = 600;
  constexpr uint32_t kBatch = 16;
  BufferPool pool(kPackets);
  WorkerCounters counters{};
  auto egress = make_egress({.backend = GetParam(), .queue_depth = 256, .batch = kBatch}, fds_,
                            pool, counters);
  ASSERT_TRUE(egress) << egress.error().to_string();
  ASSERT_EQ((*egress)->backend(), GetParam());

  uint64_t expected_bytes = 0;
  // Loop turns of 50 packets, as the worker does: forward, flush, reap.
  for (uint32_t i = 0; i < kPackets; ++i) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    const uint32_t len = fill_payload(buffer->data, i);
    for (uint32_t o = 0; o < kOutputs; ++o) {
      EXPECT_TRUE((*egress)->send(o, buffer, buffer->data, len, 1));
    }
    expected_bytes += static_cast<uint64_t>(len) * kOutputs;
    pool.release(buffer);
    if (i % 50 == 49) {
      (*egress)->flush();
      (*egress)->reap();
    }
  }
  (*egress)->drain(1000);
  EXPECT_EQ((*egress)->in_flight(), 0u);
  EXPECT_EQ(pool.available(), pool.capacity()) << "a buffer reference leaked";

  EXPECT_EQ(counters.tx_packets, kPackets * kOutputs);
  EXPECT_EQ(counters.tx_bytes, expected_bytes);
  EXPECT_EQ(counters.drop_eagain + counters.drop_enobufs + counters.drop_other_errno +
                counters.drop_queue_full,
            0u);
  switch (GetParam()) {
    case EgressBackend::send:
      EXPECT_EQ(counters.syscalls, kPackets * kOutputs);
      EXPECT_EQ(counters.batches, 0u);
      break;
    case EgressBackend::sendmmsg:
    case EgressBackend::gso:  // lengths change from copy to copy: runs of one or two
      // 50-packet turns: per output three full batches of 16 plus a flush of 2.
      EXPECT_EQ(counters.batches, (kPackets / 50) * kOutputs * 4);
      EXPECT_EQ(counters.syscalls, counters.batches);
      break;
    case EgressBackend::uring:
      // 150 copies per turn: 9 full submits of 16 plus one flush of 6 per turn.
      EXPECT_EQ(counters.batches, (kPackets / 50) * 10);
      EXPECT_GE(counters.syscalls, counters.batches);
      break;
    case EgressBackend::packet:
      // Not instantiated here (it needs an interface with a MAC, not loopback):
      // egress_packet_test.cc and the netns tests cover it.
      break;
  }

  std::vector<int> total_seen(kPackets, 0);
  for (int r = 0; r < kOutputs; ++r) {
    std::vector<int> seen(kPackets, 0);
    EXPECT_EQ(drain_receiver(r, seen), static_cast<int>(kPackets)) << "output " << r;
    for (uint32_t i = 0; i < kPackets; ++i) {
      EXPECT_EQ(seen[i], 1) << "output " << r << " packet " << i;
      if (seen[i] != 1) {
        break;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, EgressTest,
                         ::testing::Values(EgressBackend::send, EgressBackend::sendmmsg,
                                           EgressBackend::uring, EgressBackend::gso),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

// A queue depth of 4 with batch 8 against a socket whose send buffer is full (a blocking Unix
// datagram pair whose peer never reads): every copy ends as sent or counted once, never more
// than 4 are in flight, and every buffer returns. Sends carry MSG_DONTWAIT, so the full buffer
// answers EAGAIN at once instead of parking copies in the ring.
TEST(UringEgress, TinyQueueDepthAccountsEveryCopy) {
  if (!probe_io_uring().available) {
    GTEST_SKIP() << probe_io_uring().describe();
  }
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
  UniqueFd sender(pair[0]);
  UniqueFd sink(pair[1]);
  const int smallest = 1;  // the kernel raises it to its minimum (a few KB)
  ASSERT_EQ(::setsockopt(sender.get(), SOL_SOCKET, SO_SNDBUF, &smallest, sizeof smallest), 0);
  const int fds[1] = {sender.get()};
  constexpr uint32_t kPackets = 100;
  BufferPool pool(kPackets);
  WorkerCounters counters{};
  uint32_t accepted = 0;
  {
    auto egress = make_egress({.backend = EgressBackend::uring, .queue_depth = 4, .batch = 8}, fds,
                              pool, counters);
    ASSERT_TRUE(egress) << egress.error().to_string();
    for (uint32_t i = 0; i < kPackets; ++i) {
      PacketBuffer* buffer = pool.acquire();
      ASSERT_NE(buffer, nullptr);
      std::memset(buffer->data, 0xab, 64);
      accepted += (*egress)->send(0, buffer, buffer->data, 64, 1) ? 1 : 0;
      pool.release(buffer);
      EXPECT_LE((*egress)->in_flight(), 4u);
    }
    (*egress)->flush();
    (*egress)->reap();
    EXPECT_EQ(counters.drop_queue_full, counters.uring_sq_full);
    EXPECT_EQ(accepted + counters.drop_queue_full, kPackets);
    EXPECT_GT(counters.drop_eagain, 0u);  // a few KB of send buffer cannot hold 100 datagrams
  }
  EXPECT_EQ(sent_or_dropped(counters), kPackets);
  EXPECT_LE(counters.exhausted_packets, kPackets);
  EXPECT_EQ(pool.available(), pool.capacity());
}

TEST(SendmmsgEgress, FullSocketBufferCountsEagainOncePerPacket) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair), 0);
  UniqueFd sender(pair[0]);
  UniqueFd sink(pair[1]);
  const int smallest = 1;  // the kernel raises it to its minimum (a few KB)
  ASSERT_EQ(::setsockopt(sender.get(), SOL_SOCKET, SO_SNDBUF, &smallest, sizeof smallest), 0);
  // Two outputs on the same full socket: each packet loses both copies but counts once.
  const int fds[2] = {sender.get(), sender.get()};
  constexpr uint32_t kPackets = 40;
  BufferPool pool(kPackets);
  WorkerCounters counters{};
  OutputCounters per_output[2] = {};
  auto egress =
      make_egress({.backend = EgressBackend::sendmmsg, .batch = 8, .output_counters = per_output},
                  fds, pool, counters);
  ASSERT_TRUE(egress);
  for (uint32_t i = 0; i < kPackets; ++i) {
    PacketBuffer* buffer = pool.acquire();
    (*egress)->send(0, buffer, buffer->data, 32, 1);
    (*egress)->send(1, buffer, buffer->data, 32, 1);
    pool.release(buffer);
  }
  (*egress)->flush();
  EXPECT_EQ(pool.available(), pool.capacity());
  EXPECT_EQ(counters.tx_packets + counters.drop_eagain, 2 * kPackets);
  EXPECT_EQ(per_output[0].failed_packets + per_output[1].failed_packets, counters.drop_eagain);
  EXPECT_GT(counters.drop_eagain, 0u);  // a few KB of send buffer cannot hold 80 datagrams
  // Every packet whose copies were not all sent counts exactly once.
  EXPECT_LE(counters.exhausted_packets, kPackets);
  EXPECT_GE(counters.exhausted_packets, (counters.drop_eagain + 1) / 2);
}

// UDP GSO: 100 copies of 700 B and a last short one to each of two outputs, batch 128, one
// flush. Runs are cut at 64 segments and the short copy closes its run, so each output takes
// one sendmmsg() of two messages; the receivers must still see 101 separate datagrams, in
// order, intact. Output 1 has SO_NO_CHECK, with which the kernel refuses GSO (EINVAL): it
// must fall back to one datagram per message and lose nothing.
TEST_F(LoopbackOutputs, GsoRunsArriveAsSeparateDatagrams) {
  if (!probe_udp_gso()) {
    GTEST_SKIP() << "no UDP_SEGMENT on this kernel";
  }
  constexpr uint32_t kCopies = 101;
  constexpr uint32_t kSize = 700;
  constexpr uint32_t kShortSize = 300;
  const int one = 1;
  ASSERT_EQ(::setsockopt(fds_[1], SOL_SOCKET, SO_NO_CHECK, &one, sizeof one), 0);
  const std::vector<int> two_outputs(fds_.begin(), fds_.begin() + 2);
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  auto egress =
      make_egress({.backend = EgressBackend::gso, .batch = 128}, two_outputs, pool, counters);
  ASSERT_TRUE(egress) << egress.error().to_string();
  ASSERT_EQ((*egress)->backend(), EgressBackend::gso);
  for (uint32_t i = 0; i < kCopies; ++i) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    const uint32_t len = i + 1 == kCopies ? kShortSize : kSize;
    std::memcpy(buffer->data, &i, sizeof i);
    std::memset(buffer->data + sizeof i, static_cast<int>(i & 0xff), len - sizeof i);
    for (uint32_t o = 0; o < 2; ++o) {
      EXPECT_TRUE((*egress)->send(o, buffer, buffer->data, len, 1));
    }
    pool.release(buffer);
  }
  (*egress)->flush();
  EXPECT_EQ(pool.available(), pool.capacity()) << "a buffer reference leaked";
  EXPECT_EQ(counters.tx_packets, 2 * kCopies);
  EXPECT_EQ(counters.tx_bytes, 2 * (uint64_t{kSize} * (kCopies - 1) + kShortSize));
  EXPECT_EQ(counters.gso_fallbacks, 1u);
  // Output 0: one call. Output 1: the refused call, then one for the 101 single datagrams.
  EXPECT_EQ(counters.syscalls, 3u);
  for (int r = 0; r < 2; ++r) {
    uint8_t data[BufferPool::kDefaultBufferSize];
    uint32_t expected = 0;
    for (;;) {
      const ssize_t len = ::recv(receivers_[r].fd.get(), data, sizeof data, 0);
      if (len < 0) {
        break;
      }
      uint32_t index = 0;
      std::memcpy(&index, data, sizeof index);
      ASSERT_EQ(index, expected) << "output " << r << ": datagrams out of order or merged";
      ASSERT_EQ(static_cast<uint32_t>(len), index + 1 == kCopies ? kShortSize : kSize);
      EXPECT_EQ(data[len - 1], static_cast<uint8_t>(index & 0xff));
      ++expected;
    }
    EXPECT_EQ(expected, kCopies) << "output " << r;
  }
}

// Empty datagrams are valid UDP and must stay separate datagrams: a run of them (segment
// size 0) would leave as one datagram, and an empty copy closing a run would vanish.
TEST_F(LoopbackOutputs, GsoKeepsEmptyCopiesAsDatagrams) {
  if (!probe_udp_gso()) {
    GTEST_SKIP() << "no UDP_SEGMENT on this kernel";
  }
  const uint32_t lengths[] = {0, 0, 0, 100, 100, 100, 0, 100};
  constexpr uint32_t kCopies = sizeof lengths / sizeof lengths[0];
  const int one_output[1] = {fds_[0]};
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  auto egress =
      make_egress({.backend = EgressBackend::gso, .batch = 16}, one_output, pool, counters);
  ASSERT_TRUE(egress) << egress.error().to_string();
  for (uint32_t len : lengths) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    std::memset(buffer->data, 0x5a, len);
    EXPECT_TRUE((*egress)->send(0, buffer, buffer->data, len, 1));
    pool.release(buffer);
  }
  (*egress)->flush();
  EXPECT_EQ(counters.tx_packets, kCopies);
  EXPECT_EQ(counters.gso_fallbacks, 0u);
  uint8_t data[BufferPool::kDefaultBufferSize];
  for (uint32_t i = 0; i < kCopies; ++i) {
    const ssize_t len = ::recv(receivers_[0].fd.get(), data, sizeof data, 0);
    ASSERT_EQ(len, static_cast<ssize_t>(lengths[i])) << "datagram " << i;
  }
  EXPECT_LT(::recv(receivers_[0].fd.get(), data, sizeof data, 0), 0) << "an extra datagram";
}

// A copy larger than the path MTU allows as a segment must go alone (and be fragmented, as
// without GSO), not turn GSO off for the output: loopback's MTU lowered to 1200 in a private
// namespace, runs of 1000 B copies with 1500 B copies between them.
TEST(GsoEgress, CopiesAboveTheMtuGoAloneWithoutFallback) {
  if (!probe_udp_gso()) {
    GTEST_SKIP() << "no UDP_SEGMENT on this kernel";
  }
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    request.ifr_mtu = 1200;
    if (::ioctl(control.get(), SIOCSIFMTU, &request) != 0) {
      return std::string("SIOCSIFMTU: ") + std::strerror(errno);
    }
    Receiver receiver = open_receiver();
    Output output;
    output.interface = "lo";
    output.address.s_addr = htonl(INADDR_LOOPBACK);
    output.port = receiver.port;
    auto fd = open_output_socket(output, 1, {.sndbuf = 1 << 20}, "test output");
    if (!fd) {
      return fd.error().to_string();
    }
    const int fds[1] = {fd->get()};
    constexpr uint32_t kCopies = 40;
    BufferPool pool(kCopies);
    WorkerCounters counters{};
    auto egress = make_egress({.backend = EgressBackend::gso, .batch = 64}, fds, pool, counters);
    if (!egress) {
      return egress.error().to_string();
    }
    for (uint32_t i = 0; i < kCopies; ++i) {
      PacketBuffer* buffer = pool.acquire();
      const uint32_t len = i % 10 == 9 ? 1500 : 1000;
      std::memcpy(buffer->data, &i, sizeof i);
      (*egress)->send(0, buffer, buffer->data, len, 1);
      pool.release(buffer);
    }
    (*egress)->flush();
    if (counters.gso_fallbacks != 0 || counters.tx_packets != kCopies) {
      return "gso_fallbacks " + std::to_string(counters.gso_fallbacks) + ", tx_packets " +
             std::to_string(counters.tx_packets);
    }
    uint8_t data[BufferPool::kDefaultBufferSize];
    for (uint32_t expected = 0; expected < kCopies; ++expected) {
      pollfd ready{receiver.fd.get(), POLLIN, 0};
      ::poll(&ready, 1, 1000);
      const ssize_t len = ::recv(receiver.fd.get(), data, sizeof data, 0);
      uint32_t index = UINT32_MAX;
      if (len >= 4) {
        std::memcpy(&index, data, sizeof index);
      }
      const ssize_t wanted = expected % 10 == 9 ? 1500 : 1000;
      if (index != expected || len != wanted) {
        return "datagram " + std::to_string(expected) + ": got index " + std::to_string(index) +
               ", " + std::to_string(len) + " bytes";
      }
    }
    return "";
  });
}

// ---- TTL per copy ------------------------------------------------------------------------

// Asks the kernel for each received datagram's TTL (IP_RECVTTL).
void enable_recv_ttl(int fd) {
  const int one = 1;
  EXPECT_EQ(::setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one), 0);
}

// Reads one waiting datagram into `data`; returns its length (-1 when none) and its TTL.
ssize_t receive_with_ttl(int fd, uint8_t* data, size_t capacity, int* ttl) {
  iovec iov{data, capacity};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  const ssize_t len = ::recvmsg(fd, &message, MSG_DONTWAIT);
  *ttl = -1;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&message); len >= 0 && cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&message, cmsg)) {
    if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_TTL) {
      std::memcpy(ttl, CMSG_DATA(cmsg), sizeof *ttl);
    }
  }
  return len;
}

// The TTL of copy `i` to output `o`: runs of three equal TTLs (GSO may join those, and must
// cut where the TTL changes), including 1 (the socket's own TTL: no control message) and 5
// (the fixed TTL of the multicast test's second output).
uint8_t copy_ttl(uint32_t i, uint32_t o) {
  constexpr uint8_t kTtls[] = {64, 63, 1, 255, 2, 5, 200, 1, 9};
  return kTtls[(i / 3 + o) % (sizeof kTtls / sizeof kTtls[0])];
}

// Sends `copies` equal-sized copies to each output with copy_ttl(), in loop turns of 20 copies
// as the worker does. Payload: the 4-byte copy index, then filler.
void send_ttl_pattern(Egress& egress, BufferPool& pool, uint32_t outputs, uint32_t copies) {
  constexpr uint32_t kSize = 200;
  for (uint32_t i = 0; i < copies; ++i) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    std::memset(buffer->data, 0x3c, kSize);
    std::memcpy(buffer->data, &i, sizeof i);
    for (uint32_t o = 0; o < outputs; ++o) {
      EXPECT_TRUE(egress.send(o, buffer, buffer->data, kSize, copy_ttl(i, o)));
    }
    pool.release(buffer);
    if (i % 20 == 19) {
      egress.flush();
      egress.reap();
    }
  }
  egress.drain(1000);
}

// Reads `copies` datagrams (waiting up to 2 s for stragglers) and checks each one's TTL against
// copy_ttl(index, output). Returns "" or what went wrong.
std::string check_ttls(int fd, uint32_t output, uint32_t copies) {
  std::vector<int> seen(copies, 0);
  uint32_t received = 0;
  std::string problems;
  for (int waits = 0; received < copies && waits < 200;) {
    uint8_t data[BufferPool::kDefaultBufferSize];
    int ttl = -1;
    const ssize_t len = receive_with_ttl(fd, data, sizeof data, &ttl);
    if (len < 0) {
      pollfd ready{fd, POLLIN, 0};
      ::poll(&ready, 1, 10);
      ++waits;
      continue;
    }
    uint32_t index = UINT32_MAX;
    if (len >= 4) {
      std::memcpy(&index, data, sizeof index);
    }
    if (index >= copies || ++seen[index] != 1) {
      problems += "output " + std::to_string(output) + ": stray or duplicate copy " +
                  std::to_string(index) + "; ";
      continue;
    }
    ++received;
    if (ttl != copy_ttl(index, output)) {
      problems += "output " + std::to_string(output) + " copy " + std::to_string(index) + ": TTL " +
                  std::to_string(ttl) + ", sent with " + std::to_string(copy_ttl(index, output)) +
                  "; ";
    }
  }
  if (received != copies) {
    problems += "output " + std::to_string(output) + ": " + std::to_string(received) + " of " +
                std::to_string(copies) + " copies arrived; ";
  }
  return problems;
}

// Unicast on loopback: every backend that serves it puts each copy's own TTL on the wire.
TEST_P(EgressTest, EveryCopyLeavesWithItsOwnTtl) {
  constexpr uint32_t kCopies = 90;
  for (const Receiver& receiver : receivers_) {
    enable_recv_ttl(receiver.fd.get());
  }
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  auto egress =
      make_egress({.backend = GetParam(), .queue_depth = 256, .batch = 16}, fds_, pool, counters);
  ASSERT_TRUE(egress) << egress.error().to_string();
  send_ttl_pattern(**egress, pool, kOutputs, kCopies);
  EXPECT_EQ(pool.available(), pool.capacity()) << "a buffer reference leaked";
  EXPECT_EQ(counters.tx_packets, kCopies * kOutputs);
  for (uint32_t o = 0; o < kOutputs; ++o) {
    EXPECT_EQ(check_ttls(receivers_[o].fd.get(), o, kCopies), "");
  }
}

// Multicast over a veth pair in a private namespace, every backend including packet (which
// writes the IPv4 header itself): each copy arrives with the TTL it was given, whatever the
// socket's IP_MULTICAST_TTL (1 for output 0, a fixed 5 for output 1). For the socket backends
// this checks on the running kernel that a per-message IP_TTL overrides IP_MULTICAST_TTL.
std::string run_multicast_ttl(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  if (backend == EgressBackend::gso && !probe_udp_gso()) {
    return "SKIP: no UDP_SEGMENT on this kernel";
  }
  for (const std::string& step :
       {testing::create_veth_pair("mrlt0", "mrlt1"), testing::interface_up("mrlt0"),
        testing::interface_up("mrlt1"), testing::interface_running("mrlt0"),
        testing::interface_running("mrlt1"), testing::add_ipv4_address("mrlt0", "10.99.0.1"),
        // The copies come from an address of this same namespace: let mrlt1 take them.
        testing::write_sysctl("net/ipv4/conf/mrlt1/accept_local", "1")}) {
    if (!step.empty()) {
      return step;
    }
  }
  const unsigned out_index = ::if_nametoindex("mrlt0");
  const unsigned in_index = ::if_nametoindex("mrlt1");
  constexpr uint32_t kTwoOutputs = 2;
  constexpr uint32_t kCopies = 90;
  std::vector<UniqueFd> receivers;
  std::vector<UniqueFd> sockets;
  std::vector<int> fds;
  for (uint32_t o = 0; o < kTwoOutputs; ++o) {
    Output output;
    output.interface = "mrlt0";
    output.address.s_addr = htonl(0xef090901u + o);  // 239.9.9.1, 239.9.9.2
    output.port = static_cast<uint16_t>(7001 + o);
    if (o == 1) {
      output.ttl = 5;
    }
    UniqueFd receiver(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    const int bytes = 4 << 20;
    ::setsockopt(receiver.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr = output.address;
    bound.sin_port = htons(output.port);
    ip_mreqn join{};
    join.imr_multiaddr = output.address;
    join.imr_ifindex = static_cast<int>(in_index);
    if (::bind(receiver.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
        ::setsockopt(receiver.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) != 0) {
      return std::string("receiver: ") + std::strerror(errno);
    }
    enable_recv_ttl(receiver.get());
    receivers.push_back(std::move(receiver));
    auto fd = open_output_socket(output, out_index, {.sndbuf = 1 << 20}, "test output");
    if (!fd) {
      return fd.error().to_string();
    }
    fds.push_back(fd->get());
    sockets.push_back(std::move(*fd));
  }
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  auto egress =
      make_egress({.backend = backend, .queue_depth = 256, .batch = 16}, fds, pool, counters);
  if (!egress) {
    return egress.error().to_string();
  }
  send_ttl_pattern(**egress, pool, kTwoOutputs, kCopies);
  std::string problems;
  if (counters.tx_packets != kCopies * kTwoOutputs) {
    problems += "tx_packets " + std::to_string(counters.tx_packets) + "; ";
  }
  for (uint32_t o = 0; o < kTwoOutputs; ++o) {
    problems += check_ttls(receivers[o].get(), o, kCopies);
  }
  return problems;
}

class MulticastTtl : public ::testing::TestWithParam<EgressBackend> {};

TEST_P(MulticastTtl, EveryCopyArrivesWithItsOwnTtl) {
  const EgressBackend backend = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([backend] { return run_multicast_ttl(backend); });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, MulticastTtl,
                         ::testing::Values(EgressBackend::send, EgressBackend::sendmmsg,
                                           EgressBackend::uring, EgressBackend::gso,
                                           EgressBackend::packet),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

// ---- drops no counter saw ----------------------------------------------------------------

// A root tbf qdisc on the private namespace's loopback: 1 mbit/s with a 2 KB burst and 1 ms
// of queue holds two 1000-byte datagrams, so a burst of 200 is mostly dropped by the qdisc.
// Without IP_RECVERR the kernel reports such a drop to a UDP sender as success.
std::string qdisc_drops_are_reported(EgressBackend backend) {
  if (std::system("tc qdisc add dev lo root tbf rate 1mbit burst 2kb latency 1ms "
                  ">/dev/null 2>&1") != 0) {
    return "SKIP: tc qdisc add ... tbf failed (tc missing or no sch_tbf)";
  }
  Receiver receiver = open_receiver();
  Output output;
  output.interface = "lo";
  output.address.s_addr = htonl(INADDR_LOOPBACK);
  output.port = receiver.port;
  auto fd = open_output_socket(output, 1, {.sndbuf = 1 << 20}, "test output");
  if (!fd) {
    return fd.error().to_string();
  }
  const int fds[1] = {fd->get()};
  constexpr uint32_t kCopies = 200;
  BufferPool pool(kCopies);
  WorkerCounters counters{};
  {
    auto egress =
        make_egress({.backend = backend, .queue_depth = 64, .batch = 8}, fds, pool, counters);
    if (!egress) {
      return egress.error().to_string();
    }
    for (uint32_t i = 0; i < kCopies; ++i) {
      PacketBuffer* buffer = pool.acquire();
      std::memset(buffer->data, 0x33, 1000);
      (void)(*egress)->send(0, buffer, buffer->data, 1000, 1);
      pool.release(buffer);
      if (i % 8 == 7) {
        (*egress)->flush();
        (*egress)->reap();
      }
    }
    (*egress)->drain(1000);
  }
  // The qdisc releases what it queued at its rate: wait (bounded) until the receiver has what
  // the relay counts as sent.
  uint64_t received = 0;
  uint8_t data[BufferPool::kDefaultBufferSize];
  for (int waited_ms = 0; received < counters.tx_packets && waited_ms < 5000; waited_ms += 10) {
    pollfd ready{receiver.fd.get(), POLLIN, 0};
    ::poll(&ready, 1, 10);
    while (::recv(receiver.fd.get(), data, sizeof data, MSG_DONTWAIT) > 0) {
      ++received;
    }
  }
  std::string problems;
  if (received != counters.tx_packets) {
    problems += "tx_packets " + std::to_string(counters.tx_packets) + " but the receiver got " +
                std::to_string(received) + "; ";
  }
  if (counters.drop_enobufs == 0) {
    problems += "no drop_enobufs counted; ";
  }
  if (sent_or_dropped(counters) != kCopies) {
    problems += "sent + dropped = " + std::to_string(sent_or_dropped(counters)) + ", expected " +
                std::to_string(kCopies) + "; ";
  }
  return problems;
}

class QdiscDrops : public ::testing::TestWithParam<EgressBackend> {};

TEST_P(QdiscDrops, AreReportedAndCountedAsEnobufs) {
  if (GetParam() == EgressBackend::uring && !probe_io_uring().available) {
    GTEST_SKIP() << probe_io_uring().describe();
  }
  const EgressBackend backend = GetParam();
  MRELAY_EXPECT_IN_PRIVATE_NETNS([backend] { return qdisc_drops_are_reported(backend); });
}

// gso is left out: tbf segments a GSO run itself and reports a partly dropped run as sent
// (a kernel limitation, docs/metrics.md); one datagram per message behaves as sendmmsg.
INSTANTIATE_TEST_SUITE_P(Backends, QdiscDrops,
                         ::testing::Values(EgressBackend::send, EgressBackend::sendmmsg,
                                           EgressBackend::uring),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

// A non-blocking socket whose send buffer is full (a Unix datagram pair whose peer never reads,
// like a stalled output) must not park io_uring sends: the copies fail at once with EAGAIN.
UniqueFd full_socket(UniqueFd& peer) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair) != 0) {
    return UniqueFd();
  }
  peer = UniqueFd(pair[1]);
  const int smallest = 1;  // the kernel raises it to its minimum (a few KB)
  ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &smallest, sizeof smallest);
  return UniqueFd(pair[0]);
}

// One stalled output (output 0) must not take the io_uring slots from a healthy one (output 1):
// with a queue depth of 8, parked copies of output 0 would fill every slot and output 1's
// copies would be dropped (drop_queue_full), or reordered when parked copies retry.
TEST_F(LoopbackOutputs, UringStalledOutputDoesNotStarveOthers) {
  if (!probe_io_uring().available) {
    GTEST_SKIP() << probe_io_uring().describe();
  }
  UniqueFd peer;
  UniqueFd stalled = full_socket(peer);
  ASSERT_TRUE(stalled);
  const int fds[2] = {stalled.get(), fds_[0]};
  constexpr uint32_t kPackets = 300;
  BufferPool pool(kPackets);
  WorkerCounters counters{};
  OutputCounters per_output[2] = {};
  {
    auto egress = make_egress({.backend = EgressBackend::uring,
                               .queue_depth = 8,
                               .batch = 4,
                               .output_counters = per_output},
                              fds, pool, counters);
    ASSERT_TRUE(egress) << egress.error().to_string();
    for (uint32_t i = 0; i < kPackets; ++i) {
      PacketBuffer* buffer = pool.acquire();
      ASSERT_NE(buffer, nullptr);
      std::memcpy(buffer->data, &i, sizeof i);
      std::memset(buffer->data + sizeof i, 0x42, 60);
      (void)(*egress)->send(0, buffer, buffer->data, 64, 1);
      (void)(*egress)->send(1, buffer, buffer->data, 64, 1);
      pool.release(buffer);
      (*egress)->flush();  // one loop turn per packet
      (*egress)->reap();
    }
    (*egress)->drain(1000);
  }
  EXPECT_EQ(counters.drop_queue_full, 0u);
  EXPECT_GT(counters.drop_eagain, 0u);
  EXPECT_EQ(sent_or_dropped(counters), 2 * kPackets);
  // Each failed copy is charged to its output: the stalled one, never the healthy one.
  EXPECT_EQ(per_output[0].failed_packets, counters.drop_eagain);
  EXPECT_EQ(per_output[1].failed_packets, 0u);
  EXPECT_EQ(pool.available(), pool.capacity());
  uint8_t data[BufferPool::kDefaultBufferSize];
  uint32_t expected = 0;
  while (::recv(receivers_[0].fd.get(), data, sizeof data, MSG_DONTWAIT) > 0) {
    uint32_t index = 0;
    std::memcpy(&index, data, sizeof index);
    ASSERT_EQ(index, expected) << "healthy output: copies out of order";
    ++expected;
  }
  EXPECT_EQ(expected, kPackets) << "the healthy output lost copies to the stalled one";
}

// Copies accepted by the io_uring egress and then torn down (a rule change rebuilds the egress,
// shutdown destroys it) are each counted once, as sent or as a drop: none vanish.
TEST(UringEgress, EveryAcceptedCopyIsCountedAfterTeardown) {
  if (!probe_io_uring().available) {
    GTEST_SKIP() << probe_io_uring().describe();
  }
  UniqueFd peer;
  UniqueFd stalled = full_socket(peer);
  ASSERT_TRUE(stalled);
  const int fds[1] = {stalled.get()};
  constexpr uint32_t kPackets = 50;
  BufferPool pool(kPackets);
  WorkerCounters counters{};
  uint32_t accepted = 0;
  {
    auto egress = make_egress({.backend = EgressBackend::uring, .queue_depth = 64, .batch = 8}, fds,
                              pool, counters);
    ASSERT_TRUE(egress) << egress.error().to_string();
    for (uint32_t i = 0; i < kPackets; ++i) {
      PacketBuffer* buffer = pool.acquire();
      ASSERT_NE(buffer, nullptr);
      accepted += (*egress)->send(0, buffer, buffer->data, 64, 1) ? 1 : 0;
      pool.release(buffer);
    }
    (*egress)->drain(50);
  }
  EXPECT_EQ(pool.available(), pool.capacity());
  EXPECT_EQ(sent_or_dropped(counters), accepted + counters.drop_queue_full);
  EXPECT_EQ(accepted + counters.drop_queue_full, kPackets);
}

}  // namespace
}  // namespace mrelay
