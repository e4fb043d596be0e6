// The notifications arrive as sd_notify(3) datagrams: a bound AF_UNIX datagram socket stands
// in for systemd's and receives what the notifier sends.
#include "common/service_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/unique_fd.h"

namespace mrelay {
namespace {

// A datagram socket bound at `name` (a path, or "@..." abstract), like systemd's notify socket.
class FakeServiceManager {
 public:
  explicit FakeServiceManager(const std::string& name) : name_(name) {
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@') {
      address.sun_path[0] = '\0';
    }
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                               (name[0] == '@' ? 0 : 1));
    bound_ = ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), length) == 0;
  }
  ~FakeServiceManager() {
    if (name_[0] == '/') {
      ::unlink(name_.c_str());
    }
  }
  FakeServiceManager(const FakeServiceManager&) = delete;
  FakeServiceManager& operator=(const FakeServiceManager&) = delete;

  [[nodiscard]] bool bound() const { return bound_; }
  // The next datagram, or "" when none is waiting (the sends are synchronous: none is late).
  [[nodiscard]] std::string receive() const {
    char buffer[512];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string name_;
  UniqueFd fd_{-1};
  bool bound_ = false;
};

std::string temp_socket_path() {
  return "/tmp/mrelay-notify-test-" + std::to_string(::getpid()) + ".sock";
}

TEST(ServiceNotify, SendsReadyReloadingStoppingToThePathSocket) {
  const std::string path = temp_socket_path();
  ::unlink(path.c_str());
  FakeServiceManager manager(path);
  ASSERT_TRUE(manager.bound());
  const ServiceNotifier notifier(path);
  ASSERT_TRUE(notifier.enabled());

  notifier.ready("forwarding: 2 rules, 1 workers");
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=forwarding: 2 rules, 1 workers\n");
  notifier.reloading(1'234'567'891);
  EXPECT_EQ(manager.receive(), "RELOADING=1\nMONOTONIC_USEC=1234567\n");
  notifier.stopping();
  const std::string stopping = manager.receive();
  EXPECT_EQ(stopping.rfind("STOPPING=1\n", 0), 0u) << stopping;
  EXPECT_EQ(manager.receive(), "");
}

TEST(ServiceNotify, AbstractSocketName) {
  const std::string name = "@mrelay-notify-test-" + std::to_string(::getpid());
  FakeServiceManager manager(name);
  ASSERT_TRUE(manager.bound());
  ASSERT_TRUE(ServiceNotifier(name).send("READY=1\n").has_value());
  EXPECT_EQ(manager.receive(), "READY=1\n");
}

TEST(ServiceNotify, FromEnvironment) {
  const std::string path = temp_socket_path();
  ::unlink(path.c_str());
  FakeServiceManager manager(path);
  ASSERT_TRUE(manager.bound());
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ServiceNotifier::from_environment().ready("up");
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=up\n");
  EXPECT_FALSE(ServiceNotifier::from_environment().enabled());
}

TEST(ServiceNotify, OffWithoutSocketAndErrorsNameIt) {
  EXPECT_TRUE(ServiceNotifier().send("READY=1\n").has_value());  // off: nothing to do
  auto relative = ServiceNotifier("relative/path").send("READY=1\n");
  ASSERT_FALSE(relative.has_value());
  EXPECT_NE(relative.error().to_string().find("NOTIFY_SOCKET relative/path"), std::string::npos);
  auto absent = ServiceNotifier("/nonexistent/mrelay-notify.sock").send("READY=1\n");
  ASSERT_FALSE(absent.has_value());
  EXPECT_NE(absent.error().to_string().find("sendto"), std::string::npos)
      << absent.error().to_string();
}

TEST(ServiceNotify, ReloadingCarriesMonotonicMicroseconds) {
  EXPECT_EQ(reloading_message(5'000), "RELOADING=1\nMONOTONIC_USEC=5\n");
}

}  // namespace
}  // namespace mrelay
