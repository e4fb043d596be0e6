// The plan the workers run: every rule's outputs flattened, the rule table, each output's
// interface and TTL settings, and the per-worker counters. Built once per configuration by
// the control plane (control/plan_build.h), read-only for the workers except the counters,
// and replaced whole on a live rule change (control/plan_update.h).
//
//   auto plan = mrelay::build_plan(config, mrelay::system_interfaces());   // control/
//   mrelay::Worker worker(0, /*cpu=*/-1, *plan);                          // reads it
//   const uint32_t first = plan->rule_first_output[rule];                  // hot path
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/egress/egress.h"
#include "dataplane/ingress/ingress.h"
#include "mrelay/config.h"
#include "mrelay/rule_table.h"

namespace mrelay {

/// Per-rule counters, one array per worker (the worker is the only writer; readers load
/// relaxed). Matched = the rule table found this rule for a packet.
struct RuleCounters {
  uint64_t matched_packets = 0;
  uint64_t matched_bytes = 0;  // UDP payload bytes
};

// OutputCounters (per output: queued, dropped, failed) are declared in egress/egress.h, beside
// the backends that count failures after hand-over.

/// An output's TTL settings in the form the hot path reads (Output::ttl, ttl_threshold).
struct OutputTtl {
  uint8_t threshold = kDefaultTtlThreshold;  // forward only a received TTL above this
  uint8_t fixed = 0;                         // TTL of every copy; 0 = the received TTL - 1
};

/// Everything the workers share, built once from a validated Config (allocation happens in
/// the builder, never in a worker).
struct RelayPlan {
  // 0 for the plan built at start, +1 for each successor (control/plan_update.h).
  uint64_t generation = 0;
  Config config;
  RuleTable table;
  // The backend the workers build: the configured one after the start-up probes
  // (egress/egress_selector.h). kDefaultEgressBackend only until the builder sets it.
  EgressBackend backend = kDefaultEgressBackend;
  std::vector<IngressEndpoint> ingress;
  std::vector<Output> outputs;              // every rule's outputs, flattened
  std::vector<unsigned> output_ifindex;     // per flattened output
  std::vector<std::string> output_where;    // "rules[0].outputs[2]" for error messages
  std::vector<OutputTtl> output_ttl;        // per flattened output
  std::vector<uint32_t> rule_first_output;  // per rule: index into outputs
  std::vector<uint32_t> rule_output_count;  // per rule
  int fanout_id = -1;  // PACKET_FANOUT group id when workers > 1 in packet mode
  // Each worker's buffer pool, fixed at start (a successor keeps it): config.buffer_size, or
  // sized for the largest ingress MTU (pool_mtu, on pool_mtu_interface), within kMaxPoolBytes.
  PoolSize pool = size_pool(kDefaultPoolBuffers, BufferPool::kDefaultBufferSize);
  uint32_t pool_mtu = 0;  // 0: the size was configured
  std::string pool_mtu_interface;
  // [worker][rule] and [worker][output]: sized once by the builder, written only by that
  // worker. mutable: the plan's shape is read-only, these counters are the workers' scratch.
  mutable std::vector<std::vector<RuleCounters>> rule_counters;
  mutable std::vector<std::vector<OutputCounters>> output_counters;
  // Live rule changes (control/plan_update.h): per rule / output, its index in the plan this
  // one replaced (-1 = new), so counters carry over and unchanged outputs keep their sockets.
  std::vector<int32_t> rule_previous;
  std::vector<int32_t> output_previous;
};

/// How `plan`'s ingress sockets are opened (make_ingress), whoever opens them: a worker at
/// start, the control thread for a live change.
[[nodiscard]] inline IngressSettings ingress_settings(const RelayPlan& plan) noexcept {
  return {.mode = plan.config.ingress, .rcvbuf = plan.config.rcvbuf, .fanout_id = plan.fanout_id};
}

}  // namespace mrelay
