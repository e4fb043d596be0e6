// libFuzzer target for the data plane's frame parser: mrelay::parse_frame, parse_ipv4 and
// parse_ipv6 on
// arbitrary bytes. Besides "no crash, no out-of-bounds read" (ASan) it checks the promises the
// relay's forwarding relies on, and aborts when one breaks:
//   - ok => the payload lies inside the input, and payload_len matches the IPv4/UDP lengths;
//   - parse_frame on an untagged IPv4 frame agrees with parse_ipv4 on the bytes after it, on
//     an untagged IPv6 frame with parse_ipv6; an IPv6 ok view's payload ends where the IPv6
//     payload length says and its UDP length matches;
//   - with kernel metadata (FrameMeta taken from the input's first bytes): ok => the payload
//     lies inside the input, a GSO view has a segment size, and the datagram count covers the
//     payload;
//   - the verdict has a name and is_malformed() puts it in exactly one counter family
//     (malformed; or ok, unmatched, rejected).
//
//   ci/fuzz.sh                                            # builds and runs both targets
//   build-fuzz/fuzz/mrelay_parser_fuzz -max_total_time=60 /tmp/corpus fuzz/corpus/parser
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "mrelay/packet.h"

namespace {

constexpr size_t kEthernetHeaderSize = 14;
constexpr size_t kIpv4MinHeaderSize = 20;
constexpr size_t kUdpHeaderSize = 8;

[[noreturn]] void invariant_broken(const char* what, size_t size) {
  std::fprintf(stderr, "parser_fuzz: invariant broken: %s (input %zu bytes)\n", what, size);
  std::abort();
}

uint16_t load_be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// Checks one ok view against the L3 bytes it was parsed from (`ip` .. `ip + ip_len`).
void check_ok_view(const mrelay::UdpView& view, const uint8_t* ip, size_t ip_len, size_t size) {
  const uint8_t* end = ip + ip_len;
  if (view.payload == nullptr || view.payload < ip + kIpv4MinHeaderSize + kUdpHeaderSize ||
      view.payload > end || view.payload_len > static_cast<size_t>(end - view.payload)) {
    invariant_broken("ok payload outside the input", size);
  }
  const size_t header_len = static_cast<size_t>(ip[0] & 0x0f) * 4;
  const size_t total_len = load_be16(ip + 2);
  if (header_len + kUdpHeaderSize + view.payload_len != total_len) {
    invariant_broken("ok payload_len disagrees with IPv4 total length", size);
  }
  if (view.payload != ip + header_len + kUdpHeaderSize) {
    invariant_broken("ok payload does not start after the UDP header", size);
  }
  const uint8_t* udp = ip + header_len;
  if (load_be16(udp + 4) != view.payload_len + kUdpHeaderSize) {
    invariant_broken("ok payload_len disagrees with UDP length", size);
  }
  if (view.src_port != load_be16(udp) || view.dst_port != load_be16(udp + 2)) {
    invariant_broken("ok ports differ from the UDP header", size);
  }
}

void check_verdict_named(mrelay::ParseVerdict verdict, size_t size) {
  if (mrelay::to_string(verdict) == "unknown") {
    invariant_broken("verdict without a name", size);
  }
  const bool unmatched =
      verdict == mrelay::ParseVerdict::not_ipv4 || verdict == mrelay::ParseVerdict::not_udp;
  const bool rejected = verdict == mrelay::ParseVerdict::other_host ||
                        verdict == mrelay::ParseVerdict::martian_source;
  const bool ok = verdict == mrelay::ParseVerdict::ok;
  if (mrelay::is_malformed(verdict) == (ok || unmatched || rejected)) {
    invariant_broken("is_malformed() disagrees with the counter families", size);
  }
}

// An untagged IPv6 frame: parse_ipv6 on the bytes after Ethernet gives the same verdict, and
// an ok view is IPv6 with its payload inside the packet's payload length, after a UDP header
// whose length field matches.
void check_ipv6_frame(const uint8_t* data, size_t size, mrelay::ParseVerdict frame_verdict,
                      const mrelay::UdpView& view) {
  const uint8_t* ip = data + kEthernetHeaderSize;
  mrelay::UdpView ip_view;
  if (mrelay::parse_ipv6(ip, size - kEthernetHeaderSize, ip_view) != frame_verdict) {
    invariant_broken("parse_frame and parse_ipv6 disagree on an untagged frame", size);
  }
  if (frame_verdict != mrelay::ParseVerdict::ok) {
    return;
  }
  constexpr size_t kIpv6HeaderSize = 40;
  const uint8_t* end = ip + kIpv6HeaderSize + load_be16(ip + 4);
  if (!view.ipv6 || end > data + size || view.payload == nullptr ||
      view.payload < ip + kIpv6HeaderSize + kUdpHeaderSize ||
      view.payload + view.payload_len != end) {
    invariant_broken("ok IPv6 payload disagrees with the payload length", size);
  }
  if (load_be16(view.payload - kUdpHeaderSize + 4) != view.payload_len + kUdpHeaderSize) {
    invariant_broken("ok IPv6 payload_len disagrees with UDP length", size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // L2: the AF_PACKET path.
  mrelay::UdpView frame_view;
  const mrelay::ParseVerdict frame_verdict = mrelay::parse_frame(data, size, frame_view);
  check_verdict_named(frame_verdict, size);
  const bool untagged_ipv4 = size >= kEthernetHeaderSize && load_be16(data + 12) == 0x0800;
  if (untagged_ipv4) {
    mrelay::UdpView ip_view;
    const mrelay::ParseVerdict ip_verdict =
        mrelay::parse_ipv4(data + kEthernetHeaderSize, size - kEthernetHeaderSize, ip_view);
    if (ip_verdict != frame_verdict) {
      invariant_broken("parse_frame and parse_ipv4 disagree on an untagged frame", size);
    }
    if (frame_verdict == mrelay::ParseVerdict::ok) {
      check_ok_view(frame_view, data + kEthernetHeaderSize, size - kEthernetHeaderSize, size);
      if (frame_view.vlan_id != 0) {
        invariant_broken("untagged frame reported a VLAN id", size);
      }
    }
  } else if (size >= kEthernetHeaderSize && load_be16(data + 12) == 0x86dd) {
    check_ipv6_frame(data, size, frame_verdict, frame_view);
  } else if (frame_verdict == mrelay::ParseVerdict::ok) {
    // Tagged: the IPv4 header starts 4 or 8 bytes later; the payload must still be inside.
    const uint8_t* end = data + size;
    if (frame_view.payload == nullptr || frame_view.payload < data + kEthernetHeaderSize ||
        frame_view.payload > end ||
        frame_view.payload_len > static_cast<size_t>(end - frame_view.payload)) {
      invariant_broken("ok tagged payload outside the input", size);
    }
  }

  // L2 with what the kernel says beside the frame, drawn from the first kMetaBytes bytes.
  constexpr size_t kMetaBytes = 6;
  if (size >= kMetaBytes) {
    mrelay::FrameMeta meta;
    meta.pkttype = data[0] & 0x07;
    meta.vlan_valid = (data[1] & 1) != 0;
    meta.vlan_tci = static_cast<uint16_t>((data[2] << 8) | data[3]);
    meta.checksum = static_cast<mrelay::ChecksumState>(data[1] % 3);
    meta.gso_type = (data[1] & 0x80) != 0 ? data[4] : mrelay::kGsoNone;
    meta.gso_size = static_cast<uint16_t>(data[5] * 7);
    const uint8_t* frame = data + kMetaBytes;
    const size_t frame_size = size - kMetaBytes;
    mrelay::UdpView meta_view;
    const mrelay::ParseVerdict meta_verdict =
        mrelay::parse_frame(frame, frame_size, meta, meta_view);
    check_verdict_named(meta_verdict, size);
    if (meta_verdict == mrelay::ParseVerdict::ok) {
      const uint8_t* end = frame + frame_size;
      if (meta_view.payload == nullptr || meta_view.payload < frame || meta_view.payload > end ||
          meta_view.payload_len > static_cast<size_t>(end - meta_view.payload)) {
        invariant_broken("ok payload outside the input (with metadata)", size);
      }
      if ((meta.gso_type != mrelay::kGsoNone) != (meta_view.segment_size != 0)) {
        invariant_broken("GSO frame without a segment size, or a segment size without GSO", size);
      }
      const uint64_t count = mrelay::datagram_count(meta_view);
      if (meta_view.segment_size != 0 && count * meta_view.segment_size < meta_view.payload_len) {
        invariant_broken("datagram_count() does not cover the payload", size);
      }
    }
  }

  // L3: the SOCK_DGRAM path, on the raw input.
  mrelay::UdpView l3_view;
  const mrelay::ParseVerdict l3_verdict = mrelay::parse_ipv4(data, size, l3_view);
  check_verdict_named(l3_verdict, size);
  if (l3_verdict == mrelay::ParseVerdict::not_ipv4) {
    invariant_broken("parse_ipv4 returned not_ipv4 (it has no ethertype to judge)", size);
  }
  if (l3_verdict == mrelay::ParseVerdict::ok) {
    check_ok_view(l3_view, data, size, size);
  }
  return 0;
}
