// Fixed buffer pool; see buffer_pool.h.
#include "dataplane/buffer_pool.h"

#include <cstdlib>

namespace mrelay {

BufferPool::BufferPool(uint32_t count)
    : storage_(new uint8_t[static_cast<size_t>(count) * kBufferSize]),
      buffers_(count),
      free_(count),
      free_count_(count) {
  for (uint32_t i = 0; i < count; ++i) {
    buffers_[i].data = storage_.get() + static_cast<size_t>(i) * kBufferSize;
    // Lowest index on top of the stack so a fresh pool hands out buffers in address order.
    free_[count - 1 - i] = &buffers_[i];
  }
}

PacketBuffer* BufferPool::acquire() noexcept {
  if (free_count_ == 0) {
    return nullptr;
  }
  PacketBuffer* buffer = free_[--free_count_];
  buffer->refs = 1;
  buffer->exhausted = false;
  return buffer;
}

void BufferPool::release(PacketBuffer* buffer) noexcept {
  if (buffer->refs == 0) {
    // A double release is a logic error that would corrupt the free stack: stop loudly.
    std::abort();
  }
  if (--buffer->refs == 0) {
    free_[free_count_++] = buffer;
  }
}

}  // namespace mrelay
