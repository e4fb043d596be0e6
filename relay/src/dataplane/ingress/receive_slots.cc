// The worker's receive slots; see receive_slots.h.
#include "dataplane/ingress/receive_slots.h"

namespace mrelay {

ReceiveSlots::ReceiveSlots(bool link_layer, uint32_t buffer_size)
    : link_layer_(link_layer),
      buffer_size_(buffer_size),
      buffers_(kRecvBatch, nullptr),
      scratch_(new uint8_t[static_cast<size_t>(kRecvBatch) * buffer_size]),
      messages_(kRecvBatch, mmsghdr{}),
      iovecs_(kRecvBatch, iovec{}),
      sources_(kRecvBatch, sockaddr_in6{}),
      link_sources_(link_layer ? kRecvBatch : 0, sockaddr_ll{}),
      control_(static_cast<size_t>(kRecvBatch) * kControlSize, 0),
      // Frames longer than a ring slot are read whole from the socket queue into this one
      // buffer (read_ring_copy); allocated once, 64 KiB.
      copy_buffer_(link_layer ? new uint8_t[kCopyBufferSize] : nullptr) {
  for (uint32_t i = 0; i < kRecvBatch; ++i) {
    iovecs_[i].iov_len = buffer_size;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_iov = &iovecs_[i];
    header.msg_iovlen = 1;
    header.msg_control = &control_[static_cast<size_t>(i) * kControlSize];
    if (link_layer) {
      header.msg_name = &link_sources_[i];  // sll_pkttype; PACKET_AUXDATA in the control
    } else {
      header.msg_name = &sources_[i];
    }
  }
}

uint32_t ReceiveSlots::receive(int fd, BufferPool& pool, WorkerCounters& counters) noexcept {
  for (uint32_t i = 0; i < kRecvBatch; ++i) {
    if (buffers_[i] == nullptr) {
      buffers_[i] = pool.acquire();
    }
    iovecs_[i].iov_base = buffers_[i] != nullptr
                              ? buffers_[i]->data
                              : scratch_.get() + static_cast<size_t>(i) * buffer_size_;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_flags = 0;
    header.msg_namelen = link_layer_ ? sizeof(sockaddr_ll) : sizeof(sockaddr_in6);
    header.msg_controllen = kControlSize;
  }
  ++counters.syscalls;
  const int count = ::recvmmsg(fd, messages_.data(), kRecvBatch, MSG_DONTWAIT, nullptr);
  return count <= 0 ? 0 : static_cast<uint32_t>(count);
}

void ReceiveSlots::release(BufferPool& pool) noexcept {
  for (PacketBuffer*& buffer : buffers_) {
    if (buffer != nullptr) {
      pool.release(buffer);
      buffer = nullptr;
    }
  }
}

}  // namespace mrelay
