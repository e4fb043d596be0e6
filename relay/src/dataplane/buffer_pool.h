// Fixed pool of packet buffers, allocated once at start. A received packet lives in one
// buffer that every output's send shares; the buffer goes back to the pool when the last
// reference is released (at once for send/sendmmsg, at the completion for io_uring).
//
//   mrelay::BufferPool pool(8192);
//   mrelay::PacketBuffer* buf = pool.acquire();   // refs == 1 (the receiver's reference)
//   if (buf == nullptr) { ++counters.drop_buffer_exhausted; }
//   pool.retain(buf);                              // one per queued copy
//   pool.release(buf);                             // receiver done; copies still hold it
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace mrelay {

struct PacketBuffer {
  uint8_t* data = nullptr;  // BufferPool::kBufferSize bytes
  uint32_t refs = 0;        // 0 = in the pool
  // Set once exhausted_packets has been counted for the packet in this buffer, so a packet
  // that loses several copies (queue full, ENOBUFS, EAGAIN) is counted once.
  bool exhausted = false;
};

/// Single-threaded (one per worker): no locks, no allocation after construction.
class BufferPool {
 public:
  // Holds one Ethernet frame up to MTU 1500 plus headers and VLAN tag with room to spare;
  // 2048 keeps buffers cache-line and page friendly.
  static constexpr size_t kBufferSize = 2048;

  explicit BufferPool(uint32_t count);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// A free buffer with refs = 1, or nullptr when every buffer is in use.
  [[nodiscard]] PacketBuffer* acquire() noexcept;
  void retain(PacketBuffer* buffer) noexcept { ++buffer->refs; }
  /// Drops one reference; the buffer returns to the pool when none remain.
  void release(PacketBuffer* buffer) noexcept;

  [[nodiscard]] uint32_t capacity() const noexcept {
    return static_cast<uint32_t>(buffers_.size());
  }
  [[nodiscard]] uint32_t available() const noexcept { return free_count_; }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<PacketBuffer> buffers_;
  std::vector<PacketBuffer*> free_;  // stack: the most recently freed buffer is still in cache
  uint32_t free_count_ = 0;
};

}  // namespace mrelay
