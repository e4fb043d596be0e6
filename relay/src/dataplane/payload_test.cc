// Tests for the harness payload format: round trip, O(1) restamp, corruption detection.
//
//   build-harness/relay/mrelay_core_test --gtest_filter='Payload*'
#include "mrelay/payload.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace mrelay {
namespace {

TEST(Payload, RoundTripsEverySizeFromHeaderToJumbo) {
  for (size_t size :
       {size_t{32}, size_t{33}, size_t{39}, size_t{40}, size_t{63}, size_t{64}, size_t{65},
        size_t{512}, size_t{1399}, size_t{1400}, size_t{9000}, size_t{65507}}) {
    std::vector<uint8_t> buf(size);
    const PayloadFields fields{.stream = 513,
                               .flags = kPayloadFlagWarmup,
                               .sequence = 0x0123456789ABCDEFULL,
                               .send_time_ns = 987654321012ULL};
    stamp_payload(buf.data(), size, fields);
    const PayloadCheck check = check_payload(buf.data(), size);
    ASSERT_EQ(check.status, PayloadStatus::ok) << "size " << size;
    EXPECT_EQ(check.fields.stream, fields.stream);
    EXPECT_EQ(check.fields.flags, fields.flags);
    EXPECT_EQ(check.fields.sequence, fields.sequence);
    EXPECT_EQ(check.fields.send_time_ns, fields.send_time_ns);
  }
}

TEST(Payload, LayoutIsLittleEndianWithMagicFirst) {
  uint8_t buf[64];
  stamp_payload(buf, sizeof buf, {.stream = 0x0102, .flags = 0, .sequence = 5, .send_time_ns = 9});
  EXPECT_EQ(std::memcmp(buf, "MRLY", 4), 0);
  EXPECT_EQ(buf[4], 0x02);
  EXPECT_EQ(buf[5], 0x01);
  EXPECT_EQ(buf[8], 5);
  EXPECT_EQ(buf[16], 9);
  EXPECT_EQ(buf[28], 64);  // size field
}

TEST(Payload, RestampTimeMatchesAFreshStamp) {
  for (size_t size : {size_t{32}, size_t{77}, size_t{1400}}) {
    std::vector<uint8_t> restamped(size);
    std::vector<uint8_t> fresh(size);
    stamp_payload(restamped.data(), size, {.stream = 3, .sequence = 42, .send_time_ns = 0});
    restamp_time(restamped.data(), size, 1'000'000'007ULL);
    restamp_time(restamped.data(), size, 5'000'000'011ULL);
    stamp_payload(fresh.data(), size,
                  {.stream = 3, .sequence = 42, .send_time_ns = 5'000'000'011ULL});
    EXPECT_EQ(restamped, fresh) << "size " << size;
    const PayloadCheck check = check_payload(restamped.data(), size);
    EXPECT_EQ(check.status, PayloadStatus::ok);
    EXPECT_EQ(check.fields.send_time_ns, 5'000'000'011ULL);
  }
}

TEST(Payload, EverySingleBitFlipIsDetected) {
  constexpr size_t kSize = 101;  // odd: exercises the partial last filler word
  uint8_t original[kSize];
  stamp_payload(original, kSize, {.stream = 7, .sequence = 1234, .send_time_ns = 55555});
  for (size_t byte = 0; byte < kSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t copy[kSize];
      std::memcpy(copy, original, kSize);
      copy[byte] ^= static_cast<uint8_t>(1U << bit);
      EXPECT_NE(check_payload(copy, kSize).status, PayloadStatus::ok)
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(Payload, ClassifiesMalformedInput) {
  uint8_t buf[128];
  stamp_payload(buf, sizeof buf, {.stream = 1, .sequence = 2, .send_time_ns = 3});

  EXPECT_EQ(check_payload(buf, 31).status, PayloadStatus::too_short);
  // A datagram truncated (or padded) in transit no longer matches its size field.
  const PayloadCheck truncated = check_payload(buf, 100);
  EXPECT_EQ(truncated.status, PayloadStatus::bad_size);
  EXPECT_EQ(truncated.fields.sequence, 2U);

  uint8_t foreign[128];
  std::memcpy(foreign, buf, sizeof buf);
  foreign[0] = 'X';
  EXPECT_EQ(check_payload(foreign, sizeof foreign).status, PayloadStatus::bad_magic);

  std::memcpy(foreign, buf, sizeof buf);
  foreign[100] ^= 0xFF;
  const PayloadCheck corrupted = check_payload(foreign, sizeof foreign);
  EXPECT_EQ(corrupted.status, PayloadStatus::bad_checksum);
  EXPECT_EQ(corrupted.fields.stream, 1U);  // still attributed to its stream
}

TEST(Payload, FillerDiffersBetweenPackets) {
  uint8_t a[256];
  uint8_t b[256];
  stamp_payload(a, sizeof a, {.stream = 1, .sequence = 10, .send_time_ns = 0});
  stamp_payload(b, sizeof b, {.stream = 1, .sequence = 11, .send_time_ns = 0});
  EXPECT_NE(
      std::memcmp(a + kPayloadHeaderSize, b + kPayloadHeaderSize, sizeof a - kPayloadHeaderSize),
      0);
  // Splicing another packet's filler onto this header is corruption.
  std::memcpy(a + kPayloadHeaderSize, b + kPayloadHeaderSize, sizeof a - kPayloadHeaderSize);
  EXPECT_EQ(check_payload(a, sizeof a).status, PayloadStatus::bad_checksum);
}

}  // namespace
}  // namespace mrelay
