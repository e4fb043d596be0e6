// Builders for malformed (and a few valid-but-unusual) Ethernet/IPv4/UDP frames that
// mrelay-inject writes onto a rig interface, and the relay counter each one must land in.
// Some kinds also need a virtio_net_hdr in front of the frame (vnet_header(): a checksum the
// kernel must still complete, a UDP GSO super-frame), which the packet socket turns into the
// skb's offload state. Pure functions of their parameters: unit-testable against
// mrelay::parse_frame.
//
//   mrelay::harness::FrameParams params;               // MACs, addresses, ports, sizes
//   std::vector<uint8_t> frame(mrelay::harness::kMaxInjectFrame);
//   size_t len = mrelay::harness::build_frame(InjectKind::udp_len_lie, params, 7, 0, frame);
//   // parse_frame(frame.data(), len, frame_meta(InjectKind::udp_len_lie), view)
//   //     == expected_verdict(InjectKind::udp_len_lie)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "mrelay/packet.h"

namespace mrelay::harness {

// X(kind, relay counter expected in packet mode, what the frame is)
#define MRELAY_INJECT_KINDS(X)                                                                 \
  X(truncated_eth, "malformed_truncated",                                                      \
    "14-byte frame: Ethernet header (type IPv4) and nothing after it")                         \
  X(truncated_ip, "malformed_truncated", "frame ends 12 bytes into the IPv4 header")           \
  X(truncated_udp, "malformed_truncated", "valid IPv4 header, frame ends inside UDP header")   \
  X(bad_ihl, "malformed_bad_ip_header", "IHL 4 (16 bytes, below the 20-byte minimum)")         \
  X(total_len_long, "malformed_bad_length", "IPv4 total length 200 bytes beyond the frame")    \
  X(total_len_short, "malformed_bad_length", "IPv4 total length shorter than IP+UDP headers")  \
  X(udp_len_lie, "malformed_bad_length", "UDP length 100 bytes more than the IPv4 length")     \
  X(fragment_mf, "malformed_fragment", "first fragment: MF set, offset 0")                     \
  X(fragment_offset, "malformed_fragment", "last fragment: MF clear, offset 1480 bytes")       \
  X(ip_options, "fwd_packets", "valid UDP with a 4-byte Router Alert IPv4 option (IHL 6)")     \
  X(non_udp, "unmatched_not_udp", "IPv4 protocol 6 (TCP) to the group")                        \
  X(not_ipv4, "none",                                                                          \
    "ethertype 0x88b5 (local experimental): the relay's socket filter keeps it out")           \
  X(bad_checksum, "malformed_bad_checksum", "IPv4 header checksum off by one")                 \
  X(vlan_valid, "unmatched_no_rule",                                                           \
    "valid UDP inside an 802.1Q tag (VLAN 100): only a rule on VLAN 100 takes it")             \
  X(jumbo, "rx_oversize",                                                                      \
    "valid UDP in a frame larger than a relay ring slot (needs MTU >= --jumbo-size)")          \
  X(other_host, "rejected_other_host",                                                         \
    "valid UDP to a unicast MAC that is not the receiver's (PACKET_OTHERHOST)")                \
  X(source_zeronet, "rejected_martian_source", "valid UDP from 0.1.2.3 (\"this network\")")    \
  X(source_loopback, "rejected_martian_source", "valid UDP from 127.0.0.1")                    \
  X(source_multicast, "rejected_martian_source", "valid UDP from 224.0.0.1")                   \
  X(source_class_e, "rejected_martian_source", "valid UDP from 240.0.0.1")                     \
  X(source_broadcast, "rejected_martian_source", "valid UDP from 255.255.255.255")             \
  X(udp_bad_checksum, "malformed_udp_checksum", "UDP checksum present and off by one")         \
  X(udp_checksum, "fwd_packets", "valid UDP with a correct UDP checksum")                      \
  X(udp_partial_checksum, "fwd_packets",                                                       \
    "UDP checksum not final (vnet NEEDS_CSUM: CHECKSUM_PARTIAL, as a local sender's on veth)") \
  X(vlan_other, "unmatched_no_rule", "valid UDP inside an 802.1Q tag (VLAN 200)")              \
  X(qinq_valid, "unmatched_no_rule",                                                           \
    "valid UDP in 802.1ad VLAN 100 + 802.1Q VLAN 7: only a rule on VLAN 100 takes it")         \
  X(gso_run, "fwd_packets",                                                                    \
    "UDP GSO super-frame (vnet UDP_L4): 5 datagrams of 200 bytes, each forwarded")             \
  X(gso_run_large, "fwd_packets",                                                              \
    "UDP GSO super-frame: 46 datagrams of 1400 bytes (64 KiB, beyond a ring slot)")

enum class InjectKind : uint8_t {
#define MRELAY_INJECT_ENUM(kind, counter, help) kind,
  MRELAY_INJECT_KINDS(MRELAY_INJECT_ENUM)
#undef MRELAY_INJECT_ENUM
};

inline constexpr std::array kAllInjectKinds = {
#define MRELAY_INJECT_LIST(kind, counter, help) InjectKind::kind,
    MRELAY_INJECT_KINDS(MRELAY_INJECT_LIST)
#undef MRELAY_INJECT_LIST
};

[[nodiscard]] std::string_view to_string(InjectKind kind);
[[nodiscard]] std::optional<InjectKind> parse_inject_kind(std::string_view name);
/// The relay counter (stats JSON name) that grows by one per frame of this kind in packet
/// mode with a rule that names no VLAN; "fwd_packets" for the forwarded ones (it grows by
/// datagrams_per_frame()); "none" when the kernel keeps it from the relay.
[[nodiscard]] std::string_view expected_counter(InjectKind kind);
[[nodiscard]] std::string_view describe(InjectKind kind);
/// What mrelay::parse_frame says about the frame as built, given frame_meta(kind).
[[nodiscard]] ParseVerdict expected_verdict(InjectKind kind);

/// Everything a frame is addressed with. Addresses in network byte order, ports host order.
struct FrameParams {
  std::array<uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 0x01};
  uint32_t src_addr = 0;
  uint32_t dst_group = 0;  // the relay's input group; the destination MAC is derived from it
  uint16_t src_port = 40000;
  uint16_t dst_port = 0;
  // 64, as mrelay-gen: the relay forwards only packets received with TTL > 1, so the valid
  // kinds must arrive with more.
  uint8_t ttl = 64;
  // UDP payload bytes of the ordinary kinds. 64: above the 32-byte test payload header, small
  // enough that truncation happens inside headers, never inside the payload.
  uint32_t payload_size = 64;
  // IPv4 total length of the jumbo kind in bytes. 9000: a common jumbo MTU, far above the
  // relay's 2048-byte ring slot.
  uint32_t jumbo_size = 9000;
  // Test-payload stream id stamped into the frames the relay forwards (ip_options,
  // vlan_valid), so the sink can tell them from the generator's streams.
  uint16_t stream = 900;
  // Segments of the GSO kinds (UDP payload bytes each, segment count). 5 x 200: the run a
  // relay's GSO egress makes from five small datagrams. 46 x 1400: 64400 payload bytes, the
  // most 1400-byte segments under the 64 KiB IPv4 limit, far beyond a 2048-byte ring slot.
  uint16_t gso_segment = 200;
  uint32_t gso_segments = 5;
  uint16_t gso_large_segment = 1400;
  uint32_t gso_large_segments = 46;
};

/// Datagrams a frame of this kind carries: the segments of a GSO super-frame, else 1.
[[nodiscard]] uint32_t datagrams_per_frame(InjectKind kind, const FrameParams& params);
/// struct virtio_net_hdr (linux/virtio_net.h); serialise() writes it in host byte order, the
/// order a packet socket reads it in (the kernel's legacy virtio order, vio_le()).
struct VnetHeader {
  uint8_t flags = 0;  // VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  static constexpr size_t kSize = 10;
  [[nodiscard]] std::array<uint8_t, kSize> serialise() const;
};

/// The vnet header sent in front of a frame of this kind (all zero: no offload).
[[nodiscard]] VnetHeader vnet_header(InjectKind kind, const FrameParams& params);
/// What the relay's socket reports beside the frame once the kernel has handled the vnet
/// header (checksum partial, GSO), for checking expected_verdict() against the parser.
[[nodiscard]] FrameMeta frame_meta(InjectKind kind, const FrameParams& params);

/// Largest frame build_frame writes: Ethernet + two VLAN tags + the largest IPv4 datagram.
inline constexpr size_t kMaxInjectFrame = 14 + 8 + 65535;

/// Writes one frame of `kind` into `out` (kMaxInjectFrame bytes) and returns its length.
/// `sequence` is stamped into the test payload of the forwardable kinds.
[[nodiscard]] size_t build_frame(InjectKind kind, const FrameParams& params, uint64_t sequence,
                                 uint64_t send_time_ns, std::span<uint8_t> out);

}  // namespace mrelay::harness
