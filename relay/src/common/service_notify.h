// Readiness and reload notifications to the service manager: the datagram protocol of
// sd_notify(3), spoken directly (no libsystemd): one AF_UNIX datagram of "KEY=VALUE\n" lines
// to the socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
// Without $NOTIFY_SOCKET (not under systemd, or Type= not notify) every call does nothing.
//
//   mrelay::ServiceNotifier notifier = mrelay::ServiceNotifier::from_environment();
//   notifier.ready("forwarding: 2 rules");        // READY=1, after every worker runs
//   notifier.reloading(monotonic_ns());            // RELOADING=1 + MONOTONIC_USEC (SIGHUP)
//   notifier.ready("reloaded");                    // the reload is done, applied or not
//   notifier.stopping();                           // STOPPING=1 (SIGTERM)
//
// MONOTONIC_USEC with RELOADING=1 is what systemd >= 253 requires for Type=notify-reload;
// older versions (Debian 12 has 252) ignore it, so it is always sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mrelay/error.h"

namespace mrelay {

class ServiceNotifier {
 public:
  /// Off: every call is a no-op.
  ServiceNotifier() = default;
  /// Sends to `socket_path` ("/run/systemd/notify", or "@name": abstract); empty = off.
  explicit ServiceNotifier(std::string socket_path) : path_(std::move(socket_path)) {}
  /// From $NOTIFY_SOCKET.
  [[nodiscard]] static ServiceNotifier from_environment();

  [[nodiscard]] bool enabled() const noexcept { return !path_.empty(); }

  /// Sends `state` ("READY=1\nSTATUS=...") as one datagram. Errors name the socket.
  [[nodiscard]] Result<void> send(std::string_view state) const;

  // The daemon's four moments; a failure to notify is logged (warn), never fatal: the relay
  // forwards either way, and systemd's own timeout reports a unit that never got READY=1.
  void ready(std::string_view status) const;
  void reloading(uint64_t monotonic_ns) const;
  void stopping() const;

 private:
  void send_or_log(const std::string& state) const;
  std::string path_;
};

/// "RELOADING=1\nMONOTONIC_USEC=<monotonic_ns / 1000>\n" (split out for the tests).
[[nodiscard]] std::string reloading_message(uint64_t monotonic_ns);

}  // namespace mrelay
