// main() of mrelay-microbench: Google Benchmark's own main behind the project's parser, so
// --help and --version look like every other program's; --benchmark_* flags pass through to
// Google Benchmark, and the help lists the environment variables the UDP send cases read (see
// udp_send_bench.cc).
//
//   build/bin/mrelay-microbench --help
//   build/bin/mrelay-microbench --benchmark_filter=BM_ParseFrame --benchmark_format=json
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mrelay/cli.h"

namespace {

void describe(mrelay::cli::Parser& parser) {
  parser.usage("[--benchmark_FLAG=VALUE ...]");
  parser.pass_through(
      "--benchmark_",
      "Google Benchmark's flags, passed through: --benchmark_filter=REGEX, "
      "--benchmark_min_time=S (plain seconds), --benchmark_repetitions=N, "
      "--benchmark_list_tests, --benchmark_format=console|json|csv, --benchmark_out=FILE, "
      "--benchmark_out_format=json|console|csv");
  parser.section("Environment (UDP send cases, BM_UdpSend_*)",
                 "  MRELAY_BENCH_DRAIN=1    drain the loopback receiver from a thread with\n"
                 "                          recvmmsg and report rx_fraction (default 0: receiver\n"
                 "                          left full, datagrams dropped at its socket; the\n"
                 "                          sender's cost is measured alone)\n"
                 "  MRELAY_BENCH_WALL=1     rate by wall-clock time (default 0: by process CPU\n"
                 "                          time, i.e. per core-second, robust to other load)\n");
  parser.section("Example",
                 "  mrelay-microbench --benchmark_filter=BM_UdpSend --benchmark_out=udp.json\n"
                 "      --benchmark_out_format=json\n");
}

}  // namespace

int main(int argc, char** argv) {
  mrelay::cli::Parser parser(
      "mrelay-microbench",
      "Microbenchmarks of the relay's hot path and of UDP send on loopback (127.0.0.1 only).");
  describe(parser);
  const mrelay::cli::Parsed parsed = parser.parse(argc, argv);
  if (auto code = mrelay::cli::finish(parsed)) {
    return *code;
  }
  if (!parsed.positionals.empty()) {
    return parser.usage_error({"", "unexpected argument '" + parsed.positionals[0] + "'"});
  }
  // Google Benchmark reads its flags from an argv of its own: the program and the flags passed
  // through, in the order given.
  std::vector<std::string> words{argv[0]};
  words.insert(words.end(), parsed.passed_through.begin(), parsed.passed_through.end());
  std::vector<char*> benchmark_argv;
  for (std::string& word : words) {
    benchmark_argv.push_back(word.data());
  }
  int benchmark_argc = static_cast<int>(benchmark_argv.size());
  benchmark::Initialize(&benchmark_argc, benchmark_argv.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, benchmark_argv.data())) {
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
