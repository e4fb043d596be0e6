#include "mrelay/error.h"

#include <cerrno>
#include <cstring>

namespace mrelay {

std::string Error::to_string() const {
  std::string text = where.empty() ? message : where + ": " + message;
  if (sys_errno != 0) {
    text += " (";
    text += std::strerror(sys_errno);
    text += ")";
  }
  return text;
}

tl::unexpected<Error> fail_errno(std::string operation) {
  const int saved = errno;
  return tl::unexpected<Error>(Error{std::move(operation), "failed", saved});
}

}  // namespace mrelay
