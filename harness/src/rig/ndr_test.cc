// NDR search against fake forwarders with a known capacity.
#include "rig/ndr.h"

#include <gtest/gtest.h>

#include <map>

namespace mrelay::harness {
namespace {

// A forwarder that loses nothing up to `capacity` pps and the excess above it.
NdrTrialOutcome fake_forwarder(double capacity, double rate) {
  const double loss = rate <= capacity ? 0.0 : 100.0 * (rate - capacity) / rate;
  return NdrTrialOutcome{loss, rate};
}

TEST(BenchNdr, FindsTheCapacityWithinTheResolution) {
  for (double capacity : {12345.0, 87000.0, 250000.0, 399000.0}) {
    NdrOptions options;
    options.min_rate = 1000;
    options.max_rate = 400000;
    options.resolution = 0.02;
    auto result = find_ndr(options, [&](double rate) -> Result<NdrTrialOutcome> {
      return fake_forwarder(capacity, rate);
    });
    ASSERT_TRUE(result);
    ASSERT_TRUE(result->found) << capacity << ": " << result->note;
    EXPECT_LE(result->ndr_pps, capacity);
    EXPECT_GE(result->ndr_pps, capacity * (1 - options.resolution)) << capacity;
    EXPECT_EQ(result->trials.back().phase, "confirm");
    EXPECT_LE(static_cast<int>(result->trials.size()),
              options.max_trials + options.confirm_stepdowns + 1);
  }
}

TEST(BenchNdr, TopOfRangePassingNeedsNoSearch) {
  NdrOptions options;
  options.max_rate = 50000;
  auto result = find_ndr(
      options, [](double rate) -> Result<NdrTrialOutcome> { return fake_forwarder(1e9, rate); });
  ASSERT_TRUE(result && result->found);
  EXPECT_DOUBLE_EQ(result->ndr_pps, 50000);
  EXPECT_EQ(result->trials.size(), 2u);  // top + confirm
}

TEST(BenchNdr, ConfirmationFailureStepsDown) {
  // Capacity 100k until the first repeated rate (the confirmation run), then 90k for good (a
  // drifting forwarder): the confirmation fails and must step down to 90k.
  NdrOptions options;
  options.max_rate = 200000;
  options.resolution = 0.02;
  options.confirm_stepdowns = 10;
  options.max_trials = 30;
  std::map<long, int> runs;
  bool drifted = false;
  auto result = find_ndr(options, [&](double rate) -> Result<NdrTrialOutcome> {
    drifted = drifted || runs[static_cast<long>(rate)]++ > 0;
    const double capacity = drifted ? 90000 : 100000;
    return fake_forwarder(capacity, rate);
  });
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->found) << result->note;
  EXPECT_LE(result->ndr_pps, 90000);
  EXPECT_GE(result->ndr_pps, 90000 * (1 - 2 * options.resolution));
  int confirms = 0;
  for (const auto& t : result->trials) {
    confirms += t.phase == "confirm" ? 1 : 0;
  }
  EXPECT_GE(confirms, 2);
  EXPECT_NE(result->note.find("step-down"), std::string::npos);
}

TEST(BenchNdr, LossAtMinimumRateIsNotFound) {
  NdrOptions options;
  options.min_rate = 1000;
  options.max_rate = 100000;
  auto result = find_ndr(
      options, [](double rate) -> Result<NdrTrialOutcome> { return fake_forwarder(500, rate); });
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->found);
  EXPECT_EQ(result->ndr_pps, 0);
}

TEST(BenchNdr, GeneratorShortfallFailsTheTrial) {
  NdrOptions options;
  EXPECT_TRUE(ndr_trial_passes(options, 100000, {0.0, 99000}));
  EXPECT_FALSE(ndr_trial_passes(options, 100000, {0.0, 90000}));
  EXPECT_FALSE(ndr_trial_passes(options, 100000, {0.2, 100000}));
  EXPECT_TRUE(ndr_trial_passes(options, 100000, {0.1, 100000}));
}

TEST(BenchNdr, TrialErrorsEndTheSearch) {
  NdrOptions options;
  options.max_rate = 10000;
  auto result = find_ndr(
      options, [](double) -> Result<NdrTrialOutcome> { return fail("trial", "rig down"); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().where, "trial");
  options.max_rate = 500;  // below min_rate
  EXPECT_FALSE(
      find_ndr(options, [](double) -> Result<NdrTrialOutcome> { return NdrTrialOutcome{}; }));
}

}  // namespace
}  // namespace mrelay::harness
