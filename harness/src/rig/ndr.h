// No-drop-rate search (RFC 2544 style): the highest offered rate at which loss stays at or
// below a threshold, by binary search between a lower and an upper rate to a relative
// resolution, then a confirmation run of the found rate (stepping down when it fails).
// The trial is a callback, so the search is tested against a fake forwarder.
//
//   NdrOptions options; options.max_rate = 400000;
//   auto result = find_ndr(options, [&](double rate) -> Result<NdrTrialOutcome> {
//     return run_cell_at(rate);   // loss % and the offered rate actually achieved
//   });
//   if (result && result->found) { use(result->ndr_pps); }
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mrelay/error.h"
#include "rig/spec.h"

namespace mrelay::harness {

struct NdrTrialOutcome {
  double loss_pct = 0;
  double offered_pps = 0;  // what the generator achieved; a short-fall fails the trial
};

struct NdrTrial {
  double rate = 0;
  double loss_pct = 0;
  double offered_pps = 0;
  bool pass = false;
  std::string phase;  // "top", "bottom", "search", "confirm"
};

struct NdrResult {
  bool found = false;
  double ndr_pps = 0;  // the confirmed rate (0 when not found)
  std::vector<NdrTrial> trials;
  std::string note;  // why the search ended where it did
};

using NdrTrialFn = std::function<Result<NdrTrialOutcome>(double rate)>;

/// A trial passes when loss <= threshold and the generator offered at least
/// (1 - resolution) of the requested rate (else the rate was never really tested).
[[nodiscard]] bool ndr_trial_passes(const NdrOptions& options, double rate,
                                    const NdrTrialOutcome& outcome);

/// Runs the search. options.max_rate must be > options.min_rate (the caller fills max_rate
/// from a saturation run when the user gave none). A failing trial callback ends the search
/// with its error.
[[nodiscard]] Result<NdrResult> find_ndr(const NdrOptions& options, const NdrTrialFn& trial);

}  // namespace mrelay::harness
