// main() of mrelay-microbench: Google Benchmark's own main plus a --help that also lists the
// environment variables the UDP send cases read (see udp_send_bench.cc).
//
//   build/bin/mrelay-microbench --help
//   build/bin/mrelay-microbench --benchmark_filter=BM_ParseFrame --benchmark_format=json
#include <benchmark/benchmark.h>

#include <cstdio>

#include "common/program_util.h"

namespace {

void print_help() {
  benchmark::PrintDefaultHelp();
  std::printf(
      "\nmrelay-microbench: microbenchmarks of the relay's hot path and of UDP send on loopback\n"
      "(127.0.0.1 only). Time flags take plain seconds: --benchmark_min_time=0.01.\n"
      "Environment (UDP send cases, BM_UdpSend_*):\n"
      "  MRELAY_BENCH_DRAIN=1  drain the loopback receiver from a thread with recvmmsg and\n"
      "                        report rx_fraction (default 0: receiver left full, datagrams\n"
      "                        dropped at its socket; the sender's cost is measured alone)\n"
      "  MRELAY_BENCH_WALL=1   rate by wall-clock time (default 0: by process CPU time, i.e.\n"
      "                        per core-second, robust to other load on the machine)\n"
      "Example: mrelay-microbench --benchmark_filter=BM_UdpSend --benchmark_out=udp.json "
      "--benchmark_out_format=json\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (mrelay::harness::print_version_if_asked(argc, argv, "mrelay-microbench")) {
    return 0;
  }
  benchmark::Initialize(&argc, argv, print_help);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
