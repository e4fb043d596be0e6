// Stream accounting: loss, reordering, duplicates, corruption, warm-up, fanout keys.
//
//   build-harness/harness/mrelay_harness_test --gtest_filter='StreamTracker*'
#include "traffic/stream_tracker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mrelay::harness {
namespace {

constexpr GroupAddress kGroup = GroupAddress::from_v4(0x010101EF);  // 239.1.1.1
constexpr StreamKey kIf1{.ifindex = 1, .group = kGroup, .port = 5000, .stream = 0};
constexpr StreamKey kIf2{.ifindex = 2, .group = kGroup, .port = 5000, .stream = 0};

PayloadCheck valid(uint16_t stream, uint64_t seq, uint16_t flags = 0) {
  PayloadCheck check;
  check.status = PayloadStatus::ok;
  check.fields = {.stream = stream, .flags = flags, .sequence = seq, .send_time_ns = 1};
  return check;
}

const StreamStats& stats_of(const StreamTracker& tracker, StreamKey key, uint16_t stream) {
  key.stream = stream;
  return tracker.streams().at(key);
}

struct Case {
  const char* name;
  std::vector<uint64_t> sequences;
  uint64_t received, lost, reordered, duplicated, first_seq, last_seq;
};

class StreamTrackerTable : public ::testing::TestWithParam<Case> {};

TEST_P(StreamTrackerTable, CountsMatch) {
  const Case& c = GetParam();
  StreamTracker tracker;
  for (uint64_t seq : c.sequences) {
    tracker.on_packet(kIf1, valid(0, seq));
  }
  const StreamStats& s = stats_of(tracker, kIf1, 0);
  EXPECT_EQ(s.received, c.received);
  EXPECT_EQ(s.lost(), c.lost);
  EXPECT_EQ(s.reordered, c.reordered);
  EXPECT_EQ(s.duplicated, c.duplicated);
  EXPECT_EQ(s.first_seq, c.first_seq);
  EXPECT_EQ(s.last_seq, c.last_seq);
}

INSTANTIATE_TEST_SUITE_P(
    Sequences, StreamTrackerTable,
    ::testing::Values(
        Case{"in_order", {0, 1, 2, 3, 4}, 5, 0, 0, 0, 0, 4},
        Case{"gap", {10, 11, 14, 15}, 4, 2, 0, 0, 10, 15},
        Case{"swap", {0, 2, 1, 3}, 4, 0, 1, 0, 0, 3},
        Case{"duplicate", {0, 1, 1, 2}, 4, 0, 0, 1, 0, 2},
        Case{"late_duplicate", {0, 1, 2, 3, 1}, 5, 0, 0, 1, 0, 3},
        Case{"earlier_than_first", {5, 6, 4}, 3, 0, 1, 0, 4, 6},
        Case{"reordered_then_duplicated", {0, 3, 1, 1, 2}, 5, 0, 2, 1, 0, 3},
        // The window forgets: after jumping 5000 ahead, seq 1 can't be checked: reordered.
        Case{"older_than_window", {0, 1, 5001, 1}, 4, 4998, 1, 0, 0, 5001}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

TEST(StreamTracker, LargestGapIsTimedByArrivals) {
  StreamTracker tracker;
  // 0,1 at 1 ms spacing; 2..4 lost; 5 after 30 ms; 6; 7..8 lost (a smaller gap); 9.
  const std::vector<std::pair<uint64_t, uint64_t>> arrivals = {
      {0, 1000000}, {1, 2000000}, {5, 32000000}, {6, 33000000}, {9, 40000000}};
  for (const auto& [seq, rx_ns] : arrivals) {
    PayloadCheck check = valid(0, seq);
    check.fields.send_time_ns = 1000000 * (seq + 1);  // paced at 1 ms by the sender
    tracker.on_packet(kIf1, check, rx_ns);
  }
  const StreamStats& s = stats_of(tracker, kIf1, 0);
  EXPECT_EQ(s.max_gap, 3u);
  EXPECT_EQ(s.max_gap_ns, 30000000u);      // the receiver heard nothing for 30 ms...
  EXPECT_EQ(s.max_gap_send_ns, 4000000u);  // ...of which the sender's time lost was 4 ms
  EXPECT_EQ(s.lost(), 5u);
  // Reordered arrivals below the highest sequence never count as a gap.
  StreamTracker swapped;
  for (uint64_t seq : {0, 2, 1, 3}) {
    swapped.on_packet(kIf1, valid(0, seq), 1000 + seq);
  }
  EXPECT_EQ(stats_of(swapped, kIf1, 0).max_gap, 1u);
}

TEST(StreamTracker, WindowForgetsOnlyWhatFellOut) {
  StreamTracker tracker;
  for (uint64_t seq = 0; seq < 10'000; ++seq) {
    tracker.on_packet(kIf1, valid(0, seq));
  }
  // 9000 is inside the window (highest 9999): a duplicate.
  EXPECT_EQ(tracker.on_packet(kIf1, valid(0, 9000)), PacketOutcome::duplicate);
  const StreamStats& s = stats_of(tracker, kIf1, 0);
  EXPECT_EQ(s.duplicated, 1U);
  EXPECT_EQ(s.lost(), 0U);
  EXPECT_EQ(s.received, 10'001U);
}

TEST(StreamTracker, FanoutAndStreamIdsAreSeparateStreams) {
  StreamTracker tracker;
  tracker.on_packet(kIf1, valid(0, 0));
  tracker.on_packet(kIf2, valid(0, 0));  // same group, other interface: not a duplicate
  tracker.on_packet(kIf1, valid(1, 0));  // other payload stream
  EXPECT_EQ(tracker.streams().size(), 3U);
  EXPECT_EQ(stats_of(tracker, kIf2, 0).duplicated, 0U);
}

TEST(StreamTracker, WarmupIsCountedApartAndExcludedFromLoss) {
  StreamTracker tracker;
  EXPECT_EQ(tracker.on_packet(kIf1, valid(0, 0, kPayloadFlagWarmup)), PacketOutcome::warmup);
  EXPECT_EQ(tracker.on_packet(kIf1, valid(0, 1, kPayloadFlagWarmup)), PacketOutcome::warmup);
  EXPECT_EQ(tracker.on_packet(kIf1, valid(0, 5)), PacketOutcome::first_arrival);
  EXPECT_EQ(tracker.on_packet(kIf1, valid(0, 6)), PacketOutcome::first_arrival);
  const StreamStats& s = stats_of(tracker, kIf1, 0);
  EXPECT_EQ(s.warmup_received, 2U);
  EXPECT_EQ(s.received, 2U);
  EXPECT_EQ(s.lost(), 0U);  // 2..4 were never measured packets of this window
  EXPECT_EQ(s.first_seq, 5U);
}

TEST(StreamTracker, CorruptionIsAttributedOnlyToKnownStreams) {
  StreamTracker tracker;
  PayloadCheck bad = valid(0, 3);
  bad.status = PayloadStatus::bad_checksum;
  EXPECT_EQ(tracker.on_packet(kIf1, bad), PacketOutcome::corrupted);
  EXPECT_TRUE(tracker.streams().empty());  // never creates a stream from garbage
  EXPECT_EQ(tracker.unattributed_corrupted(), 1U);

  tracker.on_packet(kIf1, valid(0, 0));
  EXPECT_EQ(tracker.on_packet(kIf1, bad), PacketOutcome::corrupted);
  PayloadCheck foreign;
  foreign.status = PayloadStatus::bad_magic;
  EXPECT_EQ(tracker.on_packet(kIf1, foreign), PacketOutcome::corrupted);
  EXPECT_EQ(stats_of(tracker, kIf1, 0).corrupted, 1U);
  EXPECT_EQ(stats_of(tracker, kIf1, 0).received, 1U);
  EXPECT_EQ(tracker.unattributed_corrupted(), 2U);
}

TEST(StreamTracker, Ipv4AndIpv6GroupsAreSeparateStreams) {
  in6_addr v6{};
  ASSERT_EQ(inet_pton(AF_INET6, "ff3e::1", &v6), 1);
  const StreamKey six{.ifindex = 1, .group = GroupAddress::from_v6(v6), .port = 5000};
  // ::ffff:239.1.1.1 written as IPv6 is the IPv4 group's key on purpose; ff3e::1 is not.
  EXPECT_TRUE(kGroup.is_v4());
  EXPECT_FALSE(six.group.is_v4());
  EXPECT_EQ(kGroup.text(), "239.1.1.1");
  EXPECT_EQ(six.group.text(), "ff3e::1");
  StreamTracker tracker;
  tracker.on_packet(kIf1, valid(0, 0));
  tracker.on_packet(six, valid(0, 0));
  tracker.on_packet(six, valid(0, 2));
  EXPECT_EQ(tracker.streams().size(), 2U);
  EXPECT_EQ(stats_of(tracker, six, 0).lost(), 1U);
  EXPECT_EQ(stats_of(tracker, kIf1, 0).lost(), 0U);
}

TEST(StreamTracker, StreamLimitBoundsMemory) {
  StreamTracker tracker(2);
  tracker.on_packet(kIf1, valid(0, 0));
  tracker.on_packet(kIf1, valid(1, 0));
  EXPECT_EQ(tracker.on_packet(kIf1, valid(2, 0)), PacketOutcome::stream_limit);
  EXPECT_EQ(tracker.streams().size(), 2U);
  EXPECT_EQ(tracker.untracked_streams_packets(), 1U);
}

}  // namespace
}  // namespace mrelay::harness
