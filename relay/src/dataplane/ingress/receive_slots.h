// A worker's receive slots: the kRecvBatch message headers, buffers and control-message room
// its recvmmsg readers (packet and udp ingress) fill, shared by all of its sockets since one
// reads at a time. Allocated once when the worker opens; no allocation afterwards.
//
//   mrelay::ReceiveSlots slots(/*link_layer=*/false);          // udp ingress
//   const uint32_t count = slots.receive(fd, pool, counters);   // one recvmmsg
//   for (uint32_t i = 0; i < count; ++i) { use slots.data(i), slots.length(i), slots.header(i) }
//
// Slot i reads into slots.buffer(i), a pool buffer, or into scratch room when the pool is
// empty (buffer(i) == nullptr): such a packet is still read, parsed and counted, and dropped
// as drop_buffer_exhausted. A reader that hands the buffer on (Forwarder::forward) sets
// buffer(i) to nullptr; the slot takes a fresh one at the next receive().
#pragma once

#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/ingress/ingress.h"
#include "dataplane/ingress/ingress_socket.h"
#include "mrelay/counters.h"

namespace mrelay {

class ReceiveSlots {
 public:
  // Room per slot for the control messages, in bytes: SO_RXQ_OVFL and IP_TTL (udp mode, 24
  // bytes each), PACKET_AUXDATA (packet mode).
  static constexpr size_t kControlSize = 64;
  // Packet mode: one frame longer than its ring slot, read whole (virtio_net_hdr included).
  static constexpr size_t kCopyBufferSize = kVnetHeaderSize + kMaxIngressFrame;

  /// `link_layer`: the sockets are packet sockets (sources are sockaddr_ll, and a ring's long
  /// frames need the copy buffer); otherwise UDP sockets (sockaddr_in sources). `buffer_size`:
  /// the pool's (BufferPool::buffer_size()), the most one slot reads.
  explicit ReceiveSlots(bool link_layer, uint32_t buffer_size = BufferPool::kDefaultBufferSize);
  ReceiveSlots(const ReceiveSlots&) = delete;
  ReceiveSlots& operator=(const ReceiveSlots&) = delete;

  /// Gives every slot a buffer and reads up to kRecvBatch messages from `fd` with one
  /// recvmmsg(MSG_DONTWAIT) (counted in syscalls). Returns how many; 0 when nothing was
  /// waiting (EAGAIN) or on EINTR, both of which just end this socket's turn.
  uint32_t receive(int fd, BufferPool& pool, WorkerCounters& counters) noexcept;
  /// Returns every slot's buffer to the pool (the worker's shutdown).
  void release(BufferPool& pool) noexcept;

  [[nodiscard]] msghdr& header(uint32_t slot) noexcept { return messages_[slot].msg_hdr; }
  [[nodiscard]] uint32_t length(uint32_t slot) const noexcept { return messages_[slot].msg_len; }
  [[nodiscard]] const uint8_t* data(uint32_t slot) const noexcept {
    return static_cast<const uint8_t*>(iovecs_[slot].iov_base);
  }
  /// The slot's pool buffer; nullptr when it read into scratch room (the pool was empty).
  [[nodiscard]] PacketBuffer*& buffer(uint32_t slot) noexcept { return buffers_[slot]; }
  /// The sender (udp mode): an IPv4 socket's sockaddr_in, in room for an IPv6 one.
  [[nodiscard]] const sockaddr_in& source(uint32_t slot) const noexcept {
    return reinterpret_cast<const sockaddr_in&>(sources_[slot]);
  }
  /// The sender of an IPv6 socket's datagram.
  [[nodiscard]] const sockaddr_in6& source6(uint32_t slot) const noexcept { return sources_[slot]; }
  [[nodiscard]] const sockaddr_ll& link_source(uint32_t slot) const noexcept {
    return link_sources_[slot];
  }
  /// kCopyBufferSize bytes (packet mode only): where a ring reader reads a long frame whole.
  [[nodiscard]] uint8_t* copy_buffer() noexcept { return copy_buffer_.get(); }

 private:
  const bool link_layer_;
  const uint32_t buffer_size_;
  std::vector<PacketBuffer*> buffers_;
  std::unique_ptr<uint8_t[]> scratch_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_in6> sources_;      // udp mode (IPv4 or IPv6 senders)
  std::vector<sockaddr_ll> link_sources_;  // packet mode: each frame's packet type
  std::vector<uint8_t> control_;
  std::unique_ptr<uint8_t[]> copy_buffer_;  // packet mode
};

}  // namespace mrelay
