// Live rule changes: the diff, the successor plan (ingress ownership, counter and socket
// carry-over), and the whole swap on a running worker — rule A keeps forwarding with zero
// loss while rule B is added, used and removed — for every egress backend, on the loopback of
// a private network namespace (test_netns.h; skips without CAP_SYS_ADMIN).
#include "control/plan_update.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "control/plan_build.h"
#include "dataplane/worker.h"
#include "mrelay/kernel_probe.h"
#include "testing/test_netns.h"
#include "testing/test_rules.h"
#include "testing/test_sockets.h"
#include "testing/test_worker.h"

namespace mrelay {
namespace {

using testing::bound_receiver;
using testing::drain_count;
using testing::wait_until;

in_addr address(const char* text) {
  return testing::ipv4(text);
}

using testing::loopback_rule;
using testing::rule_to_ports;

using testing::fake_lookup;

std::string proc_text(const char* path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Packet ingress: a rule with sources joins (S,G) for each (the interface's IGMPv3 include
// list, /proc/net/mcfilter); a rule without joins (*,G); dropping the rule leaves its joins.
// (/proc/net/mcfilter shows a device only when its newest group has sources, so the source
// joins are checked before the (*,G) rule is added.)
TEST(Memberships, SourceRulesJoinEachSourceAndLeaveWithTheRule) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    auto lookup = [](const std::string& name) { return ::if_nametoindex(name.c_str()); };
    Config config;
    config.ingress = IngressMode::packet;
    config.rules.push_back(loopback_rule("ssm", "232.1.1.1", 5000, 6000));
    config.rules.back().source = {address("127.0.0.1"), address("127.0.0.2")};
    MembershipMap joined;
    auto opened = join_new_groups(config, joined, lookup);
    if (!opened || opened->size() != 2) {
      return opened ? "opened " + std::to_string(opened->size()) + " joins, expected 2"
                    : opened.error().to_string();
    }
    commit_memberships(config, joined, std::move(*opened));
    // Addresses in host order: 127.0.0.1 is 0x7f000001.
    const std::string filter = proc_text("/proc/net/mcfilter");
    if (filter.find("0x7f000001") == std::string::npos ||
        filter.find("0x7f000002") == std::string::npos) {
      return "sources 127.0.0.1 and 127.0.0.2 not joined:\n" + filter;
    }
    config.rules.push_back(loopback_rule("asm", "239.1.1.1", 5000, 6001));
    opened = join_new_groups(config, joined, lookup);
    if (!opened || opened->size() != 1 || std::get<2>(opened->begin()->first) != 0) {
      return "the any-source rule did not add one (*,G) join";
    }
    commit_memberships(config, joined, std::move(*opened));
    config.rules.erase(config.rules.begin());
    commit_memberships(config, joined, {});
    if (joined.size() != 1) {
      return "after removing the source rule: " + std::to_string(joined.size()) + " joins";
    }
    // /proc/net/igmp prints the group as the hex of its network-order value.
    return proc_text("/proc/net/igmp").find("010101E8") != std::string::npos
               ? "232.1.1.1 still joined after its rule was removed"
               : "";
  });
}

// The same for IPv6 groups: MLDv2 (S,G) joins per source (/proc/net/mcfilter6), an MLD (*,G)
// join for an any-source rule (/proc/net/igmp6), and the joins leave with their rules.
TEST(Memberships, Ipv6SourceRulesJoinEachSourceAndLeaveWithTheRule) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([]() -> std::string {
    auto lookup = [](const std::string& name) { return ::if_nametoindex(name.c_str()); };
    const auto v6 = [](const char* text) {
      in6_addr value{};
      ::inet_pton(AF_INET6, text, &value);
      return value;
    };
    Config config;
    config.ingress = IngressMode::packet;
    config.rules.push_back(loopback_rule("ssm6", "0.0.0.0", 5000, 6000));
    config.rules.back().group6 = v6("ff3e::8:1");
    config.rules.back().source6 = {v6("2001:db8::a"), v6("2001:db8::b")};
    MembershipMap joined;
    auto opened = join_new_groups(config, joined, lookup);
    if (!opened) {
      return "SKIP: no IPv6 multicast on lo here: " + opened.error().to_string();
    }
    if (opened->size() != 2) {
      return "opened " + std::to_string(opened->size()) + " joins, expected 2";
    }
    commit_memberships(config, joined, std::move(*opened));
    const std::string filter = proc_text("/proc/net/mcfilter6");
    if (filter.find("20010db800000000000000000000000a") == std::string::npos ||
        filter.find("20010db800000000000000000000000b") == std::string::npos) {
      return "sources 2001:db8::a and 2001:db8::b not joined:\n" + filter;
    }
    config.rules.push_back(loopback_rule("asm6", "0.0.0.0", 5000, 6001));
    config.rules.back().group6 = v6("ff3e::8:2");
    opened = join_new_groups(config, joined, lookup);
    if (!opened || opened->size() != 1) {
      return "the any-source rule did not add one (*,G) join";
    }
    commit_memberships(config, joined, std::move(*opened));
    if (proc_text("/proc/net/igmp6").find("ff3e0000000000000000000000080002") ==
        std::string::npos) {
      return "ff3e::8:2 not joined:\n" + proc_text("/proc/net/igmp6");
    }
    config.rules.erase(config.rules.begin());
    commit_memberships(config, joined, {});
    if (joined.size() != 1) {
      return "after removing the source rule: " + std::to_string(joined.size()) + " joins";
    }
    return proc_text("/proc/net/igmp6").find("ff3e0000000000000000000000080001") !=
                   std::string::npos
               ? "ff3e::8:1 still joined after its rule was removed"
               : "";
  });
}

TEST(RuleDiff, NamesAddedRemovedChanged) {
  const std::vector<Rule> before = {
      rule_to_ports("a", "eth0", "239.1.1.1", 5000, {{"eth1", 6000}}),
      rule_to_ports("b", "eth0", "239.1.1.2", 5000, {{"eth1", 6001}})};
  std::vector<Rule> after = {rule_to_ports("a", "eth0", "239.1.1.1", 5000, {{"eth1", 6009}}),
                             rule_to_ports("c", "eth0", "239.1.1.3", 5000, {{"eth1", 6002}})};
  const RuleDiff diff = diff_rules(before, after);
  EXPECT_EQ(diff.added, std::vector<std::string>{"c"});
  EXPECT_EQ(diff.removed, std::vector<std::string>{"b"});
  EXPECT_EQ(diff.changed, std::vector<std::string>{"a"});
  EXPECT_EQ(diff.describe(), "added [c], removed [b], changed [a]");
  EXPECT_TRUE(diff_rules(before, before).empty());
}

TEST(RuleDiff, TtlSettingsArePartOfTheDefinition) {
  const std::vector<Rule> before = {
      rule_to_ports("a", "eth0", "239.1.1.1", 5000, {{"eth1", 6000}})};
  for (int change = 0; change < 3; ++change) {
    std::vector<Rule> after = before;
    if (change == 0) {
      after[0].outputs[0].ttl = 9;
    } else if (change == 1) {
      after[0].outputs[0].ttl_threshold = 16;
    } else {
      after[0].allow_link_local = true;
    }
    EXPECT_EQ(diff_rules(before, after).changed, std::vector<std::string>{"a"}) << change;
  }
}

TEST(NextPlan, KeepsOwnersAndLinksRulesAndOutputs) {
  Config config;
  config.ingress = IngressMode::udp;
  config.workers = 2;
  config.rules = {rule_to_ports("a", "eth0", "239.1.1.1", 5000, {{"eth1", 6000}, {"eth1", 6001}}),
                  rule_to_ports("b", "eth0", "239.1.1.2", 5000, {{"eth1", 6002}})};
  auto current = build_plan(config, fake_lookup);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->ingress[0].worker, 0u);
  EXPECT_EQ(current->ingress[1].worker, 1u);

  // Remove a, keep b, add c and d: b keeps worker 1 although it is now endpoint 0.
  Config next = config;
  next.rules = {rule_to_ports("b", "eth0", "239.1.1.2", 5000, {{"eth1", 6002}}),
                rule_to_ports("c", "eth0", "239.1.1.3", 5000, {{"eth1", 6003}}),
                rule_to_ports("d", "eth0", "239.1.1.4", 5000, {{"eth1", 6004}})};
  auto plan = build_next_plan(*current, next, fake_lookup);
  ASSERT_TRUE(plan) << plan.error().to_string();
  const RelayPlan& p = **plan;
  ASSERT_EQ(p.ingress.size(), 3u);
  EXPECT_EQ(p.ingress[0].worker, 1u);  // b, kept
  // c goes to the idle worker 0, then d to whichever reads fewer (tie -> lowest index).
  EXPECT_EQ(p.ingress[1].worker, 0u);
  EXPECT_EQ(p.rule_previous, (std::vector<int32_t>{1, -1, -1}));
  EXPECT_EQ(p.output_previous, (std::vector<int32_t>{2, -1, -1}));
  EXPECT_EQ(p.rule_counters.size(), 2u);
  EXPECT_EQ(p.rule_counters[1].size(), 3u);

  // A changed output of a kept rule gets a new socket; an identical one keeps its socket.
  Config changed = config;
  changed.rules[0].outputs[1].port = 7001;
  auto changed_plan = build_next_plan(*current, changed, fake_lookup);
  ASSERT_TRUE(changed_plan);
  EXPECT_EQ((*changed_plan)->output_previous, (std::vector<int32_t>{0, -1, 2}));
}

TEST(NextPlan, ErrorsNameTheField) {
  Config config;
  config.rules = {rule_to_ports("a", "eth0", "239.1.1.1", 5000, {{"eth1", 6000}})};
  auto current = build_plan(config, fake_lookup);
  ASSERT_TRUE(current);
  Config next = config;
  next.rules.push_back(rule_to_ports("b", "eth0", "239.1.1.2", 5000, {{"eth7", 6000}}));
  auto plan = build_next_plan(*current, next, fake_lookup);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().where, "rules[1].outputs[0].interface");
}

// ---- the swap on a running worker --------------------------------------------------------

// Rule A traffic: enough packets over ~1 s that both updates land mid-stream.
constexpr uint32_t kPacketsA = 3000;
constexpr uint32_t kPacketsB = 200;
constexpr int kPayload = 64;

void send_to(int fd, const char* group, uint16_t port, uint32_t sequence) {
  const sockaddr_in to = testing::endpoint(address(group), port);
  uint8_t payload[kPayload] = {};
  std::memcpy(payload, &sequence, sizeof sequence);
  ::sendto(fd, payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

// Publishes `next` to the worker and waits (bounded) for its acknowledgement.
std::string switch_to(Worker& worker, const RelayPlan& current,
                      const std::shared_ptr<RelayPlan>& next, uint64_t generation) {
  auto update = prepare_worker_update(current, next, 0);
  if (!update) {
    return "prepare: " + update.error().to_string();
  }
  if ((*update)->generation != generation || (*update)->base_generation != current.generation) {
    return "update generations " + std::to_string((*update)->base_generation) + " -> " +
           std::to_string((*update)->generation) + ", expected " + std::to_string(generation - 1) +
           " -> " + std::to_string(generation);
  }
  if (!worker.post_update(update->get())) {
    return "post_update refused: an update is pending";
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (worker.applied_generation() < generation) {
    if (std::chrono::steady_clock::now() > deadline) {
      return "worker did not switch within 5 s";  // leaks the update: the worker may use it
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return "";
}

// Waits (bounded) until `fd` has received `count` datagrams in all, `got` counting.
void await_datagrams(int fd, uint32_t count, uint32_t& got) {
  wait_until([&] { return (got += drain_count(fd)) >= count; }, std::chrono::seconds(3));
}

// With rule a flowing: adds rule b (a new UDP endpoint, socket joined by the control side, and
// a new output), sends kPacketsB to it, removes it again and sends 50 that must not arrive.
// Every plan built goes into `plans` (the worker may read any of them until it stops).
std::string add_use_remove_b(Worker& worker, const Config& config, uint16_t port_b, int receiver_b,
                             std::vector<std::shared_ptr<RelayPlan>>& plans, uint32_t& got_b) {
  Config with_b = config;
  with_b.rules.push_back(loopback_rule("b", "239.1.1.2", 5001, port_b));
  auto plan_2 = build_next_plan(*plans.back(), with_b, system_interfaces());
  if (!plan_2) {
    return "next plan: " + plan_2.error().to_string();
  }
  plans.push_back(*plan_2);
  if (std::string failure = switch_to(worker, *plans[0], *plan_2, 1); !failure.empty()) {
    return failure;
  }
  UniqueFd sender_b = testing::multicast_sender("lo", 8);
  for (uint32_t i = 0; i < kPacketsB; ++i) {
    send_to(sender_b.get(), "239.1.1.2", 5001, i);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  await_datagrams(receiver_b, kPacketsB, got_b);
  // Remove B again while A still flows.
  auto plan_3 = build_next_plan(**plan_2, config, system_interfaces());
  if (!plan_3) {
    return "next plan: " + plan_3.error().to_string();
  }
  plans.push_back(*plan_3);
  if (std::string failure = switch_to(worker, **plan_2, *plan_3, 2); !failure.empty()) {
    return failure;
  }
  for (uint32_t i = 0; i < 50; ++i) {
    send_to(sender_b.get(), "239.1.1.2", 5001, i);  // B is gone: nothing may arrive
  }
  return "";
}

// What the swap test expects at the end: every packet of a and b delivered once, nothing of b
// after its removal, a's counters carried over both switches, no buffer leaked.
std::string check_swap(const Worker& worker, const Config& config, uint32_t got_a, uint32_t got_b,
                       uint32_t late_b) {
  std::string text;
  if (got_a != kPacketsA) {
    text += "rule a: " + std::to_string(got_a) + " of " + std::to_string(kPacketsA) + "; ";
  }
  if (got_b != kPacketsB) {
    text += "rule b: " + std::to_string(got_b) + " of " + std::to_string(kPacketsB) + "; ";
  }
  if (late_b != 0) {
    text += "rule b still relayed " + std::to_string(late_b) + " after removal; ";
  }
  const RelayPlan& final_plan = worker.plan();
  if (final_plan.rule_counters[0][0].matched_packets != kPacketsA ||
      final_plan.output_counters[0][0].queued_packets != kPacketsA) {
    text += "rule a counters " + std::to_string(final_plan.rule_counters[0][0].matched_packets) +
            " matched, " + std::to_string(final_plan.output_counters[0][0].queued_packets) +
            " queued; ";
  }
  if (worker.free_buffers() != config.pool_buffers) {
    text += "buffers leaked: " + std::to_string(config.pool_buffers - worker.free_buffers());
  }
  return text;
}

std::string run_swap(EgressBackend backend) {
  if (backend == EgressBackend::uring && !probe_io_uring().available) {
    return "SKIP: " + probe_io_uring().describe();
  }
  uint16_t port_a = 0;
  uint16_t port_b = 0;
  UniqueFd receiver_a = bound_receiver(port_a);
  UniqueFd receiver_b = bound_receiver(port_b);
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = backend;
  config.egress.batch = 8;
  config.pool_buffers = 1024;
  config.rules.push_back(loopback_rule("a", "239.1.1.1", 5000, port_a));
  auto first = build_plan(config, system_interfaces());
  if (!first) {
    return "build_plan: " + first.error().to_string();
  }
  auto plan_1 = std::make_shared<RelayPlan>(std::move(*first));
  Worker worker(0, -1, *plan_1);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  testing::WorkerThread loop(worker);
  // Above 1: the relay forwards only what it could send on with a TTL of at least 1.
  UniqueFd sender = testing::multicast_sender("lo", 8);
  std::thread paced([&] {
    for (uint32_t i = 0; i < kPacketsA; ++i) {
      send_to(sender.get(), "239.1.1.1", 5000, i);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  std::vector<std::shared_ptr<RelayPlan>> plans{plan_1};  // every plan stays alive to the end
  uint32_t got_b = 0;
  const std::string failure =
      add_use_remove_b(worker, config, port_b, receiver_b.get(), plans, got_b);
  paced.join();
  uint32_t got_a = 0;
  await_datagrams(receiver_a.get(), kPacketsA, got_a);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const uint32_t late_b = drain_count(receiver_b.get());
  const std::string loop_error = loop.stop();
  if (!failure.empty()) {
    return failure;
  }
  if (!loop_error.empty()) {
    return loop_error;
  }
  return check_swap(worker, config, got_a, got_b, late_b);
}

class LiveSwap : public ::testing::TestWithParam<EgressBackend> {};

TEST_P(LiveSwap, RuleAKeepsFlowingWhileBIsAddedAndRemoved) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS([this] { return run_swap(GetParam()); });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, LiveSwap,
                         ::testing::Values(EgressBackend::send, EgressBackend::sendmmsg,
                                           EgressBackend::uring),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

// ---- a worker that missed the switch deadline --------------------------------------------

// The control thread posts update 1 (rule b) and the worker does not take it in time; the
// control thread, which already counts plan 1 as current, builds update 2 (rule c) on top of
// plan 1. Update 2's socket indices refer to plan 1's lists, which the worker never adopted:
// it must take update 1 first, never update 2 in its place, and then update 2; afterwards all
// three rules forward. Then an update built on plan 1 again (stale: the worker runs plan 2) is
// rejected whole, and the three rules still forward.
constexpr const char* kGroups[3] = {"239.1.1.1", "239.1.1.2", "239.1.1.3"};
constexpr uint16_t kInPorts[3] = {5000, 5001, 5002};
constexpr const char* kNames[3] = {"a", "b", "c"};

// Sends 20 packets to each of the three rules; "" when each receiver got its 20.
std::string all_rules_forward(int sender, const UniqueFd (&receivers)[3]) {
  constexpr uint32_t kPackets = 20;
  uint32_t got[3] = {};
  for (uint32_t i = 0; i < kPackets; ++i) {
    for (int r = 0; r < 3; ++r) {
      send_to(sender, kGroups[r], kInPorts[r], i);
    }
  }
  wait_until(
      [&] {
        for (int r = 0; r < 3; ++r) {
          got[r] += drain_count(receivers[r].get());
        }
        return got[0] >= kPackets && got[1] >= kPackets && got[2] >= kPackets;
      },
      std::chrono::seconds(3));
  std::string text;
  for (int r = 0; r < 3; ++r) {
    if (got[r] != kPackets) {
      text += std::string("rule ") + kNames[r] + ": " + std::to_string(got[r]) + " of " +
              std::to_string(kPackets) + "; ";
    }
  }
  return text;
}

// Waits (bounded) until the worker applied or rejected `generation`.
void await_generation(const Worker& worker, uint64_t generation) {
  wait_until(
      [&] {
        return worker.applied_generation() >= generation ||
               worker.rejected_generation() >= generation;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(1));
}

// Posts `stale` (built on a plan the worker no longer runs) and expects it rejected whole,
// the worker still on plan 2; "" when so.
std::string expect_rejected(Worker& worker, WorkerUpdate& stale) {
  if (!worker.post_update(&stale)) {
    return "stale update not posted; ";
  }
  wait_until([&] { return !worker.update_pending(); }, std::chrono::seconds(5),
             std::chrono::milliseconds(1));
  if (worker.rejected_generation() != stale.generation || worker.applied_generation() != 2 ||
      worker.update_pending()) {
    return "stale update not rejected: runs " + std::to_string(worker.applied_generation()) +
           ", rejected " + std::to_string(worker.rejected_generation()) + "; ";
  }
  return "";
}

// The control thread posts update 1 (rule b) and the worker does not take it in time; the
// control thread, which already counts plan 1 as current, builds update 2 (rule c) on top of
// plan 1. Update 2's socket indices refer to plan 1's lists, which the worker never adopted:
// it must take update 1 first, never update 2 in its place, and then update 2; afterwards all
// three rules forward. Then an update built on plan 1 again (stale: the worker runs plan 2) is
// rejected whole, and the three rules still forward.
std::string run_missed_deadline() {
  uint16_t ports[3] = {};
  UniqueFd receivers[3] = {bound_receiver(ports[0]), bound_receiver(ports[1]),
                           bound_receiver(ports[2])};
  Config configs[3];  // rule a; a and b; a, b and c
  for (int n = 0; n < 3; ++n) {
    configs[n].ingress = IngressMode::udp;
    configs[n].egress.backend = EgressBackend::sendmmsg;
    configs[n].egress.batch = 8;
    configs[n].pool_buffers = 1024;
    for (int r = 0; r <= n; ++r) {
      configs[n].rules.push_back(loopback_rule(kNames[r], kGroups[r], kInPorts[r], ports[r]));
    }
  }
  auto first = build_plan(configs[0], system_interfaces());
  if (!first) {
    return "build_plan: " + first.error().to_string();
  }
  auto plan_0 = std::make_shared<RelayPlan>(std::move(*first));
  Worker worker(0, -1, *plan_0);
  if (auto ok = worker.open(); !ok) {
    return "open: " + ok.error().to_string();
  }
  auto plan_1 = build_next_plan(*plan_0, configs[1], system_interfaces());
  auto update_1 = plan_1 ? prepare_worker_update(*plan_0, *plan_1, 0)
                         : Result<std::unique_ptr<WorkerUpdate>>(tl::unexpected(plan_1.error()));
  if (!update_1) {
    return "update 1: " + update_1.error().to_string();
  }
  if (!worker.post_update(update_1->get())) {
    return "update 1 not posted";
  }
  // The worker is not running: the switch deadline passes. The next change is built on plan 1.
  auto plan_2 = build_next_plan(**plan_1, configs[2], system_interfaces());
  auto update_2 = plan_2 ? prepare_worker_update(**plan_1, *plan_2, 0)
                         : Result<std::unique_ptr<WorkerUpdate>>(tl::unexpected(plan_2.error()));
  if (!update_2) {
    return "update 2: " + update_2.error().to_string();
  }
  if (worker.post_update(update_2->get())) {
    return "update 2 posted over the pending update 1";
  }
  testing::WorkerThread loop(worker);
  UniqueFd sender = testing::multicast_sender("lo", 64);
  std::string failure;
  await_generation(worker, 1);
  if (worker.applied_generation() != 1) {
    failure =
        "the worker runs plan " + std::to_string(worker.applied_generation()) + " after update 1; ";
  } else if (!worker.post_update(update_2->get())) {  // the mailbox is free again: deliver 2
    failure = "update 2 refused after update 1 was applied; ";
  } else {
    await_generation(worker, 2);
    failure = worker.applied_generation() != 2 ? "the worker never switched to plan 2; "
                                               : all_rules_forward(sender.get(), receivers);
  }
  // A stale update: built on plan 1 (back to rule a only) while the worker runs plan 2.
  auto plan_3 = build_next_plan(**plan_1, configs[0], system_interfaces());
  auto stale = plan_3 ? prepare_worker_update(**plan_1, *plan_3, 0)
                      : Result<std::unique_ptr<WorkerUpdate>>(tl::unexpected(plan_3.error()));
  if (failure.empty() && !stale) {
    failure = "stale update: " + stale.error().to_string();
  }
  if (failure.empty()) {
    failure = expect_rejected(worker, **stale);
  }
  if (failure.empty()) {
    failure = all_rules_forward(sender.get(), receivers);
  }
  if (std::string error = loop.stop(); !error.empty()) {
    return error;
  }
  return failure;
}

TEST(WorkerUpdate, MissedSwitchDeadlineNeverAppliesAPlanBuiltOnAnother) {
  MRELAY_EXPECT_IN_PRIVATE_NETNS(run_missed_deadline);
}

}  // namespace
}  // namespace mrelay
