// The relay process: builds the plan from a validated Config, opens every socket, starts one
// worker per --workers (pinned per --cpus), and services signals and stats from the calling
// thread until SIGTERM/SIGINT.
//
//   auto relay = mrelay::Relay::create(config);     // sockets open, errors name the field
//   if (!relay) { fprintf(stderr, "%s\n", relay.error().to_string().c_str()); return 1; }
//   return (*relay)->run();                         // 0 after a clean drain + final stats
//
// Signals: SIGUSR1 prints one "stats" line at once; SIGTERM/SIGINT stop reading, drain
// in-flight sends (<= 1 s), write the "final" line (stdout, or --stats-json FILE), return 0.
// Stats lines go to stdout, one JSON object per line; human log lines go to stderr.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "mrelay/config.h"
#include "mrelay/error.h"
#include "unique_fd.h"
#include "worker.h"

namespace mrelay {

class Relay {
 public:
  /// Probes kernel features (falls back from io_uring to sendmmsg with a message), opens the
  /// membership, ingress and output sockets. Does not start threads.
  [[nodiscard]] static Result<std::unique_ptr<Relay>> create(const Config& config);
  ~Relay();

  /// Blocks SIGINT/SIGTERM/SIGUSR1/SIGHUP, starts the workers and serves signals and the
  /// stats interval until SIGTERM/SIGINT. Returns the process exit code.
  [[nodiscard]] int run();

 private:
  Relay() = default;
  void emit_stats(std::string_view event, std::FILE* out);
  void stop_workers();

  RelayPlan plan_;
  std::vector<UniqueFd> memberships_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stop_{false};
  uint64_t start_ns_ = 0;
};

}  // namespace mrelay
