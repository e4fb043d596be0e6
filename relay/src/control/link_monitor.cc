// rtnetlink link events; see link_monitor.h.
#include "control/link_monitor.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace mrelay {
namespace {

// Bytes read per recv(): one page holds many link messages; what does not fit stays queued.
constexpr size_t kReadBytes = 8192;
// recv() calls per drain(), so a flood of link events cannot hold the main loop: what is left
// makes the socket readable again at the next poll.
constexpr int kMaxReads = 64;

}  // namespace

Result<void> LinkMonitor::open() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) {
    return fail_errno("socket(AF_NETLINK, NETLINK_ROUTE)");
  }
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = RTMGRP_LINK;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno("bind(NETLINK_ROUTE, RTMGRP_LINK)");
  }
  fd_ = std::move(fd);
  return {};
}

bool LinkMonitor::drain() noexcept {
  bool changed = false;
  alignas(nlmsghdr) char buffer[kReadBytes];
  for (int i = 0; i < kMaxReads; ++i) {
    const ssize_t got = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == ENOBUFS) {
        changed = true;  // messages were lost: look at everything again
        continue;
      }
      return changed;  // EAGAIN: drained (EINTR: the next poll says)
    }
    auto length = static_cast<unsigned>(got);
    for (const auto* message = reinterpret_cast<const nlmsghdr*>(buffer); NLMSG_OK(message, length);
         message = NLMSG_NEXT(message, length)) {
      changed = changed || message->nlmsg_type == RTM_NEWLINK || message->nlmsg_type == RTM_DELLINK;
    }
  }
  return changed;
}

}  // namespace mrelay
