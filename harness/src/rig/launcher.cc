// Which cells this machine can run: see rig/launcher.h.
#include "rig/launcher.h"

namespace mrelay::harness {

std::optional<std::string> unavailable_reason(const CellParams& params, const Capabilities& caps) {
  auto missing = [&](std::string_view name) -> std::optional<std::string> {
    const Capability* c = caps.find(name);
    if (c == nullptr || c->present) {
      return std::nullopt;  // not probed (an old results file): let the cell try
    }
    return missing_capability_text(*c);
  };
  std::optional<std::string> reason;
  switch (params.forwarder) {
    case Forwarder::kernel:
      reason = missing(capability::kIpmr);
      break;
    case Forwarder::kernel_nft:
      reason = missing(capability::kNftDup);
      break;
    case Forwarder::socat:
      reason = missing(capability::kSocat);
      break;
    case Forwarder::mrelay:
      if (params.egress == "uring") {
        reason = missing(capability::kIoUring);
      }
      break;
    case Forwarder::direct:
      break;
  }
  if (reason) {
    return reason;
  }
  const std::string kind = qdisc_kind(params.egress_qdisc);
  if (kind == capability::kTbf || kind == capability::kNetem) {
    return missing(kind);
  }
  return std::nullopt;
}

}  // namespace mrelay::harness
