// The egress backend selector; see egress_selector.h. One table row per backend: its start-up
// probe, its factory and its fallback, so adding a backend is one row and one file.
#include "dataplane/egress/egress_selector.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "dataplane/egress/egress_backends.h"
#include "mrelay/kernel_probe.h"

namespace mrelay {
namespace {

using EgressFactory = Result<std::unique_ptr<Egress>> (*)(const EgressOptions&,
                                                          std::span<const int>, BufferPool&,
                                                          WorkerCounters&);
// A start-up probe: nullopt when the kernel can run the backend, else why not. It may add
// what it found to `log`.
using EgressProbe = std::optional<std::string> (*)(std::vector<std::string>& log);

struct BackendSpec {
  EgressBackend backend;
  EgressProbe unavailable;  // nullptr: nothing to probe before a worker builds it
  EgressFactory create;
  // What runs instead when the probe says no or create() fails; the backend itself when
  // nothing can stand in.
  EgressBackend fallback;
};

std::optional<std::string> gso_unavailable(std::vector<std::string>& /*log*/) {
  if (probe_udp_gso()) {
    return std::nullopt;
  }
  return "UDP GSO (UDP_SEGMENT) unavailable on this kernel";
}

std::optional<std::string> uring_unavailable(std::vector<std::string>& log) {
  const UringProbe uring = probe_io_uring();
  log.push_back(uring.describe());
  if (uring.available && uring.op_send) {
    return std::nullopt;
  }
  return std::string("io_uring egress unavailable") +
         (uring.available ? " (no IORING_OP_SEND)" : "");
}

Result<std::unique_ptr<Egress>> create_send(const EgressOptions& /*options*/,
                                            std::span<const int> fds, BufferPool& pool,
                                            WorkerCounters& counters) {
  return make_send_egress(fds, pool, counters);
}

Result<std::unique_ptr<Egress>> create_sendmmsg(const EgressOptions& options,
                                                std::span<const int> fds, BufferPool& pool,
                                                WorkerCounters& counters) {
  return make_sendmmsg_egress(options, fds, pool, counters);  // sendmmsg, or gso by options
}

// The packet backend and, for its unicast outputs, a sendmmsg backend over their UDP sockets
// (see egress_selector.h, "unicast"), with the configured batch and without GSO.
Result<std::unique_ptr<Egress>> create_packet(const EgressOptions& options,
                                              std::span<const int> fds, BufferPool& pool,
                                              WorkerCounters& counters) {
  std::unique_ptr<Egress> unicast;
  if (std::any_of(fds.begin(), fds.end(), [](int fd) { return !output_socket_multicast(fd); })) {
    EgressOptions unicast_options = options;
    unicast_options.backend = EgressBackend::sendmmsg;
    unicast = make_sendmmsg_egress(unicast_options, fds, pool, counters);
  }
  return make_packet_egress(options, fds, pool, counters, std::move(unicast));
}

constexpr BackendSpec kBackends[] = {
    {EgressBackend::send, nullptr, create_send, EgressBackend::send},
    {EgressBackend::sendmmsg, nullptr, create_sendmmsg, EgressBackend::sendmmsg},
    {EgressBackend::uring, uring_unavailable, make_uring_egress, EgressBackend::sendmmsg},
    {EgressBackend::packet, nullptr, create_packet, EgressBackend::sendmmsg},
    {EgressBackend::gso, gso_unavailable, create_sendmmsg, EgressBackend::sendmmsg},
};
static_assert(std::size(kBackends) == kEgressBackends.size(), "one row per EgressBackend");

const BackendSpec* find_backend(EgressBackend backend) {
  for (const BackendSpec& spec : kBackends) {
    if (spec.backend == backend) {
      return &spec;
    }
  }
  return nullptr;
}

}  // namespace

EgressResolution resolve_egress_backend(EgressBackend requested) {
  EgressResolution result{.backend = requested, .log = {}};
  const BackendSpec* spec = find_backend(requested);
  if (spec == nullptr || spec->unavailable == nullptr) {
    return result;
  }
  if (std::optional<std::string> why = spec->unavailable(result.log)) {
    result.log.push_back(*why + ": falling back to " + std::string(to_string(spec->fallback)));
    result.backend = spec->fallback;
  }
  return result;
}

GsoBatch resolve_gso_batch(const EgressOptions& options) noexcept {
  if (options.gso_batch) {
    return *options.gso_batch;
  }
  const char* choice = std::getenv(kGsoBatchEnv);
  return choice != nullptr && std::string_view(choice) == "per-output" ? GsoBatch::per_output
                                                                       : GsoBatch::all;
}

Result<std::unique_ptr<Egress>> make_egress(const EgressOptions& options, std::span<const int> fds,
                                            BufferPool& pool, WorkerCounters& counters) {
  if (options.batch == 0) {
    return fail("--batch", "must be at least 1");
  }
  const BackendSpec* spec = find_backend(options.backend);
  if (spec == nullptr) {
    return fail("--egress", "unknown backend");
  }
  return spec->create(options, fds, pool, counters);
}

Result<std::unique_ptr<Egress>> make_egress_with_fallback(const EgressOptions& options,
                                                          std::span<const int> fds,
                                                          BufferPool& pool,
                                                          WorkerCounters& counters,
                                                          std::string* notes) {
  auto egress = make_egress(options, fds, pool, counters);
  const BackendSpec* spec = find_backend(options.backend);
  if (egress || spec == nullptr || spec->fallback == options.backend) {
    return egress;
  }
  if (notes != nullptr) {
    *notes += std::string(to_string(options.backend)) + " egress failed (" +
              egress.error().to_string() + "): falling back to " +
              std::string(to_string(spec->fallback)) + "; ";
  }
  EgressOptions fallback = options;
  fallback.backend = spec->fallback;
  return make_egress(fallback, fds, pool, counters);
}

}  // namespace mrelay
