// Test helper: runs a function in a forked child inside its own network namespace, whose
// loopback is brought up with MULTICAST, so a test can send real multicast without touching
// the host's interfaces (the namespace goes away with the child).
//
//   TEST(Worker, Loop) {
//     MRELAY_EXPECT_IN_PRIVATE_NETNS([] { ...; return ""; });   // skips on "SKIP: why"
//   }
//   std::string result = mrelay::testing::run_in_private_netns([] { ...; return ""; });
//
// The function returns "" on success, "SKIP: why" or a failure description. Header-only and
// test-only (not part of mrelay_core).
//
// Inside the body, create_veth_pair() adds a veth pair (rtnetlink, no iproute2 needed) and
// interface_up() / add_ipv4_address() / write_sysctl() configure it; all of it lives and dies
// with the private namespace.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "common/unique_fd.h"

namespace mrelay::testing {

inline std::string run_in_private_netns(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) {
    return "pipe failed";
  }
  const pid_t child = ::fork();
  if (child < 0) {
    return "fork failed";
  }
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::unshare(CLONE_NEWNET) != 0) {
      result = std::string("SKIP: unshare(CLONE_NEWNET): ") + std::strerror(errno);
    } else {
      UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
      ifreq request{};
      std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
      if (::ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) {
        result = "SIOCGIFFLAGS lo failed";
      } else {
        request.ifr_flags |= IFF_UP | IFF_MULTICAST;
        result =
            ::ioctl(control.get(), SIOCSIFFLAGS, &request) != 0 ? "SIOCSIFFLAGS lo failed" : body();
      }
    }
    (void)!::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char chunk[256];
  ssize_t len;
  while ((len = ::read(pipe_fds[0], chunk, sizeof chunk)) > 0) {
    result.append(chunk, static_cast<size_t>(len));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child crashed (status " + std::to_string(status) + ")";
  }
  return result;
}

namespace detail {

// Appends one rtnetlink attribute to the message in `buffer` (nlmsghdr first); returns it so a
// nested attribute's length can be fixed once its contents are appended.
inline rtattr* add_attribute(char* buffer, size_t capacity, unsigned short type, const void* data,
                             size_t len) {
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  const size_t at = NLMSG_ALIGN(header->nlmsg_len);
  if (at + RTA_SPACE(len) > capacity) {
    return nullptr;
  }
  auto* attribute = reinterpret_cast<rtattr*>(buffer + at);
  attribute->rta_type = type;
  attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  if (len > 0) {
    std::memcpy(RTA_DATA(attribute), data, len);
  }
  header->nlmsg_len = static_cast<uint32_t>(at + RTA_SPACE(len));
  return attribute;
}

inline void end_nest(char* buffer, rtattr* nest) {
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  nest->rta_len =
      static_cast<unsigned short>(buffer + header->nlmsg_len - reinterpret_cast<char*>(nest));
}

}  // namespace detail

/// Creates the veth pair `name` <-> `peer` (RTM_NEWLINK). "" on success, else why not.
inline std::string create_veth_pair(const std::string& name, const std::string& peer) {
  UniqueFd socket(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!socket) {
    return std::string("socket(NETLINK_ROUTE): ") + std::strerror(errno);
  }
  alignas(nlmsghdr) char buffer[512] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  header->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  header->nlmsg_type = RTM_NEWLINK;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  reinterpret_cast<ifinfomsg*>(NLMSG_DATA(header))->ifi_family = AF_UNSPEC;
  using detail::add_attribute;
  add_attribute(buffer, sizeof buffer, IFLA_IFNAME, name.c_str(), name.size() + 1);
  rtattr* info = add_attribute(buffer, sizeof buffer, IFLA_LINKINFO, nullptr, 0);
  add_attribute(buffer, sizeof buffer, IFLA_INFO_KIND, "veth", 4);
  rtattr* data = add_attribute(buffer, sizeof buffer, IFLA_INFO_DATA, nullptr, 0);
  const ifinfomsg peer_info{};  // the peer's attributes follow its own ifinfomsg
  rtattr* peer_nest =
      add_attribute(buffer, sizeof buffer, VETH_INFO_PEER, &peer_info, sizeof peer_info);
  if (add_attribute(buffer, sizeof buffer, IFLA_IFNAME, peer.c_str(), peer.size() + 1) == nullptr) {
    return "netlink message too long";
  }
  detail::end_nest(buffer, peer_nest);
  detail::end_nest(buffer, data);
  detail::end_nest(buffer, info);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(socket.get(), buffer, header->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return std::string("RTM_NEWLINK send: ") + std::strerror(errno);
  }
  alignas(nlmsghdr) char reply[1024];
  const ssize_t got = ::recv(socket.get(), reply, sizeof reply, 0);
  const auto* answer = reinterpret_cast<const nlmsghdr*>(reply);
  if (got < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) ||
      answer->nlmsg_type != NLMSG_ERROR) {
    return "RTM_NEWLINK: no acknowledgement";
  }
  const int error = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(answer))->error;
  return error == 0 ? "" : std::string("RTM_NEWLINK veth: ") + std::strerror(-error);
}

/// Sets IFF_UP (and IFF_MULTICAST) on an interface. "" on success.
inline std::string interface_up(const std::string& name) {
  UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) {
    return "SIOCGIFFLAGS " + name + ": " + std::strerror(errno);
  }
  request.ifr_flags |= IFF_UP | IFF_MULTICAST;
  if (::ioctl(control.get(), SIOCSIFFLAGS, &request) != 0) {
    return "SIOCSIFFLAGS " + name + ": " + std::strerror(errno);
  }
  return "";
}

/// IF_OPER_UP of linux/if.h (which cannot be included beside net/if.h).
inline constexpr int kOperUp = 6;

/// An interface's RFC 2863 operational state (IFLA_OPERSTATE, kOperUp when up), or -1.
inline int operstate(const std::string& name) {
  UniqueFd socket(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  alignas(nlmsghdr) char buffer[256] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  header->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  header->nlmsg_type = RTM_GETLINK;
  header->nlmsg_flags = NLM_F_REQUEST;
  auto* info = reinterpret_cast<ifinfomsg*>(NLMSG_DATA(header));
  info->ifi_family = AF_UNSPEC;
  info->ifi_index = static_cast<int>(::if_nametoindex(name.c_str()));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (!socket || info->ifi_index == 0 ||
      ::sendto(socket.get(), buffer, header->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return -1;
  }
  alignas(nlmsghdr) char reply[4096];
  const ssize_t got = ::recv(socket.get(), reply, sizeof reply, 0);
  const auto* answer = reinterpret_cast<const nlmsghdr*>(reply);
  if (got <= 0 || !NLMSG_OK(answer, static_cast<unsigned>(got)) ||
      answer->nlmsg_type != RTM_NEWLINK) {
    return -1;
  }
  auto* link = reinterpret_cast<const ifinfomsg*>(NLMSG_DATA(answer));
  int length = static_cast<int>(IFLA_PAYLOAD(answer));
  for (auto* attribute = IFLA_RTA(link); RTA_OK(attribute, length);
       attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == IFLA_OPERSTATE) {
      return *static_cast<const uint8_t*>(RTA_DATA(attribute));
    }
  }
  return -1;
}

/// Waits (up to 5 s) until an interface is operationally up. A veth gets its carrier when both
/// ends are up, but the kernel applies it later (linkwatch), and until then the device drops
/// whatever is sent through it while the send reports success. "" once up.
inline std::string interface_running(const std::string& name) {
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 10) {
    if (operstate(name) == kOperUp) {
      return "";
    }
    ::usleep(10 * 1000);
  }
  return name + ": not operationally up 5 s after it was brought up";
}

/// Gives an interface the IPv4 address `address` (a /24). "" on success.
inline std::string add_ipv4_address(const std::string& name, const char* address) {
  UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  auto* inet = reinterpret_cast<sockaddr_in*>(&request.ifr_addr);
  inet->sin_family = AF_INET;
  ::inet_pton(AF_INET, address, &inet->sin_addr);
  if (::ioctl(control.get(), SIOCSIFADDR, &request) != 0) {
    return "SIOCSIFADDR " + name + ": " + std::strerror(errno);
  }
  inet = reinterpret_cast<sockaddr_in*>(&request.ifr_netmask);
  inet->sin_family = AF_INET;
  ::inet_pton(AF_INET, "255.255.255.0", &inet->sin_addr);
  if (::ioctl(control.get(), SIOCSIFNETMASK, &request) != 0) {
    return "SIOCSIFNETMASK " + name + ": " + std::strerror(errno);
  }
  return "";
}

/// Writes `value` to /proc/sys/`key` (the calling thread's network namespace). "" on success.
inline std::string write_sysctl(const std::string& key, const std::string& value) {
  const std::string path = "/proc/sys/" + key;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return path + ": " + std::strerror(errno);
  }
  return "";
}

}  // namespace mrelay::testing

/// In a gtest test body: runs the function (a lambda may hold commas) in a private network
/// namespace, skips the test when it returns "SKIP: why", and otherwise expects "".
#define MRELAY_EXPECT_IN_PRIVATE_NETNS(...)                                                       \
  do {                                                                                            \
    const std::string mrelay_netns_result = ::mrelay::testing::run_in_private_netns(__VA_ARGS__); \
    if (mrelay_netns_result.rfind("SKIP: ", 0) == 0) {                                            \
      GTEST_SKIP() << mrelay_netns_result.substr(6);                                              \
    }                                                                                             \
    EXPECT_EQ(mrelay_netns_result, "");                                                           \
  } while (false)
