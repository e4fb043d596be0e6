// Building the workers' plan; see plan_build.h.
#include "control/plan_build.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/unique_fd.h"

namespace mrelay {
namespace {

// Whether `rule`'s input is read by an endpoint the plan already has: packet mode reads a
// whole interface with one socket, udp mode one (interface, group, port) per socket.
bool same_group(const IngressEndpoint& endpoint, const Rule& rule) {
  if (endpoint.group6.has_value() != rule.group6.has_value()) {
    return false;
  }
  return rule.group6 ? std::memcmp(endpoint.group6->s6_addr, rule.group6->s6_addr, 16) == 0
                     : endpoint.group.s_addr == rule.group.s_addr;
}

bool has_endpoint(const RelayPlan& plan, const Rule& rule, unsigned ifindex) {
  for (const IngressEndpoint& endpoint : plan.ingress) {
    const bool same_interface = endpoint.ifindex == ifindex;
    if (takes_frames(plan.config.ingress)
            ? same_interface
            : same_interface && same_group(endpoint, rule) && endpoint.port == rule.port) {
      return true;
    }
  }
  return false;
}

// Appends `rule`'s outputs to the plan's flat lists; errors name the output's interface.
Result<void> add_outputs(RelayPlan& plan, const Rule& rule, const std::string& rule_where,
                         const InterfaceLookup& lookup) {
  plan.rule_first_output.push_back(static_cast<uint32_t>(plan.outputs.size()));
  plan.rule_output_count.push_back(static_cast<uint32_t>(rule.outputs.size()));
  for (size_t o = 0; o < rule.outputs.size(); ++o) {
    const Output& output = rule.outputs[o];
    const std::string where = rule_where + ".outputs[" + std::to_string(o) + "]";
    const unsigned ifindex = lookup(output.interface);
    if (ifindex == 0) {
      return fail(where + ".interface", "no such interface '" + output.interface + "'");
    }
    plan.outputs.push_back(output);
    plan.output_ifindex.push_back(ifindex);
    plan.output_where.push_back(where);
    plan.output_ttl.push_back({.threshold = output.ttl_threshold, .fixed = output.ttl.value_or(0)});
  }
  return {};
}

// udp mode: the sources each endpoint joins, the union of its rules' sources, or none (a (*,G)
// join) when one of its rules takes any source. Sorted, so equal sets compare equal.
void set_endpoint_sources(RelayPlan& plan, const InterfaceLookup& lookup) {
  for (IngressEndpoint& endpoint : plan.ingress) {
    bool any_source = false;
    SourceList sources;
    std::vector<in6_addr> sources6;
    for (const Rule& rule : plan.config.rules) {
      if (lookup(rule.input_interface) != endpoint.ifindex || !same_group(endpoint, rule) ||
          rule.port != endpoint.port) {
        continue;
      }
      any_source = any_source || !has_sources(rule);
      for (const in_addr& source : rule.source) {
        if (!sources.contains(source)) {
          sources.push_back(source);
        }
      }
      sources6.insert(sources6.end(), rule.source6.begin(), rule.source6.end());
    }
    if (any_source) {
      sources.clear();
      sources6.clear();
    }
    std::sort(sources.begin(), sources.end(),
              [](in_addr a, in_addr b) { return ntohl(a.s_addr) < ntohl(b.s_addr); });
    const auto before6 = [](const in6_addr& a, const in6_addr& b) {
      return std::memcmp(&a, &b, sizeof a) < 0;
    };
    const auto equal6 = [](const in6_addr& a, const in6_addr& b) {
      return std::memcmp(&a, &b, sizeof a) == 0;
    };
    std::sort(sources6.begin(), sources6.end(), before6);
    sources6.erase(std::unique(sources6.begin(), sources6.end(), equal6), sources6.end());
    endpoint.sources = std::move(sources);
    endpoint.sources6 = std::move(sources6);
  }
}

// The interface's MTU (SIOCGIFMTU), 0 when it cannot be read.
uint32_t interface_mtu(const std::string& name) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq request{};
  if (!fd || name.size() >= IFNAMSIZ) {
    return 0;
  }
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), SIOCGIFMTU, &request) != 0 || request.ifr_mtu <= 0) {
    return 0;
  }
  return static_cast<uint32_t>(request.ifr_mtu);
}

// The workers' pools: buffer_size when configured, else sized for the largest ingress MTU.
void size_plan_pool(RelayPlan& plan) {
  uint32_t size = plan.config.buffer_size;
  if (size == 0) {
    for (const Rule& rule : plan.config.rules) {
      const uint32_t mtu = interface_mtu(rule.input_interface);
      if (mtu > plan.pool_mtu) {
        plan.pool_mtu = mtu;
        plan.pool_mtu_interface = rule.input_interface;
      }
    }
    size = buffer_size_for_mtu(plan.pool_mtu);
  }
  plan.pool = size_pool(plan.config.pool_buffers, size);
}

}  // namespace

Result<RelayPlan> build_plan(const Config& config, const InterfaceLookup& lookup) {
  RelayPlan plan;
  plan.config = config;
  plan.backend = config.egress.backend;
  plan.table = RuleTable(config.rules, lookup);
  for (size_t r = 0; r < config.rules.size(); ++r) {
    const Rule& rule = config.rules[r];
    const std::string rule_where = "rules[" + std::to_string(r) + "]";
    const unsigned ifindex = lookup(rule.input_interface);
    if (ifindex == 0) {
      return fail(rule_where + ".input.interface",
                  "no such interface '" + rule.input_interface + "'");
    }
    if (!has_endpoint(plan, rule, ifindex)) {
      const auto e = static_cast<uint32_t>(plan.ingress.size());
      plan.ingress.push_back({.interface = rule.input_interface,
                              .ifindex = ifindex,
                              .group = rule.group,
                              .port = rule.port,
                              .group6 = rule.group6,
                              .sources = {},  // set_endpoint_sources(), once every rule is seen
                              .sources6 = {},
                              .worker = e % config.workers,
                              .fanout_offset = static_cast<int>(e)});
    }
    if (auto added = add_outputs(plan, rule, rule_where, lookup); !added) {
      return tl::unexpected(added.error());
    }
  }
  if (config.ingress == IngressMode::udp) {
    set_endpoint_sources(plan, lookup);
  }
  size_plan_pool(plan);
  plan.rule_counters.assign(config.workers, std::vector<RuleCounters>(config.rules.size()));
  plan.output_counters.assign(config.workers, std::vector<OutputCounters>(plan.outputs.size()));
  plan.rule_previous.assign(config.rules.size(), -1);
  plan.output_previous.assign(plan.outputs.size(), -1);
  if (config.ingress == IngressMode::packet && config.workers > 1) {
    // Fanout group ids are per network namespace: derive from the pid to avoid another
    // relay's group; each interface gets its own id (a group is bound to one device).
    plan.fanout_id = static_cast<int>(::getpid() & 0x7fff);
  }
  return plan;
}

}  // namespace mrelay
