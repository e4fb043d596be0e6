// Tests of OutputRebinder (output_rebind.h): when it looks interfaces up again (only after
// send errors, at most every kCheckPeriodMs) and that a changed ifindex is re-bound on the same
// fd. Uses the loopback interface, which every network namespace has.
//
//   ./mrelay_core_test --gtest_filter='OutputRebind*'
#include "dataplane/output_rebind.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "common/unique_fd.h"

namespace mrelay {
namespace {

constexpr uint64_t kMs = 1000000;

struct Fixture {
  UniqueFd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  std::vector<Output> outputs;
  std::vector<int> fds;
  WorkerCounters counters{};
  OutputRebinder rebinder;

  // `stale_index`: the index the socket is believed to be bound to (as after a re-creation).
  explicit Fixture(unsigned stale_index) {
    Output output;
    output.interface = "lo";
    ::inet_pton(AF_INET, "239.9.9.9", &output.address);
    output.port = 6000;
    outputs.push_back(output);
    fds.push_back(fd.get());
    const std::vector<unsigned> index = {stale_index};
    rebinder.init(outputs, index, fds);
  }
};

TEST(OutputRebind, NothingHappensWithoutSendErrors) {
  Fixture f(/*stale_index=*/9999);
  for (uint64_t t = 1; t < 2000; t += 100) {
    f.rebinder.on_turn(t * kMs, f.counters);
  }
  EXPECT_EQ(f.counters.output_rebinds, 0u);
  EXPECT_EQ(f.counters.syscalls, 0u);  // not even a look-up
}

TEST(OutputRebind, SendErrorsTriggerARebindOnTheSameFd) {
  const unsigned lo = ::if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  Fixture f(/*stale_index=*/lo + 1000);
  ++f.counters.drop_other_errno;  // a copy failed (ENODEV)
  f.rebinder.on_turn(10 * kMs, f.counters);
  EXPECT_EQ(f.counters.output_rebinds, 1u);
  EXPECT_EQ(f.counters.output_rebind_failures, 0u);
  // The fd itself is now bound to lo and sends through it.
  char bound[IFNAMSIZ] = {};
  socklen_t size = sizeof bound;
  ASSERT_EQ(::getsockopt(f.fd.get(), SOL_SOCKET, SO_BINDTODEVICE, bound, &size), 0);
  EXPECT_STREQ(bound, "lo");
  // The new index is remembered: the next look-up finds nothing to do.
  ++f.counters.drop_other_errno;
  f.rebinder.on_turn(10 * kMs + OutputRebinder::kCheckPeriodMs * kMs, f.counters);
  EXPECT_EQ(f.counters.output_rebinds, 1u);
}

TEST(OutputRebind, LookUpsAreRateLimitedAndStopAfterTheErrors) {
  const unsigned lo = ::if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  Fixture f(/*stale_index=*/lo);  // already right: each look-up is one ioctl, nothing else
  ++f.counters.drop_other_errno;
  f.rebinder.on_turn(1 * kMs, f.counters);
  EXPECT_EQ(f.counters.syscalls, 1u);
  // Errors keep coming, but within kCheckPeriodMs no second look-up.
  ++f.counters.drop_other_errno;
  f.rebinder.on_turn(1 * kMs + (OutputRebinder::kCheckPeriodMs - 1) * kMs, f.counters);
  EXPECT_EQ(f.counters.syscalls, 1u);
  f.rebinder.on_turn(1 * kMs + OutputRebinder::kCheckPeriodMs * kMs, f.counters);
  EXPECT_EQ(f.counters.syscalls, 2u);
  // kKeepCheckingMs after the last new error, look-ups stop.
  const uint64_t quiet =
      1 * kMs + (OutputRebinder::kCheckPeriodMs - 1) * kMs + OutputRebinder::kKeepCheckingMs * kMs;
  const uint64_t before = f.counters.syscalls;
  f.rebinder.on_turn(quiet + 1 * kMs, f.counters);
  f.rebinder.on_turn(quiet + 10 * OutputRebinder::kCheckPeriodMs * kMs, f.counters);
  EXPECT_EQ(f.counters.syscalls, before);
  EXPECT_EQ(f.counters.output_rebinds, 0u);
}

}  // namespace
}  // namespace mrelay
