// Tests of the privilege drop (privileges.h), the supervisor's pure policy (supervisor.h) and
// the operations flags/keys (--user, --group, --supervise; "user", "group").
//
//   ./mrelay_core_test --gtest_filter='Privileges*:Supervisor*:OpsFlags*'
#include "ops/privileges.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "mrelay/command_line.h"
#include "ops/supervisor.h"

namespace mrelay {
namespace {

TEST(Privileges, RuntimeCapabilitiesKeepNetRawOnlyForPacketIngress) {
  EXPECT_EQ(runtime_capabilities(IngressMode::packet), CapabilityMask{1} << CAP_NET_RAW);
  EXPECT_EQ(runtime_capabilities(IngressMode::udp), CapabilityMask{0});
  Config config;
  config.ingress = IngressMode::udp;
  config.egress.backend = EgressBackend::sendmmsg;
  EXPECT_EQ(runtime_capabilities(config), CapabilityMask{0});
  config.egress.backend = EgressBackend::packet;  // opened on the worker thread, after the drop
  EXPECT_EQ(runtime_capabilities(config), CapabilityMask{1} << CAP_NET_RAW);
  config.rt_priority = 10;
  EXPECT_EQ(runtime_capabilities(config),
            (CapabilityMask{1} << CAP_NET_RAW) | (CapabilityMask{1} << CAP_SYS_NICE));
  // CAP_NET_ADMIN is never needed after set-up.
  EXPECT_EQ(runtime_capabilities(IngressMode::packet) & (CapabilityMask{1} << CAP_NET_ADMIN), 0u);
}

TEST(Privileges, DescribesMasksLikeCapsh) {
  EXPECT_EQ(describe_capabilities(0), "none");
  EXPECT_EQ(describe_capabilities(CapabilityMask{1} << CAP_NET_RAW), "cap_net_raw");
  EXPECT_EQ(describe_capabilities((CapabilityMask{1} << CAP_NET_RAW) |
                                  (CapabilityMask{1} << CAP_NET_ADMIN)),
            "cap_net_admin,cap_net_raw");
  EXPECT_EQ(describe_capabilities(CapabilityMask{1} << 40), "cap_40");
}

TEST(Privileges, GroupWithoutUserIsAnError) {
  auto result = drop_privileges({.user = "", .group = "nogroup", .keep = 0});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().where, "--group");
}

// The real drop, in a forked child (it is irreversible): uid 65534, permitted = effective =
// CAP_NET_RAW, bounding set = CAP_NET_RAW, no ambient, and the parent-death signal survives.
TEST(Privileges, DropToNobodyKeepsOnlyNetRaw) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root (setuid and the bounding set)";
  }
  auto nobody = resolve_identity("65534", "65534");
  ASSERT_TRUE(nobody);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    auto kept = drop_privileges(
        {.user = "65534", .group = "65534", .keep = runtime_capabilities(IngressMode::packet)});
    if (!kept) {
      _exit(10);
    }
    auto sets = current_capabilities();
    const CapabilityMask raw = CapabilityMask{1} << CAP_NET_RAW;
    if (!sets || sets->effective != raw || sets->permitted != raw || sets->inheritable != 0) {
      _exit(11);
    }
    if (::getuid() != 65534 || ::geteuid() != 65534 || ::getgid() != 65534) {
      _exit(12);
    }
    for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
      const int in_bounding = ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0);
      if (in_bounding != (capability == CAP_NET_RAW ? 1 : 0)) {
        _exit(13);
      }
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0) != 0) {
      _exit(14);
    }
    int death_signal = 0;
    if (::prctl(PR_GET_PDEATHSIG, &death_signal, 0, 0, 0) != 0 || death_signal != SIGTERM) {
      _exit(15);
    }
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
      _exit(16);
    }
    if (kept->find("kept cap_net_raw") == std::string::npos) {
      _exit(17);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child check failed: see the _exit codes in this test";
}

TEST(Privileges, RefusesOnceThreadsExist) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::thread worker([] { ::usleep(200000); });
    auto result = drop_privileges({.user = "", .group = "", .keep = 0});
    worker.join();
    _exit(!result && result.error().message.find("threads") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Supervisor, BackoffDoublesToTheCapAndResetsAfterAHealthyRun) {
  const SupervisorTiming timing{
      .first_delay_ms = 100, .max_delay_ms = 1000, .healthy_run_ms = 10000, .stop_grace_ms = 1};
  uint32_t delay = 0;
  std::vector<uint32_t> seen;
  for (int i = 0; i < 6; ++i) {
    delay = next_restart_delay(delay, /*ran_ms=*/50, timing);
    seen.push_back(delay);
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(next_restart_delay(1000, 10000, timing), 100u);
}

TEST(Supervisor, RestartsCrashesButNotCleanStopsOrConfigErrors) {
  const auto exited = [](int code) { return code << 8; };  // the wait status layout
  EXPECT_TRUE(should_restart(SIGKILL));                    // WIFSIGNALED, signal 9
  EXPECT_TRUE(should_restart(SIGSEGV));
  EXPECT_TRUE(should_restart(exited(1)));
  EXPECT_FALSE(should_restart(exited(0)));
  EXPECT_FALSE(should_restart(exited(kConfigErrorExit)));
  EXPECT_EQ(describe_status(exited(3)), "exited 3");
  EXPECT_EQ(describe_status(SIGKILL).rfind("killed by signal 9", 0), 0u);
}

Result<CommandLine> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "mrelay");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST(OpsFlags, UserGroupAndSupervise) {
  auto cli = parse({"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000", "--user",
                    "nobody", "--group=nogroup", "--supervise"});
  ASSERT_TRUE(cli) << cli.error().to_string();
  EXPECT_EQ(cli->config.user, "nobody");
  EXPECT_EQ(cli->config.group, "nogroup");
  EXPECT_TRUE(cli->supervise);
  auto plain = parse({"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000"});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->supervise);
  EXPECT_TRUE(plain->config.user.empty());
  auto empty = parse({"--in", "veth0:239.1.1.1:5000", "--out", "veth1:239.2.2.2:6000", "--user="});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().where, "--user");
}

TEST(OpsFlags, UserAndGroupConfigKeys) {
  auto config = parse_config_json(R"({"user": "nobody", "group": "nogroup", "rules": [
      {"input": {"interface": "veth0", "group": "239.1.1.1", "port": 5000},
       "outputs": [{"interface": "veth1", "group": "239.2.2.2", "port": 6000}]}]})");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->user, "nobody");
  EXPECT_EQ(config->group, "nogroup");
  auto wrong = parse_config_json(R"({"user": 5, "rules": []})");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().where, "user");
}

}  // namespace
}  // namespace mrelay
