// No-drop-rate search: see rig/ndr.h.
//
//   auto result = find_ndr(options, trial);
#include "rig/ndr.h"

#include <cstdio>

namespace mrelay::harness {

bool ndr_trial_passes(const NdrOptions& options, double rate, const NdrTrialOutcome& outcome) {
  return outcome.loss_pct <= options.loss_threshold_pct &&
         outcome.offered_pps >= rate * (1.0 - options.resolution);
}

Result<NdrResult> find_ndr(const NdrOptions& options, const NdrTrialFn& trial) {
  if (!(options.max_rate > options.min_rate) || options.min_rate <= 0) {
    return fail("--max-rate", "NDR search needs 0 < --min-rate < --max-rate");
  }
  NdrResult result;
  int trials_left = options.max_trials;
  auto run = [&](double rate, const char* phase) -> Result<bool> {
    auto outcome = trial(rate);
    if (!outcome) {
      return tl::unexpected(outcome.error());
    }
    --trials_left;
    NdrTrial record{rate, outcome->loss_pct, outcome->offered_pps,
                    ndr_trial_passes(options, rate, *outcome), phase};
    result.trials.push_back(record);
    return record.pass;
  };

  double candidate = 0;
  auto top = run(options.max_rate, "top");
  if (!top) {
    return tl::unexpected(top.error());
  }
  if (*top) {
    candidate = options.max_rate;
    result.note = "no loss at the top of the range (--max-rate)";
  } else {
    auto bottom = run(options.min_rate, "bottom");
    if (!bottom) {
      return tl::unexpected(bottom.error());
    }
    if (!*bottom) {
      result.note = "loss above threshold even at --min-rate";
      return result;
    }
    // Invariant: lo passed, hi failed.
    double lo = options.min_rate;
    double hi = options.max_rate;
    while (hi - lo > options.resolution * hi && trials_left > 0) {
      const double mid = (lo + hi) / 2;
      auto pass = run(mid, "search");
      if (!pass) {
        return tl::unexpected(pass.error());
      }
      (*pass ? lo : hi) = mid;
    }
    candidate = lo;
    result.note = hi - lo > options.resolution * hi ? "trial budget ran out before the resolution"
                                                    : "converged to the resolution";
  }

  // Confirmation: the found rate must pass again; otherwise step down by the resolution.
  for (int attempt = 0; attempt <= options.confirm_stepdowns; ++attempt) {
    if (candidate < options.min_rate) {
      break;
    }
    auto pass = run(candidate, "confirm");
    if (!pass) {
      return tl::unexpected(pass.error());
    }
    if (*pass) {
      result.found = true;
      result.ndr_pps = candidate;
      if (attempt > 0) {
        char text[96];
        std::snprintf(text, sizeof(text), "; confirmed after %d step-down(s)", attempt);
        result.note += text;
      }
      return result;
    }
    candidate *= 1.0 - options.resolution;
  }
  result.note += "; confirmation failed at every step-down";
  return result;
}

}  // namespace mrelay::harness
