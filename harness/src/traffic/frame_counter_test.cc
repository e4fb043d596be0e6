// The counting sink's frame walk and header check: frames built here as the kernel lays them
// out in a TPACKET_V3 block, truncated to kCaptureBytes, and accounted across blocks.
//
//   build/harness/mrelay_harness_test --gtest_filter='FrameCounter*'
#include "traffic/frame_counter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>

#include <cstring>
#include <vector>

namespace mrelay::harness {
namespace {

constexpr uint32_t kGroup = 0x010101EF;  // 239.1.1.1 in network order (little-endian host)
constexpr uint16_t kPort = 5000;

// An Ethernet/IPv4/UDP frame carrying a stamped test payload of `size` bytes.
std::vector<uint8_t> test_frame(uint16_t stream, uint64_t seq, size_t size, bool vlan = false,
                                uint8_t protocol = 17, bool lie_about_size = false) {
  std::vector<uint8_t> frame(14 + (vlan ? 4 : 0) + 20 + 8 + size, 0);
  size_t at = 12;
  if (vlan) {
    frame[at] = 0x81;
    frame[at + 1] = 0x00;
    at += 4;
  }
  frame[at] = 0x08;
  frame[at + 1] = 0x00;
  uint8_t* ip = frame.data() + at + 2;
  ip[0] = 0x45;
  ip[9] = protocol;
  std::memcpy(ip + 16, &kGroup, 4);
  uint8_t* udp = ip + 20;
  const uint16_t port = htons(kPort);
  const uint16_t length = htons(static_cast<uint16_t>(8 + size));
  std::memcpy(udp + 2, &port, 2);
  std::memcpy(udp + 4, &length, 2);
  mrelay::stamp_payload(udp + 8, lie_about_size ? size - 1 : size,
                        {.stream = stream, .sequence = seq, .send_time_ns = 7});
  return frame;
}

// An Ethernet/IPv6/UDP frame to ff3e::1 carrying a stamped test payload; `next_header` other
// than 17 stands for an extension header (e.g. 0, hop-by-hop, as MLD reports carry).
std::vector<uint8_t> test_frame6(uint16_t stream, uint64_t seq, size_t size,
                                 uint8_t next_header = 17) {
  std::vector<uint8_t> frame(14 + 40 + 8 + size, 0);
  frame[12] = 0x86;
  frame[13] = 0xdd;
  uint8_t* ip = frame.data() + 14;
  ip[0] = 0x60;
  const uint16_t payload_length = htons(static_cast<uint16_t>(8 + size));
  std::memcpy(ip + 4, &payload_length, 2);
  ip[6] = next_header;
  ip[7] = 64;
  in6_addr group{};
  inet_pton(AF_INET6, "ff3e::1", &group);
  std::memcpy(ip + 24, &group, 16);
  uint8_t* udp = ip + 40;
  const uint16_t port = htons(kPort);
  std::memcpy(udp + 2, &port, 2);
  std::memcpy(udp + 4, &payload_length, 2);
  mrelay::stamp_payload(udp + 8, size, {.stream = stream, .sequence = seq, .send_time_ns = 7});
  return frame;
}

// Runs a classic BPF program over a frame as the kernel would for the ring (the opcodes
// sink_filter uses); returns what it keeps (0 = dropped).
uint32_t run_filter(const sock_filter* program, size_t length, const std::vector<uint8_t>& frame) {
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t memory[16] = {};
  auto byte = [&](size_t at) -> uint32_t { return at < frame.size() ? frame[at] : 0; };
  for (size_t pc = 0; pc < length; ++pc) {
    const sock_filter& op = program[pc];
    switch (op.code) {
      case 0x28: a = byte(op.k) << 8 | byte(op.k + 1); break;                 // ldh [k]
      case 0x30: a = byte(op.k); break;                                       // ldb [k]
      case 0xb1: x = 4 * (byte(op.k) & 0x0f); break;                          // ldxb 4*([k]&f)
      case 0x01: x = op.k; break;                                             // ldx #k
      case 0x48: a = byte(x + op.k) << 8 | byte(x + op.k + 1); break;         // ldh [x+k]
      case 0x50: a = byte(x + op.k); break;                                   // ldb [x+k]
      case 0x02: memory[op.k] = a; break;                                     // st M[k]
      case 0x61: x = memory[op.k]; break;                                     // ldx M[k]
      case 0x64: a <<= op.k; break;                                           // lsh #k
      case 0x0c: a += x; break;                                               // add x
      case 0x04: a += op.k; break;                                            // add #k
      case 0x05: pc += op.k; break;                                           // ja
      case 0x15: pc += a == op.k ? op.jt : op.jf; break;                      // jeq #k
      case 0x1d: pc += a == x ? op.jt : op.jf; break;                         // jeq x
      case 0x06: return op.k;                                                 // ret #k
      default: ADD_FAILURE() << "opcode " << op.code; return 0;
    }
  }
  ADD_FAILURE() << "fell off the program";
  return 0;
}

// A UDP GSO super-frame: one Ethernet/IPv4/UDP header, then `sequences.size()` payloads of
// `size` bytes back to back, each stamped with its own sequence (what mrelay's gso egress puts
// on a veth).
std::vector<uint8_t> super_frame(const std::vector<uint64_t>& sequences, size_t size) {
  std::vector<uint8_t> frame = test_frame(0, sequences.front(), size);
  const size_t payload = frame.size() - size;
  frame.resize(payload + sequences.size() * size);
  for (size_t i = 0; i < sequences.size(); ++i) {
    mrelay::stamp_payload(frame.data() + payload + i * size, size,
                          {.stream = 0, .sequence = sequences[i], .send_time_ns = 7});
  }
  const uint16_t length = htons(static_cast<uint16_t>(8 + sequences.size() * size));
  std::memcpy(frame.data() + payload - 4, &length, 2);
  return frame;
}

// A TPACKET_V3 block holding the frames, each cut to kCaptureBytes, on interface `ifindex`.
std::vector<uint8_t> ring_block(const std::vector<std::vector<uint8_t>>& frames,
                                int ifindex = 3, size_t snap = kCaptureBytes) {
  const size_t header = TPACKET_ALIGN(sizeof(tpacket3_hdr));
  const size_t mac_offset = TPACKET_ALIGN(header + sizeof(sockaddr_ll));
  size_t bytes = 64;
  for (const auto& frame : frames) {
    bytes += TPACKET_ALIGN(mac_offset + std::min(frame.size(), snap)) + 16;
  }
  std::vector<uint8_t> block(bytes, 0);
  tpacket_block_desc desc{};
  desc.hdr.bh1.num_pkts = static_cast<uint32_t>(frames.size());
  desc.hdr.bh1.offset_to_first_pkt = 64;
  std::memcpy(block.data(), &desc, sizeof desc);
  size_t at = 64;
  for (const auto& frame : frames) {
    const size_t captured = std::min<size_t>(frame.size(), snap);
    const size_t next = TPACKET_ALIGN(mac_offset + captured);
    tpacket3_hdr h{};
    h.tp_mac = static_cast<uint16_t>(mac_offset);
    h.tp_snaplen = static_cast<uint32_t>(captured);
    h.tp_len = static_cast<uint32_t>(frame.size());
    h.tp_next_offset = static_cast<uint32_t>(next);
    std::memcpy(block.data() + at, &h, sizeof h);
    sockaddr_ll link{};
    link.sll_ifindex = ifindex;
    std::memcpy(block.data() + at + header, &link, sizeof link);
    std::memcpy(block.data() + at + mac_offset, frame.data(), captured);
    at += next;
  }
  return block;
}

// Feeds every parsed frame of the blocks to one tracker, as mrelay-sink --count-only does.
StreamTracker count_blocks(const std::vector<std::vector<uint8_t>>& blocks, size_t* frames_seen) {
  StreamTracker tracker;
  *frames_seen = 0;
  for (const auto& block : blocks) {
    *frames_seen += for_each_block_frame(block.data(), [&](const RingFrame& frame) {
      for_each_datagram(frame.data, frame.captured, [&](TestFrame datagram) {
        datagram.key.ifindex = frame.ifindex;
        tracker.on_packet(datagram.key, datagram.check, 1);
      });
    });
  }
  return tracker;
}

TEST(FrameCounter, Ipv6DatagramsAreCountedByTheirGroup) {
  size_t frames = 0;
  const StreamTracker tracker = count_blocks(
      {ring_block({test_frame6(0, 0, 512), test_frame6(0, 2, 512), test_frame(0, 0, 512)})},
      &frames);
  EXPECT_EQ(frames, 3u);
  ASSERT_EQ(tracker.streams().size(), 2u);  // ff3e::1 and 239.1.1.1 apart
  in6_addr group{};
  inet_pton(AF_INET6, "ff3e::1", &group);
  const StreamKey six{.ifindex = 3, .group = GroupAddress::from_v6(group), .port = kPort};
  const StreamStats& stats = tracker.streams().at(six);
  EXPECT_EQ(stats.received, 2u);
  EXPECT_EQ(stats.lost(), 1u);
  EXPECT_EQ(six.group.text(), "ff3e::1");
}

TEST(FrameCounter, Ipv6WithAnExtensionHeaderOrCutShortIsNotADatagram) {
  TestFrame parsed;
  const auto hop_by_hop = test_frame6(0, 0, 512, 0);
  EXPECT_FALSE(parse_test_frame(hop_by_hop.data(), kCaptureBytes, parsed));
  const auto good = test_frame6(1, 5, 8952);
  EXPECT_FALSE(parse_test_frame(good.data(), 14 + 40 + 4, parsed));  // UDP header cut
  ASSERT_TRUE(parse_test_frame(good.data(), kCaptureBytes, parsed));
  EXPECT_EQ(parsed.check.status, PayloadStatus::ok);
  EXPECT_EQ(parsed.check.fields.sequence, 5u);
  EXPECT_EQ(parsed.key.port, kPort);
}

TEST(FrameCounter, FilterKeepsTheHeadOfBothFamiliesAndDropsTheRest) {
  const sock_filter* filter = sink_filter();
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame(0, 0, 512)), kCaptureBytes);
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame6(0, 0, 512)), kCaptureBytes);
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame6(0, 0, 8952)), kCaptureBytes);
  // A run in one frame: kept whole, so its segments can be walked.
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, super_frame({0, 1}, 512)), 0x40000u);
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame(0, 0, 512, false, 6)), 0u);
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame6(0, 0, 512, 0)), 0u);
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, test_frame6(0, 0, 512, 58)), 0u);
  std::vector<uint8_t> arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(run_filter(filter, kSinkFilterLength, arp), 0u);
}

TEST(FrameCounter, SequencesAcrossBlocksCountLossOnce) {
  // Block 1: 0..4; block 2: 5, 7, 8 (6 missing), 3 again (a duplicate from block 1).
  std::vector<std::vector<uint8_t>> first, second;
  for (uint64_t seq = 0; seq < 5; ++seq) {
    first.push_back(test_frame(0, seq, 512));
  }
  for (uint64_t seq : {5, 7, 8, 3}) {
    second.push_back(test_frame(0, seq, 512));
  }
  size_t frames = 0;
  const StreamTracker tracker = count_blocks({ring_block(first), ring_block(second)}, &frames);
  EXPECT_EQ(frames, 9u);
  ASSERT_EQ(tracker.streams().size(), 1u);
  const auto& [key, stats] = *tracker.streams().begin();
  EXPECT_EQ(key.ifindex, 3u);
  EXPECT_EQ(key.group, GroupAddress::from_v4(kGroup));
  EXPECT_EQ(key.port, kPort);
  EXPECT_EQ(stats.received, 9u);
  EXPECT_EQ(stats.lost(), 1u);
  EXPECT_EQ(stats.duplicated, 1u);
  EXPECT_EQ(stats.last_seq, 8u);
}

TEST(FrameCounter, StreamsAndVlanTagsAreSeparated) {
  size_t frames = 0;
  const StreamTracker tracker = count_blocks(
      {ring_block({test_frame(0, 0, 64), test_frame(1, 0, 64), test_frame(1, 1, 64, true)})},
      &frames);
  EXPECT_EQ(frames, 3u);
  EXPECT_EQ(tracker.streams().size(), 2u);
  uint64_t total = 0;
  for (const auto& [key, stats] : tracker.streams()) {
    total += stats.received;
    EXPECT_EQ(stats.lost(), 0u);
  }
  EXPECT_EQ(total, 3u);
}

TEST(FrameCounter, NonUdpIsIgnoredAndABadSizeIsCorrupted) {
  const auto tcp = test_frame(0, 0, 512, false, 6);
  TestFrame parsed;
  EXPECT_FALSE(parse_test_frame(tcp.data(), kCaptureBytes, parsed));
  // A size field larger than the datagram: bad_size, the stream still known.
  auto lying = test_frame(0, 1, 512);
  lying[14 + 20 + 8 + 28] = 0x01;  // 512 = 0x200 -> 0x201
  ASSERT_TRUE(parse_test_frame(lying.data(), kCaptureBytes, parsed));
  EXPECT_EQ(parsed.check.status, PayloadStatus::bad_size);
  EXPECT_EQ(parsed.check.fields.sequence, 1u);
  // A size field smaller than the datagram reads as a run whose second segment is broken:
  // one datagram and one corrupted, never a silent pass.
  const auto short_said = test_frame(0, 2, 512, false, 17, true);
  std::vector<PayloadStatus> seen;
  ASSERT_TRUE(for_each_datagram(short_said.data(), short_said.size(),
                                [&](const TestFrame& d) { seen.push_back(d.check.status); }));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], PayloadStatus::ok);
  EXPECT_NE(seen[1], PayloadStatus::ok);
  const auto good = test_frame(2, 9, 1400);
  ASSERT_TRUE(parse_test_frame(good.data(), kCaptureBytes, parsed));
  EXPECT_EQ(parsed.check.status, PayloadStatus::ok);
  EXPECT_EQ(parsed.check.fields.stream, 2u);
  EXPECT_EQ(parsed.check.fields.sequence, 9u);
  EXPECT_EQ(parsed.check.fields.send_time_ns, 7u);
}

TEST(FrameCounter, TruncatedOrForeignPayloadsAreNotOk) {
  auto frame = test_frame(0, 0, 512);
  TestFrame parsed;
  // Cut inside the payload header: too short to judge.
  ASSERT_TRUE(parse_test_frame(frame.data(), 14 + 20 + 8 + 16, parsed));
  EXPECT_EQ(parsed.check.status, PayloadStatus::too_short);
  frame[14 + 20 + 8] ^= 0xff;  // break the magic
  ASSERT_TRUE(parse_test_frame(frame.data(), kCaptureBytes, parsed));
  EXPECT_EQ(parsed.check.status, PayloadStatus::bad_magic);
  // Shorter than an Ethernet + IPv4 + UDP header: not a datagram.
  EXPECT_FALSE(parse_test_frame(frame.data(), 30, parsed));
}

TEST(FrameCounter, SuperFrameSegmentsAreWalkedAndCountedAcrossBlocks) {
  // Block 1: a run of 0..3 in one super-frame, then 4 alone; block 2: a run of 5, 7, 8 (6
  // lost) and a run whose third segment is cut short (bad size: reported once, then stop).
  std::vector<uint8_t> broken = super_frame({9, 10, 11}, 256);
  broken.resize(broken.size() - 100);
  const uint16_t short_length = htons(static_cast<uint16_t>(8 + 3 * 256 - 100));
  std::memcpy(broken.data() + 14 + 20 + 4, &short_length, 2);
  size_t frames = 0;
  const StreamTracker tracker = count_blocks(
      {ring_block({super_frame({0, 1, 2, 3}, 512), test_frame(0, 4, 512)}, 3, 1u << 16),
       ring_block({super_frame({5, 7, 8}, 512), broken}, 3, 1u << 16)},
      &frames);
  EXPECT_EQ(frames, 4u);
  ASSERT_EQ(tracker.streams().size(), 1u);
  const StreamStats& stats = tracker.streams().begin()->second;
  EXPECT_EQ(stats.received, 10u);  // 0..5, 7, 8, 9, 10
  EXPECT_EQ(stats.lost(), 1u);     // 6
  EXPECT_EQ(stats.corrupted, 1u);  // 11, cut short
  EXPECT_EQ(stats.last_seq, 10u);
}

TEST(FrameCounter, ASuperFrameCutToTheHeadReportsTheRestOnce) {
  // The filter keeps only the head of a frame whose UDP length matches one datagram; if a
  // run were ever cut, the walk reports one too_short datagram instead of inventing any.
  const auto run = super_frame({0, 1, 2}, 512);
  size_t calls = 0;
  size_t ok = 0;
  ASSERT_TRUE(for_each_datagram(run.data(), kCaptureBytes, [&](const TestFrame& datagram) {
    ++calls;
    ok += datagram.check.status == PayloadStatus::ok ? 1 : 0;
  }));
  EXPECT_EQ(ok, 1u);
  EXPECT_EQ(calls, 2u);
}

}  // namespace
}  // namespace mrelay::harness
