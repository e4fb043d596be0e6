// Follows network interfaces coming and going (rtnetlink RTM_NEWLINK / RTM_DELLINK), so the
// relay notices an ingress interface that was deleted and re-created under the same name: the
// new one has a new index, and sockets bound to the old index would stay deaf until a restart.
// Serviced by the main thread's poll loop; the relay then compares the ingress interfaces'
// indexes with its plan and re-opens what changed (Relay::follow_ingress_interfaces).
//
//   mrelay::LinkMonitor links;
//   if (auto ok = links.open(); !ok) { ... }           // before the privilege drop
//   pollfd entry{links.fd(), POLLIN, 0};  ... poll ...
//   if (links.drain()) { compare interface indexes }   // a link changed (or events were lost)
#pragma once

#include "common/unique_fd.h"
#include "mrelay/error.h"

namespace mrelay {

class LinkMonitor {
 public:
  /// A non-blocking NETLINK_ROUTE socket in the RTMGRP_LINK group (no privilege needed).
  [[nodiscard]] Result<void> open();
  [[nodiscard]] int fd() const noexcept { return fd_ ? fd_.get() : -1; }
  /// Reads every pending message. True when a link was added, changed or removed, or when the
  /// kernel dropped messages (ENOBUFS: the socket overflowed), so anything may have changed.
  [[nodiscard]] bool drain() noexcept;

 private:
  UniqueFd fd_;
};

}  // namespace mrelay
