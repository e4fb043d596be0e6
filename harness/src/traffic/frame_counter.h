// The counting sink's per-frame work (mrelay-sink --count-only): walk the frames of one
// TPACKET_V3 ring block and account each test datagram's stream and sequence number from its
// header only, without the payload checksum, the copy to a socket buffer or a latency sample.
// The kernel hands the ring only the head of an ordinary datagram's frame (kCaptureBytes),
// so per datagram the sink touches a cache line or two; a UDP GSO super-frame (what mrelay's
// gso egress puts on a veth: one frame holding a run of datagrams, each with its own test
// header) is captured whole and walked segment by segment, each segment's size taken from its
// own header (kSinkFilter decides which frame is which).
//
//   for_each_block_frame(block, [&](const RingFrame& frame) {
//     for_each_datagram(frame.data, frame.captured, [&](TestFrame datagram) {
//       datagram.key.ifindex = frame.ifindex;
//       tracker.on_packet(datagram.key, datagram.check, rx_ns);
//     });
//   });
//
// What it promises: a datagram counts when it is IPv4/UDP or IPv6/UDP with no extension
// header (optionally one 802.1Q tag), its
// payload starts with the test magic and its header's size field equals its length (a frame's
// UDP payload, or the segment the size field delimits in a super-frame); otherwise it is
// `corrupted`, like the full sink's bad_size, and a super-frame's walk stops there (a size
// field smaller than its datagram reads as a run: one datagram and a corrupted rest). Sequence
// accounting is the full sink's (StreamTracker), so received/lost/reordered/duplicated mean
// the same. Not checked: the payload checksum.
#pragma once

#include <linux/filter.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

#include "mrelay/payload.h"
#include "traffic/stream_tracker.h"

namespace mrelay::harness {

/// Bytes of a single datagram's frame the ring keeps: Ethernet (14) + one VLAN tag (4) + IPv4
/// with options (up to 60) + UDP (8) + the payload header (32) = 118, rounded up (IPv6's
/// fixed 40-byte header needs 98).
inline constexpr uint32_t kCaptureBytes = 128;

/// One frame of a ring block: its captured bytes and the interface it arrived on.
struct RingFrame {
  const uint8_t* data = nullptr;  // starts at the Ethernet header
  size_t captured = 0;            // bytes present (<= the frame's length on the wire)
  uint32_t ifindex = 0;
};

/// A test datagram as the counting sink sees it: the stream key (ifindex from the ring,
/// group and port from the headers) and a payload check built from the header alone.
struct TestFrame {
  StreamKey key;
  PayloadCheck check;
};

/// The UDP payload of a captured IPv4/UDP frame.
struct UdpPayload {
  StreamKey key;                   // group and port (ifindex and stream not set)
  const uint8_t* data = nullptr;   // the payload's first byte
  size_t length = 0;               // UDP length - 8: the datagram's (or a super-frame's) bytes
  size_t captured = 0;             // of which present in the capture
};

/// Parses Ethernet (one optional 802.1Q tag), IPv4 or IPv6 and UDP. False when the frame is
/// not an IPv4/UDP datagram (or a first fragment) or an IPv6 datagram whose fixed header is
/// followed directly by UDP, with its UDP header captured.
[[nodiscard]] bool parse_udp_frame(const uint8_t* frame, size_t captured,
                                   UdpPayload& out) noexcept;

/// The payload header's verdict without the checksum: ok when the magic matches and the
/// header's size field equals `payload_length`.
[[nodiscard]] PayloadCheck check_payload_header(const uint8_t* payload, size_t captured,
                                                size_t payload_length) noexcept;

/// The header's size field (0 when fewer than kPayloadHeaderSize bytes are captured).
[[nodiscard]] uint32_t payload_header_size(const uint8_t* payload, size_t captured) noexcept;

/// Calls fn(TestFrame) for every test datagram of a captured frame: one for an ordinary
/// datagram; for a frame holding a run of datagrams (a GSO super-frame) one per segment, each
/// as long as its own header's size field says, until the UDP payload ends or a segment is
/// bad (reported once, as corrupted). Returns false when the frame is not IPv4/UDP.
template <typename Fn>
bool for_each_datagram(const uint8_t* frame, size_t captured, Fn&& fn) noexcept;

/// Parses the frame's one datagram (the first segment of a super-frame): for tests and tools.
[[nodiscard]] bool parse_test_frame(const uint8_t* frame, size_t captured, TestFrame& out) noexcept;

/// The sink's classic BPF program for the ring: IPv4/UDP and IPv6/UDP frames only (IPv6
/// without extension headers; the filter sees the frame without a VLAN tag); keep kCaptureBytes of a
/// frame whose UDP length is its payload header's size + 8 (one test datagram), the whole
/// frame otherwise (a run of datagrams in one GSO super-frame, or something to report as
/// corrupted). kSinkFilterLength instructions, for SO_ATTACH_FILTER.
inline constexpr size_t kSinkFilterLength = 24;
[[nodiscard]] const struct sock_filter* sink_filter() noexcept;

/// Calls fn(RingFrame) for every frame of a TPACKET_V3 block (tpacket_block_desc first),
/// in ring order; returns the number of frames. The block must hold what the kernel wrote:
/// num_pkts frames chained by tp_next_offset, each with its sockaddr_ll after tp_mac.
template <typename Fn>
size_t for_each_block_frame(const uint8_t* block, Fn&& fn) noexcept;

}  // namespace mrelay::harness

#include "traffic/frame_counter_inl.h"
