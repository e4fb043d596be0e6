// Output re-binding after an interface is re-created; see output_rebind.h.
#include "dataplane/output_rebind.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mrelay {

void OutputRebinder::init(std::span<const Output> outputs, std::span<const unsigned> ifindex,
                          std::span<const int> fds) {
  entries_.clear();
  entries_.reserve(outputs.size());
  for (size_t o = 0; o < outputs.size() && o < fds.size() && o < ifindex.size(); ++o) {
    entries_.push_back(
        {outputs[o].interface, ifindex[o], fds[o], IN_MULTICAST(ntohl(outputs[o].address.s_addr))});
  }
}

uint32_t OutputRebinder::check(uint64_t now_ns, WorkerCounters& counters) noexcept {
  uint32_t rebound = 0;
  for (Entry& entry : entries_) {
    ifreq request{};
    std::strncpy(request.ifr_name, entry.interface.c_str(), IFNAMSIZ - 1);
    // SIOCGIFINDEX on the output socket itself: one syscall, no extra socket (if_nametoindex
    // opens and closes one).
    ++counters.syscalls;
    if (::ioctl(entry.fd, SIOCGIFINDEX, &request) != 0) {
      continue;  // ENODEV: not re-created yet
    }
    const auto index = static_cast<unsigned>(request.ifr_ifindex);
    if (index == entry.ifindex) {
      continue;
    }
    // SO_BINDTODEVICE stores the index, resolved from the name now; it also resets the cached
    // route, so the next send routes over the new device.
    int err = 0;
    const char* step = "SO_BINDTODEVICE";
    counters.syscalls += 2;
    if (::setsockopt(entry.fd, SOL_SOCKET, SO_BINDTODEVICE, entry.interface.c_str(),
                     static_cast<socklen_t>(entry.interface.size())) != 0) {
      err = errno;
    } else if (entry.multicast) {
      step = "IP_MULTICAST_IF";
      ip_mreqn mreq{};
      mreq.imr_ifindex = static_cast<int>(index);
      if (::setsockopt(entry.fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) != 0) {
        err = errno;
      }
    }
    const bool log_now = now_ns >= next_log_ns_;
    if (log_now) {
      next_log_ns_ = now_ns + kLogPeriodMs * 1000000u;
    }
    if (err != 0) {
      ++counters.output_rebind_failures;
      if (log_now) {
        log_message(LogLevel::warn,
                    "output on " + entry.interface + ": interface re-created (ifindex " +
                        std::to_string(entry.ifindex) + " -> " + std::to_string(index) +
                        ") but setsockopt(" + step + ") failed: " + std::strerror(err) +
                        (err == EPERM ? " (re-binding needs CAP_NET_RAW; restart the relay)" : ""));
      }
      continue;
    }
    if (log_now) {
      log_message(LogLevel::info, "output on " + entry.interface + " re-attached: ifindex " +
                                      std::to_string(entry.ifindex) + " -> " +
                                      std::to_string(index));
    }
    entry.ifindex = index;
    ++counters.output_rebinds;
    ++rebound;
  }
  return rebound;
}

}  // namespace mrelay
