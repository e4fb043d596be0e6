// Privilege drop; see privileges.h. Raw capget/capset and prctl: no libcap needed for the
// handful of calls, and the kernel's own ABI is what the test reads back from /proc.
#include "ops/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

namespace mrelay {
namespace {

// Names of the capabilities this file talks about; others print as "cap_N".
struct CapabilityName {
  int number;
  std::string_view name;
};
constexpr std::array kCapabilityNames = {
    CapabilityName{CAP_NET_RAW, "cap_net_raw"},   CapabilityName{CAP_NET_ADMIN, "cap_net_admin"},
    CapabilityName{CAP_SETUID, "cap_setuid"},     CapabilityName{CAP_SETGID, "cap_setgid"},
    CapabilityName{CAP_SETPCAP, "cap_setpcap"},   CapabilityName{CAP_SYS_ADMIN, "cap_sys_admin"},
    CapabilityName{CAP_IPC_LOCK, "cap_ipc_lock"}, CapabilityName{CAP_SYS_NICE, "cap_sys_nice"},
    CapabilityName{CAP_BPF, "cap_bpf"},
};

constexpr CapabilityMask bit(int capability) {
  return CapabilityMask{1} << capability;
}

// Highest capability number the running kernel knows (CAP_LAST_CAP of the kernel, which may
// be newer than our headers).
int last_capability() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  if (in >> last && last >= 0 && last < 64) {
    return last;
  }
  return CAP_LAST_CAP;
}

// Threads of this process, from /proc/self/status; 0 when unknown.
int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      return std::atoi(line.c_str() + 8);
    }
  }
  return 0;
}

Result<void> set_capabilities(const CapabilitySets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  for (int word = 0; word < 2; ++word) {
    data[word].effective = static_cast<uint32_t>(sets.effective >> (32 * word));
    data[word].permitted = static_cast<uint32_t>(sets.permitted >> (32 * word));
    data[word].inheritable = static_cast<uint32_t>(sets.inheritable >> (32 * word));
  }
  if (::syscall(SYS_capset, &header, data.data()) != 0) {
    return fail_errno("capset");
  }
  return {};
}

}  // namespace

CapabilityMask runtime_capabilities(IngressMode ingress) noexcept {
  switch (ingress) {
    case IngressMode::packet:
      return bit(CAP_NET_RAW);
    case IngressMode::xdp:
      // A rule change may open a socket on another interface: AF_XDP needs CAP_NET_RAW, the
      // map and program CAP_BPF, attaching them CAP_NET_ADMIN, and the UMEM's pinned pages
      // CAP_IPC_LOCK (else they count against RLIMIT_MEMLOCK).
      return bit(CAP_NET_RAW) | bit(CAP_NET_ADMIN) | bit(CAP_BPF) | bit(CAP_IPC_LOCK);
    case IngressMode::udp:
      break;
  }
  return 0;
}

CapabilityMask runtime_capabilities(const Config& config) noexcept {
  CapabilityMask keep = runtime_capabilities(config.ingress);
  // The packet egress opens its AF_PACKET socket on the worker thread, after the drop, and
  // again whenever a rule change rebuilds the egress (Worker::apply_update, dataplane/worker.cc).
  if (config.egress.backend == EgressBackend::packet) {
    keep |= bit(CAP_NET_RAW);
  }
  // --rt-priority: each worker sets SCHED_FIFO on itself when its thread starts.
  if (config.rt_priority > 0) {
    keep |= bit(CAP_SYS_NICE);
  }
  return keep;
}

std::string describe_capabilities(CapabilityMask mask) {
  if (mask == 0) {
    return "none";
  }
  std::string text;
  for (int capability = 0; capability < 64; ++capability) {
    if ((mask & bit(capability)) == 0) {
      continue;
    }
    if (!text.empty()) {
      text += ',';
    }
    std::string name = "cap_" + std::to_string(capability);
    for (const CapabilityName& known : kCapabilityNames) {
      if (known.number == capability) {
        name = std::string(known.name);
      }
    }
    text += name;
  }
  return text;
}

Result<CapabilitySets> current_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) {
    return fail_errno("capget");
  }
  CapabilitySets sets;
  for (int word = 0; word < 2; ++word) {
    sets.effective |= static_cast<CapabilityMask>(data[word].effective) << (32 * word);
    sets.permitted |= static_cast<CapabilityMask>(data[word].permitted) << (32 * word);
    sets.inheritable |= static_cast<CapabilityMask>(data[word].inheritable) << (32 * word);
  }
  return sets;
}

namespace {

// The identity to switch to (none without --user), checked against what the process may do.
Result<std::optional<Identity>> requested_identity(const PrivilegeRequest& request,
                                                   const CapabilitySets& before) {
  if (request.user.empty()) {
    if (!request.group.empty()) {
      return fail("--group", "needs --user");
    }
    return std::optional<Identity>();
  }
  auto identity = resolve_identity(request.user, request.group);
  if (!identity) {
    return tl::unexpected(identity.error());
  }
  const CapabilityMask needed = bit(CAP_SETUID) | bit(CAP_SETGID);
  if ((before.effective & needed) != needed && (::geteuid() != identity->uid)) {
    return fail("--user", "switching to '" + request.user +
                              "' needs root or CAP_SETUID and CAP_SETGID; start the relay as "
                              "root, or start it as that user with only CAP_NET_RAW and "
                              "without --user");
  }
  return std::optional<Identity>(*identity);
}

// Step 1: the bounding set, while CAP_SETPCAP is still effective (it is not after setuid).
Result<void> drop_bounding_set(CapabilityMask keep, const CapabilitySets& before,
                               std::string& notes) {
  if ((before.effective & bit(CAP_SETPCAP)) == 0) {
    notes += "; bounding set left as is (no CAP_SETPCAP; the permitted set is what limits us)";
    return {};
  }
  const int last = last_capability();
  for (int capability = 0; capability <= last; ++capability) {
    if ((keep & bit(capability)) == 0 && ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0) == 1 &&
        ::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
      return fail_errno("prctl(PR_CAPBSET_DROP, " + std::to_string(capability) + ")");
    }
  }
  return {};
}

// Step 3: the identity. KEEPCAPS so setuid() away from 0 keeps the permitted set (it clears
// the effective set, restored by capset afterwards).
Result<void> switch_identity(const Identity& identity) {
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    return fail_errno("prctl(PR_SET_KEEPCAPS)");
  }
  const gid_t groups[] = {identity.gid};
  if (::setgroups(1, groups) != 0) {
    return fail_errno("setgroups(" + std::to_string(identity.gid) + ")");
  }
  if (::setresgid(identity.gid, identity.gid, identity.gid) != 0) {
    return fail_errno("setresgid(" + std::to_string(identity.gid) + ")");
  }
  if (::setresuid(identity.uid, identity.uid, identity.uid) != 0) {
    return fail_errno("setresuid(" + std::to_string(identity.uid) + ")");
  }
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
    return fail_errno("prctl(PR_SET_KEEPCAPS, 0)");
  }
  return {};
}

// Step 6: what the kernel holds is what the log will claim.
Result<void> check_dropped(CapabilityMask keep, const std::optional<Identity>& identity) {
  auto after = current_capabilities();
  if (!after) {
    return tl::unexpected(after.error());
  }
  if (after->effective != keep || after->permitted != keep || after->inheritable != 0) {
    return fail("drop_privileges", "capabilities after capset are effective " +
                                       describe_capabilities(after->effective) + ", permitted " +
                                       describe_capabilities(after->permitted) + "; expected " +
                                       describe_capabilities(keep));
  }
  if (identity && (::getuid() != identity->uid || ::geteuid() != identity->uid ||
                   ::getgid() != identity->gid || ::getegid() != identity->gid)) {
    return fail("drop_privileges", "uid/gid did not change");
  }
  return {};
}

}  // namespace

Result<std::string> drop_privileges(const PrivilegeRequest& request) {
  if (const int threads = thread_count(); threads > 1) {
    // Capabilities and (in the kernel) credentials are per thread: a thread started before
    // the drop would keep everything.
    return fail("drop_privileges", "called with " + std::to_string(threads) +
                                       " threads; must run before any thread starts");
  }
  auto before = current_capabilities();
  if (!before) {
    return tl::unexpected(before.error());
  }
  const CapabilityMask keep = request.keep & before->permitted;
  std::string notes;
  if (keep != request.keep) {
    notes += "; wanted " + describe_capabilities(request.keep) + " but the process only had " +
             describe_capabilities(keep);
  }
  int death_signal = 0;
  (void)::prctl(PR_GET_PDEATHSIG, &death_signal, 0, 0, 0);
  auto identity = requested_identity(request, *before);
  if (!identity) {
    return tl::unexpected(identity.error());
  }
  if (auto dropped = drop_bounding_set(keep, *before, notes); !dropped) {
    return tl::unexpected(dropped.error());
  }
  // 2. Ambient capabilities would be handed to any program we exec.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return fail_errno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  if (*identity) {
    if (auto switched = switch_identity(**identity); !switched) {
      return tl::unexpected(switched.error());
    }
  }
  // 4. permitted = effective = keep, nothing inheritable.
  if (auto ok = set_capabilities({.effective = keep, .permitted = keep, .inheritable = 0}); !ok) {
    return tl::unexpected(ok.error());
  }
  // 5. No exec can raise privileges again (setuid binaries, file capabilities).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  }
  // A uid change clears the parent-death signal (--supervise sets it): put it back.
  if (death_signal != 0 && ::prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0) {
    return fail_errno("prctl(PR_SET_PDEATHSIG)");
  }
  if (auto checked = check_dropped(keep, *identity); !checked) {
    return tl::unexpected(checked.error());
  }
  return "privileges: uid " + std::to_string(::geteuid()) + " gid " + std::to_string(::getegid()) +
         ", kept " + describe_capabilities(keep) + " (effective and permitted; no ambient, " +
         "no inheritable, no_new_privs)" + notes;
}

}  // namespace mrelay
