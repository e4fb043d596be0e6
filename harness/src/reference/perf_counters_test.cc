// perf counters on the test process itself: syscalls counted around a getppid() loop.
//
//   build-harness/harness/mrelay_harness_test --gtest_filter='PerfCounters*'
#include "reference/perf_counters.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace mrelay::harness {
namespace {

const PerfReading* find(const std::vector<PerfReading>& readings, std::string_view name) {
  const auto it = std::find_if(readings.begin(), readings.end(),
                               [name](const PerfReading& r) { return r.name == name; });
  return it == readings.end() ? nullptr : &*it;
}

// Attaches to this process or skips with the reason (no permission, no perf support).
std::optional<PerfCounters> attach_self() {
  auto counters = PerfCounters::attach(getpid());
  if (!counters) {
    return std::nullopt;
  }
  return std::move(*counters);
}

TEST(PerfCounters, CountsTheSyscallsOfAGetppidLoop) {
  auto counters = PerfCounters::attach(getpid());
  if (!counters) {
    GTEST_SKIP() << "perf_event_open not usable here: " << counters.error().to_string();
  }
  const auto before = counters->read();
  const PerfReading* syscalls = find(before, kSyscallsEvent);
  ASSERT_NE(syscalls, nullptr);
  if (!syscalls->supported) {
    GTEST_SKIP() << "raw_syscalls:sys_enter unsupported: " << syscalls->unsupported_reason;
  }
  EXPECT_TRUE(syscalls->source == "libpfm4" || syscalls->source == "tracefs-id")
      << syscalls->source;

  constexpr long kCalls = 20000;
  ASSERT_TRUE(counters->start());
  for (long i = 0; i < kCalls; ++i) {
    syscall(SYS_getppid);  // glibc does not cache getppid; syscall() makes sure anyway
  }
  ASSERT_TRUE(counters->stop());
  const auto after = counters->read();
  const PerfReading* counted = find(after, kSyscallsEvent);
  ASSERT_NE(counted, nullptr);
  EXPECT_GE(counted->value, static_cast<uint64_t>(kCalls));
  // Not wildly more either: the loop plus start/stop's ioctls and gtest's bookkeeping.
  EXPECT_LT(counted->value, static_cast<uint64_t>(kCalls) + 1000);

  const PerfReading* task_clock = find(after, kTaskClockEvent);
  ASSERT_NE(task_clock, nullptr);
  ASSERT_TRUE(task_clock->supported) << task_clock->unsupported_reason;
  EXPECT_GT(task_clock->value, 0U);
  EXPECT_EQ(task_clock->source, "libpfm4");
}

TEST(PerfCounters, StoppedCountersDoNotMove) {
  auto counters = attach_self();
  if (!counters) {
    GTEST_SKIP() << "perf_event_open not usable here";
  }
  // Keep the readings alive: find() returns a pointer into them.
  const auto probe_readings = counters->read();
  const PerfReading* probe = find(probe_readings, kSyscallsEvent);
  if (probe == nullptr || !probe->supported) {
    GTEST_SKIP() << "raw_syscalls:sys_enter unsupported";
  }
  ASSERT_TRUE(counters->start());
  ASSERT_TRUE(counters->stop());
  const auto stopped_readings = counters->read();
  const uint64_t stopped = find(stopped_readings, kSyscallsEvent)->value;
  for (int i = 0; i < 1000; ++i) {
    syscall(SYS_getppid);
  }
  const auto later_readings = counters->read();
  EXPECT_EQ(find(later_readings, kSyscallsEvent)->value, stopped);
}

TEST(PerfCounters, CountsThreadsCreatedAfterAttach) {
  auto counters = attach_self();
  if (!counters) {
    GTEST_SKIP() << "perf_event_open not usable here";
  }
  // Keep the readings alive: find() returns a pointer into them.
  const auto probe_readings = counters->read();
  const PerfReading* probe = find(probe_readings, kSyscallsEvent);
  if (probe == nullptr || !probe->supported) {
    GTEST_SKIP() << "raw_syscalls:sys_enter unsupported";
  }
  constexpr long kCalls = 5000;
  ASSERT_TRUE(counters->start());
  std::thread worker([] {
    for (long i = 0; i < kCalls; ++i) {
      syscall(SYS_getppid);
    }
  });
  worker.join();
  // inherit=1: the exited thread's counts were folded into its creator's counter.
  const auto after_join = counters->read();
  EXPECT_GE(find(after_join, kSyscallsEvent)->value, static_cast<uint64_t>(kCalls));
}

TEST(PerfCounters, MissingHardwareIsUnsupportedNotAnError) {
  auto counters = attach_self();
  if (!counters) {
    GTEST_SKIP() << "perf_event_open not usable here";
  }
  for (const PerfReading& r : counters->read()) {
    if (r.supported) {
      EXPECT_FALSE(r.source.empty()) << r.name;
      EXPECT_GE(r.threads, 1U) << r.name;
    } else {
      EXPECT_FALSE(r.unsupported_reason.empty()) << r.name;
    }
  }
  EXPECT_EQ(counters->read().size(), 5U);
}

TEST(PerfCounters, UnknownPidIsAnErrorNamingPid) {
  auto counters = PerfCounters::attach(999'999'999);
  ASSERT_FALSE(counters);
  EXPECT_EQ(counters.error().where, "--pid");
}

TEST(PerfCounters, TracepointIdOfSysEnter) {
  auto id = tracepoint_id("raw_syscalls:sys_enter");
  if (!id) {
    GTEST_SKIP() << id.error().to_string();
  }
  EXPECT_GT(*id, 0U);
  EXPECT_FALSE(tracepoint_id("no_such_category:no_such_event"));
  EXPECT_FALSE(tracepoint_id("missing-colon"));
}

}  // namespace
}  // namespace mrelay::harness
