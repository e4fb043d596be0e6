// Histogram accuracy against exact percentiles of known data, plus merge/reset/edge cases.
//
//   build-harness/harness/mrelay_harness_test --gtest_filter='Histogram*'
#include "traffic/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mrelay::harness {
namespace {

// Nearest-rank percentile of sorted data, the definition Histogram::percentile() follows.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double p) {
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()) - 1e-9)));
  return sorted[rank - 1];
}

void expect_within_one_percent(const std::vector<uint64_t>& data, const char* name) {
  Histogram histogram;
  for (uint64_t value : data) {
    histogram.record(value);
  }
  std::vector<uint64_t> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(sorted, p));
    const double measured = static_cast<double>(histogram.percentile(p));
    EXPECT_LE(std::abs(measured - exact) / exact, 0.01)
        << name << " p" << p << ": exact " << exact << " histogram " << measured;
  }
  EXPECT_EQ(histogram.count(), data.size());
  EXPECT_EQ(histogram.min(), sorted.front());
  EXPECT_EQ(histogram.max(), sorted.back());
  double sum = 0;
  for (uint64_t value : data) {
    sum += static_cast<double>(value);
  }
  EXPECT_NEAR(histogram.mean(), sum / static_cast<double>(data.size()), 1e-6 * histogram.mean());
}

TEST(Histogram, UniformDataWithinOnePercent) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(1'000, 10'000'000);  // 1 us .. 10 ms
  std::vector<uint64_t> data(100'000);
  for (auto& value : data) {
    value = dist(rng);
  }
  expect_within_one_percent(data, "uniform");
}

TEST(Histogram, ExponentialDataWithinOnePercent) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 100'000.0);  // mean 100 us
  std::vector<uint64_t> data(100'000);
  for (auto& value : data) {
    value = 1'000 + static_cast<uint64_t>(dist(rng));
  }
  expect_within_one_percent(data, "exponential");
}

TEST(Histogram, BimodalDataWithinOnePercent) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(50'000.0, 5'000.0);       // 50 us
  std::normal_distribution<double> slow(5'000'000.0, 500'000.0);  // 5 ms, 10 % of packets
  std::bernoulli_distribution is_slow(0.1);
  std::vector<uint64_t> data(100'000);
  for (auto& value : data) {
    const double sample = is_slow(rng) ? slow(rng) : fast(rng);
    value = static_cast<uint64_t>(std::max(1'000.0, sample));
  }
  expect_within_one_percent(data, "bimodal");
}

TEST(Histogram, WideRangeUpToTenSecondsWithinOnePercent) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> exponent(3.0, 10.0);  // 1 us .. 10 s, log-uniform
  std::vector<uint64_t> data(50'000);
  for (auto& value : data) {
    value = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
  }
  expect_within_one_percent(data, "log-uniform");
}

TEST(Histogram, BucketMidpointIsWithinHalfAPercentOfEveryValue) {
  for (uint64_t value = 1; value < 20'000'000'000ULL; value = value * 3 / 2 + 1) {
    const uint64_t mid = Histogram::bucket_midpoint(Histogram::bucket_of(value));
    EXPECT_LE(std::abs(static_cast<double>(mid) - static_cast<double>(value)),
              0.005 * static_cast<double>(value))
        << value;
  }
  EXPECT_EQ(Histogram::bucket_midpoint(Histogram::bucket_of(200)), 200U);  // exact region
}

TEST(Histogram, EmptyReportsZeros) {
  const Histogram histogram;
  EXPECT_EQ(histogram.count(), 0U);
  EXPECT_EQ(histogram.percentile(50), 0U);
  EXPECT_EQ(histogram.min(), 0U);
  EXPECT_EQ(histogram.max(), 0U);
  EXPECT_EQ(histogram.mean(), 0.0);
}

TEST(Histogram, ClampsAboveRangeAndCountsIt) {
  Histogram histogram(1'000'000);  // 1 ms top
  histogram.record(500);
  histogram.record(5'000'000);
  EXPECT_EQ(histogram.clamped_count(), 1U);
  EXPECT_EQ(histogram.max(), 5'000'000U);  // exact max is kept
  EXPECT_LE(histogram.percentile(100), 5'000'000U);
  EXPECT_GE(histogram.percentile(100), 990'000U);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a;
  Histogram b;
  Histogram both;
  for (uint64_t v = 1'000; v < 2'000'000; v += 997) {
    ((v / 997) % 3 == 0 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  EXPECT_DOUBLE_EQ(a.mean(), both.mean());
  for (double p : {1.0, 50.0, 99.0, 99.9}) {
    EXPECT_EQ(a.percentile(p), both.percentile(p)) << p;
  }
  Histogram empty;
  a.merge(empty);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
}

TEST(Histogram, ResetForgetsEverything) {
  Histogram histogram;
  histogram.record(12345);
  histogram.reset();
  EXPECT_EQ(histogram.count(), 0U);
  EXPECT_EQ(histogram.percentile(99), 0U);
  histogram.record(777);
  EXPECT_EQ(histogram.min(), 777U);
  EXPECT_EQ(histogram.percentile(50), 777U);
}

}  // namespace
}  // namespace mrelay::harness
