// The test payload format (see mrelay/payload.h for the layout and the checksum scheme).
//
//   uint8_t buf[1400];
//   mrelay::stamp_payload(buf, sizeof buf, {.stream = 1, .sequence = 7});  // hashes once
//   mrelay::restamp_time(buf, sizeof buf, now_ns);                         // O(1)
//   if (mrelay::check_payload(buf, sizeof buf).status != mrelay::PayloadStatus::ok) { ... }
#include "mrelay/payload.h"

#include <bit>
#include <cstring>

namespace mrelay {
namespace {

// Byte offsets inside the 32-byte header.
constexpr size_t kMagicOffset = 0;
constexpr size_t kStreamOffset = 4;
constexpr size_t kFlagsOffset = 6;
constexpr size_t kSequenceOffset = 8;
constexpr size_t kTimeOffset = 16;
constexpr size_t kChecksumOffset = 24;
constexpr size_t kSizeOffset = 28;

// Odd 64-bit constant (2^64 / golden ratio): multiplying by it is a bijection, so a change
// in any single hashed word always changes the 64-bit state.
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// Independent hash lanes: the multiply chain is latency bound, so four lanes let the CPU
// overlap them (about 4x faster on 1400-byte payloads than one lane).
constexpr size_t kLanes = 4;

template <typename T>
T to_little(T value) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    return value;
  } else if constexpr (sizeof(T) == 8) {
    return __builtin_bswap64(value);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(value);
  } else {
    return __builtin_bswap16(value);
  }
}

template <typename T>
void store(uint8_t* at, T value) noexcept {
  const T little = to_little(value);
  std::memcpy(at, &little, sizeof little);
}

template <typename T>
T load(const uint8_t* at) noexcept {
  T value;
  std::memcpy(&value, at, sizeof value);
  return to_little(value);
}

// splitmix64's finalizer: every input bit affects every output bit.
uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

uint32_t mix32(uint64_t x) noexcept {
  const uint64_t mixed = mix64(x ^ 0x5851F42D4C957F2DULL);
  return static_cast<uint32_t>(mixed ^ (mixed >> 32));
}

uint64_t filler_seed(uint16_t stream, uint64_t sequence) noexcept {
  return mix64((static_cast<uint64_t>(stream) << 48) ^ sequence ^ 0xD6E8FEB86659FD93ULL);
}

// Multiply-xor hash over the payload body. The caller supplies the four header words with
// send_time_ns and checksum already zeroed; the filler is read from buf[32..size).
class BodyHash {
 public:
  void add(size_t lane, uint64_t word) noexcept { state_[lane] = (state_[lane] ^ word) * kGolden; }

  void add_filler(const uint8_t* filler, size_t length) noexcept {
    size_t offset = 0;
    for (; offset + kLanes * 8 <= length; offset += kLanes * 8) {
      for (size_t lane = 0; lane < kLanes; ++lane) {
        add(lane, load<uint64_t>(filler + offset + lane * 8));
      }
    }
    for (; offset + 8 <= length; offset += 8) {
      add(0, load<uint64_t>(filler + offset));
    }
    if (offset < length) {
      uint64_t tail = 0;
      for (size_t i = 0; offset + i < length; ++i) {
        tail |= static_cast<uint64_t>(filler[offset + i]) << (8 * i);
      }
      // The tail length is folded in so trailing zero bytes are not equivalent to no bytes.
      add(1, tail ^ (static_cast<uint64_t>(length - offset) << 56));
    }
  }

  uint32_t finish() noexcept {
    uint64_t combined = 0;
    for (size_t lane = 0; lane < kLanes; ++lane) {
      combined = mix64(combined ^ state_[lane]);
    }
    return static_cast<uint32_t>(combined ^ (combined >> 32));
  }

 private:
  uint64_t state_[kLanes] = {0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL, 0xA4093822299F31D0ULL,
                             0x082EFA98EC4E6C89ULL};
};

// Header words as hashed: time and checksum zeroed.
void add_header(BodyHash& hash, const uint8_t* buf) noexcept {
  hash.add(0, load<uint64_t>(buf + kMagicOffset));
  hash.add(1, load<uint64_t>(buf + kSequenceOffset));
  hash.add(2, 0);
  hash.add(3, static_cast<uint64_t>(load<uint32_t>(buf + kSizeOffset)) << 32);
}

}  // namespace

void stamp_payload(uint8_t* buf, size_t size, const PayloadFields& fields) noexcept {
  if (size < kPayloadHeaderSize) {
    return;
  }
  store<uint32_t>(buf + kMagicOffset, kPayloadMagic);
  store<uint16_t>(buf + kStreamOffset, fields.stream);
  store<uint16_t>(buf + kFlagsOffset, fields.flags);
  store<uint64_t>(buf + kSequenceOffset, fields.sequence);
  store<uint64_t>(buf + kTimeOffset, 0);
  store<uint32_t>(buf + kChecksumOffset, 0);
  store<uint32_t>(buf + kSizeOffset, static_cast<uint32_t>(size));

  // Filler: an arithmetic sequence of 64-bit words seeded by (stream, sequence), so two
  // packets never share a body and a byte moved from another packet is caught.
  uint8_t* filler = buf + kPayloadHeaderSize;
  const size_t filler_length = size - kPayloadHeaderSize;
  uint64_t word = filler_seed(fields.stream, fields.sequence);
  size_t offset = 0;
  for (; offset + 8 <= filler_length; offset += 8) {
    word += kGolden;
    store<uint64_t>(filler + offset, word);
  }
  word += kGolden;
  for (size_t i = 0; offset + i < filler_length; ++i) {
    filler[offset + i] = static_cast<uint8_t>(word >> (8 * i));
  }

  BodyHash hash;
  add_header(hash, buf);
  hash.add_filler(filler, filler_length);
  const uint32_t body = hash.finish();
  store<uint64_t>(buf + kTimeOffset, fields.send_time_ns);
  store<uint32_t>(buf + kChecksumOffset, body ^ mix32(fields.send_time_ns));
}

void restamp_time(uint8_t* buf, size_t size, uint64_t send_time_ns) noexcept {
  if (size < kPayloadHeaderSize) {
    return;
  }
  const uint64_t old_time = load<uint64_t>(buf + kTimeOffset);
  const uint32_t body = load<uint32_t>(buf + kChecksumOffset) ^ mix32(old_time);
  store<uint64_t>(buf + kTimeOffset, send_time_ns);
  store<uint32_t>(buf + kChecksumOffset, body ^ mix32(send_time_ns));
}

PayloadCheck check_payload(const uint8_t* buf, size_t size) noexcept {
  PayloadCheck check;
  if (size < kPayloadHeaderSize) {
    check.status = PayloadStatus::too_short;
    return check;
  }
  if (load<uint32_t>(buf + kMagicOffset) != kPayloadMagic) {
    check.status = PayloadStatus::bad_magic;
    return check;
  }
  check.fields.stream = load<uint16_t>(buf + kStreamOffset);
  check.fields.sequence = load<uint64_t>(buf + kSequenceOffset);
  if (load<uint32_t>(buf + kSizeOffset) != size) {
    check.status = PayloadStatus::bad_size;
    return check;
  }
  check.fields.flags = load<uint16_t>(buf + kFlagsOffset);
  check.fields.send_time_ns = load<uint64_t>(buf + kTimeOffset);

  BodyHash hash;
  add_header(hash, buf);
  hash.add_filler(buf + kPayloadHeaderSize, size - kPayloadHeaderSize);
  const uint32_t expected = hash.finish() ^ mix32(check.fields.send_time_ns);
  check.status = load<uint32_t>(buf + kChecksumOffset) == expected ? PayloadStatus::ok
                                                                   : PayloadStatus::bad_checksum;
  return check;
}

}  // namespace mrelay
