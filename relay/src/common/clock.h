// The relay's one clock: CLOCK_MONOTONIC in nanoseconds, for every deadline, period and
// uptime (never the wall clock, which can jump).
//
//   const uint64_t deadline_ns = mrelay::monotonic_ns() + 200 * 1000000u;
#pragma once

#include <time.h>

#include <cstdint>

namespace mrelay {

/// CLOCK_MONOTONIC in nanoseconds.
[[nodiscard]] inline uint64_t monotonic_ns() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace mrelay
