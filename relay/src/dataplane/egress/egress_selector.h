// Which egress backend runs: the ONE place that decides, with every fallback between
// backends. The default is kDefaultEgressBackend (mrelay/config.h); what follows is what the
// relay does when the configured backend cannot run.
//
//   at start     resolve_egress_backend(): the kernel probes, once per process. gso without
//                UDP_SEGMENT (Linux < 4.18), and uring without io_uring or IORING_OP_SEND
//                (disabled, Linux < 5.6), become sendmmsg, each with a log line. send,
//                sendmmsg and packet need no probe (packet shows at construction).
//   per worker   make_egress_with_fallback(): the backend is built on the worker's thread; if
//                uring (ring set-up refused, no IORING_OP_SENDMSG) or packet (no CAP_NET_RAW,
//                an output interface that is not Ethernet) cannot be built, sendmmsg is built
//                instead and the worker's start-up line says why. sendmmsg only allocates: it
//                cannot fail to build.
//   per output   gso_refused_by_path(): when a GSO send fails because the output's path cannot
//                segment (no checksum offload on the device: EIO; a segment above the MTU:
//                EINVAL, EMSGSIZE; no UDP_SEGMENT for this socket: EOPNOTSUPP, ENOPROTOOPT),
//                that output alone sends datagram by datagram from then on (gso_fallbacks);
//                the others keep GSO. Applied by egress_sendmmsg.cc.
//   gso batching resolve_gso_batch(): GsoBatch::all (egress.h) unless the options or
//                MRELAY_GSO_BATCH=per-output say per_output; with all, the IPv4 multicast
//                outputs share one socket and one sendmmsg per flush when at least two can,
//                the others (unicast, IPv6, or all of them when the shared socket cannot be
//                opened) send through their own sockets. Applied by egress_sendmmsg.cc.
//   unicast      the packet backend builds frames for multicast outputs only: a unicast output
//                needs ARP and routing, the kernel's job, so its copies go through its own UDP
//                socket, by a sendmmsg backend the selector builds beside the packet one.
//
//   const EgressResolution start = mrelay::resolve_egress_backend(config.egress.backend);
//   for (const std::string& line : start.log) { log(line); }
//   auto egress = mrelay::make_egress_with_fallback({.backend = start.backend, .batch = 64},
//                                                   fds, pool, counters, &notes);
#pragma once

#include <cerrno>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/egress/egress.h"
#include "mrelay/config.h"
#include "mrelay/counters.h"
#include "mrelay/error.h"

namespace mrelay {

/// The backend the relay's workers build, after the start-up probes.
struct EgressResolution {
  EgressBackend backend = kDefaultEgressBackend;
  std::vector<std::string> log;  // what the probes found and any fallback, for the start-up log
};

/// Probes the kernel for `requested` and returns it, or the backend that runs instead.
[[nodiscard]] EgressResolution resolve_egress_backend(EgressBackend requested);

/// Builds exactly the backend named in options over `fds` (one per output, index = output
/// number), or says why it cannot. The fds, pool and counters must outlive the Egress. For
/// io_uring, call this on the thread that will use it (the ring may be created with
/// IORING_SETUP_SINGLE_ISSUER). Tests use it to run one backend; the worker uses the next.
[[nodiscard]] Result<std::unique_ptr<Egress>> make_egress(const EgressOptions& options,
                                                          std::span<const int> fds,
                                                          BufferPool& pool,
                                                          WorkerCounters& counters);

/// make_egress(), and when the backend cannot be built, its fallback (sendmmsg). `notes`
/// (may be null) gets "uring egress failed (...): falling back to sendmmsg; ". Fails only
/// when the fallback fails too (options no backend accepts, such as batch 0).
[[nodiscard]] Result<std::unique_ptr<Egress>> make_egress_with_fallback(
    const EgressOptions& options, std::span<const int> fds, BufferPool& pool,
    WorkerCounters& counters, std::string* notes);

/// How the gso backend batches (GsoBatch, egress.h): options.gso_batch when set, else
/// per_output when the environment says MRELAY_GSO_BATCH=per-output, else all.
[[nodiscard]] GsoBatch resolve_gso_batch(const EgressOptions& options) noexcept;

/// The gso backend's per-output fallback policy (see above): true when a GSO send failed
/// with `err` because the output's path cannot segment, so the output should stop using GSO.
[[nodiscard]] constexpr bool gso_refused_by_path(int err) noexcept {
  return err == EIO || err == EINVAL || err == EMSGSIZE || err == EOPNOTSUPP || err == ENOPROTOOPT;
}

}  // namespace mrelay
