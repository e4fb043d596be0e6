// Tests of the relay's clock (clock.h).
#include "common/clock.h"

#include <gtest/gtest.h>

namespace mrelay {
namespace {

TEST(Clock, MonotonicClockAdvances) {
  const uint64_t first = monotonic_ns();
  EXPECT_GT(first, 0u);
  EXPECT_GE(monotonic_ns(), first);
}

}  // namespace
}  // namespace mrelay
