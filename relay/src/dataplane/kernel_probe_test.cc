// Kernel probes must be consistent with what the kernel then accepts.
#include "mrelay/kernel_probe.h"

#include <gtest/gtest.h>
#include <liburing.h>

namespace mrelay {
namespace {

TEST(KernelProbe, UringFlagsChosenAreAccepted) {
  const UringProbe probe = probe_io_uring();
  if (!probe.available) {
    EXPECT_NE(probe.init_errno, 0);
    EXPECT_NE(probe.describe().find("unavailable"), std::string::npos);
    GTEST_SKIP() << probe.describe();
  }
  EXPECT_FALSE(probe.defer_taskrun && !probe.single_issuer);
  io_uring ring{};
  io_uring_params params{};
  params.flags = probe.setup_flags();
  ASSERT_EQ(io_uring_queue_init_params(8, &ring, &params), 0) << probe.describe();
  io_uring_queue_exit(&ring);
  EXPECT_NE(probe.describe().find("available"), std::string::npos);
}

TEST(KernelProbe, PacketSocketProbeIsConsistent) {
  const PacketProbe probe = probe_packet_socket();
  if (!probe.available) {
    EXPECT_NE(probe.socket_errno, 0);
    GTEST_SKIP() << probe.describe();
  }
  EXPECT_NE(probe.describe().find("AF_PACKET: available"), std::string::npos);
}

}  // namespace
}  // namespace mrelay
