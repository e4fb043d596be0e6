// The ingress readers, one factory per implementation file. Only the selector
// (ingress_selector.cc: make_ingress) calls these; everything else goes through it.
//
//   auto fd = open_packet_socket(interface, ifindex, options, &notes, &ring);   // the selector
//   return ring.mapped() ? make_ring_ingress(std::move(*fd), ifindex, std::move(ring))
//                        : make_packet_recvmmsg_ingress(std::move(*fd), ifindex);
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "common/unique_fd.h"
#include "dataplane/ingress/ingress.h"
#include "dataplane/ingress/ingress_socket.h"
#include "dataplane/ingress/xdp_socket.h"

namespace mrelay {

/// packet_ingress.cc: a packet socket (open_packet_socket) read through its mapped ring.
[[nodiscard]] std::unique_ptr<Ingress> make_ring_ingress(UniqueFd fd, unsigned ifindex,
                                                         PacketRing ring);
/// packet_ingress.cc: a packet socket read with recvmmsg into the worker's receive slots.
[[nodiscard]] std::unique_ptr<Ingress> make_packet_recvmmsg_ingress(UniqueFd fd, unsigned ifindex);
/// xdp_ingress.cc: an AF_XDP socket (XdpSocket::open) with its program attached.
[[nodiscard]] std::unique_ptr<Ingress> make_xdp_ingress(XdpSocket socket, unsigned ifindex);
/// udp_ingress.cc: a UDP socket (open_udp_ingress_socket) bound to `group`:`port`.
/// `group6`: an IPv6 socket's group (then `group` is unused; the hop limit is the TTL).
[[nodiscard]] std::unique_ptr<Ingress> make_udp_ingress(UniqueFd fd, unsigned ifindex,
                                                        in_addr group, uint16_t port,
                                                        std::optional<in6_addr> group6 = {});

}  // namespace mrelay
