// Small pieces shared by mrelay-gen, mrelay-sink and mrelay-perfstat: GROUP:PORT endpoints,
// the monotonic clock, CPU pinning, stop signals and errno names. Flags are read by the
// parser every program shares (mrelay/cli.h).
//
//   auto endpoint = mrelay::harness::parse_group_port("--group", "239.1.1.1:5000");
#pragma once

#include <netinet/in.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>

#include "mrelay/error.h"

namespace mrelay::harness {

/// A multicast destination from "GROUP:PORT" (e.g. "239.1.1.1:5000").
struct GroupPort {
  in_addr group{};    // network byte order
  uint16_t port = 0;  // host byte order
  [[nodiscard]] std::string group_text() const;
  friend bool operator==(const GroupPort& a, const GroupPort& b) {
    return a.group.s_addr == b.group.s_addr && a.port == b.port;
  }
};

/// Parses "GROUP:PORT"; the group must be IPv4 multicast (224.0.0.0/4), the port 1..65535.
[[nodiscard]] Result<GroupPort> parse_group_port(std::string_view flag, std::string_view text);

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
