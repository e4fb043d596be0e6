// Per-stream sequence accounting (see traffic/stream_tracker.h for the definitions).
//
//   StreamTracker tracker;  tracker.on_packet(key, check_payload(buf, len));
#include "traffic/stream_tracker.h"

#include <arpa/inet.h>

#include <algorithm>

namespace mrelay::harness {

GroupAddress GroupAddress::from_v6(const in6_addr& group) noexcept {
  GroupAddress address;
  std::memcpy(address.bytes.data(), &group, sizeof group);
  return address;
}

bool GroupAddress::is_v4() const noexcept {
  return IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(bytes.data()));
}

std::string GroupAddress::text() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

bool SequenceWindow::test_and_set(uint64_t seq) noexcept {
  const uint64_t slot = seq % kWindow;
  const uint64_t mask = uint64_t{1} << (slot % 64);
  uint64_t& word = bits_[slot / 64];
  const bool seen = (word & mask) != 0;
  word |= mask;
  return seen;
}

void SequenceWindow::advance(uint64_t old_highest, uint64_t new_highest) noexcept {
  if (new_highest - old_highest >= kWindow) {
    bits_.fill(0);
    return;
  }
  // Slots of old_highest+1 .. new_highest held sequences kWindow older: forget them.
  for (uint64_t seq = old_highest + 1; seq <= new_highest; ++seq) {
    const uint64_t slot = seq % kWindow;
    bits_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
  }
}

StreamTracker::StreamTracker(size_t max_streams) : max_streams_(max_streams) {
  // Typical runs have at most a few hundred streams: reserving avoids rehashing mid-run.
  streams_.reserve(std::min<size_t>(max_streams_, 1024));
}

StreamStats* StreamTracker::find_or_create(const StreamKey& key) noexcept {
  if (auto it = streams_.find(key); it != streams_.end()) {
    return &it->second;
  }
  if (streams_.size() >= max_streams_) {
    return nullptr;
  }
  // Allocation once per stream (not per packet); bad_alloc here would be a broken machine.
  return &streams_.try_emplace(key).first->second;
}

PacketOutcome StreamTracker::on_packet(StreamKey key, const PayloadCheck& check,
                                       uint64_t rx_ns) noexcept {
  if (check.status != PayloadStatus::ok) {
    // Only these statuses leave a trustworthy stream id; never create a stream from them.
    if (check.status == PayloadStatus::bad_checksum || check.status == PayloadStatus::bad_size) {
      key.stream = check.fields.stream;
      if (auto it = streams_.find(key); it != streams_.end()) {
        ++it->second.corrupted;
        return PacketOutcome::corrupted;
      }
    }
    ++unattributed_;
    return PacketOutcome::corrupted;
  }

  key.stream = check.fields.stream;
  StreamStats* stats = find_or_create(key);
  if (stats == nullptr) {
    ++untracked_;
    return PacketOutcome::stream_limit;
  }
  if ((check.fields.flags & kPayloadFlagWarmup) != 0) {
    ++stats->warmup_received;
    return PacketOutcome::warmup;
  }

  const uint64_t seq = check.fields.sequence;
  ++stats->received;
  if (stats->unique == 0) {
    stats->first_seq = seq;
    stats->last_seq = seq;
    stats->window.test_and_set(seq);
    stats->unique = 1;
    stats->last_rx_ns = rx_ns;
    stats->last_send_ns = check.fields.send_time_ns;
    return PacketOutcome::first_arrival;
  }
  if (seq > stats->last_seq) {
    if (const uint64_t missing = seq - stats->last_seq - 1; missing > stats->max_gap) {
      stats->max_gap = missing;
      stats->max_gap_ns = rx_ns != 0 && stats->last_rx_ns != 0 ? rx_ns - stats->last_rx_ns : 0;
      const uint64_t sent = check.fields.send_time_ns;
      stats->max_gap_send_ns = sent > stats->last_send_ns ? sent - stats->last_send_ns : 0;
    }
    stats->last_rx_ns = rx_ns;
    stats->last_send_ns = check.fields.send_time_ns;
    stats->window.advance(stats->last_seq, seq);
    stats->window.test_and_set(seq);
    stats->last_seq = seq;
    ++stats->unique;
    return PacketOutcome::first_arrival;
  }
  const bool in_window = stats->last_seq - seq < SequenceWindow::kWindow;
  if (in_window && stats->window.test_and_set(seq)) {
    ++stats->duplicated;
    return PacketOutcome::duplicate;
  }
  ++stats->reordered;
  ++stats->unique;
  if (seq < stats->first_seq) {
    stats->first_seq = seq;
  }
  return PacketOutcome::first_arrival;
}

}  // namespace mrelay::harness
