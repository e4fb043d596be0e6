// Microbenchmarks of the relay's per-packet pieces: frame parsing, rule lookup, the buffer
// pool, the sink's latency histogram and the test payload's stamp/restamp/check.
//
//   build/bin/mrelay-microbench
//   --benchmark_filter='BM_(Parse|RuleTable|BufferPool|Histogram|Payload)'
//   build/bin/mrelay-microbench --benchmark_filter='BM_RuleTableFind' --benchmark_repetitions=5
//
// Every case reports items_per_second (frames, lookups, buffers, values or payloads per
// second of CPU time); the payload cases also report bytes_per_second. Inputs are built and
// checked before the timed loop (a case whose input is wrong stops with an error instead of
// timing a fast failure path), and rotate through a precomputed power-of-two array so the
// loop body is the measured call plus one mask, not a modulo or a random number generator.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "mrelay/config.h"
#include "mrelay/packet.h"
#include "mrelay/payload.h"
#include "mrelay/rule_table.h"
#include "mrelay_harness/histogram.h"

namespace {

// Interface index the fake lookup gives "bench0"; any nonzero value works (0 = missing).
constexpr unsigned kBenchIfindex = 7;
// Keys each lookup benchmark cycles through: 1024 covers the largest table once, and a power
// of two makes the rotation a mask. 1024 x 12 bytes stays in L1/L2 like a hot flow set.
constexpr size_t kLookupKeys = 1024;
// Latency samples the histogram benchmark cycles through (power of two, 32 KiB).
constexpr size_t kHistogramSamples = 4096;
// Buffers in the benchmarked pool: the relay's default pool_buffers (config.h).
constexpr uint32_t kPoolBuffers = 8192;
// Destination UDP port of every benchmark rule and frame.
constexpr uint16_t kBenchPort = 5000;

// ---------------------------------------------------------------------------------------
// parse_frame

/// A valid untagged Ethernet + IPv4 + UDP frame of exactly `frame_size` bytes to 239.1.1.1.
std::vector<uint8_t> make_frame(size_t frame_size) {
  constexpr size_t kEthernet = 14;
  constexpr size_t kIpv4 = 20;
  constexpr size_t kUdp = 8;
  std::vector<uint8_t> frame(frame_size, 0);
  const auto ip_total = static_cast<uint16_t>(frame_size - kEthernet);
  const auto udp_length = static_cast<uint16_t>(ip_total - kIpv4);
  const uint8_t header[] = {
      0x01, 0x00, 0x5e, 0x01, 0x01, 0x01,  // multicast destination MAC of 239.1.1.1
      0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source MAC
      0x08, 0x00,                          // IPv4
  };
  std::copy(std::begin(header), std::end(header), frame.begin());
  uint8_t* ip = frame.data() + kEthernet;
  ip[0] = 0x45;  // version 4, IHL 5
  ip[2] = static_cast<uint8_t>(ip_total >> 8);
  ip[3] = static_cast<uint8_t>(ip_total & 0xff);
  ip[6] = 0x40;  // DF, as Linux sends
  ip[8] = 7;     // TTL
  ip[9] = 17;    // UDP
  const uint32_t source = inet_addr("10.9.9.9");
  const uint32_t group = inet_addr("239.1.1.1");
  std::memcpy(ip + 12, &source, 4);
  std::memcpy(ip + 16, &group, 4);
  uint32_t sum = 0;
  for (size_t i = 0; i < kIpv4; i += 2) {
    sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  }
  while (sum > 0xffff) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  const auto checksum = static_cast<uint16_t>(~sum);
  ip[10] = static_cast<uint8_t>(checksum >> 8);
  ip[11] = static_cast<uint8_t>(checksum & 0xff);
  uint8_t* udp = ip + kIpv4;
  udp[0] = 0x9c;  // source port 40000
  udp[1] = 0x40;
  udp[2] = static_cast<uint8_t>(kBenchPort >> 8);
  udp[3] = static_cast<uint8_t>(kBenchPort & 0xff);
  udp[4] = static_cast<uint8_t>(udp_length >> 8);
  udp[5] = static_cast<uint8_t>(udp_length & 0xff);
  mrelay::stamp_payload(udp + kUdp, udp_length - kUdp, {.stream = 1, .sequence = 1});
  return frame;
}

void BM_ParseFrame(benchmark::State& state) {
  const std::vector<uint8_t> frame = make_frame(static_cast<size_t>(state.range(0)));
  mrelay::UdpView view;
  if (mrelay::parse_frame(frame.data(), frame.size(), view) != mrelay::ParseVerdict::ok) {
    state.SkipWithError("benchmark frame does not parse: fix make_frame()");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());  // the compiler may not assume the bytes are known
    const mrelay::ParseVerdict verdict = mrelay::parse_frame(frame.data(), frame.size(), view);
    benchmark::DoNotOptimize(verdict);
    benchmark::DoNotOptimize(view);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseFrame)->ArgName("frame_bytes")->Arg(512);

// ---------------------------------------------------------------------------------------
// RuleTable::find

/// Group number n as 239.1.x.y (hits) or 239.2.x.y (misses), network byte order.
uint32_t bench_group(uint32_t second_octet, size_t n) {
  return htonl((239u << 24) | (second_octet << 16) | static_cast<uint32_t>(n & 0xffff));
}

struct LookupKey {
  uint32_t group;
  uint32_t source;
  int32_t expected;  // rule index, or -1 for a miss
};

void BM_RuleTableFind(benchmark::State& state) {
  const auto rule_count = static_cast<size_t>(state.range(0));
  const bool hit = state.range(1) != 0;
  std::vector<mrelay::Rule> rules(rule_count);
  for (size_t i = 0; i < rule_count; ++i) {
    rules[i].name = "rule" + std::to_string(i);
    rules[i].input_interface = "bench0";
    rules[i].group.s_addr = bench_group(1, i);
    rules[i].port = kBenchPort;
    rules[i].outputs.push_back(mrelay::Output{"bench1", in_addr{inet_addr("239.9.9.9")}, 6000, 1});
  }
  const mrelay::RuleTable table(rules, [](const std::string& name) -> unsigned {
    return name == "bench0" ? kBenchIfindex : 0;
  });
  if (table.size() != rule_count) {
    state.SkipWithError("rule table did not install every rule");
    return;
  }
  std::vector<LookupKey> keys(kLookupKeys);
  const uint32_t source = inet_addr("10.9.9.9");
  for (size_t i = 0; i < kLookupKeys; ++i) {
    keys[i] = hit ? LookupKey{bench_group(1, i % rule_count), source,
                              static_cast<int32_t>(i % rule_count)}
                  : LookupKey{bench_group(2, i), source, -1};
    if (table.find(kBenchIfindex, keys[i].group, kBenchPort, keys[i].source) != keys[i].expected) {
      state.SkipWithError("lookup key does not give the expected rule");
      return;
    }
  }
  size_t next = 0;
  for (auto _ : state) {
    const LookupKey& key = keys[next++ & (kLookupKeys - 1)];
    const int32_t rule = table.find(kBenchIfindex, key.group, kBenchPort, key.source);
    benchmark::DoNotOptimize(rule);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RuleTableFind)->ArgNames({"rules", "hit"})->ArgsProduct({{1, 64, 1024}, {1, 0}});

// ---------------------------------------------------------------------------------------
// BufferPool

/// One iteration acquires `batch` buffers and releases them (newest first, as completions of a
/// batch usually arrive), so batch 1 is the best case (the same hot buffer every time) and
/// batch 64 walks the free stack like a relay batch does.
void BM_BufferPoolAcquireRelease(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  mrelay::BufferPool pool(kPoolBuffers);
  std::vector<mrelay::PacketBuffer*> held(batch, nullptr);
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      held[i] = pool.acquire();
    }
    benchmark::DoNotOptimize(held.data());
    for (size_t i = batch; i > 0; --i) {
      pool.release(held[i - 1]);
    }
  }
  if (pool.available() != pool.capacity()) {
    state.SkipWithError("buffer pool leaked buffers");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
BENCHMARK(BM_BufferPoolAcquireRelease)->ArgName("batch")->Arg(1)->Arg(64);

/// The fanout life of one packet: acquire, one retain per output copy, one release per copy
/// plus the receiver's own release. Items = packets.
void BM_BufferPoolFanout(benchmark::State& state) {
  const auto outputs = static_cast<size_t>(state.range(0));
  mrelay::BufferPool pool(kPoolBuffers);
  for (auto _ : state) {
    mrelay::PacketBuffer* buffer = pool.acquire();
    for (size_t i = 0; i < outputs; ++i) {
      pool.retain(buffer);
    }
    pool.release(buffer);  // the receiver is done
    for (size_t i = 0; i < outputs; ++i) {
      pool.release(buffer);  // each copy's send completed
    }
    benchmark::DoNotOptimize(buffer);
  }
  if (pool.available() != pool.capacity()) {
    state.SkipWithError("buffer pool leaked buffers");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BufferPoolFanout)->ArgName("outputs")->Arg(1)->Arg(8)->Arg(64);

// ---------------------------------------------------------------------------------------
// Histogram::record

void BM_HistogramRecord(benchmark::State& state) {
  mrelay::harness::Histogram histogram;
  // Latencies spread log-uniformly over 1 us .. 10 ms, the range a sink sees, so records land
  // in many buckets instead of one hot cache line. Fixed seed: same inputs every run.
  std::mt19937_64 generator(20251122);
  std::uniform_real_distribution<double> exponent(3.0, 7.0);
  std::vector<uint64_t> samples(kHistogramSamples);
  for (uint64_t& sample : samples) {
    sample = static_cast<uint64_t>(std::pow(10.0, exponent(generator)));
  }
  size_t next = 0;
  for (auto _ : state) {
    histogram.record(samples[next++ & (kHistogramSamples - 1)]);
  }
  if (histogram.count() != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("histogram count differs from the values recorded");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HistogramRecord);

// ---------------------------------------------------------------------------------------
// Payload stamp / restamp / check

void payload_sizes(benchmark::internal::Benchmark* bench) {
  bench->ArgName("bytes")->Arg(64)->Arg(512)->Arg(1400);
}

void set_payload_rates(benchmark::State& state, size_t size) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

/// The generator's per-packet setup: header and filler (hashes the whole payload).
void BM_PayloadStamp(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buffer(size);
  uint64_t sequence = 0;
  for (auto _ : state) {
    mrelay::stamp_payload(buffer.data(), size,
                          {.stream = 1, .sequence = ++sequence, .send_time_ns = sequence});
    benchmark::ClobberMemory();
  }
  set_payload_rates(state, size);
}
BENCHMARK(BM_PayloadStamp)->Apply(payload_sizes);

/// The generator's last step before send: new time and checksum, O(1) in the size.
void BM_PayloadRestampTime(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buffer(size);
  mrelay::stamp_payload(buffer.data(), size, {.stream = 1, .sequence = 1});
  uint64_t now_ns = 0;
  for (auto _ : state) {
    mrelay::restamp_time(buffer.data(), size, ++now_ns);
    benchmark::ClobberMemory();
  }
  if (mrelay::check_payload(buffer.data(), size).status != mrelay::PayloadStatus::ok) {
    state.SkipWithError("restamped payload fails check_payload");
    return;
  }
  set_payload_rates(state, size);
}
BENCHMARK(BM_PayloadRestampTime)->Apply(payload_sizes);

/// The sink's per-packet verification of a valid payload (the common case).
void BM_PayloadCheck(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buffer(size);
  mrelay::stamp_payload(buffer.data(), size, {.stream = 1, .sequence = 1, .send_time_ns = 5});
  if (mrelay::check_payload(buffer.data(), size).status != mrelay::PayloadStatus::ok) {
    state.SkipWithError("stamped payload fails check_payload");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(buffer.data());
    const mrelay::PayloadCheck check = mrelay::check_payload(buffer.data(), size);
    benchmark::DoNotOptimize(check);
  }
  set_payload_rates(state, size);
}
BENCHMARK(BM_PayloadCheck)->Apply(payload_sizes);

}  // namespace
