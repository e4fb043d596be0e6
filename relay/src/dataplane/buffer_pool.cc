// Fixed buffer pool; see buffer_pool.h.
#include "dataplane/buffer_pool.h"

#include <cstdio>
#include <cstdlib>

#include "mrelay/config.h"

namespace mrelay {

PoolSize size_pool(uint32_t requested, uint32_t buffer_size) noexcept {
  PoolSize size{.buffers = requested, .buffer_size = buffer_size, .capped = false};
  const uint64_t fit = buffer_size == 0 ? requested : kMaxPoolBytes / buffer_size;
  if (requested > fit) {
    size.buffers = static_cast<uint32_t>(fit);
    size.capped = true;
  }
  return size;
}

std::string PoolSize::describe() const {
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f", static_cast<double>(bytes()) / (1 << 20));
  std::string text = std::to_string(buffers) + " buffers x " + std::to_string(buffer_size) +
                     " B = " + std::to_string(bytes()) + " B (" + mib + " MiB)";
  if (capped) {
    text += ", pool_buffers lowered to fit " + std::to_string(kMaxPoolBytes >> 20) + " MiB";
  }
  return text;
}

BufferPool::BufferPool(uint32_t count, uint32_t buffer_size)
    : buffer_size_(buffer_size),
      storage_(new uint8_t[static_cast<size_t>(count) * buffer_size]),
      buffers_(count),
      free_(count),
      free_count_(count) {
  for (uint32_t i = 0; i < count; ++i) {
    buffers_[i].data = storage_.get() + static_cast<size_t>(i) * buffer_size;
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
