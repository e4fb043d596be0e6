// The per-packet half of a worker; see forwarder.h.
#include "dataplane/forwarder.h"

#include <algorithm>
#include <cstring>

namespace mrelay {
namespace {

// A frame the relay could not read whole (longer than its ring slot or receive buffer) can
// still be refused on its headers, the checks the parser makes before it looks at any length;
// anything else about it is unknown, and it counts as rx_truncated.
bool refused_on_headers(ParseVerdict verdict) noexcept {
  switch (verdict) {
    case ParseVerdict::other_host:
    case ParseVerdict::not_ipv4:
    case ParseVerdict::not_udp:
    case ParseVerdict::bad_ip_header:
    case ParseVerdict::bad_checksum:
    case ParseVerdict::fragment:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Forwarder::use_plan(const RelayPlan& plan, uint32_t worker) noexcept {
  plan_ = &plan;
  rule_counters_ = plan.rule_counters[worker].data();
  output_counters_ = plan.output_counters[worker].data();
}

void Forwarder::count_verdict(ParseVerdict verdict) noexcept {
  switch (verdict) {
    case ParseVerdict::ok:
      break;
    case ParseVerdict::truncated:
      ++counters_.malformed_truncated;
      break;
    case ParseVerdict::not_ipv4:
      ++counters_.unmatched_not_ipv4;
      break;
    case ParseVerdict::bad_ip_header:
      ++counters_.malformed_bad_ip_header;
      break;
    case ParseVerdict::bad_length:
      ++counters_.malformed_bad_length;
      break;
    case ParseVerdict::bad_checksum:
      ++counters_.malformed_bad_checksum;
      break;
    case ParseVerdict::fragment:
      ++counters_.malformed_fragment;
      break;
    case ParseVerdict::not_udp:
      ++counters_.unmatched_not_udp;
      break;
    case ParseVerdict::other_host:
      ++counters_.rejected_other_host;
      break;
    case ParseVerdict::martian_source:
      ++counters_.rejected_martian_source;
      break;
    case ParseVerdict::bad_udp_checksum:
      ++counters_.malformed_udp_checksum;
      break;
    case ParseVerdict::bad_gso:
      ++counters_.malformed_gso;
      break;
  }
}

void Forwarder::count_partial_frame(const FrameMeta& meta, const uint8_t* data,
                                    size_t len) noexcept {
  UdpView view;
  const ParseVerdict verdict = parse_frame(data, len, meta, view);
  if (refused_on_headers(verdict)) {
    count_verdict(verdict);
  } else {
    ++counters_.rx_truncated;
  }
}

int32_t Forwarder::accept_frame(unsigned ifindex, const FrameMeta& meta, const uint8_t* frame,
                                size_t len, UdpView& view) noexcept {
  const ParseVerdict verdict = parse_frame(frame, len, meta, view);
  if (verdict != ParseVerdict::ok) {
    count_verdict(verdict);
    return -1;
  }
  counters_.rx_bytes += view.payload_len;
  const uint32_t datagrams = datagram_count(view);
  if (view.segment_size != 0) {
    ++counters_.gso_frames;
    counters_.gso_segments += datagrams;
  }
  const int32_t rule =
      view.ipv6
          ? plan_->table.find6(ifindex, view.dst6, view.dst_port, view.src6, view.vlan_id)
          : plan_->table.find(ifindex, view.dst_addr, view.dst_port, view.src_addr, view.vlan_id);
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return -1;
  }
  rule_counters_[rule].matched_packets += datagrams;
  rule_counters_[rule].matched_bytes += view.payload_len;
  if (ttl_expired(view.ttl, datagrams)) {
    return -1;
  }
  return rule;
}

int32_t Forwarder::accept_datagram(unsigned ifindex, uint32_t group, uint16_t port, uint32_t source,
                                   uint32_t len, uint8_t ttl) noexcept {
  counters_.rx_bytes += len;
  return accept_rule(plan_->table.find(ifindex, group, port, source), len, ttl);
}

int32_t Forwarder::accept_datagram6(unsigned ifindex, const in6_addr& group, uint16_t port,
                                    const in6_addr& source, uint32_t len,
                                    uint8_t hop_limit) noexcept {
  counters_.rx_bytes += len;
  return accept_rule(plan_->table.find6(ifindex, group, port, source), len, hop_limit);
}

int32_t Forwarder::accept_rule(int32_t rule, uint32_t len, uint8_t ttl) noexcept {
  if (rule < 0) {
    ++counters_.unmatched_no_rule;
    return -1;
  }
  ++rule_counters_[rule].matched_packets;
  rule_counters_[rule].matched_bytes += len;
  if (ttl_expired(ttl)) {
    return -1;
  }
  return rule;
}

void Forwarder::copy_and_send(int32_t rule, const UdpView& view) noexcept {
  const uint32_t datagrams = datagram_count(view);
  const uint32_t step = datagrams == 1 ? view.payload_len : view.segment_size;
  for (uint32_t i = 0; i < datagrams; ++i) {
    const uint32_t offset = i * step;
    const uint32_t len = std::min(step, view.payload_len - offset);
    if (len > pool_->buffer_size()) {
      ++counters_.rx_oversize;  // read whole, but larger than a packet buffer (buffer_size)
      continue;
    }
    PacketBuffer* buffer = pool_->acquire();
    if (buffer == nullptr) {
      ++counters_.drop_buffer_exhausted;  // the one counter for this datagram (no copy made)
      continue;
    }
    std::memcpy(buffer->data, view.payload + offset, len);
    (void)send_to_outputs(rule, buffer, buffer->data, len, view.ttl);
    pool_->release(buffer);
  }
}

void Forwarder::forward(int32_t rule, PacketBuffer*& slot_buffer, const uint8_t* payload,
                        uint32_t len, uint8_t ttl) noexcept {
  PacketBuffer* buffer = slot_buffer;
  if (buffer == nullptr) {
    // Read into scratch because the pool was empty: the packet cannot be relayed. One counter
    // for it: exhausted_packets is about copies lost at egress.
    ++counters_.drop_buffer_exhausted;
    return;
  }
  if (send_to_outputs(rule, buffer, payload, len, ttl)) {
    // The copies hold their own references; the slot takes a fresh buffer next turn.
    pool_->release(buffer);
    slot_buffer = nullptr;
  } else {
    buffer->exhausted = false;  // every copy failed and released: the slot reuses the buffer
  }
}

bool Forwarder::ttl_expired(uint8_t ttl, uint32_t datagrams) noexcept {
  // A router never sends a packet with TTL 0: one received with TTL 1 ends here (TTL 0 cannot
  // arrive from a conforming sender). With the decrement in send_to_outputs, this is what ends
  // a forwarding loop through other hosts, which no check of one host's rules can see. A GSO
  // frame's datagrams share its IP header: each counts.
  if (ttl > 1) {
    return false;
  }
  counters_.drop_ttl_expired += datagrams;
  return true;
}

bool Forwarder::send_to_outputs(int32_t rule, PacketBuffer* buffer, const uint8_t* payload,
                                uint32_t len, uint8_t ttl) noexcept {
  const uint32_t first = plan_->rule_first_output[static_cast<size_t>(rule)];
  const uint32_t count = plan_->rule_output_count[static_cast<size_t>(rule)];
  bool handed = false;
  for (uint32_t o = first; o < first + count; ++o) {
    const OutputTtl& output_ttl = plan_->output_ttl[o];
    if (ttl <= output_ttl.threshold) {
      ++counters_.drop_ttl_threshold;
      continue;
    }
    const uint8_t copy_ttl = output_ttl.fixed != 0 ? output_ttl.fixed : ttl - 1;
    const bool accepted = egress_->send(o, buffer, payload, len, copy_ttl);
    ++(accepted ? output_counters_[o].queued_packets : output_counters_[o].dropped_packets);
    handed = accepted || handed;
  }
  if (handed) {
    ++counters_.fwd_packets;
  }
  return handed;
}

}  // namespace mrelay
