// Test helper: runs a function in a forked child inside its own network namespace, whose
// loopback is brought up with MULTICAST, so a test can send real multicast without touching
// the host's interfaces (the namespace goes away with the child).
//
//   std::string result = mrelay::testing::run_in_private_netns([] { ...; return ""; });
//   if (result.rfind("SKIP: ", 0) == 0) { GTEST_SKIP() << result.substr(6); }
//   EXPECT_EQ(result, "");
//
// The function returns "" on success, "SKIP: why" or a failure description. Header-only and
// test-only (not part of mrelay_core).
#pragma once

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "unique_fd.h"

namespace mrelay::testing {

inline std::string run_in_private_netns(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) {
    return "pipe failed";
  }
  const pid_t child = ::fork();
  if (child < 0) {
    return "fork failed";
  }
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::unshare(CLONE_NEWNET) != 0) {
      result = std::string("SKIP: unshare(CLONE_NEWNET): ") + std::strerror(errno);
    } else {
      UniqueFd control(::socket(AF_INET, SOCK_DGRAM, 0));
      ifreq request{};
      std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
      if (::ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) {
        result = "SIOCGIFFLAGS lo failed";
      } else {
        request.ifr_flags |= IFF_UP | IFF_MULTICAST;
        result =
            ::ioctl(control.get(), SIOCSIFFLAGS, &request) != 0 ? "SIOCSIFFLAGS lo failed" : body();
      }
    }
    (void)!::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char chunk[256];
  ssize_t len;
  while ((len = ::read(pipe_fds[0], chunk, sizeof chunk)) > 0) {
    result.append(chunk, static_cast<size_t>(len));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child crashed (status " + std::to_string(status) + ")";
  }
  return result;
}

}  // namespace mrelay::testing
