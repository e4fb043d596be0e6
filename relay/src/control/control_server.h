// The control plane's sockets, serviced by the daemon's main thread with poll(): the Unix
// control socket (newline-delimited JSON, control_protocol.h) and, optionally, a loopback HTTP
// listener that serves GET /metrics (Prometheus text). Never touches the data plane.
//
//   mrelay::ControlServer server;
//   server.set_peer_policy({.control_group = 4244, .read_group = 4243});
//   if (auto ok = server.open_unix("/run/mrelay/control.sock", 0660); !ok) { ... }
//   std::vector<pollfd> fds; server.append_pollfds(fds);  ::poll(...);
//   server.service(fds, [&](std::string_view line, ControlRole role) {
//                    return handle_request(line, target, role); },
//                  [&] { return format_prometheus(target.stats()); });
//
// Who may talk to the control socket is decided at accept from the peer's credentials
// (SO_PEERCRED, SO_PEERGROUPS): root, the relay's own uid and members of the control group get
// full access; members of the read-only group get read-only access; anyone else gets one error
// line and is closed (counted: control_peer_refused; logged at most once a second).
//
// Every client socket is non-blocking with bounded buffers, so a slow, idle or vanished client
// costs a slot at most, and control and metrics clients have separate budgets, so neither can
// lock the other out: a line longer than kMaxRequestBytes gets an error reply and is closed,
// clients beyond a budget get an error and are closed, a client that leaves replies unread
// past kMaxReplyBacklog is closed, and every client has an absolute deadline that bytes alone
// never extend: a control client must complete a request within kClientIdleMs of connecting
// or of its previous request, an HTTP client must be done within kHttpDeadlineMs of
// connecting (a slow-loris client trickling one byte a second is cut off all the same).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "control/control_protocol.h"
#include "mrelay/counters.h"
#include "mrelay/error.h"

namespace mrelay {

class ControlServer {
 public:
  // Simultaneous control clients. 64 covers dozens of operators' mrelayctl calls and a few
  // tools; each costs at most kMaxRequestBytes of buffer.
  static constexpr size_t kMaxControlClients = 64;
  // Simultaneous metrics (HTTP) clients: a scrape takes one connection for milliseconds, so 16
  // covers several Prometheus servers at once. Separate from the control budget so idle
  // connections to the metrics port cannot lock mrelayctl out (nor the reverse).
  static constexpr size_t kMaxHttpClients = 16;
  // Unsent reply bytes kept for a client that does not read (a stats reply is ~10 KiB per
  // 100 rules); beyond this the client is closed rather than the daemon buffering forever.
  static constexpr size_t kMaxReplyBacklog = 4u << 20;
  // A control client that completes no request for this long (ms) after connecting or after
  // its previous request is closed; partial bytes do not extend it. Long enough for a human
  // typing a request into socat.
  static constexpr uint64_t kClientIdleMs = 60'000;
  // An HTTP client must have sent its request and read the reply within this (ms) of
  // connecting: a scrape takes milliseconds, a slow one on a loaded host well under a second.
  static constexpr uint64_t kHttpDeadlineMs = 5'000;
  // An HTTP request head larger than this (bytes) is refused: GET /metrics needs ~100.
  static constexpr size_t kMaxHttpHead = 8192;
  // Shortest time between two log lines about refused connections (ms): peers can repeat
  // them at will, the log must not grow with them.
  static constexpr uint64_t kRefusalLogPeriodMs = 1000;

  using RequestHandler = std::function<std::string(std::string_view line, ControlRole role)>;
  using MetricsHandler = std::function<std::string()>;

  // The limits above, as one value a test can shrink.
  struct Limits {
    size_t control_clients = kMaxControlClients;
    size_t http_clients = kMaxHttpClients;
    uint64_t idle_ms = kClientIdleMs;
    uint64_t http_ms = kHttpDeadlineMs;
  };

  /// Who may use the control socket beyond root and the relay's own (effective) uid.
  struct PeerPolicy {
    std::optional<gid_t> control_group;  // members (primary or supplementary): full access
    std::optional<gid_t> read_group;     // members: read-only (ping, version, list, stats)
  };

  ControlServer();
  explicit ControlServer(const Limits& limits);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Listens on a Unix stream socket at `path` with `mode` (0660; 0666 when a read-only group
  /// must reach it too: every peer is checked at accept anyway). A stale socket file is
  /// replaced only when nothing accepts connections on it; anything else at `path` is an error.
  [[nodiscard]] Result<void> open_unix(const std::string& path, mode_t mode = 0660);
  /// Listens for HTTP on "ADDR:PORT"; ADDR must be a loopback address (127.0.0.0/8).
  [[nodiscard]] Result<void> open_http(const std::string& address);

  /// Appends the fds to poll (listeners, then clients); service() expects the same entries at
  /// the same position, from `first` on.
  void append_pollfds(std::vector<pollfd>& fds);
  /// Accepts, reads, answers, writes and expires clients. `fds` as filled by append_pollfds
  /// and returned by poll().
  void service(const std::vector<pollfd>& fds, const RequestHandler& on_request,
               const MetricsHandler& on_metrics);

  void set_peer_policy(const PeerPolicy& policy) { policy_ = policy; }
  /// Where refusals and deadline closes are counted (the relay's process counters); without
  /// one, the server counts into its own.
  void set_counters(ProcessCounters* counters) { counters_ = counters; }
  [[nodiscard]] const ProcessCounters& counters() const noexcept { return *counters_; }

  [[nodiscard]] size_t client_count() const noexcept { return clients_.size(); }
  [[nodiscard]] uint16_t http_port() const noexcept { return http_port_; }
  [[nodiscard]] bool http_open() const noexcept { return static_cast<bool>(http_listener_); }

 private:
  enum class Kind : uint8_t { control, http };
  struct Client {
    UniqueFd fd;
    Kind kind = Kind::control;
    ControlRole role = ControlRole::full;
    std::string in;
    std::string out;
    size_t out_sent = 0;
    bool close_after_write = false;
    bool closed = false;
    uint64_t deadline_ns = 0;  // absolute (Limits: idle_ms after the last request, http_ms)
  };

  void accept_clients(int listener, Kind kind);
  // The role for a new control connection from its peer credentials, or nullopt (refused,
  // with `who` describing the peer for the error line and the log).
  std::optional<ControlRole> peer_role(int fd, std::string& who) const;
  void refuse(int fd, Kind kind, const std::string& why, uint64_t now);
  void read_client(Client& client, const RequestHandler& on_request,
                   const MetricsHandler& on_metrics);
  void handle_http(Client& client, const MetricsHandler& on_metrics);
  void write_client(Client& client);

  Limits limits_;
  PeerPolicy policy_;
  ProcessCounters own_counters_;
  ProcessCounters* counters_ = &own_counters_;
  RateLimitedLog refusal_log_{kRefusalLogPeriodMs * 1000000u};
  UniqueFd unix_listener_;
  UniqueFd http_listener_;
  std::string unix_path_;
  ino_t unix_inode_ = 0;  // the socket file we created, so we never unlink someone else's
  uint16_t http_port_ = 0;
  size_t first_ = 0;  // index of our first entry in the poll array
  std::vector<Client> clients_;
};

/// The role of a peer: root and `own_uid` (the relay's effective uid) get full access; then
/// membership of the policy's groups among `groups` (the peer's primary and supplementary
/// gids): control group full, read-only group read_only. nullopt = no access. Pure (tests);
/// the server calls it with SO_PEERCRED and SO_PEERGROUPS.
[[nodiscard]] std::optional<ControlRole> role_for_peer(uid_t uid, std::span<const gid_t> groups,
                                                       uid_t own_uid,
                                                       const ControlServer::PeerPolicy& policy);

}  // namespace mrelay
