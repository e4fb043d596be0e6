// sd_notify(3)'s datagram protocol; see service_notify.h.
#include "common/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "common/unique_fd.h"

namespace mrelay {

ServiceNotifier ServiceNotifier::from_environment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  return ServiceNotifier(path != nullptr ? path : "");
}

Result<void> ServiceNotifier::send(std::string_view state) const {
  if (!enabled()) {
    return {};
  }
  const std::string where = "NOTIFY_SOCKET " + path_;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // A path, or "@name" for the abstract namespace (a leading NUL byte instead of '@').
  if ((path_[0] != '/' && path_[0] != '@') || path_.size() >= sizeof address.sun_path) {
    return fail(where, "not an absolute path or @abstract name of at most " +
                           std::to_string(sizeof address.sun_path - 1) + " bytes");
  }
  std::memcpy(address.sun_path, path_.data(), path_.size());
  if (path_[0] == '@') {
    address.sun_path[0] = '\0';
  }
  const socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() +
                                                  (path_[0] == '@' ? 0 : 1));
  const UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail(where, std::string("socket: ") + std::strerror(errno));
  }
  if (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&address), length) < 0) {
    return fail(where, std::string("sendto: ") + std::strerror(errno));
  }
  return {};
}

void ServiceNotifier::send_or_log(const std::string& state) const {
  if (auto sent = send(state); !sent) {
    log_message(LogLevel::warn, "service manager notification: " + sent.error().to_string());
  }
}

void ServiceNotifier::ready(std::string_view status) const {
  send_or_log("READY=1\nSTATUS=" + std::string(status) + "\n");
}

void ServiceNotifier::reloading(uint64_t monotonic_ns) const {
  send_or_log(reloading_message(monotonic_ns));
}

void ServiceNotifier::stopping() const {
  send_or_log("STOPPING=1\nSTATUS=stopping: draining in-flight sends\n");
}

std::string reloading_message(uint64_t monotonic_ns) {
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_ns / 1000) + "\n";
}

}  // namespace mrelay
