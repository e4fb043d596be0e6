// UDP ingress socket and membership sockets; see ingress_socket.h.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <iterator>
#include <utility>

#include "dataplane/ingress/ingress_socket.h"

namespace mrelay {
namespace {

std::string endpoint_text(const std::string& interface, in_addr group, uint16_t port) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &group, text, sizeof text);
  std::string result = "ingress " + interface;
  result += ':';
  result += text;
  if (port != 0) {
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on ":" + std::to_string().
    result += ':';
    result += std::to_string(port);
  }
  return result;
}

Result<void> set_flag(int fd, int level, int name, const std::string& where, const char* label) {
  const int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof one) != 0) {
    return fail_errno(where + ": setsockopt(" + label + ")");
  }
  return {};
}

// MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP: the protocol-independent joins (RFC 3678),
// which take an interface index and serve IPv4 (IGMPv3) and IPv6 (MLDv2) alike.
Result<void> join_group(int fd, unsigned ifindex, in_addr group, const std::string& where) {
  group_req request{};
  request.gr_interface = ifindex;
  auto* address = reinterpret_cast<sockaddr_in*>(&request.gr_group);
  address->sin_family = AF_INET;
  address->sin_addr = group;
  if (::setsockopt(fd, IPPROTO_IP, MCAST_JOIN_GROUP, &request, sizeof request) != 0) {
    return fail_errno(where + ": setsockopt(MCAST_JOIN_GROUP)");
  }
  return {};
}

Result<void> join_source_group(int fd, unsigned ifindex, in_addr group, in_addr source,
                               const std::string& where) {
  group_source_req request{};
  request.gsr_interface = ifindex;
  auto* group_address = reinterpret_cast<sockaddr_in*>(&request.gsr_group);
  group_address->sin_family = AF_INET;
  group_address->sin_addr = group;
  auto* source_address = reinterpret_cast<sockaddr_in*>(&request.gsr_source);
  source_address->sin_family = AF_INET;
  source_address->sin_addr = source;
  if (::setsockopt(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &request, sizeof request) != 0) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &source, text, sizeof text);
    return fail_errno(where + ": setsockopt(MCAST_JOIN_SOURCE_GROUP, source " + text + ")");
  }
  return {};
}

// The IPv6 (*,G) join: an MLD report on the interface.
Result<void> join_group6(int fd, unsigned ifindex, const in6_addr& group,
                         const std::string& where) {
  group_req request{};
  request.gr_interface = ifindex;
  auto* joined = reinterpret_cast<sockaddr_in6*>(&request.gr_group);
  joined->sin6_family = AF_INET6;
  joined->sin6_addr = group;
  if (::setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_GROUP, &request, sizeof request) != 0) {
    return fail_errno(where + ": setsockopt(MCAST_JOIN_GROUP)");
  }
  return {};
}

// The IPv6 (S,G) join: an MLDv2 report, include mode.
Result<void> join_source_group6(int fd, unsigned ifindex, const in6_addr& group,
                                const in6_addr& source, const std::string& where) {
  group_source_req request{};
  request.gsr_interface = ifindex;
  auto* group_address = reinterpret_cast<sockaddr_in6*>(&request.gsr_group);
  group_address->sin6_family = AF_INET6;
  group_address->sin6_addr = group;
  auto* source_address = reinterpret_cast<sockaddr_in6*>(&request.gsr_source);
  source_address->sin6_family = AF_INET6;
  source_address->sin6_addr = source;
  if (::setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &request, sizeof request) != 0) {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &source, text, sizeof text);
    return fail_errno(where + ": setsockopt(MCAST_JOIN_SOURCE_GROUP, source " + text + ")");
  }
  return {};
}

Result<void> join6(int fd, unsigned ifindex, const in6_addr& group,
                   const std::vector<in6_addr>& sources, const std::string& where) {
  if (sources.empty()) {
    return join_group6(fd, ifindex, group, where);
  }
  for (const in6_addr& source : sources) {
    if (auto ok = join_source_group6(fd, ifindex, group, source, where); !ok) {
      return ok;
    }
  }
  return {};
}

// (*,G) without sources, else (S,G) for each source (include mode).
Result<void> join(int fd, unsigned ifindex, in_addr group, const SourceList& sources,
                  const std::string& where) {
  if (sources.empty()) {
    return join_group(fd, ifindex, group, where);
  }
  for (const in_addr& source : sources) {
    if (auto ok = join_source_group(fd, ifindex, group, source, where); !ok) {
      return ok;
    }
  }
  return {};
}

}  // namespace

Result<UniqueFd> open_udp_ingress_socket(const std::string& interface, unsigned ifindex,
                                         in_addr group, uint16_t port, const SourceList& sources,
                                         const IngressSocketOptions& options) {
  const std::string where = endpoint_text(interface, group, port);
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET, SOCK_DGRAM)");
  }
  for (auto [name, label] :
       {std::pair{SO_REUSEADDR, "SO_REUSEADDR"}, std::pair{SO_REUSEPORT, "SO_REUSEPORT"},
        std::pair{SO_RXQ_OVFL, "SO_RXQ_OVFL"}}) {
    if (auto ok = set_flag(fd.get(), SOL_SOCKET, name, where, label); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  // The received TTL of every datagram, as a control message: copies leave with it minus one.
  if (auto ok = set_flag(fd.get(), IPPROTO_IP, IP_RECVTTL, where, "IP_RECVTTL"); !ok) {
    return tl::unexpected(ok.error());
  }
  // Only datagrams that arrived on the ingress interface.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(),
                   static_cast<socklen_t>(interface.size())) != 0) {
    return fail_errno(where + ": setsockopt(SO_BINDTODEVICE)");
  }
  // Without this a socket on port P also gets every other group joined on P by anyone.
  const int zero = 0;
  if (::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero) != 0) {
    return fail_errno(where + ": setsockopt(IP_MULTICAST_ALL)");
  }
  if (auto ok = set_receive_buffer(fd.get(), options.rcvbuf, where); !ok) {
    return tl::unexpected(ok.error());
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr = group;  // bound to the group: unicast to the same port is not taken
  address.sin_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno(where + ": bind");
  }
  if (auto ok = join(fd.get(), ifindex, group, sources, where); !ok) {
    return tl::unexpected(ok.error());
  }
  return fd;
}

Result<UniqueFd> open_udp_ingress_socket6(const std::string& interface, unsigned ifindex,
                                          const in6_addr& group, uint16_t port,
                                          const std::vector<in6_addr>& sources,
                                          const IngressSocketOptions& options) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &group, text, sizeof text);
  const std::string where = "ingress " + interface + ":[" + text + "]:" + std::to_string(port);
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET6, SOCK_DGRAM)");
  }
  const std::pair<int, int> flags[] = {{SOL_SOCKET, SO_REUSEADDR},
                                       {SOL_SOCKET, SO_REUSEPORT},
                                       {SOL_SOCKET, SO_RXQ_OVFL},
                                       {IPPROTO_IPV6, IPV6_RECVHOPLIMIT},
                                       {IPPROTO_IPV6, IPV6_V6ONLY}};
  const char* labels[] = {"SO_REUSEADDR", "SO_REUSEPORT", "SO_RXQ_OVFL", "IPV6_RECVHOPLIMIT",
                          "IPV6_V6ONLY"};
  for (size_t i = 0; i < std::size(flags); ++i) {
    if (auto ok = set_flag(fd.get(), flags[i].first, flags[i].second, where, labels[i]); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(),
                   static_cast<socklen_t>(interface.size())) != 0) {
    return fail_errno(where + ": setsockopt(SO_BINDTODEVICE)");
  }
  const int zero = 0;  // only this group on the port, as IP_MULTICAST_ALL for IPv4
  if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero) != 0) {
    return fail_errno(where + ": setsockopt(IPV6_MULTICAST_ALL)");
  }
  if (auto ok = set_receive_buffer(fd.get(), options.rcvbuf, where); !ok) {
    return tl::unexpected(ok.error());
  }
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = group;
  address.sin6_port = htons(port);
  if (IN6_IS_ADDR_MC_LINKLOCAL(&group) || IN6_IS_ADDR_MC_NODELOCAL(&group)) {
    address.sin6_scope_id = ifindex;
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno(where + ": bind");
  }
  if (auto ok = join6(fd.get(), ifindex, group, sources, where); !ok) {
    return tl::unexpected(ok.error());
  }
  return fd;
}

Result<UniqueFd> open_membership_socket6(const std::string& interface, unsigned ifindex,
                                         const in6_addr& group, const in6_addr& source) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &group, text, sizeof text);
  const std::string where = "ingress " + interface + ":[" + text + "] membership";
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET6, SOCK_DGRAM)");
  }
  std::vector<in6_addr> sources;
  if (!IN6_IS_ADDR_UNSPECIFIED(&source)) {
    sources.push_back(source);
  }
  if (auto ok = join6(fd.get(), ifindex, group, sources, where); !ok) {
    return tl::unexpected(ok.error());
  }
  return fd;
}

Result<UniqueFd> open_membership_socket(const std::string& interface, unsigned ifindex,
                                        in_addr group, in_addr source) {
  const std::string where = endpoint_text(interface, group, 0) + " membership";
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET, SOCK_DGRAM)");
  }
  SourceList sources;
  if (source.s_addr != htonl(INADDR_ANY)) {
    sources.push_back(source);
  }
  if (auto ok = join(fd.get(), ifindex, group, sources, where); !ok) {
    return tl::unexpected(ok.error());
  }
  return fd;
}

}  // namespace mrelay
