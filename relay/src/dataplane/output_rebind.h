// Re-attaches output sockets to an interface that was deleted and re-created. An output socket
// is tied to its interface by ifindex (SO_BINDTODEVICE stores the index, IP_MULTICAST_IF takes
// one), and a re-created veth gets a new index, so its copies fail (ENODEV, ENXIO, ENETDOWN...)
// forever. When send errors appear, the worker asks this class, at most every kCheckPeriodMs,
// to look the output names up again; an output whose index changed gets SO_BINDTODEVICE and
// IP_MULTICAST_IF again on the SAME fd (no fd swap: io_uring registered files stay valid).
//
//   OutputRebinder rebinder;
//   rebinder.init(plan.outputs, plan.output_ifindex, output_fds);   // set-up, allocates
//   ... every loop turn (no allocation, one compare when nothing failed):
//   rebinder.on_turn(monotonic_ns(), counters);
//
// Re-binding an already bound socket needs CAP_NET_RAW (kernel: sock_bindtoindex_locked); the
// relay keeps it in packet ingress mode. Without it the attempt fails with EPERM, is counted in
// output_rebind_failures and logged (rate-limited), and the output stays down until a restart.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mrelay/config.h"
#include "mrelay/counters.h"

namespace mrelay {

class OutputRebinder {
 public:
  // Shortest time between two look-ups, in ms: each look-up costs one ioctl per output, and
  // 200 ms bounds the extra loss after an interface comes back to ~0.2 s of traffic.
  static constexpr uint64_t kCheckPeriodMs = 200;
  // Look-ups continue this long (ms) after the last send error: a re-created interface may
  // come up a little after its deletion stopped the errors from changing (all copies failing
  // the same way still moves the counter, so this only matters at the very end).
  static constexpr uint64_t kKeepCheckingMs = 5000;
  // Shortest time between two log lines about re-binding, in ms (stderr is not the hot path's).
  static constexpr uint64_t kLogPeriodMs = 1000;

  /// Copies the output names and their current ifindex; `fds` are the worker's output sockets
  /// (index = output number). Allocation happens here only.
  void init(std::span<const Output> outputs, std::span<const unsigned> ifindex,
            std::span<const int> fds);

  /// Called once per loop turn. Cheap unless send errors (drop_other_errno) moved recently.
  /// Returns how many outputs were re-bound (the packet egress then rebuilds its frame
  /// templates: they carry the interface's index and MAC).
  uint32_t on_turn(uint64_t now_ns, WorkerCounters& counters) noexcept {
    if (counters.drop_other_errno != seen_errors_) {
      seen_errors_ = counters.drop_other_errno;
      errors_until_ns_ = now_ns + kKeepCheckingMs * 1000000u;
    }
    if (now_ns < errors_until_ns_ && now_ns >= next_check_ns_) {
      next_check_ns_ = now_ns + kCheckPeriodMs * 1000000u;
      return check(now_ns, counters);
    }
    return 0;
  }

  /// Looks every output up again and re-binds those whose ifindex changed. Returns how many
  /// were re-bound. No allocation.
  uint32_t check(uint64_t now_ns, WorkerCounters& counters) noexcept;

 private:
  struct Entry {
    std::string interface;  // the configured name (re-created with the same name)
    unsigned ifindex = 0;   // the index the socket is bound to now
    int fd = -1;
    bool multicast = false;
  };
  std::vector<Entry> entries_;
  uint64_t seen_errors_ = 0;
  uint64_t errors_until_ns_ = 0;
  uint64_t next_check_ns_ = 0;
  uint64_t next_log_ns_ = 0;
};

}  // namespace mrelay
