// Small pieces shared by mrelay-gen, mrelay-sink and mrelay-perfstat: GROUP:PORT endpoints
// (IPv4, or IPv6 in brackets), the monotonic clock, CPU pinning, stop signals and errno names.
// Flags are read by the parser every program shares (mrelay/cli.h).
//
//   auto endpoint = mrelay::harness::parse_group_port("--group", "239.1.1.1:5000");
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"

namespace mrelay::harness {

/// An IPv4 or IPv6 address (e.g. a source for a source-specific join).
struct IpAddress {
  int family = AF_INET;
  in_addr v4{};   // AF_INET, network byte order
  in6_addr v6{};  // AF_INET6
  [[nodiscard]] std::string text() const;
  friend bool operator==(const IpAddress& a, const IpAddress& b);
};

/// A multicast destination from "GROUP:PORT": "239.1.1.1:5000" or, IPv6 in brackets,
/// "[ff3e::1]:5000".
struct GroupPort {
  int family = AF_INET;  // AF_INET: `group`; AF_INET6: `group6`
  in_addr group{};       // network byte order
  in6_addr group6{};
  uint16_t port = 0;     // host byte order
  [[nodiscard]] bool ipv6() const { return family == AF_INET6; }
  /// "239.1.1.1" or "ff3e::1".
  [[nodiscard]] std::string group_text() const;
  /// "239.1.1.1:5000" or "[ff3e::1]:5000": what parse_group_port reads back.
  [[nodiscard]] std::string text() const;
  /// The group as a socket address with the port; returns its length.
  socklen_t to_sockaddr(sockaddr_storage& out) const;
  friend bool operator==(const GroupPort& a, const GroupPort& b);
};

/// Parses "GROUP:PORT"; an IPv4 group must be multicast (224.0.0.0/4), an IPv6 group is
/// written in brackets and must be multicast (ff00::/8); the port is 1..65535. Errors name
/// `flag` and say which part is wrong.
[[nodiscard]] Result<GroupPort> parse_group_port(std::string_view flag, std::string_view text);

/// Parses a unicast IPv4 or IPv6 address (brackets optional for IPv6); errors name `flag`.
[[nodiscard]] Result<IpAddress> parse_ip_address(std::string_view flag, std::string_view text);

/// The one address family of `groups` (AF_INET or AF_INET6), or an error naming `flag` when
/// they mix families (one socket sends or receives one family).
[[nodiscard]] Result<int> common_family(std::string_view flag,
                                        const std::vector<GroupPort>& groups);

/// CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall): the clock payload send times use.
[[nodiscard]] uint64_t monotonic_ns() noexcept;

/// Pins the calling thread to one CPU; errors name --cpu.
[[nodiscard]] Result<void> pin_to_cpu(uint64_t cpu);

/// Installs SIGINT/SIGTERM handlers (without SA_RESTART, so blocking calls return EINTR)
/// that set the flag returned by stop_requested().
void install_stop_handlers();
[[nodiscard]] bool stop_requested() noexcept;

/// "ENOBUFS" for ENOBUFS; "E<number>" for unknown values.
[[nodiscard]] std::string errno_name(int error);

/// True when `interface` is loopback or a veth (ethtool driver "veth"): the only places test
/// traffic may go. The generator refuses any other interface unless explicitly overridden, so
/// a mistyped or missing namespace never sends test multicast onto a real network.
[[nodiscard]] bool is_test_interface(const std::string& interface);

}  // namespace mrelay::harness
