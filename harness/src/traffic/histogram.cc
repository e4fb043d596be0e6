// Log-linear histogram (see traffic/histogram.h).
//
//   mrelay::harness::Histogram h;  h.record(1234);  h.percentile(50.0);
#include "traffic/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace mrelay::harness {
namespace {

constexpr uint64_t kSubBuckets = uint64_t{1} << Histogram::kSubBucketBits;  // 128
// Values below this are stored exactly, one bucket each.
constexpr uint64_t kExactLimit = kSubBuckets * 2;  // 256

}  // namespace

size_t Histogram::bucket_of(uint64_t value) noexcept {
  if (value < kExactLimit) {
    return static_cast<size_t>(value);
  }
  const unsigned top_bit = 63U - static_cast<unsigned>(std::countl_zero(value));
  const unsigned shift = top_bit - kSubBucketBits;  // >= 1 here
  const uint64_t mantissa = value >> shift;         // in [128, 256)
  return static_cast<size_t>(kExactLimit + (shift - 1) * kSubBuckets + (mantissa - kSubBuckets));
}

uint64_t Histogram::bucket_midpoint(size_t index) noexcept {
  if (index < kExactLimit) {
    return index;
  }
  const uint64_t above = index - kExactLimit;
  const unsigned shift = static_cast<unsigned>(above / kSubBuckets) + 1;
  const uint64_t mantissa = kSubBuckets + above % kSubBuckets;
  const uint64_t lower = mantissa << shift;
  const uint64_t width = uint64_t{1} << shift;
  return lower + width / 2;
}

Histogram::Histogram(uint64_t highest_trackable)
    : highest_(std::max(highest_trackable, kExactLimit)), buckets_(bucket_of(highest_) + 1, 0) {}

void Histogram::record(uint64_t value) noexcept {
  ++count_;
  sum_ += static_cast<double>(value);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  if (value > highest_) {
    ++clamped_;
    value = highest_;
  }
  ++buckets_[bucket_of(value)];
}

void Histogram::merge(const Histogram& other) noexcept {
  const size_t shared = std::min(buckets_.size(), other.buckets_.size());
  for (size_t i = 0; i < shared; ++i) {
    buckets_[i] += other.buckets_[i];
  }
  // Buckets beyond our range: clamp into our last bucket, like record() would.
  for (size_t i = shared; i < other.buckets_.size(); ++i) {
    buckets_.back() += other.buckets_[i];
    clamped_ += other.buckets_[i];
  }
  count_ += other.count_;
  sum_ += other.sum_;
  clamped_ += other.clamped_;
  if (other.count_ != 0) {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
}

void Histogram::reset() noexcept {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  clamped_ = 0;
  sum_ = 0.0;
}

uint64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) {
    return 0;
  }
  p = std::clamp(p, 0.0, 100.0);
  // Rank of the wanted value among the sorted samples, 1-based (nearest-rank definition).
  // The epsilon keeps 99.9 % of 1000 at rank 999 despite 0.999 * 1000 = 999.0000000000001.
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-9)));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::clamp(bucket_midpoint(i), min_, max_);
    }
  }
  return max_;
}

double Histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

}  // namespace mrelay::harness
