// Kernel feature probes; see kernel_probe.h.
#include "mrelay/kernel_probe.h"

#include <liburing.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "dataplane/ingress/xdp_program.h"

namespace mrelay {
namespace {

// Smallest ring worth creating; the probe only needs it to exist.
constexpr unsigned kProbeEntries = 4;

bool ring_accepts(unsigned flags, int* err = nullptr) {
  io_uring ring{};
  io_uring_params params{};
  params.flags = flags;
  const int ret = io_uring_queue_init_params(kProbeEntries, &ring, &params);
  if (ret < 0) {
    if (err != nullptr) {
      *err = -ret;
    }
    return false;
  }
  io_uring_queue_exit(&ring);
  return true;
}

}  // namespace

std::string UringProbe::describe() const {
  if (!available) {
    return std::string("io_uring: unavailable (io_uring_queue_init: ") + std::strerror(init_errno) +
           ")";
  }
  std::string have;
  std::string missing;
  auto add = [&](bool ok, const char* name) {
    std::string& list = ok ? have : missing;
    list += list.empty() ? "" : ", ";
    list += name;
  };
  add(op_send, "OP_SEND");
  add(op_sendmsg, "OP_SENDMSG");
  add(single_issuer, "SINGLE_ISSUER");
  add(defer_taskrun, "DEFER_TASKRUN");
  add(coop_taskrun, "COOP_TASKRUN");
  add(register_files, "register_files");
  std::string text = "io_uring: available; features: " + (have.empty() ? "none" : have);
  if (!missing.empty()) {
    text += "; missing: " + missing;
  }
  return text;
}

unsigned UringProbe::setup_flags() const {
  if (single_issuer && defer_taskrun) {
    return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  }
  unsigned flags = 0;
  if (single_issuer) {
    flags |= IORING_SETUP_SINGLE_ISSUER;
  }
  if (coop_taskrun) {
    flags |= IORING_SETUP_COOP_TASKRUN;
  }
  return flags;
}

UringProbe probe_io_uring() {
  UringProbe probe;
  io_uring ring{};
  const int ret = io_uring_queue_init(kProbeEntries, &ring, 0);
  if (ret < 0) {
    probe.init_errno = -ret;
    return probe;
  }
  probe.available = true;
  if (io_uring_probe* ops = io_uring_get_probe_ring(&ring); ops != nullptr) {
    probe.op_send = io_uring_opcode_supported(ops, IORING_OP_SEND) != 0;
    probe.op_sendmsg = io_uring_opcode_supported(ops, IORING_OP_SENDMSG) != 0;
    io_uring_free_probe(ops);
  }
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  if (event) {
    const int fd = event.get();
    probe.register_files = io_uring_register_files(&ring, &fd, 1) == 0;
  }
  io_uring_queue_exit(&ring);
  probe.single_issuer = ring_accepts(IORING_SETUP_SINGLE_ISSUER);
  probe.defer_taskrun =
      probe.single_issuer && ring_accepts(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  probe.coop_taskrun = ring_accepts(IORING_SETUP_COOP_TASKRUN);
  return probe;
}

std::string PacketProbe::describe() const {
  if (!available) {
    return std::string("AF_PACKET: unavailable (socket: ") + std::strerror(socket_errno) +
           (socket_errno == EPERM ? "; packet ingress needs CAP_NET_RAW, run as root" : "") + ")";
  }
  return std::string("AF_PACKET: available; PACKET_IGNORE_OUTGOING ") +
         (ignore_outgoing ? "yes" : "no (BPF pkttype filter only)");
}

PacketProbe probe_packet_socket() {
  PacketProbe probe;
  // Protocol 0: the socket receives nothing until bound with a protocol.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!fd) {
    probe.socket_errno = errno;
    return probe;
  }
  probe.available = true;
#ifdef PACKET_IGNORE_OUTGOING
  const int one = 1;
  probe.ignore_outgoing =
      ::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
#endif
  return probe;
}

bool probe_udp_gso() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return false;
  }
  int segment = 0;
  socklen_t length = sizeof segment;
  return ::getsockopt(fd.get(), SOL_UDP, UDP_SEGMENT, &segment, &length) == 0;
}

XdpProbe probe_af_xdp(unsigned attach_ifindex) {
  XdpProbe probe;
  const auto refused = [&probe](const char* step, int error) {
    probe.failed_step = step;
    probe.error = error;
    return probe;
  };
  UniqueFd socket(::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (!socket) {
    return refused("socket(AF_XDP)", errno);
  }
  auto map = create_xskmap(1);
  if (!map) {
    return refused("bpf(BPF_MAP_CREATE, XSKMAP)", map.error().sys_errno);
  }
  auto program = load_xdp_program(map->get());
  if (!program) {
    return refused("bpf(BPF_PROG_LOAD, XDP)", program.error().sys_errno);
  }
  if (attach_ifindex != 0) {
    auto link = attach_xdp(program->get(), attach_ifindex, "probe", nullptr);
    if (!link) {
      return refused("bpf(BPF_LINK_CREATE, XDP)", link.error().sys_errno);
    }
  }
  probe.available = true;
  return probe;
}

std::string XdpProbe::describe() const {
  if (available) {
    return "AF_XDP: available (XSKMAP, XDP program accepted)";
  }
  return "AF_XDP: " + failed_step + " refused (" + std::strerror(error) + ")";
}

}  // namespace mrelay
