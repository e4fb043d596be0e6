// Which cells this machine can run: a cell needs what its forwarder, its egress backend and
// its egress qdisc need (reference/capabilities.h), and is skipped with the reason otherwise.
//
//   if (auto why = unavailable_reason(params, env.capabilities)) { record["status"] = "skipped"; }
#pragma once

#include <optional>
#include <string>

#include "reference/capabilities.h"
#include "rig/spec.h"

namespace mrelay::harness {

/// Why this machine cannot run a cell (its forwarder, egress backend or egress qdisc needs a
/// capability it lacks), or nothing when it can.
[[nodiscard]] std::optional<std::string> unavailable_reason(const CellParams& params,
                                                            const Capabilities& caps);

}  // namespace mrelay::harness
