// Live rule changes: a new immutable RelayPlan is built beside the running one, each worker
// gets a WorkerUpdate (dataplane/worker_update.h: the plan plus the sockets it lacks),
// switches at a loop-turn boundary (Worker::apply_update) and acknowledges; only then are the old
// plan and the sockets of removed outputs/ingress freed. Everything that allocates or opens sockets
// runs in the control thread, before the switch, so a failure (no such interface, socket error)
// leaves the running state untouched.
//
//   auto next = mrelay::build_next_plan(*current, candidate_config, system_interfaces());
//   std::vector<std::unique_ptr<WorkerUpdate>> updates;
//   for (worker w) { updates.push_back(*prepare_worker_update(*current, next, w)); }
//   for (worker w) { workers[w]->post_update(updates[w].get()); }
//   wait until every workers[w]->applied_generation() >= next->generation, then drop
//   `current`/`updates`.
//
// Generations: every plan carries one (the first is 0, each successor its predecessor's + 1),
// and an update names the generation it was built on. Its socket indices refer to that plan's
// lists, so a worker takes an update only when it runs exactly that plan, and rejects it
// otherwise (a worker that missed a switch deadline must never apply a later update in place
// of the one it missed). The control thread prepares a change only when every worker runs the
// current plan (Relay::apply_rules).
//
// Sockets of unchanged outputs and ingress endpoints are reused (moved from the old socket
// list into the new one by the worker), so traffic on rules that did not change keeps its
// sockets and its kernel queues; the worker drains its egress (every in-flight copy, io_uring
// completions included) before it swaps, so no send can reference a socket that is retired.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/plan.h"
#include "dataplane/worker_update.h"
#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay {

/// Builds the plan for `next` (already validated) as a successor of `current` (generation + 1):
/// ingress endpoints that persist keep their worker and fanout group, new udp endpoints go to
/// the worker reading the fewest, and rule_previous / output_previous link rules (by name) and
/// outputs (by rule name, interface, address, port, ttl) to `current` so counters carry over
/// and sockets are reused. An ingress interface re-created under the same name has a new
/// index, so its endpoint is new (a fresh socket). Errors name the config field
/// ("rules[2].outputs[0].interface").
[[nodiscard]] Result<std::shared_ptr<RelayPlan>> build_next_plan(const RelayPlan& current,
                                                                 const Config& next,
                                                                 const InterfaceLookup& lookup);

/// Opens what worker `worker` lacks under `next` (ingress sockets for new endpoints it reads,
/// one output socket per new output) and maps everything else to its sockets under `current`,
/// which must be the plan the worker runs when it takes the update (base_generation).
[[nodiscard]] Result<std::unique_ptr<WorkerUpdate>> prepare_worker_update(
    const RelayPlan& current, std::shared_ptr<const RelayPlan> next, uint32_t worker);

/// Packet-mode group memberships (so `ip maddr` shows the group and NICs deliver it), one
/// socket per (interface, group, source): source 0 is a (*,G) join, any other an (S,G) join
/// (IGMPv3 include mode) for a rule that names its sources. An IPv6 group's key has group and
/// source 0 and the group's and the source's 16 bytes last (source all zero: an MLD (*,G)
/// join, else an MLDv2 (S,G) join); both all zero for IPv4. Network byte order.
using Group6Bytes = std::array<uint8_t, 16>;
using MembershipKey = std::tuple<std::string, uint32_t, uint32_t, Group6Bytes, Group6Bytes>;
using MembershipMap = std::map<MembershipKey, UniqueFd>;

/// Joins the groups `config` needs that `joined` lacks; returns only the new sockets.
[[nodiscard]] Result<MembershipMap> join_new_groups(const Config& config,
                                                    const MembershipMap& joined,
                                                    const InterfaceLookup& lookup);
/// After a switch: adds `opened` to `joined` and leaves (closes) groups `config` no longer has.
void commit_memberships(const Config& config, MembershipMap& joined, MembershipMap&& opened);

/// What changed between two rule lists, for the log and the control reply.
struct RuleDiff {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;  // same name, different definition
  [[nodiscard]] bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
  [[nodiscard]] std::string describe() const;  // "added [b], removed [], changed [a]"
};
[[nodiscard]] RuleDiff diff_rules(const std::vector<Rule>& before, const std::vector<Rule>& after);
[[nodiscard]] bool same_rule(const Rule& a, const Rule& b);

}  // namespace mrelay
