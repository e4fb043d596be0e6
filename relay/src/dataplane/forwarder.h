// The per-packet half of a worker: from a received packet to its copies. It counts what the
// parser refused, looks up the rule, applies the TTL rules and hands one copy per output to
// the egress. The ingress readers call it once per packet (a concrete class: direct calls, no
// virtual dispatch per packet). It never allocates, throws or logs, and a packet it does not
// forward is counted in exactly one counter.
//
//   mrelay::Forwarder forwarder(counters);
//   forwarder.use_plan(plan, /*worker=*/0);     // at start and after each plan switch
//   forwarder.use_egress(pool, *egress);         // at start and after each egress rebuild
//   forwarder.copy_frame(ifindex, meta, frame, len);   // a reader, per frame it gives back
//
// TTL: a packet received with TTL <= 1 is never forwarded (drop_ttl_expired); an output
// takes it only when the TTL is above its threshold (drop_ttl_threshold), and each copy
// leaves with the received TTL - 1 or the output's fixed TTL.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/buffer_pool.h"
#include "dataplane/egress/egress.h"
#include "dataplane/plan.h"
#include "mrelay/counters.h"
#include "mrelay/packet.h"

namespace mrelay {

class Forwarder {
 public:
  explicit Forwarder(WorkerCounters& counters) noexcept : counters_(counters) {}
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  /// Reads `plan`'s rule table and outputs, and counts into worker `worker`'s rule and output
  /// counters there.
  void use_plan(const RelayPlan& plan, uint32_t worker) noexcept;
  /// Copies go to `egress`, in buffers from `pool`. Both outlive their use here.
  void use_egress(BufferPool& pool, Egress& egress) noexcept {
    pool_ = &pool;
    egress_ = &egress;
  }

  [[nodiscard]] WorkerCounters& counters() noexcept { return counters_; }
  [[nodiscard]] BufferPool& pool() noexcept { return *pool_; }

  /// Packet ingress: parses `len` bytes of a frame from interface `ifindex` with what the
  /// kernel said about it, counts a refusal, looks up the rule (interface, VLAN, group, port,
  /// source), counts the match and checks the TTL. Returns the rule, or -1 when the frame is
  /// not forwarded (counted).
  [[nodiscard]] int32_t accept_frame(unsigned ifindex, const FrameMeta& meta, const uint8_t* frame,
                                     size_t len, UdpView& view) noexcept;
  /// Counts a frame only part of which could be read: by its headers when they refuse it,
  /// else as rx_truncated.
  void count_partial_frame(const FrameMeta& meta, const uint8_t* data, size_t len) noexcept;

  /// UDP ingress: a datagram of `len` payload bytes for (group, port) from `source` (network
  /// order), received with `ttl`. Counts its bytes, looks up the rule, counts the match and
  /// checks the TTL. Returns the rule, or -1 when it is not forwarded (counted).
  [[nodiscard]] int32_t accept_datagram(unsigned ifindex, uint32_t group, uint16_t port,
                                        uint32_t source, uint32_t len, uint8_t ttl) noexcept;
  /// The same for an IPv6 UDP socket's datagram: (group, port, source), `hop_limit` as TTL.
  [[nodiscard]] int32_t accept_datagram6(unsigned ifindex, const in6_addr& group, uint16_t port,
                                         const in6_addr& source, uint32_t len,
                                         uint8_t hop_limit) noexcept;

  /// Copies each datagram of `view` (one, or a GSO super-frame's segments) into its own pool
  /// buffer and hands it to the rule's outputs. The frame itself may go back at once.
  void copy_and_send(int32_t rule, const UdpView& view) noexcept;
  /// A frame the reader gives back at once (a TPACKET_V2 ring slot, an AF_XDP UMEM frame):
  /// accept_frame(), then copy_and_send() of what a rule takes. The one per-frame path of the
  /// readers that copy.
  void copy_frame(unsigned ifindex, const FrameMeta& meta, const uint8_t* frame,
                  size_t len) noexcept {
    UdpView view;
    const int32_t rule = accept_frame(ifindex, meta, frame, len, view);
    if (rule >= 0) {
      copy_and_send(rule, view);
    }
  }
  /// Hands the packet in `slot_buffer` (read there by recvmmsg; nullptr when the pool was
  /// empty) to the rule's outputs without copying it. When a copy took the buffer, the slot's
  /// reference is released and `slot_buffer` becomes nullptr (the slot takes a fresh buffer).
  void forward(int32_t rule, PacketBuffer*& slot_buffer, const uint8_t* payload, uint32_t len,
               uint8_t ttl) noexcept;

 private:
  void count_verdict(ParseVerdict verdict) noexcept;
  // Counts (once per datagram) and returns true when a packet received with `ttl` may not be
  // forwarded at all.
  bool ttl_expired(uint8_t ttl, uint32_t datagrams = 1) noexcept;
  // A UDP datagram's rule (or -1): counts the miss or the match, then checks the TTL.
  int32_t accept_rule(int32_t rule, uint32_t len, uint8_t ttl) noexcept;
  // One copy per output whose threshold the TTL passes; true when the egress took any.
  bool send_to_outputs(int32_t rule, PacketBuffer* buffer, const uint8_t* payload, uint32_t len,
                       uint8_t ttl) noexcept;

  WorkerCounters& counters_;
  const RelayPlan* plan_ = nullptr;
  RuleCounters* rule_counters_ = nullptr;      // plan_->rule_counters[worker]
  OutputCounters* output_counters_ = nullptr;  // plan_->output_counters[worker]
  BufferPool* pool_ = nullptr;
  Egress* egress_ = nullptr;
};

}  // namespace mrelay
