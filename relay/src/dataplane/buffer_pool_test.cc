// Tests for the fixed buffer pool: exhaustion, reference counting, reuse.
#include "dataplane/buffer_pool.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace mrelay {
namespace {

TEST(BufferPool, AcquireAllThenExhausted) {
  BufferPool pool(8);
  std::set<PacketBuffer*> seen;
  for (int i = 0; i < 8; ++i) {
    PacketBuffer* buffer = pool.acquire();
    ASSERT_NE(buffer, nullptr);
    EXPECT_EQ(buffer->refs, 1u);
    EXPECT_TRUE(seen.insert(buffer).second) << "buffer handed out twice";
  }
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.acquire(), nullptr);
}

TEST(BufferPool, BuffersDoNotOverlap) {
  BufferPool pool(4);
  std::vector<PacketBuffer*> buffers;
  for (int i = 0; i < 4; ++i) {
    buffers.push_back(pool.acquire());
    std::fill_n(buffers.back()->data, BufferPool::kBufferSize, static_cast<uint8_t>(i));
  }
  for (int i = 0; i < 4; ++i) {
    for (size_t b = 0; b < BufferPool::kBufferSize; ++b) {
      ASSERT_EQ(buffers[i]->data[b], i);
    }
  }
}

TEST(BufferPool, ReturnsOnlyAfterLastRelease) {
  BufferPool pool(2);
  PacketBuffer* buffer = pool.acquire();
  pool.retain(buffer);   // copy 1
  pool.retain(buffer);   // copy 2
  pool.release(buffer);  // receiver done
  EXPECT_EQ(pool.available(), 1u);
  pool.release(buffer);  // copy 2 completes first
  EXPECT_EQ(pool.available(), 1u);
  pool.release(buffer);  // copy 1: last reference
  EXPECT_EQ(pool.available(), 2u);
  EXPECT_EQ(buffer->refs, 0u);
}

TEST(BufferPool, ReuseResetsState) {
  BufferPool pool(1);
  PacketBuffer* first = pool.acquire();
  first->exhausted = true;
  pool.release(first);
  PacketBuffer* again = pool.acquire();
  EXPECT_EQ(again, first);
  EXPECT_EQ(again->refs, 1u);
  EXPECT_FALSE(again->exhausted);
  EXPECT_EQ(pool.acquire(), nullptr);
}

TEST(BufferPoolDeathTest, DoubleReleaseAborts) {
  BufferPool pool(1);
  PacketBuffer* buffer = pool.acquire();
  pool.release(buffer);
  EXPECT_DEATH(pool.release(buffer), "");
}

}  // namespace
}  // namespace mrelay
