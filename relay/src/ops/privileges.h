// Privilege drop after set-up: switch to an unprivileged user and keep only the capabilities
// the data plane still uses once every socket is open.
//
//   auto relay = mrelay::Relay::create(config);            // sockets open as root
//   auto kept = mrelay::drop_privileges({.user = "nobody",
//                                        .keep = mrelay::runtime_capabilities(config)});
//   if (!kept) { ...error names --user/--group or the syscall... }
//   log(*kept);   // "privileges: uid 65534 gid 65534, kept cap_net_raw; bounding set ..."
//   (*relay)->run();                                       // threads start after the drop
//
// What the data plane needs after set-up (and why):
//   packet egress   CAP_NET_RAW: the AF_PACKET egress socket is opened by the worker thread.
//   --rt-priority   CAP_SYS_NICE: each worker sets SCHED_FIFO on itself when it starts.
//   packet ingress  CAP_NET_RAW: re-binding an output socket to a re-created interface
//                   (SO_BINDTODEVICE on a socket already bound needs it), and the packet
//                   sockets themselves stay usable without it once open.
//   udp ingress     nothing. An output whose interface is deleted and re-created cannot be
//                   re-bound then (EPERM, counted and logged); restart the relay for it.
//   CAP_NET_ADMIN   nothing at run time: SO_SNDBUFFORCE / SO_RCVBUFFORCE are only used while
//                   the sockets are opened, before the drop. It is always dropped.
//
// Capabilities are per thread: drop_privileges() must run while the process has ONE thread
// (before Relay::run() starts the workers), so every worker inherits the reduced sets.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/identity.h"
#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay {

/// A set of capabilities as a bit mask: bit N = capability number N (CAP_NET_RAW = 13).
using CapabilityMask = uint64_t;

/// The capabilities the data plane uses after set-up for this ingress mode (see file header).
[[nodiscard]] CapabilityMask runtime_capabilities(IngressMode ingress) noexcept;
/// The capabilities a relay with this config uses after set-up: the ingress mode's, plus
/// CAP_NET_RAW for the packet egress (its socket is opened on the worker thread) and
/// CAP_SYS_NICE for --rt-priority (each worker sets SCHED_FIFO on itself).
[[nodiscard]] CapabilityMask runtime_capabilities(const Config& config) noexcept;

/// "cap_net_raw,cap_net_admin" (lower case, like capsh), or "none".
[[nodiscard]] std::string describe_capabilities(CapabilityMask mask);

/// The capability sets of the calling thread, as the kernel reports them.
struct CapabilitySets {
  CapabilityMask effective = 0;
  CapabilityMask permitted = 0;
  CapabilityMask inheritable = 0;
};
[[nodiscard]] Result<CapabilitySets> current_capabilities();

struct PrivilegeRequest {
  std::string user;   // empty = keep the current uid/gid
  std::string group;  // empty = the user's primary group
  // Capabilities to keep in permitted and effective (ANDed with what the process has).
  CapabilityMask keep = 0;
};

/// Switches identity (setgroups, setgid, setuid with PR_SET_KEEPCAPS so the kept capabilities
/// survive), drops every other capability from the bounding set (when CAP_SETPCAP allows),
/// clears the ambient and inheritable sets, sets permitted = effective = keep, sets
/// PR_SET_NO_NEW_PRIVS, restores the parent-death signal (a uid change clears it), then reads
/// the sets back and fails if they differ from what was asked. Returns the startup log text.
/// Must be called while the process has a single thread.
[[nodiscard]] Result<std::string> drop_privileges(const PrivilegeRequest& request);

}  // namespace mrelay
