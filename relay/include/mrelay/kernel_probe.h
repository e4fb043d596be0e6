// Start-up probes for kernel features the data plane can use, so a missing feature gives a
// clear message and a fallback instead of a failure in the middle of a run.
//
//   mrelay::UringProbe uring = mrelay::probe_io_uring();
//   if (!uring.available) { std::fprintf(stderr, "%s\n", uring.describe().c_str()); }
#pragma once

#include <string>

namespace mrelay {

struct UringProbe {
  bool available = false;   // io_uring_queue_init works at all
  int init_errno = 0;       // why not, when !available (ENOSYS, EPERM from io_uring_disabled...)
  bool op_send = false;     // IORING_OP_SEND supported
  bool op_sendmsg = false;  // IORING_OP_SENDMSG supported (copies with their own TTL)
  bool single_issuer = false;
  bool defer_taskrun = false;  // needs single_issuer
  bool coop_taskrun = false;
  bool register_files = false;

  /// "io_uring: available, SEND, SINGLE_ISSUER, DEFER_TASKRUN, ..., missing: ..."
  [[nodiscard]] std::string describe() const;
  /// IORING_SETUP_* flags to create rings with, from what is available. Prefers
  /// SINGLE_ISSUER|DEFER_TASKRUN (completions run in our thread, no IPIs), else COOP_TASKRUN.
  [[nodiscard]] unsigned setup_flags() const;
};

/// Creates and destroys a few small rings. Costs well under a millisecond; call once at start.
[[nodiscard]] UringProbe probe_io_uring();

struct PacketProbe {
  bool available = false;        // socket(AF_PACKET) works (needs CAP_NET_RAW)
  int socket_errno = 0;          // EPERM without CAP_NET_RAW
  bool ignore_outgoing = false;  // PACKET_IGNORE_OUTGOING (Linux 4.20+)
  [[nodiscard]] std::string describe() const;
};

/// Opens a packet socket bound to nothing (receives nothing) and tries the options.
[[nodiscard]] PacketProbe probe_packet_socket();

struct XdpProbe {
  bool available = false;   // everything below worked
  std::string failed_step;  // the call the kernel refused: "socket(AF_XDP)", "bpf(...)"
  int error = 0;            // its errno
  /// "AF_XDP: available (XSKMAP, XDP program accepted)" or "AF_XDP: <step> refused (...)".
  [[nodiscard]] std::string describe() const;
};

/// What the xdp ingress needs before any interface is touched: socket(AF_XDP) (CONFIG_XDP_
/// SOCKETS, CAP_NET_RAW), an XSKMAP (BPF_MAP_CREATE) and the relay's own XDP program through
/// the verifier (BPF_PROG_LOAD: CONFIG_BPF_SYSCALL, CAP_BPF or CAP_SYS_ADMIN). With
/// `attach_ifindex` (a scratch namespace's loopback), also BPF_LINK_CREATE on that interface,
/// detached again at once; without, nothing is attached.
[[nodiscard]] XdpProbe probe_af_xdp(unsigned attach_ifindex = 0);

/// Whether UDP sockets take UDP_SEGMENT (UDP GSO, Linux 4.18+): getsockopt on a fresh socket.
/// Whether a given device can segment shows only at the first send (egress_sendmmsg.cc).
[[nodiscard]] bool probe_udp_gso();

}  // namespace mrelay
