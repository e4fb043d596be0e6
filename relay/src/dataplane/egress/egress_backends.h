// The egress backends, one factory per file. Only the selector (egress_selector.cc) calls
// these; everything else builds an egress through make_egress() or
// make_egress_with_fallback() (egress_selector.h).
//
//   // egress_selector.cc, the table row of "uring":
//   {EgressBackend::uring, uring_unavailable, make_uring_egress, EgressBackend::sendmmsg},
#pragma once

#include <memory>
#include <span>

#include "dataplane/buffer_pool.h"
#include "dataplane/egress/egress.h"
#include "mrelay/counters.h"
#include "mrelay/error.h"

namespace mrelay {

/// egress_send.cc: one send() per copy.
[[nodiscard]] std::unique_ptr<Egress> make_send_egress(std::span<const int> fds, BufferPool& pool,
                                                       WorkerCounters& counters);
/// egress_sendmmsg.cc: sendmmsg per output and batch; with options.backend == gso, runs of
/// equal-sized copies as one UDP_SEGMENT send, and (GsoBatch::all) one sendmmsg per flush for
/// all IPv4 multicast outputs through a socket they share.
[[nodiscard]] std::unique_ptr<Egress> make_sendmmsg_egress(const EgressOptions& options,
                                                           std::span<const int> fds,
                                                           BufferPool& pool,
                                                           WorkerCounters& counters);
/// egress_uring.cc: one IORING_OP_SEND(MSG) per copy; fails without a usable io_uring.
[[nodiscard]] Result<std::unique_ptr<Egress>> make_uring_egress(const EgressOptions& options,
                                                                std::span<const int> fds,
                                                                BufferPool& pool,
                                                                WorkerCounters& counters);
/// egress_packet.cc: multicast outputs as frames built here, through one AF_PACKET socket
/// (CAP_NET_RAW); copies for unicast outputs go to `unicast` (may be null when there are
/// none), which the packet egress flushes with its own.
[[nodiscard]] Result<std::unique_ptr<Egress>> make_packet_egress(const EgressOptions& options,
                                                                 std::span<const int> fds,
                                                                 BufferPool& pool,
                                                                 WorkerCounters& counters,
                                                                 std::unique_ptr<Egress> unicast);

}  // namespace mrelay
