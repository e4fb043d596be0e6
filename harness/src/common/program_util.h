// Small pieces shared by mrelay-gen, mrelay-sink and mrelay-perfstat: flag parsing with
// errors that name the flag, GROUP:PORT endpoints, the monotonic clock, CPU pinning, stop
// signals and errno names.
//
//   mrelay::harness::FlagReader flags(argc, argv);
//   while (flags.next()) {
//     if (flags.is("--size")) { auto v = flags.uint_value(32, 65507); if (!v) return fail(v); }
//   }
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
