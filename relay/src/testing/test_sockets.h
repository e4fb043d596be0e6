// Test helper: the sockets a loop test sets up around a worker or an egress, on the loopback of
// a private network namespace (test_netns.h): receivers bound to 127.0.0.1, a multicast sender
// on an interface, counting what arrived, waiting with a deadline. Header-only and test-only.
//
//   uint16_t port = 0;
//   UniqueFd receiver = mrelay::testing::bound_receiver(port);       // 127.0.0.1:port
//   UniqueFd sender = mrelay::testing::multicast_sender("lo", 64);   // TTL 64
//   mrelay::testing::wait_until([&] { return (got += drain_count(receiver.get())) >= 400; },
//                               std::chrono::seconds(3));
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "common/unique_fd.h"

namespace mrelay::testing {

inline in_addr ipv4(const char* text) {
  in_addr value{};
  ::inet_pton(AF_INET, text, &value);
  return value;
}

/// `address`:`port` as a socket address (port in host order).
inline sockaddr_in endpoint(in_addr address, uint16_t port) {
  sockaddr_in result{};
  result.sin_family = AF_INET;
  result.sin_addr = address;
  result.sin_port = htons(port);
  return result;
}

/// A non-blocking UDP socket bound to 127.0.0.1 on a port the kernel chooses (returned in
/// `port`), with `rcvbuf` bytes of receive buffer so a test that reads only at the end loses
/// nothing.
inline UniqueFd bound_receiver(uint16_t& port, int rcvbuf = 8 << 20) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr = ipv4("127.0.0.1");
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound);
  socklen_t len = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  port = ntohs(bound.sin_port);
  return fd;
}

/// A UDP socket that sends multicast out of `interface` with TTL `ttl`. A relay forwards only
/// a TTL above 1 (the copy leaves with TTL - 1), and the kernel's default multicast TTL is 1.
inline UniqueFd multicast_sender(const char* interface = "lo", int ttl = 64) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  ip_mreqn via{};
  via.imr_ifindex = static_cast<int>(::if_nametoindex(interface));
  ::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via);
  ::setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  return fd;
}

/// Reads (and discards) every datagram waiting on a non-blocking socket; returns how many.
inline uint32_t drain_count(int fd) {
  uint32_t count = 0;
  uint8_t data[2048];
  while (::recv(fd, data, sizeof data, 0) > 0) {
    ++count;
  }
  return count;
}

/// Calls `done` every `step` until it returns true or `limit` has passed; returns its last
/// answer. For waiting on a counter or a condition, never on time alone.
template <typename Done>
bool wait_until(Done done, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace mrelay::testing
