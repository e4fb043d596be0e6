// Users and groups by name or number, as the operations flags take them (--user, --group,
// --control-group, --control-read-group): the lookups the privilege drop (ops/privileges.h)
// and the control socket's peer policy (control/relay_control.cc) share.
//
//   auto who = mrelay::resolve_identity("nobody", "");            // uid and primary gid
//   auto gid = mrelay::resolve_group("mrelay-admin", "--control-group");
//   // -> "--control-group: no such group 'mrelay-admin'" when there is none
#pragma once

#include <sys/types.h>

#include <string>

#include "mrelay/error.h"

namespace mrelay {

/// The identity to switch to, from user and group names (or numeric ids).
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
};
/// Resolves `user` (name or number) and `group` (empty = the user's primary group). Errors
/// name "--user" / "--group": "--user: no such user 'nobdy'".
[[nodiscard]] Result<Identity> resolve_identity(const std::string& user, const std::string& group);
/// Resolves a group name or number; errors name `where` ("--control-group: no such group 'x'").
[[nodiscard]] Result<gid_t> resolve_group(const std::string& group, const std::string& where);

}  // namespace mrelay
