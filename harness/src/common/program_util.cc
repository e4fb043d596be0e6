// Helpers shared by the harness programs (see common/program_util.h).
//
//   auto endpoint = parse_group_port("--group", "239.1.1.1:5000");
//   auto endpoint6 = parse_group_port("--group", "[ff3e::1]:5000");
#include "common/program_util.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string_view>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>


namespace mrelay::harness {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

}  // namespace

std::string IpAddress::text() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET6) {
    inet_ntop(AF_INET6, &v6, text, sizeof text);
  } else {
    inet_ntop(AF_INET, &v4, text, sizeof text);
  }
  return text;
}

bool operator==(const IpAddress& a, const IpAddress& b) {
  if (a.family != b.family) {
    return false;
  }
  return a.family == AF_INET6 ? std::memcmp(&a.v6, &b.v6, sizeof a.v6) == 0
                              : a.v4.s_addr == b.v4.s_addr;
}

std::string GroupPort::group_text() const {
  return IpAddress{.family = family, .v4 = group, .v6 = group6}.text();
}

std::string GroupPort::text() const {
  // Appended piece by piece: `"[" + std::string&&` trips GCC 12's false -Wrestrict.
  std::string text;
  if (ipv6()) {
    text += '[';
  }
  text += group_text();
  if (ipv6()) {
    text += ']';
  }
  text += ':';
  text += std::to_string(port);
  return text;
}

socklen_t GroupPort::to_sockaddr(sockaddr_storage& out) const {
  out = {};
  if (ipv6()) {
    auto* address = reinterpret_cast<sockaddr_in6*>(&out);
    address->sin6_family = AF_INET6;
    address->sin6_addr = group6;
    address->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }
  auto* address = reinterpret_cast<sockaddr_in*>(&out);
  address->sin_family = AF_INET;
  address->sin_addr = group;
  address->sin_port = htons(port);
  return sizeof(sockaddr_in);
}

bool operator==(const GroupPort& a, const GroupPort& b) {
  return a.port == b.port && IpAddress{.family = a.family, .v4 = a.group, .v6 = a.group6} ==
                                 IpAddress{.family = b.family, .v4 = b.group, .v6 = b.group6};
}

namespace {

// "[ff3e::1]:5000" -> ("ff3e::1", "5000", bracketed); "239.1.1.1:5000" -> ("239.1.1.1", ...).
struct HostPort {
  std::string host;
  std::string_view port;
  bool bracketed = false;
};

Result<HostPort> split_host_port(std::string_view flag, std::string_view text) {
  const std::string given(text);
  const std::string expected = "expected GROUP:PORT (IPv6 as [GROUP]:PORT), got '" + given + "'";
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(std::string(flag), expected);
    }
    return HostPort{std::string(text.substr(1, close - 1)), text.substr(close + 2), true};
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(std::string(flag), expected);
  }
  if (text.substr(0, colon).find(':') != std::string_view::npos) {
    const std::string host(text.substr(0, colon));
    return fail(std::string(flag),
                "an IPv6 group is written in brackets: [" + host + "]:PORT, got '" + given + "'");
  }
  return HostPort{std::string(text.substr(0, colon)), text.substr(colon + 1), false};
}

Result<uint16_t> parse_port(std::string_view flag, std::string_view port) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    const std::string given(port);
    return fail(std::string(flag), "port '" + given + "' is not 1..65535");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<GroupPort> parse_group_port(std::string_view flag, std::string_view text) {
  auto parts = split_host_port(flag, text);
  if (!parts) {
    return tl::unexpected(parts.error());
  }
  GroupPort endpoint;
  const std::string& group = parts->host;
  if (parts->bracketed) {
    endpoint.family = AF_INET6;
    if (inet_pton(AF_INET6, group.c_str(), &endpoint.group6) != 1) {
      return fail(std::string(flag), "'" + group + "' is not an IPv6 address");
    }
    if (!IN6_IS_ADDR_MULTICAST(&endpoint.group6)) {
      return fail(std::string(flag), "'" + group + "' is not a multicast group (ff00::/8)");
    }
  } else {
    if (inet_pton(AF_INET, group.c_str(), &endpoint.group) != 1) {
      return fail(std::string(flag), "'" + group + "' is not an IPv4 address");
    }
    if (!IN_MULTICAST(ntohl(endpoint.group.s_addr))) {
      return fail(std::string(flag), "'" + group + "' is not a multicast group (224.0.0.0/4)");
    }
  }
  auto port = parse_port(flag, parts->port);
  if (!port) {
    return tl::unexpected(port.error());
  }
  endpoint.port = *port;
  return endpoint;
}

Result<IpAddress> parse_ip_address(std::string_view flag, std::string_view text) {
  std::string host(text);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  IpAddress address;
  if (inet_pton(AF_INET, host.c_str(), &address.v4) == 1) {
    address.family = AF_INET;
    if (IN_MULTICAST(ntohl(address.v4.s_addr)) || address.v4.s_addr == INADDR_ANY) {
      return fail(std::string(flag), "'" + host + "' is not a unicast source address");
    }
    return address;
  }
  if (inet_pton(AF_INET6, host.c_str(), &address.v6) == 1) {
    address.family = AF_INET6;
    if (IN6_IS_ADDR_MULTICAST(&address.v6) || IN6_IS_ADDR_UNSPECIFIED(&address.v6)) {
      return fail(std::string(flag), "'" + host + "' is not a unicast source address");
    }
    return address;
  }
  const std::string given(text);
  return fail(std::string(flag), "'" + given + "' is not an IPv4 or IPv6 address");
}

Result<int> common_family(std::string_view flag, const std::vector<GroupPort>& groups) {
  const int family = groups.empty() ? AF_INET : groups.front().family;
  for (const GroupPort& group : groups) {
    if (group.family != family) {
      return fail(std::string(flag), "IPv4 and IPv6 groups mixed (" + groups.front().text() +
                                         ", " + group.text() + "): give one family per run");
    }
  }
  return family;
}

uint64_t monotonic_ns() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
}

Result<void> pin_to_cpu(uint64_t cpu) {
  if (cpu >= CPU_SETSIZE) {
    return fail("--cpu", "CPU " + std::to_string(cpu) + " is out of range");
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<int>(cpu), &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    auto error = fail_errno("--cpu: sched_setaffinity(" + std::to_string(cpu) + ")");
    return error;
  }
  return {};
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked send/recv/sleep returns EINTR promptly
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() noexcept {
  return g_stop != 0;
}

std::string errno_name(int error) {
  if (const char* known = strerrorname_np(error); known != nullptr) {
    return known;
  }
  // Appended, not `"E" + to_string()`: that form trips GCC 12's false -Wrestrict (PR 105651).
  std::string name = "E";
  name += std::to_string(error);
  return name;
}

bool is_test_interface(const std::string& interface) {
  if (interface.empty() || interface.size() >= IFNAMSIZ) {
    return false;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  ifreq request{};
  std::memcpy(request.ifr_name, interface.data(), interface.size());
  bool allowed = false;
  if (ioctl(fd, SIOCGIFFLAGS, &request) == 0 && (request.ifr_flags & IFF_LOOPBACK) != 0) {
    allowed = true;
  } else {
    ethtool_drvinfo info{};
    info.cmd = ETHTOOL_GDRVINFO;
    request.ifr_data = reinterpret_cast<char*>(&info);
    allowed = ioctl(fd, SIOCETHTOOL, &request) == 0 &&
              std::strncmp(info.driver, "veth", sizeof info.driver) == 0;
  }
  close(fd);
  return allowed;
}

}  // namespace mrelay::harness
