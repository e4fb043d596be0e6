// Small pieces shared by mrelay-gen, mrelay-sink and mrelay-perfstat: flag parsing with
// errors that name the flag, GROUP:PORT endpoints (IPv4, or IPv6 in brackets), the monotonic clock, CPU pinning, stop
// signals and errno names.
//
//   mrelay::harness::FlagReader flags(argc, argv);
//   while (flags.next()) {
//     if (flags.is("--size")) { auto v = flags.uint_value(32, 65507); if (!v) return fail(v); }
//   }
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

/// Walks argv as "--flag value" or "--flag=value". Values are read with the typed getters,
/// which name the flag in their errors.
class FlagReader {
 public:
  FlagReader(int argc, const char* const* argv) : argc_(argc), argv_(argv) {}

  /// Advances to the next flag; false at the end.
  bool next();
  [[nodiscard]] bool is(std::string_view name) const { return name_ == name; }
  [[nodiscard]] const std::string& name() const { return name_; }
  /// The flag's value (the next argv entry unless given inline with '=').
  [[nodiscard]] Result<std::string> text_value();
  [[nodiscard]] Result<uint64_t> uint_value(uint64_t min, uint64_t max);
  [[nodiscard]] Result<double> double_value(double min, double max);
  /// Errors for flags that take no value but were given one inline.
  [[nodiscard]] Result<void> no_value() const;

 private:
  int argc_;
  const char* const* argv_;
  int index_ = 0;
  std::string name_;
  std::string inline_value_;
  bool has_inline_ = false;
};

/// When an argument is exactly --version: prints "<program> <the project's version>" and
/// returns true (the caller exits 0). Every rig program answers --version the same way.
[[nodiscard]] bool print_version_if_asked(int argc, char** argv, const char* program);

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
