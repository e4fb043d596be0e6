// Tests for the fixed buffer pool: exhaustion, reference counting, reuse.
#include "dataplane/buffer_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "mrelay/config.h"

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
    std::fill_n(buffers.back()->data, BufferPool::kDefaultBufferSize, static_cast<uint8_t>(i));
  }
  for (int i = 0; i < 4; ++i) {
    for (size_t b = 0; b < BufferPool::kDefaultBufferSize; ++b) {
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

// The buffer size for an ingress MTU: the MTU plus virtio_net_hdr, Ethernet and two VLAN tags,
// in whole cache lines, never below the 2 KiB of an MTU 1500 buffer, capped at loopback's.
TEST(PoolSizing, BufferSizeFollowsTheMtu) {
  EXPECT_EQ(buffer_size_for_mtu(0), 2048u);
  EXPECT_EQ(buffer_size_for_mtu(1500), 2048u);
  EXPECT_EQ(buffer_size_for_mtu(2016), 2048u);  // 2016 + 32 = 2048
  EXPECT_EQ(buffer_size_for_mtu(2017), 2112u);  // 2049, up to the next 64
  EXPECT_EQ(buffer_size_for_mtu(9000), 9088u);
  EXPECT_GE(buffer_size_for_mtu(9000), 9000u + kBufferFrameOverhead);
  EXPECT_EQ(buffer_size_for_mtu(65536), 65600u);
  EXPECT_EQ(buffer_size_for_mtu(1u << 20), kMaxBufferSize);
  EXPECT_EQ(kMaxBufferSize, 65600u);
  // The largest IPv4 UDP payload (65507) and a whole loopback frame behind its vnet header fit.
  EXPECT_GE(kMaxBufferSize, 10u + 14u + 65535u);
}

TEST(PoolSizing, PoolStaysWithinItsMemoryBound) {
  const PoolSize standard = size_pool(8192, 2048);
  EXPECT_EQ(standard.buffers, 8192u);
  EXPECT_EQ(standard.bytes(), 16u << 20);
  EXPECT_FALSE(standard.capped);
  const PoolSize jumbo = size_pool(8192, buffer_size_for_mtu(9000));
  EXPECT_EQ(jumbo.buffers, 8192u);
  EXPECT_EQ(jumbo.bytes(), 8192ull * 9088);
  EXPECT_FALSE(jumbo.capped);
  const PoolSize loopback = size_pool(8192, kMaxBufferSize);
  EXPECT_TRUE(loopback.capped);
  EXPECT_EQ(loopback.buffers, (128u << 20) / 65600);  // 2046
  EXPECT_LE(loopback.bytes(), kMaxPoolBytes);
  EXPECT_EQ(loopback.describe(),
            "2046 buffers x 65600 B = 134217600 B (128.0 MiB), pool_buffers lowered to fit "
            "128 MiB");
  BufferPool pool(loopback.buffers, loopback.buffer_size);
  EXPECT_EQ(pool.buffer_size(), 65600u);
  PacketBuffer* last = nullptr;
  for (uint32_t i = 0; i < pool.capacity(); ++i) {
    last = pool.acquire();
  }
  std::fill_n(last->data, pool.buffer_size(), 0xab);  // the last buffer is whole (ASan: in bounds)
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
