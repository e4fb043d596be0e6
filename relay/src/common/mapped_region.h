// An mmap'ed region that unmaps itself: a packet socket's TPACKET ring, an AF_XDP UMEM or ring.
// Private to the relay.
//
//   void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
//   if (base == MAP_FAILED) { return mrelay::fail_errno("mmap"); }
//   mrelay::MappedRegion region(base, size);   // munmap when it goes
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace mrelay {

class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(void* base, size_t size) : base_(base), size_(size) {}
  MappedRegion(MappedRegion&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& other) noexcept {
    if (this != &other) {
      unmap();
      base_ = std::exchange(other.base_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  ~MappedRegion() { unmap(); }

  [[nodiscard]] uint8_t* bytes() const noexcept { return static_cast<uint8_t*>(base_); }
  explicit operator bool() const noexcept { return base_ != nullptr; }

 private:
  void unmap() noexcept {
    if (base_ != nullptr) {
      ::munmap(base_, size_);
    }
  }

  void* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mrelay
