// The test payload written by mrelay-gen and checked by mrelay-sink. The relay never looks
// at it; it lives here because both harness programs and tests share the format.
//
// Layout (little-endian, 32 bytes, then filler up to the payload size):
//   u32 magic 'MRLY' | u16 stream | u16 flags | u64 sequence | u64 send_time_ns
//   | u32 checksum | u32 size
// The filler is a byte pattern derived from (stream, sequence). The checksum is
//   checksum = body_hash XOR mix32(send_time_ns)
// where body_hash is a 64-bit multiply-xor hash of the header (send_time_ns and checksum
// fields zeroed) and the filler, folded to 32 bits. Splitting out the time makes
// restamp_time O(1): it recovers body_hash from the old checksum and old time and mixes in
// the new time, so the generator hashes each payload once (in stamp_payload), not twice.
// Any corrupted byte, including the time, still changes the checksum (time: mix32 is a
// good 64->32 mix, so a collision has probability ~2^-32).
//
//   uint8_t buf[512];
//   mrelay::stamp_payload(buf, sizeof buf, {.stream = 3, .sequence = 42, .send_time_ns = now});
//   auto check = mrelay::check_payload(buf, sizeof buf);  // check.status == PayloadStatus::ok
#pragma once

#include <cstddef>
#include <cstdint>

namespace mrelay {

inline constexpr uint32_t kPayloadMagic = 0x594c524d;  // "MRLY" read little-endian
inline constexpr size_t kPayloadHeaderSize = 32;
/// Packets sent during a cell's warm-up carry this flag; sinks count them apart.
inline constexpr uint16_t kPayloadFlagWarmup = 0x1;

struct PayloadFields {
  uint16_t stream = 0;
  uint16_t flags = 0;
  uint64_t sequence = 0;
  uint64_t send_time_ns = 0;  // CLOCK_MONOTONIC
};

enum class PayloadStatus : uint8_t { ok, too_short, bad_magic, bad_size, bad_checksum };

struct PayloadCheck {
  PayloadStatus status = PayloadStatus::too_short;
  PayloadFields fields;  // valid when status == ok (stream/sequence also on bad_checksum)
};

/// Writes header and filler into buf[0..size). size >= kPayloadHeaderSize.
void stamp_payload(uint8_t* buf, size_t size, const PayloadFields& fields) noexcept;
/// Rewrites only send_time_ns and the checksum (the generator's last step before send).
void restamp_time(uint8_t* buf, size_t size, uint64_t send_time_ns) noexcept;
[[nodiscard]] PayloadCheck check_payload(const uint8_t* buf, size_t size) noexcept;

}  // namespace mrelay
