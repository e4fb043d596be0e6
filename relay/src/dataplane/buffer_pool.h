// Fixed pool of packet buffers, allocated once at start. A received packet lives in one
// buffer that every output's send shares; the buffer goes back to the pool when the last
// reference is released (at once for send/sendmmsg, at the completion for io_uring).
//
//   const mrelay::PoolSize size = mrelay::size_pool(config.pool_buffers, 9088);
//   mrelay::BufferPool pool(size.buffers, size.buffer_size);   // size.describe() for the log
//   mrelay::PacketBuffer* buf = pool.acquire();   // refs == 1 (the receiver's reference)
//   if (buf == nullptr) { ++counters.drop_buffer_exhausted; }
//   pool.retain(buf);                              // one per queued copy
//   pool.release(buf);                             // receiver done; copies still hold it
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mrelay {

struct PacketBuffer {
  uint8_t* data = nullptr;  // BufferPool::buffer_size() bytes
  uint32_t refs = 0;        // 0 = in the pool
  // Set once exhausted_packets has been counted for the packet in this buffer, so a packet
  // that loses several copies (queue full, ENOBUFS, EAGAIN) is counted once.
  bool exhausted = false;
};

/// How big one worker's pool is: `buffers` of `buffer_size` bytes each.
struct PoolSize {
  uint32_t buffers = 0;
  uint32_t buffer_size = 0;
  bool capped = false;  // fewer buffers than asked for, to stay within kMaxPoolBytes
  [[nodiscard]] uint64_t bytes() const noexcept {
    return static_cast<uint64_t>(buffers) * buffer_size;
  }
  /// "8192 buffers x 9088 B = 74448896 B (71.0 MiB)", plus the cap when it applied.
  [[nodiscard]] std::string describe() const;
};

/// `requested` buffers of `buffer_size` bytes (a validated size, kMinBufferSize..
/// kMaxBufferSize), lowered to what fits kMaxPoolBytes: at 65600 bytes, 2046 buffers.
[[nodiscard]] PoolSize size_pool(uint32_t requested, uint32_t buffer_size) noexcept;

/// Single-threaded (one per worker): no locks, no allocation after construction.
class BufferPool {
 public:
  // The size of every buffer unless told otherwise (tests, tools): an Ethernet frame up to
  // MTU 1500 plus headers and VLAN tags with room to spare; kMinBufferSize in mrelay/config.h.
  static constexpr uint32_t kDefaultBufferSize = 2048;

  explicit BufferPool(uint32_t count, uint32_t buffer_size = kDefaultBufferSize);
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
  [[nodiscard]] uint32_t buffer_size() const noexcept { return buffer_size_; }

 private:
  uint32_t buffer_size_;
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<PacketBuffer> buffers_;
  std::vector<PacketBuffer*> free_;  // stack: the most recently freed buffer is still in cache
  uint32_t free_count_ = 0;
};

}  // namespace mrelay
