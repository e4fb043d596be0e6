// Output sockets, one connected UDP socket per output; see egress.h.
//
//   auto fd = mrelay::open_output_socket(output, if_nametoindex("veth1"), {.sndbuf = 4 << 20},
//                                        "rules[0].outputs[0]");
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "dataplane/egress/egress.h"

namespace mrelay {
namespace {

Result<void> set_int_option(int fd, int level, int name, int value, const std::string& where,
                            const char* option_name) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    return fail_errno(where + ": setsockopt(" + option_name + ")");
  }
  return {};
}

Result<void> set_send_buffer(int fd, uint32_t sndbuf, const std::string& where) {
  if (sndbuf == 0) {
    return {};
  }
  // SO_SNDBUFFORCE ignores net.core.wmem_max (needs CAP_NET_ADMIN); plain SO_SNDBUF is
  // capped by it. The kernel doubles the value either way, so pass the requested size.
  const int bytes = static_cast<int>(sndbuf);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    return set_int_option(fd, SOL_SOCKET, SO_SNDBUF, bytes, where, "SO_SNDBUF");
  }
  return {};
}

// The IPv6 output socket: as the IPv4 one, with the IPV6_ options. A link-local destination
// (fe80::/10, ff02::/16) is bound to the output interface by its scope id.
Result<UniqueFd> open_output_socket6(const Output& output, unsigned ifindex, int type,
                                     const OutputSocketOptions& options,
                                     const std::string& where) {
  UniqueFd fd(::socket(AF_INET6, type, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET6, SOCK_DGRAM)");
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, output.interface.c_str(),
                   static_cast<socklen_t>(output.interface.size())) != 0) {
    return fail_errno(where + ": setsockopt(SO_BINDTODEVICE, " + output.interface + ")");
  }
  const in6_addr& address = *output.address6;
  const int hops = output.ttl.value_or(1);  // as IPv4: a copy never leaves without its own
  const int index = static_cast<int>(ifindex);
  const std::pair<int, const char*> options6[] = {
      {IPV6_MULTICAST_IF, "IPV6_MULTICAST_IF"}, {IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS"},
      {IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP"}, {IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
      {IPV6_RECVERR, "IPV6_RECVERR"}};
  const int values[] = {index, hops, 0, hops, 1};
  for (size_t i = 0; i < std::size(options6); ++i) {
    if (auto ok = set_int_option(fd.get(), IPPROTO_IPV6, options6[i].first, values[i], where,
                                 options6[i].second);
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (auto ok = set_send_buffer(fd.get(), options.sndbuf, where); !ok) {
    return tl::unexpected(ok.error());
  }
  sockaddr_in6 dest{};
  dest.sin6_family = AF_INET6;
  dest.sin6_addr = address;
  dest.sin6_port = htons(output.port);
  if (IN6_IS_ADDR_LINKLOCAL(&address) || IN6_IS_ADDR_MC_LINKLOCAL(&address) ||
      IN6_IS_ADDR_MC_NODELOCAL(&address)) {
    dest.sin6_scope_id = ifindex;
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0) {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &address, text, sizeof text);
    return fail_errno(where + ": connect([" + text + "]:" + std::to_string(output.port) + ")");
  }
  return fd;
}

}  // namespace

Result<UniqueFd> open_output_socket(const Output& output, unsigned ifindex,
                                    const OutputSocketOptions& options, const std::string& where) {
  int type = SOCK_DGRAM | SOCK_CLOEXEC;
  if (options.non_blocking) {
    type |= SOCK_NONBLOCK;
  }
  if (output.address6) {
    return open_output_socket6(output, ifindex, type, options, where);
  }
  UniqueFd fd(::socket(AF_INET, type, 0));
  if (!fd) {
    return fail_errno(where + ": socket(AF_INET, SOCK_DGRAM)");
  }
  // Keep every copy on the configured interface, whatever the routing table says.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, output.interface.c_str(),
                   static_cast<socklen_t>(output.interface.size())) != 0) {
    return fail_errno(where + ": setsockopt(SO_BINDTODEVICE, " + output.interface + ")");
  }
  const bool multicast = IN_MULTICAST(ntohl(output.address.s_addr));
  // The socket's own TTL: a fixed TTL when the output has one (then no copy needs a control
  // message); otherwise 1, what a copy would get if it ever left without its own TTL, so such
  // a copy could not travel further than the next hop.
  const int socket_ttl = output.ttl.value_or(1);
  if (multicast) {
    ip_mreqn mreq{};
    mreq.imr_ifindex = static_cast<int>(ifindex);
    if (::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) != 0) {
      return fail_errno(where + ": setsockopt(IP_MULTICAST_IF)");
    }
    if (auto ok = set_int_option(fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, socket_ttl, where,
                                 "IP_MULTICAST_TTL");
        !ok) {
      return tl::unexpected(ok.error());
    }
    // The relay must not hear its own copies (and a local listener must not get duplicates).
    if (auto ok =
            set_int_option(fd.get(), IPPROTO_IP, IP_MULTICAST_LOOP, 0, where, "IP_MULTICAST_LOOP");
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (auto ok = set_int_option(fd.get(), IPPROTO_IP, IP_TTL, socket_ttl, where, "IP_TTL"); !ok) {
    return tl::unexpected(ok.error());
  }
  // Without IP_RECVERR the kernel reports a datagram its qdisc dropped (ENOBUFS inside
  // udp_send_skb) to the sender as sent: tx_packets would count copies that never left. With it
  // the send fails with ENOBUFS and is counted (drop_enobufs). Errors the kernel also queues on
  // the socket's error queue (ICMP for unicast outputs) are never read: that queue is bounded
  // by the socket's receive buffer, and each error still fails one send as before.
  if (auto ok = set_int_option(fd.get(), IPPROTO_IP, IP_RECVERR, 1, where, "IP_RECVERR"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (options.sndbuf != 0) {
    // SO_SNDBUFFORCE ignores net.core.wmem_max (needs CAP_NET_ADMIN); plain SO_SNDBUF is
    // capped by it. The kernel doubles the value either way, so pass the requested size.
    const int bytes = static_cast<int>(options.sndbuf);
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
      if (auto ok = set_int_option(fd.get(), SOL_SOCKET, SO_SNDBUF, bytes, where, "SO_SNDBUF");
          !ok) {
        return tl::unexpected(ok.error());
      }
    }
  }
  // A connected socket caches the route; an unconnected multicast send looks it up per packet.
  sockaddr_in dest{};
  dest.sin_family = AF_INET;
  dest.sin_addr = output.address;
  dest.sin_port = htons(output.port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &output.address, text, sizeof text);
    return fail_errno(where + ": connect(" + text + ":" + std::to_string(output.port) + ")");
  }
  return fd;
}

std::vector<uint32_t> output_payload_limits(std::span<const int> fds) {
  constexpr int kIpv4UdpHeaders = 28;
  std::vector<uint32_t> limits(fds.size(), UINT32_MAX);
  for (size_t output = 0; output < fds.size(); ++output) {
    int mtu = 0;
    socklen_t length = sizeof mtu;
    if (::getsockopt(fds[output], IPPROTO_IP, IP_MTU, &mtu, &length) == 0 &&
        mtu > kIpv4UdpHeaders) {
      limits[output] = static_cast<uint32_t>(mtu - kIpv4UdpHeaders);
    }
  }
  return limits;
}

unsigned output_socket_ifindex(int fd) noexcept {
#ifndef SO_BINDTOIFINDEX
  constexpr int SO_BINDTOIFINDEX = 62;  // Linux >= 5.0; older libc headers lack the name
#endif
  int index = 0;
  socklen_t length = sizeof index;
  if (::getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &index, &length) == 0 && index > 0) {
    return static_cast<unsigned>(index);
  }
  // Kernels before 5.7 answer only by name.
  char name[IFNAMSIZ] = {};
  length = sizeof name;
  if (::getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &length) != 0 || name[0] == '\0') {
    return 0;
  }
  return ::if_nametoindex(name);
}

std::optional<sockaddr_in> output_socket_peer(int fd) noexcept {
  sockaddr_in peer{};
  socklen_t length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 ||
      peer.sin_family != AF_INET) {
    return std::nullopt;
  }
  return peer;
}

std::optional<sockaddr_in6> output_socket_peer6(int fd) noexcept {
  sockaddr_in6 peer{};
  socklen_t length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 ||
      peer.sin6_family != AF_INET6) {
    return std::nullopt;
  }
  return peer;
}

Result<UniqueFd> open_shared_multicast_socket(uint32_t sndbuf, bool ipv6) {
  const std::string where = ipv6 ? "shared IPv6 multicast output socket"
                                 : "shared multicast output socket";
  UniqueFd fd(::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return fail_errno(where + (ipv6 ? ": socket(AF_INET6, SOCK_DGRAM)" : ": socket(AF_INET, SOCK_DGRAM)"));
  }
  // No loop-back, one hop unless a copy says otherwise, and errors (a qdisc drop) reported.
  const std::pair<int, const char*> options4[] = {{IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP"},
                                                  {IP_MULTICAST_TTL, "IP_MULTICAST_TTL"},
                                                  {IP_TTL, "IP_TTL"},
                                                  {IP_RECVERR, "IP_RECVERR"}};
  const std::pair<int, const char*> options6[] = {{IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP"},
                                                  {IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS"},
                                                  {IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
                                                  {IPV6_RECVERR, "IPV6_RECVERR"}};
  const int values[] = {0, 1, 1, 1};
  for (size_t i = 0; i < std::size(values); ++i) {
    const auto& [name, text] = ipv6 ? options6[i] : options4[i];
    if (auto ok = set_int_option(fd.get(), ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, name, values[i],
                                 where, text);
        !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (auto ok = set_send_buffer(fd.get(), sndbuf, where); !ok) {
    return tl::unexpected(ok.error());
  }
  return fd;
}

int socket_sndbuf(int fd) {
  int bytes = 0;
  socklen_t size = sizeof bytes;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, &size) != 0) {
    return -1;
  }
  return bytes;
}

bool output_socket_ipv6(int fd) noexcept {
  sockaddr_in6 local{};
  socklen_t length = sizeof local;
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
         local.sin6_family == AF_INET6;
}

bool output_socket_multicast(int fd) noexcept {
  sockaddr_in peer{};
  socklen_t peer_len = sizeof peer;
  return ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0 &&
         peer.sin_family == AF_INET && IN_MULTICAST(ntohl(peer.sin_addr.s_addr));
}

uint8_t output_socket_ttl(int fd) noexcept {
  sockaddr_in6 peer6{};
  socklen_t peer6_len = sizeof peer6;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer6), &peer6_len) == 0 &&
      peer6.sin6_family == AF_INET6) {
    int hops = 0;
    socklen_t hops_len = sizeof hops;
    const int name = peer6.sin6_addr.s6_addr[0] == 0xff ? IPV6_MULTICAST_HOPS : IPV6_UNICAST_HOPS;
    if (::getsockopt(fd, IPPROTO_IPV6, name, &hops, &hops_len) != 0 || hops < 1 || hops > 255) {
      return 0;
    }
    return static_cast<uint8_t>(hops);
  }
  sockaddr_in peer{};
  socklen_t peer_len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      peer.sin_family != AF_INET) {
    return 0;
  }
  const bool multicast = IN_MULTICAST(ntohl(peer.sin_addr.s_addr));
  int ttl = 0;
  socklen_t ttl_len = sizeof ttl;
  if (::getsockopt(fd, IPPROTO_IP, multicast ? IP_MULTICAST_TTL : IP_TTL, &ttl, &ttl_len) != 0 ||
      ttl < 1 || ttl > 255) {
    return 0;
  }
  return static_cast<uint8_t>(ttl);
}

}  // namespace mrelay
