// The control plane's sockets, serviced by the daemon's main thread with poll(): the Unix
// control socket (newline-delimited JSON, control_protocol.h) and, optionally, a loopback HTTP
// listener that serves GET /metrics (Prometheus text). Never touches the data plane.
//
//   mrelay::ControlServer server;
//   if (auto ok = server.open_unix("/run/mrelay/control.sock"); !ok) { ... }
//   std::vector<pollfd> fds; server.append_pollfds(fds);  ::poll(...);
//   server.service(fds, [&](std::string_view line) { return handle_request(line, target); },
//                  [&] { return format_prometheus(target.stats()); });
//
// Every client socket is non-blocking with bounded buffers, so a slow, idle or vanished client
// costs a slot at most: a line longer than kMaxRequestBytes gets an error reply and is closed,
// clients beyond kMaxClients get an error and are closed, a client that leaves replies
// unread past kMaxReplyBacklog or stays idle past kClientIdleMs is closed.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"
#include "unique_fd.h"

namespace mrelay {

class ControlServer {
 public:
  // Simultaneous clients (control and HTTP together). 64 covers a monitoring scraper plus
  // dozens of operators' mrelayctl calls; each costs at most kMaxRequestBytes of buffer.
  static constexpr size_t kMaxClients = 64;
  // Unsent reply bytes kept for a client that does not read (a stats reply is ~10 KiB per
  // 100 rules); beyond this the client is closed rather than the daemon buffering forever.
  static constexpr size_t kMaxReplyBacklog = 4u << 20;
  // A client with no traffic for this long (ms) is closed, so half-sent requests cannot hold
  // slots forever. Long enough for a human typing into socat.
  static constexpr uint64_t kClientIdleMs = 60'000;
  // An HTTP request head larger than this (bytes) is refused: GET /metrics needs ~100.
  static constexpr size_t kMaxHttpHead = 8192;

  using RequestHandler = std::function<std::string(std::string_view line)>;
  using MetricsHandler = std::function<std::string()>;

  // The limits above, as one value a test can shrink.
  struct Limits {
    size_t max_clients = kMaxClients;
    uint64_t idle_ms = kClientIdleMs;
  };

  ControlServer();
  explicit ControlServer(const Limits& limits);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Listens on a Unix stream socket at `path` with mode 0660. A stale socket file is replaced
  /// only when nothing accepts connections on it; anything else at `path` is an error.
  [[nodiscard]] Result<void> open_unix(const std::string& path);
  /// Listens for HTTP on "ADDR:PORT"; ADDR must be a loopback address (127.0.0.0/8).
  [[nodiscard]] Result<void> open_http(const std::string& address);

  /// Appends the fds to poll (listeners, then clients); service() expects the same entries at
  /// the same position, from `first` on.
  void append_pollfds(std::vector<pollfd>& fds);
  /// Accepts, reads, answers, writes and expires clients. `fds` as filled by append_pollfds
  /// and returned by poll().
  void service(const std::vector<pollfd>& fds, const RequestHandler& on_request,
               const MetricsHandler& on_metrics);

  [[nodiscard]] size_t client_count() const noexcept { return clients_.size(); }
  [[nodiscard]] uint16_t http_port() const noexcept { return http_port_; }

 private:
  enum class Kind : uint8_t { control, http };
  struct Client {
    UniqueFd fd;
    Kind kind = Kind::control;
    std::string in;
    std::string out;
    size_t out_sent = 0;
    bool close_after_write = false;
    bool closed = false;
    uint64_t last_active_ns = 0;
  };

  void accept_clients(int listener, Kind kind);
  void read_client(Client& client, const RequestHandler& on_request,
                   const MetricsHandler& on_metrics);
  void handle_http(Client& client, const MetricsHandler& on_metrics);
  void write_client(Client& client);

  Limits limits_;
  UniqueFd unix_listener_;
  UniqueFd http_listener_;
  std::string unix_path_;
  ino_t unix_inode_ = 0;  // the socket file we created, so we never unlink someone else's
  uint16_t http_port_ = 0;
  size_t first_ = 0;  // index of our first entry in the poll array
  std::vector<Client> clients_;
};

}  // namespace mrelay
