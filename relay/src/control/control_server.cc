// Control and metrics sockets; see control_server.h.
#include "control/control_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"
#include "control/control_framing.h"
#include "control/control_protocol.h"
#include "control/stats_json.h"
#include "mrelay/config.h"

namespace mrelay {
namespace {

// Pending connections the kernel queues before accept(): 50 clients connecting at once fit.
constexpr int kListenBacklog = 128;
// Bytes read per recv() call.
constexpr size_t kReadChunk = 16384;

}  // namespace

ControlServer::ControlServer() : ControlServer(Limits{}) {}

ControlServer::ControlServer(const Limits& limits) : limits_(limits) {}

ControlServer::~ControlServer() {
  if (!unix_path_.empty()) {
    struct stat info {};
    // Remove the socket file only if it is still ours (not replaced by another daemon).
    if (::lstat(unix_path_.c_str(), &info) == 0 && S_ISSOCK(info.st_mode) &&
        info.st_ino == unix_inode_) {
      ::unlink(unix_path_.c_str());
    }
  }
}

Result<void> ControlServer::open_unix(const std::string& path, mode_t mode) {
  const std::string where = "--control-socket " + path;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return fail(where,
                "path must be 1.." + std::to_string(sizeof address.sun_path - 1) + " characters");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size());
  struct stat info {};
  if (::lstat(path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) {
      return fail(where, "exists and is not a socket (not replaced)");
    }
    // A live daemon answers connect(); a stale file from a crash refuses (ECONNREFUSED).
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe &&
        ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      return fail(where, "another process is listening on it");
    }
    if (::unlink(path.c_str()) != 0) {
      return fail_errno(where + ": unlink(stale socket)");
    }
    log_message(LogLevel::info, "control socket " + path + ": replaced a stale socket file");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_UNIX)");
  }
  // The file is created by bind() with the umask applied: make it `mode` at most from the
  // start, so there is no moment where others could connect, then chmod in case the umask was
  // odd.
  const mode_t old_mask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    return fail(where, "bind failed", bind_errno);
  }
  if (::chmod(path.c_str(), mode) != 0 || ::lstat(path.c_str(), &info) != 0) {
    const int saved = errno;
    ::unlink(path.c_str());
    return fail(where, "chmod failed", saved);
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    const int saved = errno;
    ::unlink(path.c_str());
    return fail(where, "listen failed", saved);
  }
  unix_listener_ = std::move(fd);
  unix_path_ = path;
  unix_inode_ = info.st_ino;
  return {};
}

Result<void> ControlServer::open_http(const std::string& text) {
  const std::string where = "--metrics-listen";
  auto endpoint = parse_metrics_listen(text, where);
  if (!endpoint) {
    return tl::unexpected(endpoint.error());
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET, SOCK_STREAM)");
  }
  const int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in bind_address{};
  bind_address.sin_family = AF_INET;
  bind_address.sin_addr = endpoint->address;
  bind_address.sin_port = htons(endpoint->port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&bind_address), sizeof bind_address) !=
      0) {
    return fail_errno(where + " " + text + ": bind");
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    return fail_errno(where + " " + text + ": listen");
  }
  socklen_t size = sizeof bind_address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bind_address), &size);
  http_port_ = ntohs(bind_address.sin_port);
  http_listener_ = std::move(fd);
  return {};
}

void ControlServer::append_pollfds(std::vector<pollfd>& fds) {
  first_ = fds.size();
  fds.push_back(pollfd{unix_listener_ ? unix_listener_.get() : -1, POLLIN, 0});
  fds.push_back(pollfd{http_listener_ ? http_listener_.get() : -1, POLLIN, 0});
  for (const Client& client : clients_) {
    short events = client.close_after_write ? 0 : POLLIN;
    if (client.out_sent < client.out.size()) {
      events |= POLLOUT;
    }
    fds.push_back(pollfd{client.fd.get(), events, 0});
  }
}

void ControlServer::service(const std::vector<pollfd>& fds, const RequestHandler& on_request,
                            const MetricsHandler& on_metrics) {
  // Clients first: indices in `fds` refer to clients_ as it was when append_pollfds() ran.
  const uint64_t now = monotonic_ns();
  const size_t known = std::min(clients_.size(), fds.size() - std::min(fds.size(), first_ + 2));
  for (size_t i = 0; i < known; ++i) {
    Client& client = clients_[i];
    const short revents = fds[first_ + 2 + i].revents;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      read_client(client, on_request, on_metrics);
    }
    if (!client.closed && client.out_sent < client.out.size()) {
      write_client(client);
    }
    if (!client.closed && client.close_after_write && client.out_sent >= client.out.size()) {
      client.closed = true;
    }
  }
  // Deadlines: absolute, whatever the client sent meanwhile (clients accepted since the poll
  // have theirs in the future).
  for (Client& client : clients_) {
    if (!client.closed && now > client.deadline_ns) {
      ++counters_->client_deadline_closes;
      log_message(LogLevel::debug, std::string(client.kind == Kind::http ? "metrics" : "control") +
                                       ": closing a client past its deadline (" +
                                       std::to_string(client.kind == Kind::http ? limits_.http_ms
                                                                                : limits_.idle_ms) +
                                       " ms)");
      client.closed = true;
    }
  }
  clients_.erase(std::remove_if(clients_.begin(), clients_.end(),
                                [](const Client& client) { return client.closed; }),
                 clients_.end());
  if (fds.size() > first_ + 1) {
    if ((fds[first_].revents & POLLIN) != 0) {
      accept_clients(unix_listener_.get(), Kind::control);
    }
    if ((fds[first_ + 1].revents & POLLIN) != 0) {
      accept_clients(http_listener_.get(), Kind::http);
    }
  }
}

std::optional<ControlRole> role_for_peer(uid_t uid, std::span<const gid_t> groups, uid_t own_uid,
                                         const ControlServer::PeerPolicy& policy) {
  if (uid == 0 || uid == own_uid) {
    return ControlRole::full;
  }
  const auto member = [&groups](const std::optional<gid_t>& group) {
    return group && std::find(groups.begin(), groups.end(), *group) != groups.end();
  };
  if (member(policy.control_group)) {
    return ControlRole::full;
  }
  if (member(policy.read_group)) {
    return ControlRole::read_only;
  }
  return std::nullopt;
}

std::optional<ControlRole> ControlServer::peer_role(int fd, std::string& who) const {
  ucred peer{};
  socklen_t size = sizeof peer;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
    who = std::string("a peer whose credentials cannot be read (") + std::strerror(errno) + ")";
    return std::nullopt;
  }
  who = "uid " + std::to_string(peer.uid) + " gid " + std::to_string(peer.gid) + " (pid " +
        std::to_string(peer.pid) + ")";
  // The primary group, then every supplementary group (Linux 4.13+; without it the primary
  // group alone decides).
  std::vector<gid_t> groups{peer.gid};
  if (policy_.control_group || policy_.read_group) {
    std::vector<gid_t> extra(64);
    socklen_t bytes = static_cast<socklen_t>(extra.size() * sizeof(gid_t));
    int got = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, extra.data(), &bytes);
    if (got != 0 && errno == ERANGE) {
      extra.resize(bytes / sizeof(gid_t));
      got = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, extra.data(), &bytes);
    }
    if (got == 0) {
      groups.insert(groups.end(), extra.begin(), extra.begin() + bytes / sizeof(gid_t));
    }
  }
  return role_for_peer(peer.uid, groups, ::geteuid(), policy_);
}

void ControlServer::refuse(int fd, Kind kind, const std::string& why, uint64_t now) {
  // Best effort, non-blocking: a short line always fits an empty socket buffer.
  const std::string reply =
      kind == Kind::http
          ? std::string("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n")
          : error_reply(Error{"connection", why}) + "\n";
  (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  refusal_log_.log(
      now, LogLevel::warn,
      std::string(kind == Kind::http ? "metrics" : "control") + ": refused a connection: " + why);
}

void ControlServer::accept_clients(int listener, Kind kind) {
  const size_t limit = kind == Kind::http ? limits_.http_clients : limits_.control_clients;
  // Everything queued, but bounded: the backlog is at most kListenBacklog.
  for (int i = 0; i < kListenBacklog; ++i) {
    UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      return;  // EAGAIN: nothing more queued (or a transient error; poll() will say)
    }
    const uint64_t now = monotonic_ns();
    ControlRole role = ControlRole::full;
    if (kind == Kind::control) {
      std::string who;
      const std::optional<ControlRole> granted = peer_role(fd.get(), who);
      if (!granted) {
        ++counters_->control_peer_refused;
        refuse(fd.get(), kind,
               who + ": not root, not the relay's uid " + std::to_string(::geteuid()) +
                   ", not in --control-group or --control-read-group",
               now);
        continue;
      }
      role = *granted;
    }
    const size_t taken = static_cast<size_t>(
        std::count_if(clients_.begin(), clients_.end(),
                      [kind](const Client& client) { return client.kind == kind; }));
    if (taken >= limit) {
      ++(kind == Kind::http ? counters_->metrics_busy_refused : counters_->control_busy_refused);
      refuse(fd.get(), kind, "too many clients (limit " + std::to_string(limit) + ")", now);
      continue;
    }
    Client client;
    client.fd = std::move(fd);
    client.kind = kind;
    client.role = role;
    client.deadline_ns = now + (kind == Kind::http ? limits_.http_ms : limits_.idle_ms) * 1000000u;
    clients_.push_back(std::move(client));
  }
}

void ControlServer::read_client(Client& client, const RequestHandler& on_request,
                                const MetricsHandler& on_metrics) {
  if (client.close_after_write) {
    return;
  }
  char chunk[kReadChunk];
  const ssize_t got = ::recv(client.fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
    // Gone, possibly mid-request: whatever it sent without a newline is dropped unanswered.
    client.closed = true;
    return;
  }
  if (got < 0) {
    return;
  }
  client.in.append(chunk, static_cast<size_t>(got));
  if (client.kind == Kind::http) {
    handle_http(client, on_metrics);
    return;
  }
  // Every complete line is answered now: the work is bounded by one kReadChunk per call. Each
  // answered request moves the client's deadline; bytes alone never do.
  const Framing framing =
      take_request_lines(client.in, kMaxRequestBytes, [&](std::string_view line) {
        client.out += on_request(line, client.role);
        client.out += '\n';
        client.deadline_ns = monotonic_ns() + limits_.idle_ms * 1000000u;
      });
  if (framing == Framing::too_large) {
    client.out += error_reply(Error{"request", "request too large (limit " +
                                                   std::to_string(kMaxRequestBytes) +
                                                   " bytes per line); closing"});
    client.out += '\n';
    client.close_after_write = true;
  }
  if (client.out.size() - client.out_sent > kMaxReplyBacklog) {
    log_message(LogLevel::warn, "control: closing a client that does not read its replies");
    client.closed = true;
  }
}

void ControlServer::handle_http(Client& client, const MetricsHandler& on_metrics) {
  std::string status;
  std::string body;
  switch (parse_http_head(client.in, kMaxHttpHead)) {
    case HttpVerdict::incomplete:
      return;
    case HttpVerdict::too_large:
      client.out = "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n";
      client.in.clear();
      client.close_after_write = true;
      return;
    case HttpVerdict::bad_method:
      status = "405 Method Not Allowed";
      body = "only GET /metrics\n";
      break;
    case HttpVerdict::not_found:
      status = "404 Not Found";
      body = "metrics are at /metrics\n";
      break;
    case HttpVerdict::metrics:
      status = "200 OK";
      body = on_metrics();
      break;
  }
  client.out = "HTTP/1.1 " + status +
               "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  client.in.clear();
  client.close_after_write = true;
}

void ControlServer::write_client(Client& client) {
  while (client.out_sent < client.out.size()) {
    const ssize_t sent = ::send(client.fd.get(), client.out.data() + client.out_sent,
                                client.out.size() - client.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        client.closed = true;  // EPIPE/ECONNRESET: the reader left
      }
      return;
    }
    client.out_sent += static_cast<size_t>(sent);
  }
  client.out.clear();
  client.out_sent = 0;
}

}  // namespace mrelay
