// Per-stream sequence accounting for mrelay-sink: received, lost, reordered, duplicated,
// corrupted, warm-up. A stream is (arriving ifindex, destination group, port, payload
// stream id): the same group fanned out to several interfaces is several streams.
//
//   mrelay::harness::StreamTracker tracker;
//   auto outcome = tracker.on_packet({ifindex, group, port}, mrelay::check_payload(buf, len));
//   if (outcome == mrelay::harness::PacketOutcome::first_arrival) { latency.record(...); }
//   for (const auto& [key, stats] : tracker.streams()) { ... stats.lost() ... }
//
// Definitions (per stream, over measured = non-warm-up, checksum-valid packets):
//   received   every measured datagram, duplicates included (the raw count the kernel sees)
//   duplicated a sequence already seen within the last kWindow sequences below the highest
//   reordered  arrived below the highest sequence seen and not a duplicate; a sequence older
//              than the window cannot be checked for duplication and counts as reordered
//   lost       (last_seq - first_seq + 1) - unique, i.e. holes in [lowest, highest] seen
//   corrupted  payloads that fail check_payload with a readable stream id (bad checksum or
//              bad size); others (too short, wrong magic) go to unattributed_corrupted()
//   max_gap    the largest run of missing sequences between two in-order arrivals (packets),
//              max_gap_ns the receive-time distance between those two arrivals (how long the
//              output was silent), and max_gap_send_ns the distance of their SEND times (how
//              much of the sender's time was lost; unlike the receive gap it does not grow
//              when the sender itself stalls). Fault tests report them.
#pragma once

#include <netinet/in.h>

#include <array>
#include <bit>
#include <compare>
#include <cstring>
#include <string>
#include <cstdint>
#include <functional>
#include <unordered_map>

#include "mrelay/payload.h"

namespace mrelay::harness {

/// A destination group as a stream key holds it: 16 bytes, an IPv6 group as is and an IPv4
/// group mapped (::ffff:a.b.c.d), so one key type serves both families and they never collide.
struct GroupAddress {
  std::array<uint8_t, 16> bytes{};

  /// `group` in network byte order, as in_addr.s_addr holds it.
  static constexpr GroupAddress from_v4(in_addr_t group) noexcept {
    GroupAddress address;
    address.bytes[10] = 0xff;
    address.bytes[11] = 0xff;
    const auto octets = std::bit_cast<std::array<uint8_t, 4>>(group);
    for (size_t i = 0; i < 4; ++i) {
      address.bytes[12 + i] = octets[i];
    }
    return address;
  }
  static GroupAddress from_v6(const in6_addr& group) noexcept;
  [[nodiscard]] bool is_v4() const noexcept;
  /// "239.1.1.1" or "ff3e::1".
  [[nodiscard]] std::string text() const;

  friend auto operator<=>(const GroupAddress&, const GroupAddress&) = default;
};

struct StreamKey {
  uint32_t ifindex = 0;  // interface the datagram arrived on (IP_PKTINFO / IPV6_PKTINFO)
  GroupAddress group;    // destination address
  uint16_t port = 0;     // destination port, host byte order
  uint16_t stream = 0;   // payload stream id

  friend bool operator==(const StreamKey&, const StreamKey&) = default;
};

struct StreamKeyHash {
  size_t operator()(const StreamKey& key) const noexcept {
    uint64_t high = 0;
    uint64_t low = 0;
    std::memcpy(&high, key.group.bytes.data(), sizeof high);
    std::memcpy(&low, key.group.bytes.data() + 8, sizeof low);
    uint64_t packed = (low ^ (high * 0xC2B2AE3D27D4EB4FULL)) ^
                      (static_cast<uint64_t>(key.ifindex) << 16) ^
                      (static_cast<uint64_t>(key.port) << 40) ^ key.stream;
    packed *= 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(packed ^ (packed >> 29));
  }
};

/// Remembers which of the last kWindow sequences were seen: a fixed ring of bits.
class SequenceWindow {
 public:
  /// 4096 sequences = 512 bytes per stream: far more reordering than a veth or relay
  /// produces, small enough for thousands of streams in cache.
  static constexpr uint64_t kWindow = 4096;

  /// Marks seq seen; returns true if it had been seen before. Requires seq > highest - kWindow.
  bool test_and_set(uint64_t seq) noexcept;
  /// Moves the window's top to new_highest (> current), forgetting what falls out.
  void advance(uint64_t old_highest, uint64_t new_highest) noexcept;

 private:
  std::array<uint64_t, kWindow / 64> bits_{};
};

struct StreamStats {
  uint64_t received = 0;  // measured, valid, duplicates included
  uint64_t unique = 0;    // measured, valid, first arrivals
  uint64_t reordered = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;
  uint64_t warmup_received = 0;
  uint64_t first_seq = 0;        // lowest measured sequence seen
  uint64_t last_seq = 0;         // highest measured sequence seen
  uint64_t max_gap = 0;          // most sequences missing between two in-order arrivals
  uint64_t max_gap_ns = 0;       // receive-time distance across that gap (0 when not timed)
  uint64_t max_gap_send_ns = 0;  // send-time distance across that gap
  uint64_t last_rx_ns = 0;       // receive time of last_seq
  uint64_t last_send_ns = 0;     // send time of last_seq (from the payload)
  SequenceWindow window;

  [[nodiscard]] uint64_t lost() const noexcept {
    return unique == 0 ? 0 : (last_seq - first_seq + 1) - unique;
  }
};

enum class PacketOutcome : uint8_t {
  first_arrival,  // measured, valid, not seen before (possibly reordered): record latency
  duplicate,
  warmup,
  corrupted,
  stream_limit,  // valid but a new stream beyond max_streams: counted, not tracked
};

class StreamTracker {
 public:
  /// Memory bound: streams are created on their first valid packet (one allocation per
  /// stream, never per packet); 65536 covers 64 outputs x 1024 streams.
  static constexpr size_t kDefaultMaxStreams = 65536;

  explicit StreamTracker(size_t max_streams = kDefaultMaxStreams);

  /// Accounts one datagram. key.stream is ignored: the payload's stream id is used.
  /// rx_ns (receive time, any clock; 0 = untimed) times the largest sequence gap.
  PacketOutcome on_packet(StreamKey key, const PayloadCheck& check, uint64_t rx_ns = 0) noexcept;

  [[nodiscard]] const std::unordered_map<StreamKey, StreamStats, StreamKeyHash>& streams()
      const noexcept {
    return streams_;
  }
  [[nodiscard]] uint64_t unattributed_corrupted() const noexcept { return unattributed_; }
  [[nodiscard]] uint64_t untracked_streams_packets() const noexcept { return untracked_; }

 private:
  StreamStats* find_or_create(const StreamKey& key) noexcept;

  size_t max_streams_;
  std::unordered_map<StreamKey, StreamStats, StreamKeyHash> streams_;
  uint64_t unattributed_ = 0;
  uint64_t untracked_ = 0;
};

}  // namespace mrelay::harness
