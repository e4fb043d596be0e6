// The template half of traffic/frame_counter.h: the TPACKET_V3 block walk and the datagram
// walk, inline so the sink's per-datagram callback is not called through a function pointer.
#pragma once

#include <linux/if_packet.h>

#include <cstring>

namespace mrelay::harness {

template <typename Fn>
bool for_each_datagram(const uint8_t* frame, size_t captured, Fn&& fn) noexcept {
  UdpPayload udp;
  if (!parse_udp_frame(frame, captured, udp)) {
    return false;
  }
  size_t offset = 0;
  do {
    const uint8_t* at = udp.data + offset;
    const size_t present = udp.captured > offset ? udp.captured - offset : 0;
    const size_t remaining = udp.length - offset;
    // A run's segments each say their own length; a lone datagram's is the UDP payload.
    const uint32_t said = payload_header_size(at, present);
    const size_t length = said >= kPayloadHeaderSize && said < remaining ? said : remaining;
    TestFrame datagram{udp.key, check_payload_header(at, present, length)};
    fn(datagram);
    if (datagram.check.status != PayloadStatus::ok) {
      break;  // the rest of a broken run cannot be delimited: one corrupted report
    }
    offset += length;
  } while (offset < udp.length);
  return true;
}

template <typename Fn>
size_t for_each_block_frame(const uint8_t* block, Fn&& fn) noexcept {
  tpacket_block_desc desc;
  std::memcpy(&desc, block, sizeof desc);
  const tpacket_hdr_v1& h1 = desc.hdr.bh1;
  const uint8_t* at = block + h1.offset_to_first_pkt;
  for (uint32_t i = 0; i < h1.num_pkts; ++i) {
    tpacket3_hdr header;
    std::memcpy(&header, at, sizeof header);
    // The kernel puts the sockaddr_ll right after the (aligned) tpacket3_hdr.
    sockaddr_ll link;
    std::memcpy(&link, at + TPACKET_ALIGN(sizeof(tpacket3_hdr)), sizeof link);
    fn(RingFrame{at + header.tp_mac, header.tp_snaplen, static_cast<uint32_t>(link.sll_ifindex)});
    at += header.tp_next_offset;
  }
  return h1.num_pkts;
}

}  // namespace mrelay::harness
