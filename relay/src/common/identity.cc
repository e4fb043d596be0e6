// Users and groups by name or number; see identity.h.
#include "common/identity.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <vector>

namespace mrelay {
namespace {

// getpwnam_r/getgrnam_r scratch size in bytes when sysconf gives no hint: NSS entries are
// short, and ERANGE doubles it anyway.
constexpr size_t kNssBufferBytes = 4096;

std::optional<uint32_t> parse_id(const std::string& text) {
  uint32_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

Result<Identity> resolve_identity(const std::string& user, const std::string& group) {
  Identity identity;
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : kNssBufferBytes);
  passwd entry{};
  passwd* found = nullptr;
  int err = 0;
  while ((err = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
         ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) {
    identity.uid = found->pw_uid;
    identity.gid = found->pw_gid;
  } else if (auto number = parse_id(user)) {
    // A numeric uid with no passwd entry (containers): its group must then be given.
    identity.uid = *number;
    if (group.empty()) {
      return fail("--group", "required with numeric --user " + user + " (no passwd entry)");
    }
  } else {
    return fail("--user", "no such user '" + user + "'", err);
  }
  if (group.empty()) {
    return identity;
  }
  auto gid = resolve_group(group, "--group");
  if (!gid) {
    return tl::unexpected(gid.error());
  }
  identity.gid = *gid;
  return identity;
}

Result<gid_t> resolve_group(const std::string& group, const std::string& where) {
  const long hint = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : kNssBufferBytes);
  struct group entry {};
  struct group* found = nullptr;
  int err = 0;
  while ((err = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
         ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (found != nullptr) {
    return found->gr_gid;
  }
  if (auto number = parse_id(group)) {
    return static_cast<gid_t>(*number);
  }
  return fail(where, "no such group '" + group + "'", err);
}

}  // namespace mrelay
