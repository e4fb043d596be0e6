// Helpers shared by the harness programs (see common/program_util.h).
//
//   auto endpoint = parse_group_port("--group", "239.1.1.1:5000");
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

std::string GroupPort::group_text() const {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &group, text, sizeof text);
  return text;
}

Result<GroupPort> parse_group_port(std::string_view flag, std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(std::string(flag), "expected GROUP:PORT, got '" + std::string(text) + "'");
  }
  GroupPort endpoint;
  const std::string group(text.substr(0, colon));
  if (inet_pton(AF_INET, group.c_str(), &endpoint.group) != 1) {
    return fail(std::string(flag), "'" + group + "' is not an IPv4 address");
  }
  if (!IN_MULTICAST(ntohl(endpoint.group.s_addr))) {
    return fail(std::string(flag), "'" + group + "' is not a multicast group (224.0.0.0/4)");
  }
  const std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return fail(std::string(flag), "port '" + std::string(port) + "' is not 1..65535");
  }
  endpoint.port = static_cast<uint16_t>(value);
  return endpoint;
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
