// Error values for boundaries (config, sockets, set-up). The hot path never builds one.
//
//   mrelay::Result<int> fd = open_socket(...);
//   if (!fd) { std::fprintf(stderr, "%s\n", fd.error().to_string().c_str()); return 2; }
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace mrelay {

/// What failed and why. `where` names the config field, flag or system call
/// ("rules[0].outputs[2].group", "--queue-depth", "setsockopt(SO_SNDBUF)");
/// `sys_errno` is 0 for validation errors.
struct Error {
  std::string where;
  std::string message;
  int sys_errno = 0;

  /// "where: message (strerror)" for humans.
  [[nodiscard]] std::string to_string() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

/// Builds the unexpected value: `return fail("--batch", "must be 1..1024");`
[[nodiscard]] inline tl::unexpected<Error> fail(std::string where, std::string message,
                                                int sys_errno = 0) {
  return tl::unexpected<Error>(Error{std::move(where), std::move(message), sys_errno});
}

/// For a failed system call: captures errno. `return fail_errno("socket(AF_PACKET)");`
[[nodiscard]] tl::unexpected<Error> fail_errno(std::string operation);

}  // namespace mrelay
