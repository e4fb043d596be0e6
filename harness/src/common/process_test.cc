// Child process spawning, capture, deadlines and kill by PID.
#include "common/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

namespace mrelay::harness {
namespace {

using namespace std::chrono_literals;

TEST(Process, CapturesOutputAndExitCode) {
  auto result = run_capture({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_TRUE(result->status.exited);
  EXPECT_EQ(result->status.code, 3);
  EXPECT_FALSE(result->status.ok());
  EXPECT_EQ(result->out, "out\n");
  EXPECT_EQ(result->err, "err\n");
}

TEST(Process, MissingProgramIsExit127WithReason) {
  auto result = run_capture({"/nonexistent/mrelay-nothing"}, 5s);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status.code, 127);
  EXPECT_NE(result->err.find("execvp"), std::string::npos);
}

TEST(Process, DeadlineKillsTheChild) {
  const auto start = std::chrono::steady_clock::now();
  auto result = run_capture({"sleep", "30"}, 200ms);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->status.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Process, StopEscalatesToSigkill) {
  const std::string out = "/tmp/mrelay-process-test-" + std::to_string(::getpid());
  // Ignores SIGTERM, so stop_process must fall back to SIGKILL after the grace period.
  SpawnOptions options{{"sh", "-c", "trap '' TERM; echo ready; sleep 30"}, "", out, ""};
  auto pid = spawn(options);
  ASSERT_TRUE(pid);
  for (int i = 0; i < 200 && read_text_file(out).value_or("").empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto status = stop_process(*pid, SIGTERM, 100ms);
  EXPECT_FALSE(status.timed_out);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_NE(::kill(*pid, 0), 0);  // reaped: the PID no longer names our child
  std::filesystem::remove(out);
}

TEST(Process, UnknownNamespaceIsAnErrorNamingIt) {
  SpawnOptions options{{"true"}, "mrl-does-not-exist-xyz", "", ""};
  auto pid = spawn(options);
  ASSERT_FALSE(pid);
  EXPECT_NE(pid.error().where.find("mrl-does-not-exist-xyz"), std::string::npos);
}

}  // namespace
}  // namespace mrelay::harness
