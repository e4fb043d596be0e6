// Live rule changes, the control thread's half; see plan_update.h. The worker's half, taking an
// update at a loop-turn boundary, is Worker::apply_update (dataplane/worker.cc).
#include "control/plan_update.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>

#include "control/plan_build.h"
#include "dataplane/ingress/ingress.h"
#include "dataplane/ingress/ingress_socket.h"

namespace mrelay {
namespace {

bool same_ipv6(const std::optional<in6_addr>& a, const std::optional<in6_addr>& b) {
  return a.has_value() == b.has_value() &&
         (!a || std::memcmp(a->s6_addr, b->s6_addr, sizeof a->s6_addr) == 0);
}

bool same_output(const Output& a, const Output& b) {
  return a.interface == b.interface && a.address.s_addr == b.address.s_addr &&
         same_ipv6(a.address6, b.address6) && a.port == b.port && a.ttl == b.ttl &&
         a.ttl_threshold == b.ttl_threshold;
}

bool same_sources(const SourceList& a, const SourceList& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](in_addr x, in_addr y) { return x.s_addr == y.s_addr; });
}

bool same_sources6(const std::vector<in6_addr>& a, const std::vector<in6_addr>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(in6_addr)) == 0);
}

bool same_endpoint(const IngressEndpoint& a, const IngressEndpoint& b, IngressMode mode) {
  if (a.ifindex != b.ifindex) {
    return false;
  }
  // udp mode: a socket joined to other sources is another socket (a fresh join).
  return takes_frames(mode) ||
         (a.group.s_addr == b.group.s_addr && same_ipv6(a.group6, b.group6) && a.port == b.port &&
          same_sources(a.sources, b.sources) && same_sources6(a.sources6, b.sources6));
}

// Indices of the endpoints worker `worker` reads, in the order of its ingress list.
std::vector<size_t> endpoints_of(const RelayPlan& plan, uint32_t worker) {
  std::vector<size_t> mine;
  for (size_t e = 0; e < plan.ingress.size(); ++e) {
    if (takes_frames(plan.config.ingress) || plan.ingress[e].worker == worker) {
      mine.push_back(e);
    }
  }
  return mine;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string text = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    text += (i ? ", " : "") + names[i];
  }
  return text + "]";
}

}  // namespace

bool same_rule(const Rule& a, const Rule& b) {
  if (a.name != b.name || a.input_interface != b.input_interface || a.vlan != b.vlan ||
      a.group.s_addr != b.group.s_addr || !same_ipv6(a.group6, b.group6) || a.port != b.port ||
      !same_sources(a.source, b.source) || !same_sources6(a.source6, b.source6) ||
      a.allow_link_local != b.allow_link_local || a.outputs.size() != b.outputs.size()) {
    return false;
  }
  for (size_t o = 0; o < a.outputs.size(); ++o) {
    if (!same_output(a.outputs[o], b.outputs[o])) {
      return false;
    }
  }
  return true;
}

RuleDiff diff_rules(const std::vector<Rule>& before, const std::vector<Rule>& after) {
  RuleDiff diff;
  for (const Rule& rule : after) {
    auto old = std::find_if(before.begin(), before.end(),
                            [&](const Rule& r) { return r.name == rule.name; });
    if (old == before.end()) {
      diff.added.push_back(rule.name);
    } else if (!same_rule(*old, rule)) {
      diff.changed.push_back(rule.name);
    }
  }
  for (const Rule& rule : before) {
    if (std::none_of(after.begin(), after.end(),
                     [&](const Rule& r) { return r.name == rule.name; })) {
      diff.removed.push_back(rule.name);
    }
  }
  return diff;
}

std::string RuleDiff::describe() const {
  return "added " + name_list(added) + ", removed " + name_list(removed) + ", changed " +
         name_list(changed);
}

Result<std::shared_ptr<RelayPlan>> build_next_plan(const RelayPlan& current, const Config& next,
                                                   const InterfaceLookup& lookup) {
  auto built = build_plan(next, lookup);
  if (!built) {
    return tl::unexpected(built.error());
  }
  auto plan = std::make_shared<RelayPlan>(std::move(*built));
  plan->generation = current.generation + 1;
  // Knobs that shape the workers cannot change on a running relay: keep the running ones.
  plan->backend = current.backend;
  plan->fanout_id = current.fanout_id;
  plan->pool = current.pool;  // the workers' pools were allocated at start
  plan->pool_mtu = current.pool_mtu;
  plan->pool_mtu_interface = current.pool_mtu_interface;

  // Ingress: persisting endpoints keep worker and fanout group; new ones are spread.
  const uint32_t workers = current.config.workers;
  std::vector<uint32_t> load(workers, 0);
  int next_offset = 0;
  for (const IngressEndpoint& endpoint : current.ingress) {
    next_offset = std::max(next_offset, endpoint.fanout_offset + 1);
  }
  std::vector<bool> assigned(plan->ingress.size(), false);
  for (size_t e = 0; e < plan->ingress.size(); ++e) {
    for (const IngressEndpoint& old : current.ingress) {
      if (same_endpoint(old, plan->ingress[e], current.config.ingress)) {
        plan->ingress[e].worker = old.worker;
        plan->ingress[e].fanout_offset = old.fanout_offset;
        ++load[old.worker];
        assigned[e] = true;
        break;
      }
    }
  }
  for (size_t e = 0; e < plan->ingress.size(); ++e) {
    if (!assigned[e]) {
      const auto least =
          static_cast<uint32_t>(std::min_element(load.begin(), load.end()) - load.begin());
      plan->ingress[e].worker = least;
      plan->ingress[e].fanout_offset = next_offset++;
      ++load[least];
    }
  }

  // Rules by name; outputs by (rule name, definition), each old output used once.
  std::vector<bool> old_output_taken(current.outputs.size(), false);
  for (size_t r = 0; r < next.rules.size(); ++r) {
    const Rule& rule = next.rules[r];
    for (size_t q = 0; q < current.config.rules.size(); ++q) {
      if (current.config.rules[q].name != rule.name) {
        continue;
      }
      plan->rule_previous[r] = static_cast<int32_t>(q);
      const uint32_t old_first = current.rule_first_output[q];
      const uint32_t old_count = current.rule_output_count[q];
      const uint32_t new_first = plan->rule_first_output[r];
      for (uint32_t o = new_first; o < new_first + plan->rule_output_count[r]; ++o) {
        for (uint32_t p = old_first; p < old_first + old_count; ++p) {
          if (!old_output_taken[p] && same_output(current.outputs[p], plan->outputs[o])) {
            old_output_taken[p] = true;
            plan->output_previous[o] = static_cast<int32_t>(p);
            break;
          }
        }
      }
    }
  }
  return plan;
}

Result<std::unique_ptr<WorkerUpdate>> prepare_worker_update(const RelayPlan& current,
                                                            std::shared_ptr<const RelayPlan> next,
                                                            uint32_t worker) {
  auto update = std::make_unique<WorkerUpdate>();
  update->generation = next->generation;
  update->base_generation = current.generation;
  const RelayPlan& plan = *next;
  const std::vector<size_t> old_mine = endpoints_of(current, worker);
  const std::vector<size_t> new_mine = endpoints_of(plan, worker);
  for (size_t e : new_mine) {
    int32_t source = 0;
    bool found = false;
    for (size_t i = 0; i < old_mine.size() && !found; ++i) {
      if (same_endpoint(current.ingress[old_mine[i]], plan.ingress[e], plan.config.ingress)) {
        source = static_cast<int32_t>(i);
        found = true;
      }
    }
    if (!found) {
      std::string notes;
      auto ingress = make_ingress(plan.ingress[e], ingress_settings(plan), &notes);
      if (!ingress) {
        Error error = ingress.error();
        error.where = "worker " + std::to_string(worker) + ": " + error.where;
        return tl::unexpected(std::move(error));
      }
      source = -1 - static_cast<int32_t>(update->opened_ingress.size());
      update->opened_ingress.push_back(std::move(*ingress));
    }
    update->ingress_source.push_back(source);
  }
  for (size_t o = 0; o < plan.outputs.size(); ++o) {
    if (plan.output_previous[o] >= 0) {
      update->output_source.push_back(plan.output_previous[o]);
      continue;
    }
    auto fd = open_output_socket(plan.outputs[o], plan.output_ifindex[o],
                                 {.sndbuf = plan.config.egress.sndbuf, .non_blocking = true},
                                 plan.output_where[o]);
    if (!fd) {
      return tl::unexpected(fd.error());
    }
    update->output_source.push_back(-1 - static_cast<int32_t>(update->opened_outputs.size()));
    update->opened_outputs.push_back(std::move(*fd));
  }
  update->next_ingress.reserve(new_mine.size());
  update->next_outputs.reserve(plan.outputs.size());
  update->next_output_fds.reserve(plan.outputs.size());
  update->plan = std::move(next);
  return update;
}

// Packet mode: the joins the rules need, one per (interface, group, source): a (*,G) join
// (source 0) when any rule on the group takes any source, else the (S,G) join of each source
// the rules name. The interface's filter is the union of them.
std::set<MembershipKey> wanted_memberships(const Config& config) {
  std::set<MembershipKey> wanted;
  if (!takes_frames(config.ingress)) {
    return wanted;  // udp ingress sockets join their group themselves
  }
  const auto bytes6 = [](const in6_addr& address) {
    Group6Bytes bytes{};
    std::memcpy(bytes.data(), address.s6_addr, bytes.size());
    return bytes;
  };
  const auto any_source_key = [&bytes6](const Rule& rule) {
    return rule.group6 ? MembershipKey{rule.input_interface, 0, 0, bytes6(*rule.group6), {}}
                       : MembershipKey{rule.input_interface, rule.group.s_addr, 0, {}, {}};
  };
  for (const Rule& rule : config.rules) {
    if (!has_sources(rule)) {
      wanted.insert(any_source_key(rule));
    }
  }
  for (const Rule& rule : config.rules) {
    if (wanted.count(any_source_key(rule)) != 0) {
      continue;
    }
    for (const in_addr& source : rule.source) {
      wanted.emplace(rule.input_interface, rule.group.s_addr, source.s_addr, Group6Bytes{},
                     Group6Bytes{});
    }
    for (const in6_addr& source : rule.source6) {
      wanted.emplace(rule.input_interface, 0, 0, bytes6(*rule.group6), bytes6(source));
    }
  }
  return wanted;
}

Result<MembershipMap> join_new_groups(const Config& config, const MembershipMap& joined,
                                      const InterfaceLookup& lookup) {
  MembershipMap opened;
  for (const MembershipKey& key : wanted_memberships(config)) {
    if (joined.count(key) != 0) {
      continue;
    }
    const auto& [interface, group_address, source_address, group6_bytes, source6_bytes] = key;
    in_addr group{};
    group.s_addr = group_address;
    in_addr source{};
    source.s_addr = source_address;
    in6_addr group6{};
    std::memcpy(group6.s6_addr, group6_bytes.data(), group6_bytes.size());
    in6_addr source6{};
    std::memcpy(source6.s6_addr, source6_bytes.data(), source6_bytes.size());
    auto fd = group6.s6_addr[0] != 0
                  ? open_membership_socket6(interface, lookup(interface), group6, source6)
                  : open_membership_socket(interface, lookup(interface), group, source);
    if (!fd) {
      return tl::unexpected(fd.error());
    }
    opened.emplace(key, std::move(*fd));
  }
  return opened;
}

void commit_memberships(const Config& config, MembershipMap& joined, MembershipMap&& opened) {
  for (auto& [key, fd] : opened) {
    joined.emplace(key, std::move(fd));
  }
  const std::set<MembershipKey> wanted = wanted_memberships(config);
  for (auto it = joined.begin(); it != joined.end();) {
    it = wanted.count(it->first) != 0 ? std::next(it) : joined.erase(it);  // erase: the kernel leaves
  }
}

}  // namespace mrelay
