// Which ingress reader a worker gets for each endpoint: the one place that chooses (see
// ingress.h). The choice:
//
//   --ingress udp                      -> udp_ingress.cc (a joined UDP socket)
//   --ingress packet                   -> packet_ingress.cc, through a TPACKET_V2 ring,
//   --ingress packet, no ring          -> the same socket with recvmmsg, when MRELAY_PACKET_RX
//                                         is "recvmmsg" or the kernel refuses the ring (a note
//                                         in the worker's start-up line says which)
//   --ingress xdp                      -> xdp_ingress.cc (an AF_XDP socket and its XDP program,
//                                         native mode, generic when the driver refuses or
//                                         MRELAY_XDP_MODE says so; never another ingress)
//
// and, before any socket is opened, check_ingress_mode() turns a missing CAP_NET_RAW, or a
// kernel without AF_XDP or BPF, into one clear error instead of a failure per socket.
//
//   if (auto line = mrelay::check_ingress_mode(config.ingress); !line) { ... } else { log(*line); }
//   auto ingress = mrelay::make_ingress(plan.ingress[e], settings, &notes);
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "dataplane/ingress/ingress.h"
#include "dataplane/ingress/ingress_readers.h"
#include "dataplane/ingress/ingress_socket.h"
#include "mrelay/kernel_probe.h"

namespace mrelay {
namespace {

bool packet_rx_wants_ring() {
  const char* choice = std::getenv(kPacketRxEnv);
  return choice == nullptr || std::string_view(choice) != "recvmmsg";
}

}  // namespace

Result<std::unique_ptr<Ingress>> make_ingress(const IngressEndpoint& endpoint,
                                              const IngressSettings& settings, std::string* notes) {
  IngressSocketOptions options{.rcvbuf = settings.rcvbuf, .fanout_id = -1};
  if (settings.fanout_id >= 0) {
    options.fanout_id = (settings.fanout_id + endpoint.fanout_offset) & 0xffff;
  }
  if (settings.mode == IngressMode::udp) {
    auto fd = endpoint.group6
                  ? open_udp_ingress_socket6(endpoint.interface, endpoint.ifindex, *endpoint.group6,
                                             endpoint.port, endpoint.sources6, options)
                  : open_udp_ingress_socket(endpoint.interface, endpoint.ifindex, endpoint.group,
                                            endpoint.port, endpoint.sources, options);
    if (!fd) {
      return tl::unexpected(fd.error());
    }
    return make_udp_ingress(std::move(*fd), endpoint.ifindex, endpoint.group, endpoint.port,
                            endpoint.group6);
  }
  if (settings.mode == IngressMode::xdp) {
    auto socket = XdpSocket::open(endpoint.interface, endpoint.ifindex, settings.rcvbuf, notes,
                                  xdp_attach_mode(std::getenv(kXdpModeEnv)));
    if (!socket) {
      return tl::unexpected(socket.error());
    }
    return make_xdp_ingress(std::move(*socket), endpoint.ifindex);
  }
  PacketRing ring;
  auto fd = open_packet_socket(endpoint.interface, endpoint.ifindex, options, notes,
                               packet_rx_wants_ring() ? &ring : nullptr);
  if (!fd) {
    return tl::unexpected(fd.error());
  }
  if (ring.mapped()) {
    return make_ring_ingress(std::move(*fd), endpoint.ifindex, std::move(ring));
  }
  return make_packet_recvmmsg_ingress(std::move(*fd), endpoint.ifindex);
}

Result<std::string> check_ingress_mode(IngressMode mode) {
  if (mode == IngressMode::xdp) {
    const XdpProbe xdp = probe_af_xdp();
    if (!xdp.available) {
      return fail("--ingress xdp: " + xdp.failed_step,
                  "refused by the kernel (the xdp ingress needs CONFIG_XDP_SOCKETS, "
                  "CONFIG_BPF_SYSCALL, and root or CAP_NET_RAW, CAP_BPF, CAP_NET_ADMIN): use "
                  "--ingress packet",
                  xdp.error);
    }
    return xdp.describe();
  }
  if (mode != IngressMode::packet) {
    return std::string();
  }
  const PacketProbe packet = probe_packet_socket();
  if (!packet.available) {
    return fail("--ingress packet: socket(AF_PACKET)",
                packet.socket_errno == EPERM
                    ? "permission denied: packet ingress needs CAP_NET_RAW (run as root, or use "
                      "--ingress udp)"
                    : "unavailable",
                packet.socket_errno);
  }
  return packet.describe();
}

}  // namespace mrelay
