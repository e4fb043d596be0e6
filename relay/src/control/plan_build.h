// Building the plan the workers run (dataplane/plan.h) from a validated Config: rules
// flattened to outputs, ingress endpoints deduplicated and spread over the workers, every
// interface looked up, the per-worker counters sized. All the allocation of a plan happens
// here, in the control thread, so the workers never allocate.
//
//   auto plan = mrelay::build_plan(config, mrelay::system_interfaces());
//   if (!plan) { ... plan.error().where == "rules[1].outputs[0].interface" ... }
//   plan->backend = mrelay::resolve_egress_backend(config.egress.backend).backend;
#pragma once

#include "dataplane/plan.h"
#include "mrelay/config.h"
#include "mrelay/error.h"

namespace mrelay {

/// Builds the plan; errors name the config field. `lookup` resolves interface names. The
/// plan's backend is the configured one; the relay replaces it with what the start-up probes
/// allow (egress_selector.h).
[[nodiscard]] Result<RelayPlan> build_plan(const Config& config, const InterfaceLookup& lookup);

}  // namespace mrelay
